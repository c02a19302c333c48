"""Reduced-precision conversion (``convert --precision fp16|bf16``): an ONNX → ONNX rewrite.

The float32 model is rewritten so that its tensor computation runs in float16 or bfloat16 and its weights are
stored in that type, then converted as usual. Every node gets one of three modes:
- **reduced**: a node computing on data (a value that depends on a graph input's *values*) or reading a
  float32 initializer of weight size (``WEIGHT_MIN_ELEMENTS``, e.g. a position-embedding Gather): its float32
  inputs are read in the reduced type, its float32 outputs become the reduced type (``Cast to=FLOAT`` becomes
  ``Cast to=FLOAT16/BFLOAT16``, a ``dtype=FLOAT`` attribute likewise).
- **exact**: a node that only computes on constants and shapes (``Shape``, ``Size``, initializers, Constant
  nodes, ``ConstantOfShape``...): it stays float32, so shape arithmetic (``Cast(Shape) * scale → Floor →
  Cast(int64)``) keeps its exact float32 results. Constants folded at conversion time land here too.
- **float32 island** (``FP32_ISLANDS``, control flow, non-default domains): a numerically sensitive op, or
  one TF has no reduced-precision CPU kernel for, computed in float32 between casts.

A value is cast where a consumer needs it in the other type (one Cast per value and type); a Cast of an
initializer is folded at conversion time, so the SavedModel stores the weights in the reduced type. Float32
positions fixed by the ONNX spec (Resize/Upsample ``roi``/``scales``) always read float32. The graph inputs
and outputs stay float32 (cast at the boundary) unless ``reduced_io``: then the serving signature takes and
returns the reduced type. Every original value name is kept (new values are ``<name>__fp16`` etc.), so
verification compares outputs by name as for a float32 conversion. Control-flow bodies (If/Loop/Scan) are
left as they are and run in float32.

Verification runs Paddle and ONNX Runtime on the original float32 model and compares the reduced SavedModel
to them with ``DEFAULT_TOLERANCES[precision]`` unless the user gives ``--rtol``/``--atol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import onnx
from onnx import TensorProto, helper

from paddle2tf.errors import BadInputError
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN, STANDARD_DOMAINS, node_input_names, node_subgraphs

FLOAT = TensorProto.FLOAT
PRECISIONS = {"fp32": FLOAT, "fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}
TYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

# Ops computed in float32: normalisation statistics and softmax (accuracy), recurrences (long accumulation),
# spectral ops (TF's FFT kernels are float32/64 only), Range (no float16 kernel), detection/ROI ops (pixel
# coordinates in the hundreds lose whole pixels in float16), quantization (scales are float32 by the spec),
# ops whose float output does not follow their inputs' type (TfIdfVectorizer, MelWeightMatrix).
FP32_ISLANDS = frozenset({
    "LayerNormalization", "GroupNormalization", "InstanceNormalization", "LpNormalization", "MeanVarianceNormalization",
    "Softmax", "LogSoftmax", "ReduceLogSumExp",
    "LSTM", "GRU", "RNN",
    "DFT", "STFT", "MelWeightMatrix", "Range",
    "NonMaxSuppression", "RoiAlign", "MaxRoiPool",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
    "TfIdfVectorizer",
})
# float16 only: TF's CPU mean/average kernels round the float32 sum to float16 before dividing, so a mean of values
# whose sum passes 65504 is inf (a 7x7 average of values ~2000 already is).
FP16_ISLANDS = frozenset({"GlobalAveragePool", "AveragePool", "ReduceMean", "ReduceL2", "ReduceSumSquare",
                          "GlobalLpPool", "LpPool"})
# Ops that are float32 whatever their inputs (their only input is a shape, or none).
_EXACT_OPS = frozenset({"ConstantOfShape", "Shape", "Size"})
# Outputs that never depend on a graph input's values.
_SHAPE_OPS = frozenset({"Shape", "Size"})
# (op, input index) read as float32 whatever the node's mode: float32 by the ONNX spec.
_FLOAT32_POSITIONS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
# (op, input index) of any type: no cast needed before them.
_ANY_POSITIONS = {("Cast", 0), ("CastLike", 0), ("Shape", 0), ("Size", 0)}
_DTYPE_ATTR_OPS = frozenset({"EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli"})
# The default domain and the fused ops of the converter passes (paddle2tf.Linear/Gelu/LayerNormalization): ops of
# other domains (plugins, ai.onnx.ml) run as float32 islands, their semantics unknown here.
_KNOWN_DOMAINS = (*STANDARD_DOMAINS, INTERNAL_DOMAIN)  # ops whose types this rewrite understands
WEIGHT_MIN_ELEMENTS = 1024


def parse_precision(text: str) -> str:
    if text not in PRECISIONS:
        raise BadInputError(f"--precision {text}: expected one of {', '.join(PRECISIONS)}")
    return text


@dataclass
class PrecisionRecord:
    """What report.json records under ``signature.precision``."""

    compute: str  # fp32 | fp16 | bf16
    io: str  # the serving signature's float type: float32, or the reduced type with reduced_io
    fp32_islands: dict[str, int] = field(default_factory=dict)  # op type -> nodes computed in float32
    casts: int = 0  # Cast nodes inserted (before constant folding)

    def to_dict(self) -> dict:
        return {"compute": self.compute, "compute_dtype": TYPE_NAMES[self.compute], "io": self.io,
                "fp32_islands": self.fp32_islands,
                "casts": self.casts}


def record_for(precision: str, reduced_io: bool = False) -> PrecisionRecord:
    return PrecisionRecord(parse_precision(precision), TYPE_NAMES[precision] if reduced_io else "float32")


def recorded_precision(report: dict) -> str:
    """The precision a report.json (as a dict) records; fp32 for reports without one."""
    return (report.get("signature", {}).get("precision") or {}).get("compute", "fp32")


def feed_dtype(signature_dtype: str, report: dict) -> str:
    """The dtype of the verification feeds for a signature input: float32 where the signature takes the reduced
    type (``reduced_io``); Paddle and ONNX Runtime run the float32 model, the SavedModel runner casts."""
    precision = recorded_precision(report)
    return "float32" if precision != "fp32" and signature_dtype == TYPE_NAMES[precision] else signature_dtype


def _suffix(elem_type: int) -> str:
    return {FLOAT: "fp32", TensorProto.FLOAT16: "fp16", TensorProto.BFLOAT16: "bf16"}[elem_type]


def _declared_types(graph: onnx.GraphProto, types: dict[str, int]) -> None:
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
            types[value.name] = value.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in _KNOWN_DOMAINS and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
                elif attr.name in ("value_float", "value_floats"):
                    types[node.output[0]] = FLOAT


def _value_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every main-graph value: declared (the checked model carries inferred value_info), else
    inferred now."""
    types: dict[str, int] = {}
    _declared_types(model.graph, types)
    if any(name and name not in types for node in model.graph.node for name in node.output):
        try:
            _declared_types(onnx.shape_inference.infer_shapes(model).graph, types)
        except Exception:  # e.g. > 2 GB: values without a type are left as they are
            pass
    return types


def _rename_reads(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Outer values read by a subgraph (recursively) under new names."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else
                        list(attr.graphs) if attr.type == onnx.AttributeProto.GRAPHS else []):
                _rename_reads(sub, renames)
    for output in graph.output:
        if output.name in renames:  # a body returning an outer value: an Identity keeps the output's name
            graph.node.append(helper.make_node("Identity", [renames[output.name]], [output.name]))


class _Rewriter:
    def __init__(self, model: onnx.ModelProto, precision: str, reduced_io: bool):
        self.model = model
        self.target = PRECISIONS[precision]
        self.reduced_io = reduced_io
        self.types = _value_types(model)
        self.record = record_for(precision, reduced_io)
        # original value name -> {element type: name of that version in the rewritten graph}
        self.versions: dict[str, dict[int, str]] = {}
        self.data_dependent: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.used_names = {name for node in model.graph.node for name in node.output}
        self.used_names |= {v.name for v in [*model.graph.input, *model.graph.initializer]}
        self.new_types: dict[str, int] = {}
        self.initializers = {init.name: init for init in model.graph.initializer}
        # Float initializers of weight size: a node reading one computes in the reduced type even when no graph
        # input feeds it (e.g. a position-embedding Gather), so the weight is stored in that type.
        self.weights = {name for name, init in self.initializers.items()
                        if init.data_type == FLOAT and math.prod(init.dims) >= WEIGHT_MIN_ELEMENTS}
        self.weights |= {node.output[0] for node in model.graph.node if node.op_type == "Constant" and any(
            attr.name == "value" and attr.t.data_type == FLOAT and math.prod(attr.t.dims) >= WEIGHT_MIN_ELEMENTS
            for attr in node.attribute)}

    def _fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.used_names:
            name, n = f"{base}_{n}", n + 1
        self.used_names.add(name)
        return name

    def _get(self, name: str, elem_type: int) -> str:
        """The value in ``elem_type``, cast from its current version when needed."""
        have = self.versions.get(name)
        if have is None or elem_type in have:
            return have[elem_type] if have else name
        source = have.get(FLOAT) or next(iter(have.values()))  # from the most precise version
        cast_name = self._fresh(f"{name}__{_suffix(elem_type)}")
        self.nodes.append(helper.make_node("Cast", [source], [cast_name], to=elem_type,
                                           name=self._fresh(f"{name}__cast_{_suffix(elem_type)}")))
        self.record.casts += 1
        have[elem_type] = cast_name
        return cast_name

    def _mode(self, node: onnx.NodeProto, reads: list[str]) -> str:
        islands = FP32_ISLANDS | FP16_ISLANDS if self.target == TensorProto.FLOAT16 else FP32_ISLANDS
        if node.domain not in _KNOWN_DOMAINS or node.op_type in islands or list(node_subgraphs(node)):
            return "island"
        if node.op_type in _EXACT_OPS:
            return "exact"
        if any(name in self.data_dependent or name in self.weights for name in reads):
            return "reduced"
        return "exact"

    def run(self) -> onnx.ModelProto:
        graph = self.model.graph
        for value in graph.input:
            if value.name in self.initializers:
                continue
            self.data_dependent.add(value.name)
            if self.types.get(value.name) == FLOAT:
                if self.reduced_io:
                    value.type.tensor_type.elem_type = self.target
                    self.versions[value.name] = {self.target: value.name}
                else:
                    self.versions[value.name] = {FLOAT: value.name}
        for name, init in self.initializers.items():
            if init.data_type == FLOAT:
                self.versions[name] = {FLOAT: name}
        outputs = {value.name: value for value in graph.output}
        for node in list(graph.node):
            self._node(node, outputs)
        for name, value in outputs.items():  # outputs that are graph inputs or initializers
            if self.types.get(name) == FLOAT and name not in self.new_types:
                wanted = self.target if self.reduced_io else FLOAT
                if wanted not in self.versions.get(name, {FLOAT: name}):
                    raise BadInputError(f"output '{name}' is a graph input or an initializer: "
                                        "no reduced-precision I/O for it")
                value.type.tensor_type.elem_type = wanted
        del graph.node[:]
        graph.node.extend(self.nodes)
        for value in graph.value_info:
            if value.name in self.new_types and value.type.HasField("tensor_type"):
                value.type.tensor_type.elem_type = self.new_types[value.name]
        return self.model

    def _node(self, node: onnx.NodeProto, outputs: dict[str, onnx.ValueInfoProto]) -> None:
        reads = node_input_names(node)
        outer_reads = set(reads) - set(node.input)
        mode = self._mode(node, reads)
        if mode == "island":
            self.record.fp32_islands[node.op_type] = self.record.fp32_islands.get(node.op_type, 0) + 1
        compute = self.target if mode == "reduced" else FLOAT
        for i, name in enumerate(node.input):
            if not name or self.types.get(name) != FLOAT:
                continue
            if (node.op_type, i) in _ANY_POSITIONS and node.domain in _KNOWN_DOMAINS:
                have = self.versions.get(name, {FLOAT: name})
                node.input[i] = have.get(FLOAT) or next(iter(have.values()))
                continue
            wanted = FLOAT if (node.op_type, i) in _FLOAT32_POSITIONS else compute
            node.input[i] = self._get(name, wanted)
        if list(node_subgraphs(node)):  # outer values a body reads: float32, as the body was written
            renames = {}
            for name in sorted(outer_reads):
                if self.types.get(name) == FLOAT and name in self.versions:
                    float_name = self._get(name, FLOAT)
                    if float_name != name:
                        renames[name] = float_name
            for sub in list(node_subgraphs(node)):
                _rename_reads(sub, renames)
        if mode == "reduced":
            for attr in node.attribute:
                if ((node.op_type == "Cast" and attr.name == "to") or
                        (node.op_type in _DTYPE_ATTR_OPS and attr.name == "dtype")) and attr.i == FLOAT:
                    attr.i = self.target
        if node.op_type not in _SHAPE_OPS and any(name in self.data_dependent for name in reads):
            self.data_dependent.update(name for name in node.output if name)
        self.nodes.append(node)
        for i, name in enumerate(node.output):
            if not name or self.types.get(name) != FLOAT:
                continue
            produced = compute
            self.new_types[name] = produced
            wanted = (self.target if self.reduced_io else FLOAT) if name in outputs else produced
            if produced == wanted:
                self.versions[name] = {produced: name}
                continue
            # A graph output in another type than the node computes: the node writes a renamed value and
            # a Cast produces the output under its own name.
            inner = self._fresh(f"{name}__{_suffix(produced)}")
            node.output[i] = inner
            self.nodes.append(helper.make_node("Cast", [inner], [name], to=wanted,
                                               name=self._fresh(f"{name}__cast_{_suffix(wanted)}")))
            self.record.casts += 1
            self.versions[name] = {produced: inner, wanted: name}
            self.new_types[name] = wanted
            outputs[name].type.tensor_type.elem_type = wanted


def reduce_precision(model: onnx.ModelProto, precision: str, reduced_io: bool = False
                     ) -> tuple[onnx.ModelProto, PrecisionRecord]:
    """A copy of ``model`` computing in ``precision`` (``fp16``/``bf16``; ``fp32`` returns the model itself) and
    what was done. Float32 graph inputs/outputs keep their type unless ``reduced_io``."""
    if parse_precision(precision) == "fp32":
        return model, record_for("fp32")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    rewriter = _Rewriter(copy, precision, reduced_io)
    return rewriter.run(), rewriter.record
