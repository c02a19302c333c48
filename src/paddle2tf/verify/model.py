"""What the three-way check hands on: per output and pair of frameworks, the metrics and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from paddle2tf.verify.metrics import FAIL, PairMetrics, Tolerance, worst

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
    # On a failure: ONNX Runtime against itself with every float input one ulp up, the output's own sensitivity to
    # float32 rounding (a long recurrence can amplify it past any tolerance: then no conversion can be verified on
    # these inputs). None when not measured (the output passed, no ONNX Runtime, no float input).
    sensitivity: PairMetrics | None = None


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
