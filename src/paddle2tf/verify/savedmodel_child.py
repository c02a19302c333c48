"""Run a SavedModel's serving signature on feeds, with plain TensorFlow only.

Executed as a script in a fresh process (``python savedmodel_child.py SAVED_MODEL FEEDS.npz OUT.npz MAPPING.json``),
it imports neither paddle2tf nor Paddle: the proof that the SavedModel stands on its own.
MAPPING.json: {"inputs": {onnx_name: signature_name}, "outputs": {onnx_name: signature_name}}.

``python savedmodel_child.py --serve SAVED_MODEL MAPPING.json`` loads the SavedModel once and runs batches
requested on stdin (``paddle2tf/common/serve_loop.py``, imported as a file: numpy only), for the dataset check.

Files: the protocol of paddle2tf/common/childio.py (spelled out here: this script imports nothing of paddle2tf).
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf


def _runner(saved_model: str, mapping_file: str):
    with open(mapping_file) as handle:
        mapping = json.load(handle)
    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    specs = serving.structured_input_signature[1]

    def run(feeds) -> list[np.ndarray]:
        kwargs = {tf_name: tf.constant(feeds[onnx_name]) for onnx_name, tf_name in mapping["inputs"].items()}
        # A reduced-precision signature (convert --precision-io): float32 feeds cast in, outputs widened to float32.
        kwargs = {name: tf.cast(value, specs[name].dtype) if value.dtype.is_floating and specs[name].dtype.is_floating
                  else value for name, value in kwargs.items()}
        results = serving(**kwargs)
        return [_widened(results[tf_name]).numpy() for tf_name in mapping["outputs"].values()]

    return run


def main(saved_model: str, feeds_file: str, out_file: str, mapping_file: str) -> None:
    run = _runner(saved_model, mapping_file)
    with np.load(feeds_file) as feeds:
        outputs = run({name: feeds[name] for name in feeds.files})
    np.savez(out_file, **{f"out_{i}": value for i, value in enumerate(outputs)})


def _widened(tensor):
    return tf.cast(tensor, tf.float32) if tensor.dtype in (tf.float16, tf.bfloat16) else tensor


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        # the request loop as a plain file (numpy only): importing the paddle2tf package is what this script avoids
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
        from serve_loop import protocol_stream, serve

        replies = protocol_stream()
        serve(_runner(sys.argv[2], sys.argv[3]), replies)
    else:
        main(*sys.argv[1:5])
