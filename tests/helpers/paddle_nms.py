"""Paddle's own multiclass_nms3 kernel as the reference, run in a child process (Paddle never shares a process
with TensorFlow).

``paddle_multiclass_nms3(cases)`` runs ``paddle._C_ops.multiclass_nms3`` (the CPU kernel
paddle/phi/kernels/cpu/multiclass_nms3_kernel.cc) on every case in one child and returns, per case,
(out [K, 6], index [K, 1], nms_rois_num [N]). ``detection_case`` makes seeded random boxes and scores.
As a script: ``python paddle_nms.py CASES.npz RESULTS.npz``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NmsAttrs:
    """multiclass_nms3's attributes, in the order ``paddle._C_ops.multiclass_nms3`` takes them."""

    score_threshold: float = 0.3
    nms_top_k: int = -1
    keep_top_k: int = -1
    nms_threshold: float = 0.5
    normalized: bool = True
    nms_eta: float = 1.0
    background_label: int = -1


def detection_case(
    seed: int, batch: int, boxes: int, classes: int, extent: float = 40.0, size: tuple[float, float] = (2.0, 20.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded boxes [N, M, 4] (x1, y1, x2, y2 with x2 > x1, y2 > y1, in [0, extent + size]) and scores
    [N, C, M] uniform in [0, 1): crowded enough that NMS suppresses many."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, extent, (batch, boxes, 2))
    wh = rng.uniform(*size, (batch, boxes, 2))
    bboxes = np.concatenate([corner, corner + wh], -1).astype(np.float32)
    return bboxes, rng.uniform(0, 1, (batch, classes, boxes)).astype(np.float32)


def paddle_multiclass_nms3(
    cases: list[tuple[np.ndarray, np.ndarray, NmsAttrs]],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    with tempfile.TemporaryDirectory() as folder:
        cases_file, results_file = os.path.join(folder, "cases.npz"), os.path.join(folder, "results.npz")
        arrays = {}
        for i, (bboxes, scores, attrs) in enumerate(cases):
            arrays[f"bboxes_{i}"], arrays[f"scores_{i}"] = bboxes, scores
            arrays[f"attrs_{i}"] = np.array(json.dumps(asdict(attrs)))
        np.savez(cases_file, **arrays)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), cases_file, results_file], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with np.load(results_file) as results:
            return [(results[f"out_{i}"], results[f"index_{i}"], results[f"rois_num_{i}"]) for i in range(len(cases))]


def _run(cases_file: str, results_file: str) -> None:
    import paddle

    results = {}
    with np.load(cases_file) as cases:
        for i in range(len([k for k in cases.files if k.startswith("attrs_")])):
            attrs = NmsAttrs(**json.loads(str(cases[f"attrs_{i}"])))
            out, index, rois_num = paddle._C_ops.multiclass_nms3(
                paddle.to_tensor(cases[f"bboxes_{i}"]),
                paddle.to_tensor(cases[f"scores_{i}"]),
                None,
                *asdict(attrs).values(),
            )
            results[f"out_{i}"], results[f"index_{i}"] = out.numpy(), index.numpy()
            results[f"rois_num_{i}"] = rois_num.numpy()
    np.savez(results_file, **results)


if __name__ == "__main__":
    _run(sys.argv[1], sys.argv[2])
