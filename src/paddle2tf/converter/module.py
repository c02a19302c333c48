"""ONNX model -> tf.Module with one traced serving function -> SavedModel on disk."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from paddle2tf.converter import passes
from paddle2tf.converter.layout import channels_last_perm
from paddle2tf.converter.passes import qdq_as_fake_quant
from paddle2tf.converter.precision import reduce_precision
from paddle2tf.converter.preprocess import apply_tf
from paddle2tf.converter.prescan import check_supported
from paddle2tf.converter.runner import GraphRunner
from paddle2tf.converter.weights import WeightStore
from paddle2tf.onnxutil.graph import graph_inputs, graph_opsets, sanitise_name, value_type

SERVING_KEY = "serving_default"


@dataclass
class TensorInfo:
    onnx_name: str
    tf_name: str
    dtype: str
    shape: list[int | None]  # the signature's (channels-last when ``layout`` is nhwc)
    layout: str = "onnx"  # nhwc: the ONNX value (N, C, spatial...) exchanged as (N, spatial..., C), --io-layout

    @property
    def channels_last(self) -> bool:
        return self.layout == "nhwc"


IO_LAYOUTS = ("onnx", "nhwc")


def to_signature_layout(values: dict[str, np.ndarray], infos: list[TensorInfo]) -> dict[str, np.ndarray]:
    """Arrays in the ONNX layout → as the signature exchanges them (ONNX names kept)."""
    last = {t.onnx_name for t in infos if t.channels_last}
    return {name: np.transpose(v, channels_last_perm(v.ndim)) if name in last else v for name, v in values.items()}


def from_signature_layout(values: dict[str, np.ndarray], infos: list[TensorInfo]) -> dict[str, np.ndarray]:
    """Arrays as the signature exchanges them → the ONNX layout."""
    last = {t.onnx_name for t in infos if t.channels_last}
    return {name: np.transpose(v, np.argsort(channels_last_perm(v.ndim))) if name in last else v
            for name, v in values.items()}


@dataclass
class SignatureInfo:
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"inputs": [vars(t) for t in self.inputs], "outputs": [vars(t) for t in self.outputs]}


def _unique_names(names: list[str], prefix: str) -> list[str]:
    seen: set[str] = set()
    result = []
    for name in names:
        candidate = base = sanitise_name(name, prefix)
        suffix = 1
        while candidate in seen:
            candidate = f"{base}_{suffix}"
            suffix += 1
        seen.add(candidate)
        result.append(candidate)
    return result


class ConvertedModule:
    """Holds the tf.Module, its serving function and the ONNX↔TF name mapping."""

    def __init__(self, model: onnx.ModelProto, optimize: bool = True, precision: str = "fp32",
                 reduced_io: bool = False, preprocess=None, in_place: bool = False, io_layout: str = "onnx",
                 fake_quant: bool = False):
        """``precision`` fp16/bf16: compute in that type after the passes (``paddle2tf.converter.precision``); float32
        graph inputs/outputs keep their type unless ``reduced_io``. ``preprocess``: a resolved
        ``paddle2tf.converter.preprocess.Preprocess``: that input takes raw images and preprocesses them in the graph.
        ``in_place``: the caller hands the model over: the passes rewrite it (no copy of its weights).
        ``io_layout`` nhwc: inputs and outputs of rank 3 or more are exchanged channels-last (the transposes at
        the boundary cancel against the ones the converter makes for TF's kernels: grappler removes the pairs).
        ``fake_quant``: QuantizeLinear / DequantizeLinear with the model's scales become TF fake-quant ops first
        (``passes.qdq_as_fake_quant``), for the int8 TFLite conversion that keeps them."""
        check_supported(model)  # before importing TensorFlow: an unsupported model is rejected fast

        import tensorflow as tf

        self.model = model
        chosen = {"qdq_as_fake_quant": qdq_as_fake_quant, **passes.PASSES} if fake_quant else None
        optimized = passes.optimize(model, chosen, in_place=in_place) if optimize else passes.Optimized(model)
        self.rewrites = optimized.rewrites

        reduced, self.precision = reduce_precision(optimized.model, precision, reduced_io)
        graph = reduced.graph
        self.weights = WeightStore()
        inputs = graph_inputs(reduced if reduced_io else model)
        outputs = [o.name for o in model.graph.output]
        input_names = _unique_names([vi.name for vi in inputs], "input")
        output_names = _unique_names(outputs, "output")
        self.signature = SignatureInfo()
        specs = []
        for vi, tf_name in zip(inputs, input_names, strict=True):
            dtype, shape = value_type(vi)
            layout = "nhwc" if io_layout == "nhwc" and len(shape) >= 3 else "onnx"
            if preprocess is not None and vi.name == preprocess.input:  # the signature takes the raw images
                dtype, shape = np.dtype(preprocess.dtype), list(preprocess.raw_shape(shape))
            elif layout == "nhwc":
                shape = [shape[i] for i in channels_last_perm(len(shape))]
            specs.append(tf.TensorSpec(shape, tf.as_dtype(dtype), name=tf_name))
            self.signature.inputs.append(TensorInfo(vi.name, tf_name, str(np.dtype(dtype)), shape, layout))
        self._output_names = list(zip(outputs, output_names, strict=True))
        opsets = graph_opsets(model)

        # Needed only while tracing (once, here): released afterwards, with the optimised model's weights and the
        # decoded constants, so a conversion holds each weight once (in its variable) besides the caller's model.
        trace = {"graph": graph, "static": {}}

        def serve(*args):
            runner = GraphRunner(opsets, trace["graph"], self.weights, static=trace["static"],
                                 release_constants=True)
            if preprocess is not None:
                args = [tf.cast(apply_tf(preprocess, t), tf.as_dtype(value_type(vi)[0]))
                        if vi.name == preprocess.input else t for vi, t in zip(inputs, args, strict=True)]
            values = runner.run({vi.name: t for vi, t in zip(inputs, args, strict=True)},
                                [name for name, _ in self._output_names], channels_last=io_layout == "nhwc")
            return {tf_name: tf.identity(value, name=tf_name)
                    for (_, tf_name), value in zip(self._output_names, values, strict=True)}

        self.module = tf.Module()
        self.concrete = tf.function(serve, input_signature=specs, autograph=False).get_concrete_function()
        trace.clear()
        del graph, reduced, optimized
        self.module.weights = list(self.weights.variables.values())
        for onnx_name, tf_name in self._output_names:
            spec = self.concrete.structured_outputs[tf_name]
            self.signature.outputs.append(TensorInfo(
                onnx_name, tf_name, spec.dtype.name, spec.shape.as_list() if spec.shape.rank is not None else [],
                "nhwc" if io_layout == "nhwc" and (spec.shape.rank or 0) >= 3 else "onnx"))

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on numpy feeds keyed by ONNX input names, in the ONNX layout; outputs likewise."""
        feeds = to_signature_layout(feeds, self.signature.inputs)
        result = self.concrete(*[feeds[t.onnx_name] for t in self.signature.inputs])
        return from_signature_layout({onnx_name: result[tf_name].numpy() for onnx_name, tf_name in self._output_names},
                                     self.signature.outputs)

    def save(self, path: str) -> None:
        import tensorflow as tf

        tf.saved_model.save(self.module, path, signatures={SERVING_KEY: self.concrete})


def convert_model(model: onnx.ModelProto) -> ConvertedModule:
    return ConvertedModule(model)
