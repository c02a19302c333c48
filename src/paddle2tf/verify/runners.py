"""Run the same feeds through Paddle, ONNX Runtime and the reloaded SavedModel, each isolated."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from paddle2tf.common.childio import read_outputs, write_job
from paddle2tf.common.subprocesses import run_child
from paddle2tf.errors import BadInputError, Paddle2TFError

TF_RUN_SCRIPT = os.path.join(os.path.dirname(__file__), "savedmodel_child.py")


class RunnerError(Paddle2TFError):
    """A framework could not run the model on the verification inputs."""


def _ordered_outputs(path: str, names: list[str], what: str) -> dict[str, np.ndarray]:
    try:
        return read_outputs(path, names)
    except ValueError as exc:
        raise RunnerError(f"{what}: {exc}") from None


def run_paddle(model_file: str, params_file: str, feeds: dict[str, np.ndarray], output_names: list[str],
               log_file: str | None = None, display_name: str | None = None) -> dict[str, np.ndarray]:
    """Paddle's outputs come in fetch order, which paddle2onnx keeps as the ONNX output order. Errors name
    ``display_name`` (the user's model) when given, not the copy run."""
    with tempfile.TemporaryDirectory(prefix="paddle2tf-paddle-") as tmp:
        feeds_file, _ = write_job(tmp, feeds)
        out_file = os.path.join(tmp, "out.npz")
        run_child(["-m", "paddle2tf.frontend.paddle_worker", "run", model_file, params_file, feeds_file, out_file],
                  f"{display_name or model_file}: Paddle could not run the model", RunnerError, log_file)
        return _ordered_outputs(out_file, output_names, display_name or model_file)


def onnxruntime_session(onnx_path: str, display_name: str | None = None):
    """An ONNX Runtime session; errors name ``display_name`` (the user's model) when given, not the working copy."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT warns about unused initializers paddle2onnx leaves: noise here
    try:
        return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BadInputError(f"{display_name or onnx_path}: ONNX Runtime cannot load the model "
                            f"({str(exc).splitlines()[0]})") from exc


def run_onnxruntime(onnx_path: str, feeds: dict[str, np.ndarray], display_name: str | None = None,
                    session=None) -> dict[str, np.ndarray]:
    """``session``: one already made by ``onnxruntime_session`` (a long-lived runner)."""
    name = display_name or onnx_path
    session = session or onnxruntime_session(onnx_path, display_name)
    names = [o.name for o in session.get_outputs()]
    try:
        return dict(zip(names, session.run(names, feeds), strict=True))
    except Exception as exc:
        raise RunnerError(f"{name}: ONNX Runtime failed on the inputs ({str(exc).splitlines()[0]})") from exc


def run_savedmodel(saved_model: str, feeds: dict[str, np.ndarray], input_map: dict[str, str],
                   output_map: dict[str, str], log_file: str | None = None, display_name: str | None = None
                   ) -> dict[str, np.ndarray]:
    """Load and run the SavedModel in a fresh process that imports only TensorFlow. Errors name ``display_name``
    when given, not the SavedModel's (working) folder."""
    with tempfile.TemporaryDirectory(prefix="paddle2tf-tf-") as tmp:
        feeds_file, mapping_file = write_job(tmp, feeds, input_map, output_map)
        out_file = os.path.join(tmp, "out.npz")
        run_child([TF_RUN_SCRIPT, saved_model, feeds_file, out_file, mapping_file],
                  f"{display_name or saved_model}: TensorFlow could not run the SavedModel", RunnerError, log_file)
        return _ordered_outputs(out_file, list(output_map), display_name or saved_model)
