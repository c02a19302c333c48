"""Conversion cost (ONNX → SavedModel) against the model's weight bytes: time and peak RSS (a benchmark, not a test).

Issue #4's target: a BERT-large-like encoder (24 layers, hidden 1024, ~335M parameters) converts with peak RSS
under 3 × its weight bytes plus the TensorFlow baseline. For each model (tests/helpers/paddle_models.py, seeded random
weights): saved by Paddle and exported to ONNX by ``paddle2tf convert --no-verify`` (not measured), then the
conversion alone runs in a fresh child process that imports TensorFlow and onnx first and records its RSS
(the *TF baseline*), then loads ``model.onnx``, converts it and saves the SavedModel, recording the peak RSS
(``ru_maxrss``) and the time (the model handed over as ``api.convert`` does: ``in_place=True``). Weight
bytes: every float initializer and Constant value of the ONNX model.

    python benchmarks/conversion_memory.py [--models bert_like bert_large] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPERS = os.path.join(ROOT, "tests", "helpers")  # paddle_models.py, paddle_fixtures.py

_CHILD = """
import json, resource, sys, time
import numpy as np, onnx, tensorflow as tf
from onnx import numpy_helper

def rss_mb():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024

tf.constant(1.0) + 1  # TensorFlow's runtime initialised: part of the baseline
baseline = rss_mb()
from paddle2tf.onnxutil.checker import load_checked
from paddle2tf.converter.module import ConvertedModule
start = time.perf_counter()
model = load_checked(sys.argv[1])
weights = sum(t.ByteSize() for t in model.graph.initializer)
weights += sum(a.t.ByteSize() for n in model.graph.node if n.op_type == "Constant" for a in n.attribute
               if a.name == "value")
loaded = rss_mb()
ConvertedModule(model, in_place=True).save(sys.argv[2])  # as api.convert does
seconds = time.perf_counter() - start
print(json.dumps({"baseline_mb": baseline, "loaded_mb": loaded, "weights_mb": weights / 2**20, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "POLYGRAPHY_AUTOINSTALL_DEPS": "0",
           "PYTHONPATH": HELPERS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return proc


def measure(name: str, workdir: str) -> dict:
    sys.path.insert(0, HELPERS)
    from paddle_fixtures import save_paddle_model

    model_file = save_paddle_model(name, os.path.join(workdir, name, "paddle"))
    out = os.path.join(workdir, name, "out")
    _run([sys.executable, "-m", "paddle2tf", "convert", model_file, "-o", out, "--no-verify", "--force"])
    result = json.loads(_run([sys.executable, "-c", _CHILD, os.path.join(out, "model.onnx"),
                              os.path.join(workdir, name, "saved_model")]).stdout.strip().splitlines()[-1])
    result["model"] = name
    result["limit_mb"] = 3 * result["weights_mb"] + result["baseline_mb"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bert_like", "bert_large"])
    parser.add_argument("--workdir", help="keep the models here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conversion-memory-") as tmp:
        rows = [measure(name, args.workdir or tmp) for name in args.models]
    print("| model | weights (MB) | TF baseline (MB) | after loading ONNX (MB) | peak RSS (MB) | limit 3×W+TF (MB) | "
          "peak / weights | convert (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['weights_mb']:.0f} | {r['baseline_mb']:.0f} | {r['loaded_mb']:.0f} | "
              f"{r['peak_mb']:.0f} | {r['limit_mb']:.0f} | {(r['peak_mb'] - r['baseline_mb']) / r['weights_mb']:.2f} | "
              f"{r['seconds']:.1f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"({time.time() - started:.0f} s in all)", file=sys.stderr)
