"""SavedModel size, batch-1/batch-8 latency and parity of `convert --precision fp32|fp16|bf16`.

    python benchmarks/precision.py [--models resnet50] [--runs 20] [--work-dir DIR]

Each (model, precision) is converted (and verified against Paddle) with the CLI from a seeded random-weight Paddle
model (tests/helpers/paddle_models.py); the SavedModel is then timed in a fresh TensorFlow-only process per precision:
median of --runs calls after 3 warm-up calls, inputs uniform[-1, 1]. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPERS = os.path.join(ROOT, "tests", "helpers")  # paddle_models.py, paddle_fixtures.py
PRECISIONS = ("fp32", "fp16", "bf16")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": HELPERS + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def _size_mb(folder: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files) / 2**20


def convert(name: str, precision: str, work: str) -> dict:
    prefix = os.path.join(work, name, "model")
    if not os.path.isfile(prefix + ".json"):
        subprocess.run([sys.executable, os.path.join(HELPERS, "paddle_models.py"), name, prefix], check=True,
                       capture_output=True, env=_env())
    out = os.path.join(work, f"{name}_{precision}")
    if not os.path.isfile(os.path.join(out, "report.json")):
        subprocess.run([sys.executable, "-m", "paddle2tf", "convert", prefix + ".json", "-o", out, "--force",
                        "--precision", precision], capture_output=True, env=_env())  # exit 1 = parity: still timed
    with open(os.path.join(out, "report.json")) as handle:
        report = json.load(handle)
    pairs = [o["pairs"].get("paddle_vs_tensorflow", {}) for o in report["verification"]["outputs"]]
    return {"out": out, "verdict": report["verdict"], "max_rel": max(p.get("max_rel", float("nan")) for p in pairs),
            "size_mb": _size_mb(os.path.join(out, "saved_model")),
            "convert_s": next((s["seconds"] for s in report["stages"] if s["stage"] == "convert"), None)}


def worker(saved_model: str, batches: list[int], runs: int) -> None:
    import numpy as np
    import tensorflow as tf

    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    (name, spec), = serving.structured_input_signature[1].items()
    result = {}
    for batch in batches:
        shape = [batch if d is None else d for d in spec.shape.as_list()]
        x = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
        for _ in range(3):
            serving(**{name: x})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            next(iter(serving(**{name: x}).values())).numpy()
            times.append(time.perf_counter() - start)
        result[batch] = statistics.median(times) * 1e3
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--work-dir")
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="paddle2tf-precision-")
    os.makedirs(work, exist_ok=True)
    rows = []
    for name in args.models:
        for precision in PRECISIONS:
            print(f"{name} {precision}: converting ...", file=sys.stderr, flush=True)
            row = {"model": name, "precision": precision, **convert(name, precision, work)}
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                   os.path.join(row["out"], "saved_model"),
                                   ",".join(map(str, args.batches)), str(args.runs)],
                                  capture_output=True, text=True, env=_env(), check=True)
            row["latency_ms"] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
    print(f"\n{os.cpu_count()} CPUs, TF default threads; median of {args.runs} runs after 3 warm-up runs\n")
    print("| model | precision | SavedModel (MB) | " + " | ".join(f"batch {b} (ms)" for b in args.batches)
          + " | paddle↔tf max_rel | verdict |")
    print("|---|---|---:|" + "---:|" * len(args.batches) + "---:|---|")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['size_mb']:.1f} | "
              + " | ".join(f"{r['latency_ms'][str(b)]:.1f}" for b in args.batches)
              + f" | {r['max_rel']:.2e} | {r['verdict']} |")
    print(f"\nwork dir {work}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4]))
    else:
        main()
