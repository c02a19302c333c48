"""Reports are data first (dataclasses, JSON), rendered second (terminal summary)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from paddle2tf import __version__
from paddle2tf.verify.metrics import FAIL, PASS, WARN, PairMetrics, Tolerance, worst

REPORT_SCHEMA_VERSION = 1
PAIRS = (("paddle", "onnxruntime"), ("paddle", "tensorflow"), ("onnxruntime", "tensorflow"))
PAIR_LABELS = {"paddle_vs_onnxruntime": "paddle↔onnx", "paddle_vs_tensorflow": "paddle↔tf",
               "onnxruntime_vs_tensorflow": "onnx↔tf"}


def pair_key(reference: str, candidate: str) -> str:
    return f"{reference}_vs_{candidate}"


@dataclass
class FeedInfo:
    name: str
    dtype: str
    shape: list[int]
    origin: str  # how the values were made


@dataclass
class OutputResult:
    name: str
    shape: list[int]
    dtype: str
    tolerance: Tolerance
    pairs: dict[str, PairMetrics]
    verdict: str


@dataclass
class Verification:
    frameworks: list[str]
    feeds: list[FeedInfo]
    outputs: list[OutputResult]
    verdict: str
    skipped: dict[str, str] = field(default_factory=dict)  # framework -> why it could not run (then not compared)

    @staticmethod
    def from_outputs(frameworks: list[str], feeds: list[FeedInfo], outputs: list[OutputResult],
                     skipped: dict[str, str] | None = None) -> Verification:
        return Verification(frameworks, feeds, outputs, worst(o.verdict for o in outputs) if outputs else FAIL,
                            dict(skipped or {}))


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
    locate: Any = None  # paddle2tf.verify.locate.search.LocateReport (or its dict) when the locate stage ran
    deploy_check: dict | None = None  # paddle2tf.targets.deploy_check.DeployCheck.to_dict() of `paddle2tf deploy-check`
    tflite: list = field(default_factory=list)  # targets.tflite.TfliteResult (or its dict) per --tflite variant
    tool: dict = field(default_factory=lambda: {"paddle2tf": __version__, **library_versions()})
    schema_version: int = REPORT_SCHEMA_VERSION

    @property
    def verdict(self) -> str:
        if not self.verification:
            return "unverified"
        # A TFLite variant that fails (fp32 beyond tolerance, a quantised one below --tflite-min-top1) fails it too.
        judged = [v for v in (t["verdict"] if isinstance(t, dict) else t.verdict for t in self.tflite)
                  if v in (PASS, WARN, FAIL)]
        return worst([self.verification.verdict, *judged])

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data

    def write(self, path: str) -> None:
        with open(path, "w") as handle:
            json.dump(self.to_dict(), handle, indent=2, default=_json_default)
            handle.write("\n")


def model_summary(model) -> dict:
    """Node count and op histogram of an ONNX model's main graph (subgraph nodes counted separately)."""
    from collections import Counter

    from paddle2tf.converter.graph import iter_nodes

    top = Counter(node.op_type for node in model.graph.node)
    every = sum(1 for _ in iter_nodes(model.graph))
    return {"graph": model.graph.name, "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "nodes": len(model.graph.node), "subgraph_nodes": every - len(model.graph.node),
            "initializers": len(model.graph.initializer),
            "op_histogram": dict(sorted(top.items(), key=lambda kv: (-kv[1], kv[0])))}


def _json_default(value):
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


def render_summary(report: ConversionReport) -> str:
    """A short terminal table: per output, max relative error for each pair and the verdict."""
    verification = report.verification
    if verification is None:
        return "verification skipped (--no-verify)" + (f"\n{_tflite_lines(report)}" if report.tflite else "")
    keys = [pair_key(a, b) for a, b in PAIRS if a in verification.frameworks and b in verification.frameworks]
    header = ["output", "shape", *(f"{PAIR_LABELS[k]} max_rel" for k in keys), "verdict"]
    rows = [header]
    for out in verification.outputs:
        rows.append([out.name, "x".join(map(str, out.shape)) or "scalar",
                     *(out.pairs[k].headline() if k in out.pairs else "-" for k in keys), out.verdict.upper()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    feeds = ", ".join(f"{f.name} {f.dtype}[{'x'.join(map(str, f.shape))}]" for f in verification.feeds)
    lines.append(f"verdict: {verification.verdict.upper()}  (frameworks: {', '.join(verification.frameworks)}; "
                 f"inputs: {feeds}; {verification.feeds[0].origin if verification.feeds else ''})")
    lines += [f"{framework} skipped: {reason}" for framework, reason in verification.skipped.items()]
    if report.tflite:
        lines.append(_tflite_lines(report))
    return "\n".join(lines)


def _tflite_lines(report: ConversionReport) -> str:
    from paddle2tf.targets.tflite import render_tflite

    text = render_tflite(report.tflite)
    if report.verification and report.verdict != report.verification.verdict:
        text += f"\nverdict with the TFLite files: {report.verdict.upper()}"
    return text
