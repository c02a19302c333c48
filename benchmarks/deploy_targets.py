"""Size and latency of ResNet-50's deployment targets (a benchmark, not a test).

ResNet-50 with seeded random weights (tests/helpers/paddle_models.py) is converted twice with the CLI, without
verification:

- ``python -m paddle2tf convert MODEL -o OUT --no-verify --tflite fp32,fp16,int8-dynamic,int8``: the SavedModel
  (dynamic batch) and its TFLite files;
- ``... --static-shape x:1x3x224x224 --no-verify``: the static SavedModel, run under ``tf.function(jit_compile=True)``
  (XLA).

One TensorFlow-only worker process then loads every target and times one batch-1 forward pass of each in turn
(round robin, so drift in machine load hits all alike) after warm-up runs: feed numpy, run, fetch numpy. The SavedModel
runs through ``signatures['serving_default']``; a TFLite file through ``tf.lite.Interpreter`` (input resized to
batch 1 once, ``num_threads`` = ``--threads``, XNNPACK as TensorFlow applies it by default). Size: the SavedModel
directory (graph + variables) or the .tflite file. A variant that did not convert is listed with the reason.

    python benchmarks/deploy_targets.py [--runs 30] [--warmup 5] [--threads N] [--work-dir DIR]

Prints a markdown table.
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

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(os.path.dirname(HERE), "tests", "helpers")  # paddle_models.py, paddle_fixtures.py
MODEL = "resnet50"
VARIANTS = ["fp32", "fp16", "int8-dynamic", "int8"]


def child_env() -> dict[str, str]:
    return {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": os.pathsep.join(p for p in (HELPERS, os.environ.get("PYTHONPATH")) if p)}


def convert(model_file: str, out: str, *extra: str) -> dict:
    """Convert with the CLI (cached: an existing OUT is reused); returns its report.json."""
    if not os.path.isfile(os.path.join(out, "report.json")):
        cmd = [sys.executable, "-m", "paddle2tf", "convert", model_file, "-o", out, "--no-verify", "--force", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"paddle2tf convert failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    with open(os.path.join(out, "report.json")) as handle:
        return json.load(handle)


def folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def worker(targets_file: str, runs: int, warmup: int, threads: int) -> None:
    """Times every target of TARGETS_FILE; prints {label: [ms, ...]} as JSON on the last line."""
    import warnings

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    with open(targets_file) as handle:
        targets = json.load(handle)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
    runners = {}
    for target in targets:
        if target["kind"] == "tflite":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(model_path=target["path"], num_threads=threads)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, x.shape)
            interpreter.allocate_tensors()
            outputs = [d["index"] for d in interpreter.get_output_details()]

            def run(interpreter=interpreter, index=index, outputs=outputs):
                interpreter.set_tensor(index, x)
                interpreter.invoke()
                return [interpreter.get_tensor(i) for i in outputs]
        else:
            loaded = tf.saved_model.load(target["path"])
            serving = loaded.signatures["serving_default"]
            fn = tf.function(serving, jit_compile=True) if target["kind"] == "xla" else serving
            name = target["input"]

            def run(fn=fn, name=name, keep=loaded):  # `keep`: the signature's variables live as long as `loaded`
                return [t.numpy() for t in fn(**{name: tf.constant(x)}).values()]
        runners[target["label"]] = run
    for run in runners.values():
        for _ in range(warmup):
            run()
    samples = {label: [] for label in runners}
    for _ in range(runs):
        for label, run in runners.items():
            start = time.perf_counter()
            run()
            samples[label].append((time.perf_counter() - start) * 1e3)
    print(json.dumps(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per target (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per target (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (default: CPUs)")
    parser.add_argument("--work-dir", help="keep the model and conversions here (reused when already there)")
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="paddle2tf-deploy-targets-")
    sys.path.insert(0, HELPERS)
    from paddle_fixtures import save_paddle_model

    model_file = os.path.join(work, "paddle", "model.json")
    if not os.path.isfile(model_file):
        print(f"{MODEL}: saving the Paddle model ...", file=sys.stderr, flush=True)
        model_file = save_paddle_model(MODEL, os.path.join(work, "paddle"))
    print(f"{MODEL}: converting (SavedModel + TFLite, then static shape) ...", file=sys.stderr, flush=True)
    dynamic = os.path.join(work, "dynamic")
    report = convert(model_file, dynamic, "--tflite", ",".join(VARIANTS))
    static = os.path.join(work, "static")
    convert(model_file, static, "--static-shape", "x:1x3x224x224")
    input_name = report["signature"]["inputs"][0]["tf_name"]
    saved_model_size = folder_size(os.path.join(dynamic, "saved_model"))
    targets = [{"label": "SavedModel fp32", "kind": "savedmodel", "path": os.path.join(dynamic, "saved_model"),
                "input": input_name, "size": saved_model_size},
               {"label": "SavedModel fp32 + XLA (static shape)", "kind": "xla",
                "path": os.path.join(static, "saved_model"), "input": input_name,
                "size": folder_size(os.path.join(static, "saved_model"))}]
    missing = {}
    for item in report["tflite"]:
        if item["converted"]:
            targets.append({"label": f"TFLite {item['variant']}", "kind": "tflite",
                            "path": os.path.join(dynamic, item["path"]), "size": item["size_bytes"]})
        else:
            missing[f"TFLite {item['variant']}"] = item["reason"]
    targets_file = os.path.join(work, "targets.json")
    with open(targets_file, "w") as handle:
        json.dump(targets, handle)
    print(f"timing {len(targets)} targets, {args.runs} runs each ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, __file__, "--worker", targets_file, str(args.runs), str(args.warmup),
                           str(args.threads)], capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        sys.exit(f"worker failed: {proc.stderr.strip()[-2000:]}")
    samples = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{MODEL} (seeded random weights), batch 1, {os.cpu_count()} CPUs, {args.threads} threads; median of "
          f"{args.runs} interleaved runs after {args.warmup} warm-up runs\n")
    print("| target | size (MB) | median latency (ms) |")
    print("|---|---:|---:|")
    for target in targets:
        print(f"| {target['label']} | {target['size'] / 1e6:.1f} | {statistics.median(samples[target['label']]):.1f} |")
    for label, reason in missing.items():
        print(f"| {label} | - | not converted: {reason} |")
    print(f"\n(work dir {work})", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
