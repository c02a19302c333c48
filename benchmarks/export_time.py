"""Export-stage time of paddle2tf against plain paddle2onnx on ResNet-50 (a benchmark, not a test).

Requirement: the export stage stays within 10% of plain paddle2onnx. Measured here:

(a) plain paddle2onnx: ``paddle2onnx.export(model.json, model.pdiparams, model.onnx, ...)`` in a fresh
    Python process, with the options paddle2tf uses (opset 13, checker on, optimize on, no Polygraphy pass);
(b) paddle2tf's export stage: ``paddle2tf.frontend.export.export_paddle`` with fixes on, as ``convert`` runs it
    (copy the model beside the output, sanitise the PIR JSON, the export child process with paddle2onnx and
    the Paddle-op exporter).

Both are wall-clock times of everything the caller waits for, child-process start-up included. The runs are
interleaved (a, b, a, b, ...) so drift in machine load hits both alike; the table gives the medians (the
requirement's figure: ratio of the medians), the ratio of the minima and the median of the per-pair ratios.

    python benchmarks/export_time.py [--runs 5] [--model resnet50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PLAIN_EXPORT = """
import os, sys
os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
import paddle2onnx
paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], opset_version=13, auto_upgrade_opset=True,
                   enable_onnx_checker=True, enable_optimize=True, optimize_tool="none")
"""


def child_env() -> dict[str, str]:
    return {**os.environ, "POLYGRAPHY_AUTOINSTALL_DEPS": "0", "GLOG_minloglevel": "2"}


def save_model(name: str, folder: str) -> str:
    """paddle.vision.models.NAME with seeded random weights, saved as a Paddle 3 inference model (child process)."""
    prefix = os.path.join(folder, "model")
    specs = json.dumps([{"name": "x", "dtype": "float32", "shape": [None, 3, 224, 224]}])
    subprocess.run([sys.executable, "-m", "paddle2tf.frontend.paddle_worker",
                    "save-layer", f"paddle.vision.models:{name}",
                    specs, prefix, "--seed", "0"], check=True, capture_output=True, env=child_env())
    return prefix + ".json"


def time_plain(model_file: str, out_dir: str) -> float:
    params_file = os.path.splitext(model_file)[0] + ".pdiparams"
    onnx_path = os.path.join(out_dir, "plain.onnx")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PLAIN_EXPORT, model_file, params_file, onnx_path],
                          capture_output=True, text=True, env=child_env(), stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not os.path.isfile(onnx_path):
        sys.exit(f"plain paddle2onnx failed:\n{proc.stderr[-2000:]}")
    os.remove(onnx_path)
    return seconds


def time_paddle2tf(model_file: str, out_dir: str) -> tuple[float, int]:
    from paddle2tf.frontend.export import export_paddle
    from paddle2tf.frontend.sources import resolve_source

    work = tempfile.mkdtemp(dir=out_dir)
    start = time.perf_counter()
    result = export_paddle(resolve_source(model_file, ()), work, opset=13, apply_fixes=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(work)
    return seconds, len(result.fixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="a paddle.vision.models name (default resnet50)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--keep", help="save the Paddle model in this folder (reused when already there)")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="paddle2tf-bench-")
    os.makedirs(folder, exist_ok=True)
    try:
        model_file = os.path.join(folder, "model.json")
        if not os.path.isfile(model_file):
            print(f"saving {args.model} (seeded random weights) ...", file=sys.stderr)
            model_file = save_model(args.model, folder)
        size_mb = os.path.getsize(os.path.splitext(model_file)[0] + ".pdiparams") / 2**20
        plain, ours, fixes = [], [], 0
        time_plain(model_file, folder)  # warm-up: the file cache, not counted
        for run in range(args.runs):
            plain.append(time_plain(model_file, folder))
            seconds, fixes = time_paddle2tf(model_file, folder)
            ours.append(seconds)
            print(f"run {run + 1}/{args.runs}: paddle2onnx {plain[-1]:.2f} s, paddle2tf export {ours[-1]:.2f} s",
                  file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    med_plain, med_ours = statistics.median(plain), statistics.median(ours)
    ratio = med_ours / med_plain
    print(f"\n{args.model} ({size_mb:.0f} MB of parameters), {args.runs} interleaved runs each, "
          f"{os.cpu_count()} CPUs\n")
    print("| export | median (s) | min (s) | max (s) |")
    print("| --- | --- | --- | --- |")
    print(f"| plain paddle2onnx (fresh process) | {med_plain:.2f} | {min(plain):.2f} | {max(plain):.2f} |")
    print(f"| paddle2tf export stage (fixes on: {fixes} applied) | {med_ours:.2f} | {min(ours):.2f} | "
          f"{max(ours):.2f} |")
    print(f"| **ratio** paddle2tf / paddle2onnx | **{ratio:.3f}** | {min(ours) / min(plain):.3f} | |")
    paired = statistics.median(b / a for a, b in zip(plain, ours, strict=True))
    print(f"\nmedian of the per-run ratios (each pair ran back to back, under the same load): {paired:.3f}")
    print(f"\nrequirement: ratio <= 1.10 -> {'met' if ratio <= 1.10 else 'NOT met'}")


if __name__ == "__main__":
    main()
