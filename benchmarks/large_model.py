"""A Paddle model over protobuf's 2 GB limit end to end: wall time and peak RSS (a benchmark, not a test; not in CI).

The model: a 2.2 GB float32 embedding table (537 000 x 1024) read by int64 ids, averaged over the sequence, then
Linear(1024, 256) → ReLU → Linear(256, 10), seeded random weights. Steps, each in fresh processes:

1. save: Paddle saves the inference model (model.json + a 2.2 GB model.pdiparams); not part of the target;
2. convert: ``paddle2tf convert model.json -o OUT`` (export → repair → check → convert → verify three ways), whose
   model.onnx must come with model.onnx.data (the 2 GB rule, README);
3. check: ``paddle2tf check OUT/model.onnx``.

Peak RSS is the largest resident set of any single process of a step (``RUSAGE_CHILDREN.ru_maxrss`` of a wrapper
process that only runs the step). Target (issue #17): the conversion's peak within 3 x the weight bytes plus the TF
baseline (the RSS of a process that imported TensorFlow and ran one op). Needs ~10 GB free RAM and disk for ~3 copies
of the weights (pdiparams, model.onnx.data, the SavedModel's variables).

    python benchmarks/large_model.py [--workdir DIR] [--rows 537000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HIDDEN = 1024

_MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("peak_kb", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "exit", code, file=sys.stderr)
"""

_TF_BASELINE = """
import tensorflow as tf
tf.constant(1.0) + 1
with open("/proc/self/status") as handle:
    print(next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")))
"""

_SAVE = """
import sys
import paddle

class Tagger(paddle.nn.Layer):
    def __init__(self, rows, hidden):
        super().__init__()
        self.embedding = paddle.nn.Embedding(rows, hidden)
        self.head = paddle.nn.Sequential(paddle.nn.Linear(hidden, 256), paddle.nn.ReLU(), paddle.nn.Linear(256, 10))

    def forward(self, ids):
        return self.head(paddle.mean(self.embedding(ids), axis=1))

paddle.seed(0)
layer = Tagger(int(sys.argv[2]), int(sys.argv[3]))
layer.eval()
paddle.jit.save(layer, sys.argv[1], input_spec=[paddle.static.InputSpec([-1, 16], "int64", "ids")])
"""


def measured(args: list[str]) -> dict:
    """Run ``args`` in a wrapper process: wall seconds, the largest RSS of any of its processes, exit code."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    fields = proc.stderr.strip().splitlines()[-1].split()
    result = {"seconds": round(seconds, 1), "peak_gb": round(int(fields[1]) / 2**20, 2), "exit": int(fields[3])}
    if result["exit"] != 0:
        result["error"] = next((line for line in reversed(proc.stderr.splitlines()) if "error" in line), "")[:300]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keep the files here (default: a temporary directory, removed)")
    parser.add_argument("--rows", type=int, default=537_000, help="embedding rows (537000 x 1024 floats = 2.2 GB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paddle2tf-large-") as scratch:
        workdir = args.workdir or scratch
        os.makedirs(workdir, exist_ok=True)
        prefix, out = os.path.join(workdir, "paddle", "model"), os.path.join(workdir, "out")
        weight_gb = (args.rows * HIDDEN + HIDDEN * 256 + 256 + 256 * 10 + 10) * 4 / 2**30
        baseline_gb = int(subprocess.run([sys.executable, "-c", _TF_BASELINE], capture_output=True, text=True,
                                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).stdout.split()[-1]) / 2**20
        steps = {"save": measured([sys.executable, "-c", _SAVE, prefix, str(args.rows), str(HIDDEN)])}
        steps["convert"] = measured([sys.executable, "-m", "paddle2tf", "convert", prefix + ".json", "-o", out,
                                     "--force"])
        steps["check"] = measured([sys.executable, "-m", "paddle2tf", "check", os.path.join(out, "model.onnx")])
        report_path = os.path.join(out, "report.json")
        report = {}
        if os.path.isfile(report_path):
            with open(report_path) as handle:
                report = json.load(handle)
        limit_gb = 3 * weight_gb + baseline_gb
        onnx_files = sorted(f for f in os.listdir(out) if f.startswith("model.onnx")) if os.path.isdir(out) else []
        print(json.dumps({
            "weights_gb": round(weight_gb, 2), "tf_baseline_gb": round(baseline_gb, 2), "limit_gb": round(limit_gb, 2),
            "steps": steps, "stage_seconds": {s["stage"]: s["seconds"] for s in report.get("stages", [])},
            "verdict": report.get("verdict"),
            "onnx_files": onnx_files,
            "convert_within_target": steps["convert"]["peak_gb"] <= limit_gb}, indent=2))


if __name__ == "__main__":
    main()
