"""Classic-ML ops of the ai.onnx.ml domain that are plain tensor functions: Binarizer, ArrayFeatureExtractor."""

from __future__ import annotations

from paddle2tf.converter.registry import converter

ML = "ai.onnx.ml"


@converter("Binarizer", since=1, domain=ML)
def binarizer(node, inputs, attrs, ctx):
    """1 where x > threshold (default 0), else 0, in x's dtype."""
    import tensorflow as tf

    x = inputs[0]
    return tf.cast(x > tf.cast(attrs.get("threshold", 0.0), x.dtype), x.dtype)


@converter("ArrayFeatureExtractor", since=1, domain=ML)
def array_feature_extractor(node, inputs, attrs, ctx):
    """X[..., Y] for the int64 indices Y (flattened); a 1-D X gives a [1, len(Y)] result."""
    import tensorflow as tf

    x, indices = inputs[0], tf.reshape(tf.cast(inputs[1], tf.int64), [-1])
    if x.shape.rank == 1:
        x = x[None, :]
    return tf.gather(x, indices, axis=-1)
