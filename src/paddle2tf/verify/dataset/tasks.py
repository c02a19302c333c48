"""Task-level agreement between two frameworks' outputs on a dataset, accumulated batch by batch.

An output's task comes from its form (or ``--task``):
- ``classification``: float [N, C], C >= 2: top-1 agreement (same argmax), top-5 agreement (the same set of
  the 5 highest classes; only when C > 5); with labels, each framework's top-1 accuracy;
- ``detection``: float boxes [K, 6] (class, score, x1, y1, x2, y2) with an integer output [N] of per-image box
  counts (PaddleDetection's NMS outputs): per image, candidate boxes are matched to reference boxes (highest
  reference score first, each to the unmatched candidate of the same class with the highest IoU, IoU >= 0.5);
  agreement = matched boxes / max(reference boxes, candidate boxes), summed over the images; the largest score
  difference of matched boxes;
- ``sequence``: float [N, T, C]: the share of samples whose argmax sequences (over C, per step) are identical;
- ``dense``: float [N, C, H, W]: the share of pixels with the same argmax over C, or with C = 1 the share of
  pixels on the same side of 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from paddle2tf.errors import BadInputError

TASKS = ("classification", "detection", "sequence", "dense")
FORMS = {"classification": "float [N, C]", "detection": "float [K, 6] with int [N] box counts",
         "sequence": "float [N, T, C]", "dense": "float [N, C, H, W]"}
IOU_THRESHOLD = 0.5
TOP_K = 5


@dataclass
class OutputTask:
    output: str
    task: str
    counts: str | None = None  # detection: the output holding the per-image box counts


def assign_tasks(outputs: dict[str, np.ndarray], batch: int, task: str | None = None) -> list[OutputTask]:
    """The task of each output, from the arrays of the first batch (``batch`` samples fed). ``task`` forces one
    task: the outputs of that form get it, and it is an error when none has it."""
    if task is not None and task not in TASKS:
        raise BadInputError(f"--task {task}: expected one of {', '.join(TASKS)}")
    counts = [name for name, a in outputs.items() if a.dtype.kind in "iu" and a.ndim == 1 and a.shape[0] == batch]
    found = []
    for name, array in outputs.items():
        if array.dtype.kind != "f":
            continue
        if array.ndim == 2 and array.shape[1] == 6 and counts and int(outputs[counts[0]].sum()) == array.shape[0]:
            kind = "detection"
        elif array.shape[:1] != (batch,):
            continue
        elif array.ndim == 2 and array.shape[1] >= 2:
            kind = "classification"
        elif array.ndim == 3:
            kind = "sequence"
        elif array.ndim == 4:
            kind = "dense"
        else:
            continue
        if task is None or kind == task:
            found.append(OutputTask(name, kind, counts[0] if kind == "detection" else None))
    if task is not None and not found:
        forms = ", ".join(f"{name} {a.dtype}{list(a.shape)}" for name, a in outputs.items())
        raise BadInputError(f"--task {task}: no output of the form {FORMS[task]} (outputs on a batch of {batch}: "
                            f"{forms})")
    return found


def split_detections(boxes: np.ndarray, counts: np.ndarray, samples: int) -> list[np.ndarray]:
    """Per image boxes of the first ``samples`` images."""
    ends = np.cumsum(counts)
    return [boxes[end - count:end] for end, count in zip(ends[:samples], counts[:samples], strict=True)]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (x1, y1, x2, y2) with each of ``boxes`` [K, 4]."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(reference: np.ndarray, candidate: np.ndarray) -> tuple[int, float]:
    """Matched boxes of one image and the largest score difference among them (see the module doc)."""
    reference, candidate = reference.astype(np.float64), candidate.astype(np.float64)
    used = np.zeros(len(candidate), bool)
    matched, score_diff = 0, 0.0
    for i in np.argsort(-reference[:, 1], kind="stable"):
        if not len(candidate):
            break
        overlaps = iou(reference[i, 2:6], candidate[:, 2:6])
        overlaps[(candidate[:, 0] != reference[i, 0]) | used] = -1.0
        j = int(np.argmax(overlaps))
        if overlaps[j] >= IOU_THRESHOLD:
            used[j] = True
            matched += 1
            score_diff = max(score_diff, abs(reference[i, 1] - candidate[j, 1]))
    return matched, score_diff


@dataclass
class Tally:
    """agree / total for one (output, metric, pair); ``extra``: e.g. detection's max score difference."""

    agree: float = 0.0
    total: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def value(self) -> float:
        return self.agree / self.total if self.total else 1.0


def topk_sets(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k highest scores per row, sorted (so rows compare as sets)."""
    return np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)


def tally_pair(task: OutputTask, reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
               samples: int, tallies: dict[str, Tally]) -> None:
    """Add one batch (the first ``samples`` samples of each framework's outputs) to ``tallies`` (metric -> Tally)."""
    a, b = reference[task.output], candidate[task.output]
    if task.task == "detection":
        tally = tallies.setdefault("boxes", Tally(extra={"max_score_diff": 0.0}))
        for ref, cand in zip(split_detections(a, reference[task.counts], samples),
                             split_detections(b, candidate[task.counts], samples), strict=True):
            matched, diff = match_boxes(ref, cand)
            tally.agree += matched
            tally.total += max(len(ref), len(cand))
            tally.extra["max_score_diff"] = max(tally.extra["max_score_diff"], diff)
        return
    a, b = a[:samples], b[:samples]
    if a.shape != b.shape:
        metric = {"classification": "top1", "sequence": "sequence", "dense": "pixels"}[task.task]
        tally = tallies.setdefault(metric, Tally())
        tally.total += samples if task.task != "dense" else a[:, 0].size
        return
    if task.task == "classification":
        top1 = tallies.setdefault("top1", Tally())
        top1.agree += int(np.count_nonzero(a.argmax(axis=1) == b.argmax(axis=1)))
        top1.total += samples
        if a.shape[1] > TOP_K:
            top5 = tallies.setdefault("top5", Tally())
            top5.agree += int(np.count_nonzero((topk_sets(a, TOP_K) == topk_sets(b, TOP_K)).all(axis=1)))
            top5.total += samples
    elif task.task == "sequence":
        tally = tallies.setdefault("sequence", Tally())
        tally.agree += int(np.count_nonzero((a.argmax(axis=-1) == b.argmax(axis=-1)).all(axis=1)))
        tally.total += samples
    elif task.task == "dense":
        tally = tallies.setdefault("pixels", Tally())
        same = (a[:, 0] > 0.5) == (b[:, 0] > 0.5) if a.shape[1] == 1 else a.argmax(axis=1) == b.argmax(axis=1)
        tally.agree += int(np.count_nonzero(same))
        tally.total += same.size


def correct_top1(scores: np.ndarray, labels: np.ndarray) -> int:
    return int(np.count_nonzero(scores.argmax(axis=1) == labels))
