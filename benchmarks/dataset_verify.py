"""Throughput and memory of the dataset check (paddle2tf.verify.dataset) on ResNet-50.

    python benchmarks/dataset_verify.py [--sizes 250 1000] [--batch-size 16] [--work-dir DIR]

A seeded random-weight ResNet-50 (tests/helpers/paddle_models.py) is converted with the CLI (--no-verify), and
the largest --sizes images (224x224, rendered with Pillow: shapes and digits) are generated once. For each size,
the dataset check runs the first N images in a fresh process (so peak RSS is its own): samples/s of each
framework's own compute (Paddle, ONNX Runtime, TensorFlow, each a long-lived process) and end to end (wall time
including the runners' start-up), the peak RSS of the checking process and of the largest runner process.
Memory should not grow with the dataset: only a few batches are ever held. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
SPEC = "scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.path.join(TESTS, "helpers"),
                                                         os.environ.get("PYTHONPATH", "")]),
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def prepare(work: str, count: int) -> tuple[str, str]:
    prefix = os.path.join(work, "resnet50", "model")
    if not os.path.isfile(prefix + ".json"):
        subprocess.run([sys.executable, os.path.join(TESTS, "helpers", "paddle_models.py"), "resnet50", prefix],
                       check=True, capture_output=True, env=_env())
    out = os.path.join(work, "resnet50_out")
    if not os.path.isfile(os.path.join(out, "report.json")):
        subprocess.run([sys.executable, "-m", "paddle2tf", "convert", prefix + ".json", "-o", out, "--force",
                        "--no-verify"], check=True, capture_output=True, env=_env())
    images = os.path.join(work, f"images_{count}")
    if not os.path.isdir(images):
        code = ("import sys; sys.path.insert(0, sys.argv[3]); from helpers.images import render_images; "
                "render_images(sys.argv[1], int(sys.argv[2]), size=(224, 224))")
        subprocess.run([sys.executable, "-c", code, images, str(count), TESTS], check=True, env=_env())
    return out, images


def worker(out: str, images: str, limit: int, batch_size: int) -> None:
    import resource

    from paddle2tf.converter.preprocess import parse_preprocess
    from paddle2tf.report.outdir import Output
    from paddle2tf.verify.dataset.reader import ModelIO, open_dataset
    from paddle2tf.verify.dataset.run import DatasetOptions, Model, verify_dataset

    output = Output.open(out)
    model = Model(output.onnx_path, output.saved_model, output.signature, output.paddle_model())
    dataset = open_dataset(images, ModelIO.from_report(output.onnx_path, output.report),
                           preprocess=parse_preprocess(SPEC), limit=limit)
    result = verify_dataset(model, dataset, DatasetOptions(batch_size=batch_size),
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    top1 = next(a.value for a in result.agreements if a.metric == "top1" and a.pair == "paddle_vs_tensorflow")
    print(json.dumps({"throughput": result.throughput, "seconds": result.seconds, "verdict": result.verdict,
                      "top1": top1, "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[250, 1000])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--work-dir")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]), args.batch_size)
        return
    work = args.work_dir or tempfile.mkdtemp(prefix="paddle2tf-dataset-bench-")
    out, images = prepare(work, max(args.sizes))
    rows = []
    for size in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--batch-size", str(args.batch_size), "--worker", out, images,
                               str(size)], capture_output=True, text=True, env=_env())
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        rows.append((size, json.loads(proc.stdout.strip().splitlines()[-1])))
    print(f"ResNet-50 (seeded random weights), 224x224 images, batch {args.batch_size}; samples/s of each framework's "
          "own compute (the three run side by side on the same cores), end to end incl. start-up\n")
    print("| images | Paddle | ONNX Runtime | TensorFlow | end to end | wall s | peak RSS checker MB | "
          "peak RSS largest runner MB | top-1 agreement paddle↔tf |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, r in rows:
        t = r["throughput"]
        print(f"| {size} | {t.get('paddle', 0):.1f} | {t.get('onnxruntime', 0):.1f} | {t.get('tensorflow', 0):.1f} | "
              f"{t['end_to_end']:.1f} | {r['seconds']:.0f} | {r['rss_self_mb']:.0f} | {r['rss_children_mb']:.0f} | "
              f"{100 * r['top1']:.2f}% |")


if __name__ == "__main__":
    main()
