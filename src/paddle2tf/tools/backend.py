"""ONNX backend interface (``onnx.backend.base``) over the converter, for the ONNX conformance suite."""

from __future__ import annotations

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from paddle2tf.converter.module import ConvertedModule
from paddle2tf.converter.prescan import find_unsupported

# onnx.numpy_helper represents these element types as raw bits (custom structured dtypes or plain
# unsigned ints); TF takes and returns them as ml_dtypes arrays. Converted at the backend boundary.
_BIT_TYPES = {  # ml_dtypes name -> (onnx custom dtype attribute, storage dtype)
    "bfloat16": ("bfloat16", np.uint16),
    "float8_e4m3fn": ("float8e4m3fn", np.uint8),
    "float8_e5m2": ("float8e5m2", np.uint8),
}


def _to_tf(array: np.ndarray, dtype: str) -> np.ndarray:
    """An ONNX-represented feed (raw bits for bfloat16/float8) as the signature's dtype."""
    array = np.asarray(array)
    if dtype in _BIT_TYPES and array.dtype.name != dtype:
        import ml_dtypes

        storage = _BIT_TYPES[dtype][1]
        if array.dtype.kind in "fc":  # already values: convert (rounding), not reinterpret
            return array.astype(getattr(ml_dtypes, dtype))
        return np.ascontiguousarray(array).view(storage).view(getattr(ml_dtypes, dtype))
    return array


def _to_onnx(array: np.ndarray) -> np.ndarray:
    """A TF output in onnx.numpy_helper's representation (raw bits for bfloat16/float8)."""
    if array.dtype.name in _BIT_TYPES:
        from onnx import _custom_element_types as custom

        name, storage = _BIT_TYPES[array.dtype.name]
        bits = array.view(storage)
        return bits if storage is np.uint16 else bits.view(getattr(custom, name))
    return array


class Paddle2TFRep(BackendRep):
    def __init__(self, model: onnx.ModelProto):
        self._converted = ConvertedModule(model)
        self._inputs = self._converted.signature.inputs
        self._input_names = [t.onnx_name for t in self._inputs]

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = dict(zip(self._input_names, inputs, strict=False))
        feeds = {t.onnx_name: _to_tf(feeds[t.onnx_name], t.dtype) for t in self._inputs if t.onnx_name in feeds}
        outputs = self._converted(feeds)
        return [_to_onnx(outputs[t.onnx_name]) for t in self._converted.signature.outputs]


class Paddle2TFBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return not find_unsupported(model)

    @classmethod
    def supports_device(cls, device):
        return device == "CPU"

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        return Paddle2TFRep(model)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        raise NotImplementedError("paddle2tf converts whole models; use prepare()")


prepare = Paddle2TFBackend.prepare
run_model = Paddle2TFBackend.run_model
supports_device = Paddle2TFBackend.supports_device
