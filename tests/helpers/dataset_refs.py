"""Reference outputs for the dataset check's tests, made without paddle2tf.verify.dataset: each framework runs a
list of feeds files in one child process (Paddle via paddle_worker's model loader, TensorFlow with plain
tf.saved_model.load, ONNX Runtime in this process), outputs concatenated per framework.

    python dataset_refs.py paddle|tensorflow|tflite-VARIANT MODEL FEEDS_LIST.json OUT.npz MAPPING.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.abspath(__file__)


def _save_feeds(batches: list[dict[str, np.ndarray]], folder: str) -> str:
    files = []
    for i, feeds in enumerate(batches):
        files.append(os.path.join(folder, f"feeds_{i}.npz"))
        np.savez(files[-1], **feeds)
    listing = os.path.join(folder, "feeds.json")
    with open(listing, "w") as handle:
        json.dump(files, handle)
    return listing


def _load(out: str) -> list[list[np.ndarray]]:
    """Per batch, the outputs in order."""
    with np.load(out) as data:
        batches = sorted({int(k.split("_")[0]) for k in data.files})
        return [[data[k] for k in sorted((k for k in data.files if int(k.split("_")[0]) == b),
                                         key=lambda k: int(k.split("_")[1]))] for b in batches]


def run_each(framework: str, out_dir: str, batches: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    """The outputs (ONNX order) of each batch of feeds, by ``framework`` on the paddle2tf output ``out_dir``.
    TensorFlow is fed the same dict (signature names = ONNX names for the test models)."""
    if framework == "onnxruntime":
        import onnxruntime as ort

        session = ort.InferenceSession(os.path.join(out_dir, "model.onnx"), providers=["CPUExecutionProvider"])
        return [session.run(None, feeds) for feeds in batches]
    with tempfile.TemporaryDirectory() as folder:
        listing = _save_feeds(batches, folder)
        out = os.path.join(folder, "out.npz")
        model = {"paddle": os.path.join(out_dir, "paddle", "model.json"),
                 "tensorflow": os.path.join(out_dir, "saved_model")}.get(framework)
        if framework.startswith("tflite-"):  # a TFLite variant of the output: tflite/model_<variant>.tflite
            model = os.path.join(out_dir, "tflite", f"model_{framework[7:].replace('-', '_')}.tflite")
        with open(os.path.join(out_dir, "report.json")) as handle:
            signature = json.load(handle)["signature"]
        mapping = os.path.join(folder, "mapping.json")
        with open(mapping, "w") as handle:
            json.dump({"inputs": {t["onnx_name"]: t["tf_name"] for t in signature["inputs"]},
                       "outputs": [t["tf_name"] for t in signature["outputs"]]}, handle)
        proc = subprocess.run([sys.executable, HERE, framework, model, listing, out, mapping], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return _load(out)


def _main(framework: str, model: str, listing: str, out: str, mapping_file: str) -> None:
    with open(listing) as handle:
        files = json.load(handle)
    with open(mapping_file) as handle:
        mapping = json.load(handle)
    results = {}
    if framework == "paddle":
        from paddle2tf.frontend.paddle_worker import _runner

        run, guard = _runner(model, os.path.join(os.path.dirname(model), "model.pdiparams"))
        with guard:
            for i, path in enumerate(files):
                for j, value in enumerate(run(dict(np.load(path)))):
                    results[f"{i}_{j}"] = value
    elif framework.startswith("tflite-"):
        import tensorflow as tf

        runner = tf.lite.Interpreter(model_path=model).get_signature_runner("serving_default")
        for i, path in enumerate(files):
            feeds = dict(np.load(path))
            outputs = runner(**{tf_name: feeds[name] for name, tf_name in mapping["inputs"].items()})
            for j, tf_name in enumerate(mapping["outputs"]):
                results[f"{i}_{j}"] = outputs[tf_name]
    else:
        import tensorflow as tf

        serving = tf.saved_model.load(model).signatures["serving_default"]
        dtypes = {k: v.dtype for k, v in serving.structured_input_signature[1].items()}
        for i, path in enumerate(files):
            feeds = dict(np.load(path))
            kwargs = {tf_name: tf.cast(tf.constant(feeds[name]), dtypes[tf_name])
                      for name, tf_name in mapping["inputs"].items()}
            outputs = serving(**kwargs)
            for j, tf_name in enumerate(mapping["outputs"]):
                value = outputs[tf_name]
                results[f"{i}_{j}"] = tf.cast(value, tf.float32).numpy() if value.dtype in (tf.float16, tf.bfloat16) \
                    else value.numpy()
    np.savez(out, **results)


if __name__ == "__main__":
    _main(*sys.argv[1:6])
