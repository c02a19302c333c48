"""The dataset check's result: typed data (report.json's ``dataset`` section, docs/report-schema.md), rendered by
``paddle2tf.report.terminal.render_dataset`` and report.html's dataset section (``paddle2tf.report.html``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from paddle2tf.verify.metrics import PairMetrics, Tolerance

PERCENTILES = (50.0, 90.0, 99.0, 99.9)  # of the per-sample max relative error; "inverted_cdf" (no interpolation)
WORST_SAMPLES = 10
# log10 bin edges of the per-sample error histogram: 1e-12 .. 1e2, 4 bins per decade (values outside: end bins)
HISTOGRAM_EDGES = tuple(round(-12 + 0.25 * i, 2) for i in range(57))


@dataclass
class SampleError:
    """One of the worst samples of an output: its index, file (or array index) and max relative error."""

    index: int
    name: str
    max_rel: float
    thumbnail: str | None = None  # data:image/png;base64,... (image datasets)


@dataclass
class ErrorDistribution:
    """Per-sample max relative error (max|a_i - b_i| / max|a_i| over sample i's elements) of one output and pair."""

    samples: int
    percentiles: dict[str, float]  # "p50", "p90", "p99", "p99.9", "max"
    zeros: int  # samples with no difference at all
    nonfinite: int  # samples with an infinite or NaN difference (or outputs of different shapes)
    histogram: list[int]  # counts of the finite, non-zero errors per HISTOGRAM_EDGES bin (log10)
    worst: list[SampleError] = field(default_factory=list)  # only for the judged pair (reference vs TensorFlow)


@dataclass
class OutputCheck:
    """One output over the whole dataset: the element-wise rule (``metrics.merge`` of the batches), the per-sample
    error distribution per pair (outputs with a sample axis, and detection boxes split by their counts)."""

    name: str
    task: str | None  # classification | detection | sequence | dense | None (element-wise only)
    tolerance: Tolerance
    pairs: dict[str, PairMetrics]
    verdict: str  # element-wise
    per_sample: dict[str, ErrorDistribution] = field(default_factory=dict)


@dataclass
class Agreement:
    output: str
    task: str
    metric: str  # top1 | top5 | boxes | sequence | pixels
    pair: str  # paddle_vs_tensorflow, ...
    value: float  # agree / total
    agree: float
    total: float  # samples (top1, top5, sequence), boxes (max of both sides per image), pixels
    verdict: str  # fail when value < min_agreement
    max_score_diff: float | None = None  # boxes: the largest score difference of matched boxes


@dataclass
class Accuracy:
    output: str
    framework: str
    correct: int
    total: int
    accuracy: float  # 0..1
    drop_pp: float | None  # the reference's accuracy minus this one, in percentage points (None: the reference)
    verdict: str  # fail when drop_pp > max_accuracy_drop


@dataclass
class DatasetResult:
    path: str
    kind: str  # images | arrays
    samples: int  # samples checked
    total: int  # samples in the dataset (more than ``samples`` with --limit, or when interrupted)
    batch_size: int
    frameworks: list[str]
    reference: str  # paddle, else onnxruntime: the accuracy drop is measured from it
    judged_pair: str  # the pair whose worst samples are listed (reference vs tensorflow)
    task: str  # the requested --task or "auto"
    min_agreement: float
    max_accuracy_drop: float  # percentage points
    outputs: list[OutputCheck]
    agreements: list[Agreement]
    accuracy: list[Accuracy]
    verdict: str
    complete: bool  # false: interrupted (Ctrl-C); the figures cover the samples checked before
    seconds: float
    throughput: dict[str, float]  # framework -> samples/s of its own compute; "end_to_end" -> samples/s overall
    preprocess: str | None = None  # how images were made into the model input (images)
    labels: str | None = None  # the labels file
    limit: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> DatasetResult:
        outputs = [OutputCheck(o["name"], o["task"], Tolerance(**o["tolerance"]),
                               {k: PairMetrics(**v) for k, v in o["pairs"].items()}, o["verdict"],
                               {k: ErrorDistribution(**{**v, "worst": [SampleError(**w) for w in v["worst"]]})
                                for k, v in o["per_sample"].items()}) for o in data["outputs"]]
        return DatasetResult(**{**data, "outputs": outputs,
                                "agreements": [Agreement(**a) for a in data["agreements"]],
                                "accuracy": [Accuracy(**a) for a in data["accuracy"]]})
