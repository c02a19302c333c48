"""Run the same feeds through Paddle, ONNX Runtime and the reloaded SavedModel, each isolated."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from paddle2tf.common.subprocesses import run_child
from paddle2tf.errors import BadInputError, Paddle2TFError

TF_RUN_SCRIPT = os.path.join(os.path.dirname(__file__), "savedmodel_child.py")


class RunnerError(Paddle2TFError):
    """A framework could not run the model on the verification inputs."""


def _ordered_outputs(path: str, names: list[str]) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        if len(data.files) != len(names):
            raise RunnerError(f"{path}: {len(data.files)} outputs, the ONNX model has {len(names)}")
        return {name: data[f"out_{i}"] for i, name in enumerate(names)}


def run_paddle(model_file: str, params_file: str, feeds: dict[str, np.ndarray], output_names: list[str],
               log_file: str | None = None) -> dict[str, np.ndarray]:
    """Paddle's outputs come in fetch order, which paddle2onnx keeps as the ONNX output order."""
    with tempfile.TemporaryDirectory(prefix="paddle2tf-paddle-") as tmp:
        feeds_file, out_file = os.path.join(tmp, "feeds.npz"), os.path.join(tmp, "out.npz")
        np.savez(feeds_file, **feeds)
        run_child(["-m", "paddle2tf.frontend.paddle_worker", "run", model_file, params_file, feeds_file, out_file],
                  f"{model_file}: Paddle could not run the model", RunnerError, log_file)
        return _ordered_outputs(out_file, output_names)


def onnxruntime_session(onnx_path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT warns about unused initializers paddle2onnx leaves: noise here
    try:
        return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BadInputError(f"{onnx_path}: ONNX Runtime cannot load the model ({str(exc).splitlines()[0]})") from exc


def run_onnxruntime(onnx_path: str, feeds: dict[str, np.ndarray], session=None) -> dict[str, np.ndarray]:
    """``session``: one already made by ``onnxruntime_session`` (a long-lived runner)."""
    session = session or onnxruntime_session(onnx_path)
    names = [o.name for o in session.get_outputs()]
    try:
        return dict(zip(names, session.run(names, feeds), strict=True))
    except Exception as exc:
        raise RunnerError(f"{onnx_path}: ONNX Runtime failed on the inputs ({str(exc).splitlines()[0]})") from exc


def run_savedmodel(saved_model: str, feeds: dict[str, np.ndarray], input_map: dict[str, str],
                   output_map: dict[str, str], log_file: str | None = None) -> dict[str, np.ndarray]:
    """Load and run the SavedModel in a fresh process that imports only TensorFlow."""
    with tempfile.TemporaryDirectory(prefix="paddle2tf-tf-") as tmp:
        feeds_file, out_file = os.path.join(tmp, "feeds.npz"), os.path.join(tmp, "out.npz")
        mapping_file = os.path.join(tmp, "mapping.json")
        np.savez(feeds_file, **feeds)
        with open(mapping_file, "w") as handle:
            json.dump({"inputs": input_map, "outputs": output_map}, handle)
        run_child([TF_RUN_SCRIPT, saved_model, feeds_file, out_file, mapping_file],
                  f"{saved_model}: TensorFlow could not run the SavedModel", RunnerError, log_file)
        return _ordered_outputs(out_file, list(output_map))
