"""The dataset check's result: typed data (report.json's ``dataset`` section, docs/report-schema.md) and its
terminal rendering. The HTML section is ``report.html``'s (``paddle2tf.report.html``), from the same dict."""

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


def _short(pair: str) -> str:
    from paddle2tf.report.model import PAIR_LABELS

    return PAIR_LABELS.get(pair, pair.replace("_vs_", "↔"))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def render_dataset(result: DatasetResult | dict) -> str:
    """The terminal summary: agreements, accuracy, per-sample error percentiles, worst samples, throughput."""
    data = result.to_dict() if isinstance(result, DatasetResult) else result
    lines = [f"dataset: {data['path']} ({data['samples']} of {data['total']} samples, batch {data['batch_size']}"
             f"{'; INTERRUPTED: partial result' if not data['complete'] else ''})"]
    rows = [["output", "task", "metric", "pair", "agreement", "verdict"]]
    for a in data["agreements"]:
        extra = f" (max score diff {a['max_score_diff']:.2e})" if a.get("max_score_diff") is not None else ""
        rows.append([a["output"], a["task"], a["metric"], _short(a["pair"]),
                     f"{_pct(a['value'])} ({a['agree']:g}/{a['total']:g}){extra}", a["verdict"].upper()])
    for acc in data["accuracy"]:
        drop = "reference" if acc["drop_pp"] is None else f"drop {acc['drop_pp']:+.2f} pp"
        rows.append([acc["output"], "classification", "accuracy", acc["framework"],
                     f"{_pct(acc['accuracy'])} ({acc['correct']}/{acc['total']}), {drop}", acc["verdict"].upper()])
    for out in data["outputs"]:
        rows.append([out["name"], out["task"] or "-", "element-wise", "all pairs",
                     ", ".join(f"{_short(k)} {v['max_rel']:.2e}" for k, v in out["pairs"].items()),
                     out["verdict"].upper()])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for out in data["outputs"]:
        dist = out["per_sample"].get(data["judged_pair"])
        if not dist:
            continue
        pct = ", ".join(f"{k} {v:.2e}" for k, v in dist["percentiles"].items())
        lines.append(f"  {out['name']} per-sample max_rel ({_short(data['judged_pair'])}): {pct}")
        worst = ", ".join(f"{w['name']} {w['max_rel']:.2e}" for w in dist["worst"][:3])
        if worst:
            lines.append(f"    worst: {worst}")
    rates = ", ".join(f"{k} {v:.1f}" for k, v in data["throughput"].items())
    lines.append(f"  samples/s: {rates}; {data['seconds']:.1f} s")
    lines += [f"  note: {note}" for note in data.get("notes", [])]
    lines.append(f"dataset verdict: {data['verdict'].upper()}"
                 f"{' (partial: interrupted)' if not data['complete'] else ''}")
    return "\n".join(lines)
