"""The dataset check: a dataset streamed in batches through Paddle, ONNX Runtime and the SavedModel (each a
long-lived process of its own, ``workers``), judged per output element-wise (``verify.metrics``), per sample
(distribution of the max relative error, the worst samples) and per task (agreement, accuracy with labels).

Memory stays bounded by a few batches: the batch being run, the next one being read, the per-sample error
figures (8 bytes per sample, output and pair). Ctrl-C stops after the batch in flight: the result covers the
samples checked so far and says it is partial (``complete`` false).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from paddle2tf.converter.module import SignatureInfo, from_signature_layout
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import PaddleModel
from paddle2tf.verify.dataset import tasks as task_metrics
from paddle2tf.verify.dataset.reader import Batch, Dataset
from paddle2tf.verify.dataset.result import (
    HISTOGRAM_EDGES,
    PERCENTILES,
    WORST_SAMPLES,
    Accuracy,
    Agreement,
    DatasetResult,
    ErrorDistribution,
    OutputCheck,
    SampleError,
)
from paddle2tf.verify.dataset.workers import (
    Worker,
    onnxruntime_worker,
    paddle_worker,
    savedmodel_worker,
    signature_worker,
)
from paddle2tf.verify.metrics import FAIL, PASS, Tolerance, compare, compare_with_sums, merge, worst
from paddle2tf.verify.model import PAIRS, pair_key
from paddle2tf.verify.three_way import check_verifiable

NOT_JUDGED = "not_judged"
DEFAULT_BATCH = 16
DEFAULT_MIN_AGREEMENT = 0.999
DEFAULT_MAX_ACCURACY_DROP = 0.1  # percentage points
PROGRESS_INTERVAL = 2.0  # seconds between progress lines


@dataclass(frozen=True)
class DatasetOptions:
    batch_size: int = DEFAULT_BATCH
    task: str | None = None  # None: from each output's form
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP
    tolerance: Tolerance = Tolerance()
    per_output: Mapping[str, Tolerance] | None = None

    def check(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise BadInputError(f"--limit {limit}: expected a positive number of samples")
        if self.batch_size < 1:
            raise BadInputError(f"--batch-size {self.batch_size}: expected a positive number")
        if not 0 <= self.min_agreement <= 1:
            raise BadInputError(f"--min-agreement {self.min_agreement}: expected a share between 0 and 1")
        if self.max_accuracy_drop < 0:
            raise BadInputError(f"--max-accuracy-drop {self.max_accuracy_drop}: expected percentage points >= 0")
        if self.task is not None and self.task not in task_metrics.TASKS:
            raise BadInputError(f"--task {self.task}: expected one of {', '.join(task_metrics.TASKS)}")


@dataclass(frozen=True)
class ExtraRunner:
    """A further candidate on the serving feeds, like the SavedModel (a TFLite file: targets.tflite.serve_args):
    ``python ARGS MAPPING.json`` running the request loop of ``common.serve_loop``."""

    name: str  # e.g. tflite-fp16 (the framework name in the result)
    args: tuple[str, ...]
    judged: bool = True  # False (a quantised file): element-wise figures and accuracy recorded, not judged;
    min_agreement: float | None = None  # its agreements' threshold (judged even when ``judged`` is False)


@dataclass(frozen=True)
class Model:
    """What the dataset runs through: the ONNX model, the SavedModel and its signature, the Paddle model."""

    onnx_path: str
    saved_model: str
    signature: SignatureInfo
    paddle_model: PaddleModel | None = None
    skip_onnxruntime: str = ""  # why ONNX Runtime cannot run the model (plugins.onnxruntime_skip_reason)
    extra: tuple[ExtraRunner, ...] = ()  # TFLite variants, compared with the reference


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def verify_dataset(model: Model, dataset: Dataset, options: DatasetOptions = DatasetOptions(),
                   progress: Callable[[str], None] = lambda _: None, log_file: str | None = None) -> DatasetResult:
    options.check()
    check_verifiable(model.paddle_model is not None, model.skip_onnxruntime)
    if dataset.labels is not None and len(dataset.labels) != len(dataset):
        raise BadInputError(f"{dataset.labels_file}: {len(dataset.labels)} labels for {len(dataset)} samples")
    output_names = [t.onnx_name for t in model.signature.outputs]
    start = time.perf_counter()
    interrupted = False
    tally: _Tally | None = None
    with tempfile.TemporaryDirectory(prefix="paddle2tf-dataset-") as folder:
        workers: dict[str, Worker] = {}
        try:
            if model.paddle_model is not None:
                workers["paddle"] = paddle_worker(model.paddle_model.model_file, model.paddle_model.params_file,
                                                  folder, log_file)
            if not model.skip_onnxruntime:
                workers["onnxruntime"] = onnxruntime_worker(model.onnx_path, folder, log_file)
            input_map = {t.onnx_name: t.tf_name for t in model.signature.inputs}
            output_map = {t.onnx_name: t.tf_name for t in model.signature.outputs}
            workers["tensorflow"] = savedmodel_worker(model.saved_model, input_map, output_map, folder, log_file)
            for extra in model.extra:
                workers[extra.name] = signature_worker(extra.name, extra.args, f"{extra.name}: could not run",
                                                       input_map, output_map, folder, log_file)
            tally = _Tally(dataset, list(workers), options, model.extra)
            progress(f"dataset: {dataset.describe()}; {', '.join(workers)} each in its own process, batches of "
                     f"{dataset.io.batch_dim() or options.batch_size}")
            batches = dataset.batches(options.batch_size)
            batch = next(batches, None)
            last_report = time.perf_counter()
            while batch is not None:
                for name, worker in workers.items():
                    worker.submit([batch.feeds] if name in ("paddle", "onnxruntime") else batch.serving)
                following = next(batches, None)  # read while the frameworks run
                outputs = {}
                for name, worker in workers.items():
                    arrays, seconds = worker.result()
                    values = dict(zip(output_names, arrays, strict=True))
                    if name not in ("paddle", "onnxruntime"):
                        values = from_signature_layout(values, model.signature.outputs)
                    outputs[name] = values
                    tally.seconds[name] += seconds
                tally.add(batch, outputs)
                batch = following
                now = time.perf_counter()
                if now - last_report >= PROGRESS_INTERVAL or batch is None:
                    last_report = now
                    rate = tally.samples / (now - start)
                    progress(f"dataset: {tally.samples}/{len(dataset)} samples, {rate:.1f} samples/s, "
                             f"ETA {_eta((len(dataset) - tally.samples) / rate) if rate else '?'}")
        except KeyboardInterrupt as exc:
            if type(exc) is not KeyboardInterrupt:  # SIGTERM unwound as one (app.cli): no partial result
                raise
            interrupted = True
            progress(f"dataset: interrupted after {tally.samples if tally else 0} samples; stopping the runners")
        finally:
            for worker in workers.values():
                worker.close()
    if tally is None:  # interrupted while the runners were being started
        raise KeyboardInterrupt
    if not interrupted:
        tally.require_values_compared()
    return tally.result(time.perf_counter() - start, complete=not interrupted)


class _Tally:
    """Everything the result needs, accumulated batch by batch."""

    def __init__(self, dataset: Dataset, frameworks: list[str], options: DatasetOptions,
                 extra: tuple[ExtraRunner, ...] = ()):
        self.dataset, self.frameworks, self.options = dataset, frameworks, options
        self.reference = "paddle" if "paddle" in frameworks else "onnxruntime"
        self.pairs = [(a, b) for a, b in PAIRS if a in frameworks and b in frameworks]
        self.pairs += [(self.reference, name) for name in frameworks if name not in ("paddle", "onnxruntime",
                                                                                      "tensorflow")]
        self.not_judged = {pair_key(self.reference, e.name) for e in extra if not e.judged}
        # pair -> its agreement threshold (None: not judged)
        self.thresholds = {pair_key(self.reference, e.name): e.min_agreement if e.min_agreement is not None else (
            options.min_agreement if e.judged else None) for e in extra}
        self.judged = pair_key(self.reference, "tensorflow")
        self.samples = 0
        self.seconds = dict.fromkeys(frameworks, 0.0)
        self.tasks: list[task_metrics.OutputTask] | None = None
        self.elementwise: dict[str, dict[str, list]] = {}
        self.per_sample: dict[str, dict[str, list[np.ndarray]]] = {}
        self.tallies: dict[tuple[str, str], dict[str, task_metrics.Tally]] = {}
        self.values_compared: dict[str, int] = {}  # output -> the reference's values seen (0: nothing compared)
        self.correct: dict[tuple[str, str], int] = {}

    def _tolerance(self, name: str) -> Tolerance:
        return (self.options.per_output or {}).get(name, self.options.tolerance)

    def add(self, batch: Batch, outputs: dict[str, dict[str, np.ndarray]]) -> None:
        reference = outputs[self.reference]
        fed = next(iter(batch.feeds.values())).shape[0]
        if self.tasks is None:
            self.tasks = task_metrics.assign_tasks(reference, fed, self.options.task)
            if self.dataset.labels is not None and not any(t.task == "classification" for t in self.tasks):
                raise BadInputError(f"{self.dataset.labels_file}: labels are for a classification output [N, C]; "
                                    "the model has none (or give --task classification)")
            if self.dataset.labels is not None:
                self._check_label_range(reference)
        detection = {t.output: t.counts for t in self.tasks if t.task == "detection"}
        counts_outputs = set(detection.values())
        for name in reference:
            per_framework = {fw: self._samples(name, values, detection, fed, batch.count)
                             for fw, values in outputs.items()}
            tol = self._tolerance(name)
            self.values_compared[name] = self.values_compared.get(name, 0) + per_framework[self.reference][0].size
            for a, b in self.pairs:
                key = pair_key(a, b)
                whole_a, split_a = per_framework[a]
                whole_b, split_b = per_framework[b]
                self.elementwise.setdefault(name, {}).setdefault(key, []).append(
                    compare_with_sums(whole_a, whole_b, tol))
                if split_a is not None and split_b is not None and name not in counts_outputs:
                    errors = np.array([_max_rel(x, y) for x, y in zip(split_a, split_b, strict=True)])
                    self.per_sample.setdefault(name, {}).setdefault(key, []).append(errors)
        for task in self.tasks:
            for a, b in self.pairs:
                task_metrics.tally_pair(task, outputs[a], outputs[b], batch.count,
                                        self.tallies.setdefault((task.output, pair_key(a, b)), {}))
            if task.task == "classification" and self.dataset.labels is not None:
                labels = self.dataset.labels[batch.start:batch.start + batch.count]
                for fw, values in outputs.items():
                    key = (task.output, fw)
                    self.correct[key] = self.correct.get(key, 0) + task_metrics.correct_top1(
                        values[task.output][:batch.count], labels)
        self.samples += batch.count

    def require_values_compared(self) -> None:
        """An output empty on every sample (a detector finding nothing in any image) had nothing compared: its
        agreement would read 0 of 0 and pass."""
        empty = [name for name, count in self.values_compared.items() if not count]
        if empty:
            raise BadInputError(f"{self.dataset.path}: output {empty[0]} is empty on all {self.samples} samples "
                                f"in {self.reference}, so none of its values were compared (e.g. a detector finding "
                                "nothing in any image); give samples on which the model produces it")

    def _check_label_range(self, reference: dict[str, np.ndarray]) -> None:
        """A label outside the classes can never be predicted: accuracy would be judged against nothing real."""
        labels = self.dataset.labels
        for task in self.tasks:
            if task.task != "classification":
                continue
            classes = reference[task.output].shape[1]
            outside = np.flatnonzero((labels < 0) | (labels >= classes))
            if outside.size:
                raise BadInputError(
                    f"{self.dataset.labels_file}: label {labels[outside[0]]} of sample "
                    f"{self.dataset.names[outside[0]]} is not a class of output {task.output} ([N, {classes}]: 0 to "
                    f"{classes - 1}); {outside.size} label(s) outside")

    @staticmethod
    def _samples(name: str, values: dict[str, np.ndarray], detection: dict[str, str], fed: int, count: int):
        """The output trimmed to the real samples, and split per sample when it has a sample axis."""
        array = values[name]
        if name in detection:
            counts = values[detection[name]]
            split = task_metrics.split_detections(array, counts, count)
            return array[:int(counts[:count].sum())], split
        if array.ndim and array.shape[0] == fed:
            return array[:count], list(array[:count])
        return array, None

    def result(self, seconds: float, complete: bool) -> DatasetResult:
        opts = self.options
        outputs = []
        for name, pairs in self.elementwise.items():
            merged = {key: merge(parts) for key, parts in pairs.items()}
            task = next((t.task for t in self.tasks or [] if t.output == name), None)
            distributions = {key: self._distribution(values, key == self.judged)
                             for key, values in self.per_sample.get(name, {}).items()}
            outputs.append(OutputCheck(name, task, self._tolerance(name), merged,
                                       worst(m.verdict for k, m in merged.items() if k not in self.not_judged),
                                       distributions))
        agreements = []
        for (output, key), metrics in self.tallies.items():
            task = next(t.task for t in self.tasks if t.output == output)
            threshold = self.thresholds.get(key, opts.min_agreement)
            for metric, tally in metrics.items():
                verdict = NOT_JUDGED if threshold is None else PASS if tally.value >= threshold else FAIL
                agreements.append(Agreement(output, task, metric, key, tally.value, tally.agree, tally.total,
                                            verdict, tally.extra.get("max_score_diff")))
        accuracy = []
        for task in self.tasks or []:
            if (task.output, self.reference) not in self.correct:
                continue
            ref_acc = self.correct[(task.output, self.reference)] / self.samples if self.samples else 0.0
            for fw in self.frameworks:
                correct = self.correct[(task.output, fw)]
                acc = correct / self.samples if self.samples else 0.0
                drop = None if fw == self.reference else 100 * (ref_acc - acc)
                verdict = FAIL if drop is not None and drop > opts.max_accuracy_drop + 1e-9 else PASS
                if pair_key(self.reference, fw) in self.not_judged:
                    verdict = NOT_JUDGED
                accuracy.append(Accuracy(task.output, fw, correct, self.samples, acc, drop, verdict))
        judged = [o.verdict for o in outputs] + [a.verdict for a in [*agreements, *accuracy] if a.verdict != NOT_JUDGED]
        verdict = worst(judged) if self.samples else FAIL
        throughput = {fw: self.samples / s for fw, s in self.seconds.items() if s > 0}
        throughput["end_to_end"] = self.samples / seconds if seconds > 0 else 0.0
        notes = [] if complete else [f"interrupted: {self.samples} of {len(self.dataset)} samples checked"]
        dataset = self.dataset
        return DatasetResult(
            path=dataset.path, kind=dataset.kind, samples=self.samples, total=dataset.total,
            batch_size=dataset.io.batch_dim() or opts.batch_size, frameworks=list(self.frameworks),
            reference=self.reference, judged_pair=self.judged, task=opts.task or "auto",
            min_agreement=opts.min_agreement, max_accuracy_drop=opts.max_accuracy_drop, outputs=outputs,
            agreements=agreements, accuracy=accuracy, verdict=verdict, complete=complete, seconds=round(seconds, 3),
            throughput={k: round(v, 2) for k, v in throughput.items()},
            preprocess=dataset.image.describe() if dataset.image else None, labels=dataset.labels_file,
            limit=len(dataset) if len(dataset) < dataset.total else None, notes=notes)

    def _distribution(self, parts: list[np.ndarray], judged: bool) -> ErrorDistribution:
        values = np.concatenate(parts) if parts else np.zeros(0)
        finite = np.isfinite(values)
        good = values[finite]
        percentiles = {}
        if good.size == values.size and values.size:
            percentiles = {f"p{q:g}": float(np.percentile(values, q, method="inverted_cdf")) for q in PERCENTILES}
            percentiles["max"] = float(values.max())
        elif values.size:  # an infinite error: the high percentiles are infinite
            ordered = np.sort(np.where(finite, values, np.inf))
            percentiles = {f"p{q:g}": float(np.percentile(ordered, q, method="inverted_cdf")) for q in PERCENTILES}
            percentiles["max"] = float("inf")
        nonzero = good[good > 0]
        bins = np.clip(np.searchsorted(HISTOGRAM_EDGES, np.log10(nonzero), side="right") - 1, 0,
                       len(HISTOGRAM_EDGES) - 2)
        histogram = np.bincount(bins, minlength=len(HISTOGRAM_EDGES) - 1).tolist()
        worst_samples = []
        if judged:
            ranked = np.where(finite, values, np.inf)
            for index in np.argsort(-ranked, kind="stable")[:WORST_SAMPLES]:
                worst_samples.append(SampleError(int(index), self.dataset.names[index], float(ranked[index]),
                                                 self.dataset.thumbnail(int(index))))
        return ErrorDistribution(int(values.size), percentiles, int(np.count_nonzero(good == 0)),
                                 int(np.count_nonzero(~finite)), histogram, worst_samples)


def _max_rel(reference: np.ndarray, candidate: np.ndarray) -> float:
    """A sample's max|a - b| / max|a| (``metrics.compare``); inf for a NaN or a shape mismatch."""
    value = compare(reference, candidate).max_rel
    return value if value == value else float("inf")


