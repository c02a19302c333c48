"""Time and peak memory of ``paddle2tf locate`` on resnet50 and the BERT-base-like encoder.

Usage: ``python benchmarks/locate_cost.py [--models resnet50 bert_like] [--chunk-size 200] [--workdir DIR]``

Each model is saved by tests/helpers/paddle_models.py (seeded random weights), converted without verification
(``paddle2tf convert --no-verify``), then ``locate`` (both hops, every ONNX value compared) runs in a fresh
child process which reports its own peak RSS and the peak RSS of its Paddle child (the Paddle → ONNX hop).
Inputs are the conversion's defaults: batch 2 (and sequence length 32 for the encoder).

With ``--drift`` one weight in the middle of ``model.onnx`` is scaled by 1.1 after the conversion (an exporter
bug's effect), so the Paddle → ONNX hop fails and locate also compares Paddle's intermediate values with ONNX
Runtime's (``locate_paddle``); the table then shows that comparison's time and the region it names.
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
from paddle2tf.app.api import locate_output
from paddle2tf.app.options import LocateOptions
start = time.perf_counter()
result = locate_output(sys.argv[1], LocateOptions(chunk_size=int(sys.argv[2]), update_report=False))
seconds = time.perf_counter() - start
nodewise = result.nodewise
print(json.dumps({
    "seconds": seconds, "nodewise_seconds": nodewise.seconds, "nodes": len(nodewise.nodes),
    "compared": nodewise.compared_values, "not_compared": nodewise.not_compared_values, "chunks": nodewise.chunks,
    "culprit": nodewise.culprit.name if nodewise.culprit else None, "diverging_hop": result.diverging_hop,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "paddle_values_seconds": result.paddle_values.seconds, "paddle_values": result.paddle_values.compared_values,
    "region": result.paddle_values.region.first_value if result.paddle_values.region else None}))
"""


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": HELPERS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return proc


def _scale_middle_weight(onnx_path: str) -> str:
    """Scale the middle one of the float weight matrices (initializers / Constant values) by 1.1; returns its name."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    tensors = [(init.name, init) for init in model.graph.initializer]
    tensors += [(node.output[0], attr.t) for node in model.graph.node if node.op_type == "Constant"
                for attr in node.attribute if attr.name == "value"]
    large = [(name, t) for name, t in tensors if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2 and
             int(np.prod(t.dims)) > 1000]  # matrices: biases start at zero, scaling them changes nothing
    name, tensor = large[len(large) // 2]
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * np.float32(1.1), tensor.name))
    onnx.save(model, onnx_path)
    return name


def measure(name: str, workdir: str, chunk_size: int, drift: bool) -> dict:
    sys.path.insert(0, HELPERS)
    from paddle_fixtures import save_paddle_model

    model_file = save_paddle_model(name, os.path.join(workdir, name, "paddle"))
    out = os.path.join(workdir, name, "out")
    start = time.perf_counter()
    _run([sys.executable, "-m", "paddle2tf", "convert", model_file, "-o", out, "--no-verify", "--force"])
    convert_seconds = time.perf_counter() - start
    edited = _scale_middle_weight(os.path.join(out, "model.onnx")) if drift else None
    result = json.loads(_run([sys.executable, "-c", _CHILD, out, str(chunk_size)]).stdout.strip().splitlines()[-1])
    with open(os.path.join(out, "report.json")) as handle:
        report = json.load(handle)
    result.update(model=name, convert_seconds=convert_seconds, edited=edited,
                  inputs=", ".join(f"{t['onnx_name']}" for t in report["signature"]["inputs"]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_like"])
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--workdir", help="keep the models here (default: a temporary directory)")
    parser.add_argument("--drift", action="store_true", help="scale one weight of model.onnx (Paddle → ONNX drift)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="locate-cost-") as tmp:
        workdir = args.workdir or tmp
        rows = [measure(name, workdir, args.chunk_size, args.drift) for name in args.models]
    header = ["model", "nodes", "values compared", "not compared", "chunks", "locate s", "node-level s",
              "peak RSS MB", "Paddle child peak MB", "convert s", "Paddle values", "Paddle values s"]
    table = [header] + [[r["model"], str(r["nodes"]), str(r["compared"]), str(r["not_compared"]), str(r["chunks"]),
                         f"{r['seconds']:.1f}", f"{r['nodewise_seconds']:.1f}", f"{r['peak_rss_mb']:.0f}",
                         f"{r['children_peak_rss_mb']:.0f}", f"{r['convert_seconds']:.1f}", str(r["paddle_values"]),
                         f"{r['paddle_values_seconds']:.1f}"] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(cells)))
    print(f"(chunk size {args.chunk_size}; default inputs: batch 2, sequence 32; culprits: "
          f"{', '.join(str(r['culprit']) for r in rows)})")
    for r in rows:
        if r["edited"]:
            print(f"{r['model']}: edited {r['edited']}; hop {r['diverging_hop']}; first drifting value {r['region']}")


if __name__ == "__main__":
    main()
