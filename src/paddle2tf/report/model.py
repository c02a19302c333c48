"""Reports are data first (dataclasses, JSON), rendered second (terminal summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from paddle2tf import __version__
from paddle2tf.onnxutil.graph import iter_nodes
from paddle2tf.onnxutil.quantization import quantized_tensors
from paddle2tf.verify.metrics import FAIL, PASS, WARN, worst
from paddle2tf.verify.model import Verification

REPORT_SCHEMA_VERSION = 1
@dataclass
class StageTiming:
    stage: str
    seconds: float


@dataclass
class ConversionReport:
    source: dict
    opset: int
    signature: dict
    stages: list[StageTiming] = field(default_factory=list)
    verification: Verification | None = None
    notes: list[str] = field(default_factory=list)
    fixes: list[dict] = field(default_factory=list)  # paddle2tf.frontend.fixes.Fix records: what was changed and why
    plugins: list[dict] = field(default_factory=list)  # converter.plugins.PluginRecord: converter plugins loaded
    model_summary: dict = field(default_factory=dict)  # nodes, op histogram, initializers (see model_summary())
    locate: Any = None  # verify.locate.LocateReport (or its dict) when the locate stage ran
    deploy_check: dict | None = None  # paddle2tf.targets.deploy_check.DeployCheck.to_dict() of `paddle2tf deploy-check`
    tflite: list = field(default_factory=list)  # targets.tflite.TfliteResult (or its dict) per --tflite variant
    dataset: Any = None  # verify.dataset.result.DatasetResult (or its dict): the dataset check (--dataset)
    tool: dict = field(default_factory=lambda: {"paddle2tf": __version__, **library_versions()})
    schema_version: int = REPORT_SCHEMA_VERSION

    @property
    def verdict(self) -> str:
        if not self.verification:
            return "unverified"
        # A TFLite variant that fails (fp32 beyond tolerance, a quantised one below --tflite-min-top1) fails it too.
        judged = [v for v in (t["verdict"] if isinstance(t, dict) else t.verdict for t in self.tflite)
                  if v in (PASS, WARN, FAIL)]
        if self.dataset is not None:  # an agreement or accuracy failure on the dataset fails it too
            judged.append(self.dataset["verdict"] if isinstance(self.dataset, dict) else self.dataset.verdict)
        return worst([self.verification.verdict, *judged])

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data



def model_summary(model) -> dict:
    """Node count and op histogram of an ONNX model's main graph (subgraph nodes counted separately), and its
    quantized tensors (``onnxutil.quantization.QuantizedTensor``: none for a float model)."""
    from collections import Counter


    top = Counter(node.op_type for node in model.graph.node)
    every = sum(1 for _ in iter_nodes(model.graph))
    return {"graph": model.graph.name, "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "nodes": len(model.graph.node), "subgraph_nodes": every - len(model.graph.node),
            "initializers": len(model.graph.initializer),
            "op_histogram": dict(sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))),
            "quantized": [asdict(tensor) for tensor in quantized_tensors(model)]}


def json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in ("paddlepaddle", "paddle2onnx", "onnx", "onnxruntime", "tensorflow-cpu", "tensorflow", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
