"""ONNX backend interface (``onnx.backend.base``) over the converter, for the ONNX conformance suite."""

from __future__ import annotations

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from paddle2tf.converter.graph import find_unsupported


class Paddle2TFRep(BackendRep):
    def __init__(self, model: onnx.ModelProto):
        from paddle2tf.converter.module import ConvertedModule

        self._converted = ConvertedModule(model)
        self._input_names = [t.onnx_name for t in self._converted.signature.inputs]

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = dict(zip(self._input_names, inputs, strict=False))
        outputs = self._converted(feeds)
        return [outputs[t.onnx_name] for t in self._converted.signature.outputs]


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
