"""paddle2tf: PaddlePaddle -> ONNX -> verified TensorFlow SavedModel."""

__version__ = "0.1.0"
