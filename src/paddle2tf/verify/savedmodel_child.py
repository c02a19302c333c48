"""Run a SavedModel's serving signature on feeds, with plain TensorFlow only.

Executed as a script in a fresh process (``python savedmodel_child.py SAVED_MODEL FEEDS.npz OUT.npz MAPPING.json``),
it imports neither paddle2tf nor Paddle: the proof that the SavedModel stands on its own.
MAPPING.json: {"inputs": {onnx_name: signature_name}, "outputs": {onnx_name: signature_name}}.

Files: the protocol of paddle2tf/common/childio.py (spelled out here: this script imports nothing of paddle2tf).
"""

import json
import sys

import numpy as np
import tensorflow as tf


def main(saved_model: str, feeds_file: str, out_file: str, mapping_file: str) -> None:
    with open(mapping_file) as handle:
        mapping = json.load(handle)
    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    specs = serving.structured_input_signature[1]
    with np.load(feeds_file) as feeds:
        kwargs = {tf_name: tf.constant(feeds[onnx_name]) for onnx_name, tf_name in mapping["inputs"].items()}
    # A reduced-precision signature (convert --precision-io): float32 feeds cast in, outputs widened to float32.
    kwargs = {name: tf.cast(value, specs[name].dtype) if value.dtype.is_floating and specs[name].dtype.is_floating
              else value for name, value in kwargs.items()}
    results = serving(**kwargs)
    np.savez(out_file, **{f"out_{i}": _widened(results[tf_name]).numpy()
                          for i, tf_name in enumerate(mapping["outputs"].values())})


def _widened(tensor):
    return tf.cast(tensor, tf.float32) if tensor.dtype in (tf.float16, tf.bfloat16) else tensor


if __name__ == "__main__":
    main(*sys.argv[1:5])
