"""What the locate stage hands on (report.json ``locate``, schema in docs/report-schema.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from paddle2tf.verify.locate.paddle_values import PaddleComparison
from paddle2tf.verify.metrics import PairMetrics, Tolerance

DEFAULT_CHUNK_SIZE = 200
NOT_COMPARED = "not_compared"
NOT_CHECKED = "not_checked"
HOPS = {"paddle_to_onnx": ("paddle", "onnxruntime"), "onnx_to_tensorflow": ("onnxruntime", "tensorflow")}
HOP_LABELS = {"paddle_to_onnx": "Paddle → ONNX", "onnx_to_tensorflow": "ONNX → TensorFlow"}


@dataclass
class ValueCheck:
    """One ONNX value: ONNX Runtime (reference) vs the converted TF graph."""

    name: str
    verdict: str  # pass | warn | fail | not_compared
    shape: list[int] | None = None  # ONNX Runtime's
    dtype: str | None = None
    tf_shape: list[int] | None = None  # only when it differs from ``shape``
    tf_dtype: str | None = None  # only when it differs from ``dtype``
    max_abs: float | None = None
    max_rel: float | None = None
    out_of_tolerance: int | None = None
    elements: int | None = None
    constant: bool = False  # folded at conversion time: compared as the constant the converter computed
    reason: str = ""  # why it was not compared


@dataclass
class NodeCheck:
    index: int  # position in graph.node (topological order)
    name: str
    op_type: str
    verdict: str  # worst of its compared outputs; not_compared when none was
    max_rel: float | None
    outputs: list[ValueCheck]


@dataclass
class Culprit:
    index: int
    name: str
    op_type: str
    domain: str
    attributes: dict
    inputs: list[dict]  # name, kind (graph input | initializer | node output | absent), shape, dtype, verdict
    outputs: list[dict]  # name, shape, dtype (+ tf_shape/tf_dtype), verdict
    metrics: dict[str, PairMetrics]  # per output
    unverified_inputs: list[str]  # inputs that could not be compared (not judged within tolerance)
    descendants: list[int]  # indices of the nodes that consume its outputs, directly or not


@dataclass
class NodewiseResult:
    ran: bool
    reason: str = ""  # why it did not run
    # the graph compared: [] the ONNX graph as written; else the passes (converter/passes) that rewrote it, the
    # graph the SavedModel is built from, whose fused nodes have no ONNX Runtime value of their own
    passes: list[str] = field(default_factory=list)
    nodes: list[NodeCheck] = field(default_factory=list)
    culprit: Culprit | None = None
    other_sources: list[str] = field(default_factory=list)  # later failing nodes whose inputs are all within
    compared_values: int = 0
    not_compared_values: int = 0
    chunks: int = 0
    seconds: float = 0.0


@dataclass
class HopResult:
    reference: str
    candidate: str
    verdict: str  # pass | warn | fail | not_checked
    max_rel: float | None = None  # worst over the outputs
    outputs: dict[str, float] = field(default_factory=dict)  # output -> max_rel
    basis: str = ""  # where the figures come from


@dataclass
class LocateReport:
    hops: dict[str, HopResult]
    diverging_hop: str | None  # paddle_to_onnx | onnx_to_tensorflow | both | None
    summary: str
    tolerance: Tolerance
    feeds_origin: str
    nodewise: NodewiseResult
    seconds: float = 0.0
    # inside the Paddle → ONNX hop: Paddle's intermediate values vs ONNX Runtime's (locate_paddle)
    paddle_values: PaddleComparison = field(default_factory=lambda: PaddleComparison(False, "not run"))

    def to_dict(self) -> dict:
        return asdict(self)
