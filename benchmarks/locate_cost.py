"""Time and peak memory of ``paddle2tf locate`` on resnet50 and the BERT-base-like encoder.

Usage: ``python benchmarks/locate_cost.py [--models resnet50 bert_like] [--chunk-size 200] [--workdir DIR]``

Each model is saved by tests/paddle_models.py (seeded random weights), converted without verification
(``paddle2tf convert --no-verify``), then ``locate`` (both hops, every ONNX value compared) runs in a fresh
child process which reports its own peak RSS and the peak RSS of its Paddle child (the Paddle → ONNX hop).
Inputs are the conversion's defaults: batch 2 (and sequence length 32 for the encoder).
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
TESTS = os.path.join(ROOT, "tests")

_CHILD = """
import json, resource, sys, time
from paddle2tf.locate import locate
start = time.perf_counter()
result = locate(sys.argv[1], chunk_size=int(sys.argv[2]), update_report=False)
seconds = time.perf_counter() - start
nodewise = result.nodewise
print(json.dumps({
    "seconds": seconds, "nodewise_seconds": nodewise.seconds, "nodes": len(nodewise.nodes),
    "compared": nodewise.compared_values, "not_compared": nodewise.not_compared_values, "chunks": nodewise.chunks,
    "culprit": nodewise.culprit.name if nodewise.culprit else None, "diverging_hop": result.diverging_hop,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return proc


def measure(name: str, workdir: str, chunk_size: int) -> dict:
    sys.path.insert(0, TESTS)
    from paddle_fixtures import save_paddle_model

    model_file = save_paddle_model(name, os.path.join(workdir, name, "paddle"))
    out = os.path.join(workdir, name, "out")
    start = time.perf_counter()
    _run([sys.executable, "-m", "paddle2tf", "convert", model_file, "-o", out, "--no-verify", "--force"])
    convert_seconds = time.perf_counter() - start
    result = json.loads(_run([sys.executable, "-c", _CHILD, out, str(chunk_size)]).stdout.strip().splitlines()[-1])
    with open(os.path.join(out, "report.json")) as handle:
        report = json.load(handle)
    result.update(model=name, convert_seconds=convert_seconds,
                  inputs=", ".join(f"{t['onnx_name']}" for t in report["signature"]["inputs"]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_like"])
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--workdir", help="keep the models here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="locate-cost-") as tmp:
        workdir = args.workdir or tmp
        rows = [measure(name, workdir, args.chunk_size) for name in args.models]
    header = ["model", "nodes", "values compared", "not compared", "chunks", "locate s", "node-level s",
              "peak RSS MB", "Paddle child peak MB", "convert s"]
    table = [header] + [[r["model"], str(r["nodes"]), str(r["compared"]), str(r["not_compared"]), str(r["chunks"]),
                         f"{r['seconds']:.1f}", f"{r['nodewise_seconds']:.1f}", f"{r['peak_rss_mb']:.0f}",
                         f"{r['children_peak_rss_mb']:.0f}", f"{r['convert_seconds']:.1f}"] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(cells)))
    print(f"(chunk size {args.chunk_size}; default inputs: batch 2, sequence 32; culprits: "
          f"{', '.join(str(r['culprit']) for r in rows)})")


if __name__ == "__main__":
    main()
