"""The dataset check (paddle2tf.verify.dataset): image folders and arrays streamed through Paddle, ONNX Runtime and the
SavedModel; every figure checked against numpy computed here from outputs made without the code under test
(helpers.dataset_refs) and images decoded and preprocessed here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from paddle2tf.converter.module import TensorInfo
from paddle2tf.converter.preprocess import apply_reference, parse_preprocess
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.report.html import render_html
from paddle2tf.report.model import ConversionReport
from paddle2tf.report.outdir import Output
from paddle2tf.report.terminal import render_dataset, render_summary
from paddle2tf.verify.dataset.reader import ModelIO, from_inference_yml, open_dataset
from paddle2tf.verify.dataset.result import DatasetResult
from paddle2tf.verify.dataset.run import DatasetOptions, Model, verify_dataset
from paddle2tf.verify.metrics import Tolerance, compare, compare_with_sums, merge
from paddle2tf.verify.model import Verification

from helpers.cli import run_cli
from helpers.dataset_refs import run_each
from helpers.images import load_rgb, render_images
from helpers.paddle_fixtures import save_paddle_model
from helpers.plugin_fixtures import CONV_FAULT

SPEC = "scale=1/255,mean=0.5/0.5/0.5,std=0.25/0.25/0.25"
IMAGES = 240
LOOSE = ("--rtol", "0.1", "--atol", "0.1")


def _preprocess(paths: list[str]) -> np.ndarray:
    """The test's own preprocessing of SPEC: (x / 255 - 0.5) / 0.25, NCHW float32."""
    images = np.stack([load_rgb(p) for p in paths]).astype(np.float64)
    return np.ascontiguousarray(((images / 255 - 0.5) / 0.25).transpose(0, 3, 1, 2)).astype(np.float32)


def _convert(model_json: str, out: str, *args: str) -> str:
    proc = run_cli("convert", model_json, "-o", out, "--force", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _batches(array: np.ndarray, size: int = 16) -> list[dict[str, np.ndarray]]:
    return [{"x": array[i:i + size]} for i in range(0, len(array), size)]


def _refs(out_dir: str, feeds: list[dict[str, np.ndarray]], frameworks=("paddle", "onnxruntime", "tensorflow")):
    """Per framework, per output index: the batches' outputs (a list per batch)."""
    return {fw: run_each(fw, out_dir, feeds) for fw in frameworks}


def _cat(batches: list[list[np.ndarray]], index: int = 0) -> np.ndarray:
    return np.concatenate([b[index] for b in batches])


def _topk_sets(scores: np.ndarray, k: int) -> list[frozenset]:
    return [frozenset(np.argsort(-row, kind="stable")[:k].tolist()) for row in scores]


def _agreement(result: DatasetResult, metric: str, pair: str, output: str | None = None):
    found = [a for a in result.agreements if a.metric == metric and a.pair == pair
             and (output is None or a.output == output)]
    assert len(found) == 1, result.agreements
    return found[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    names = render_images(str(folder), IMAGES)
    return str(folder), names


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, images):
    """The classifier converted, the images preprocessed here, each framework's logits, labels = Paddle's top-1."""
    work = tmp_path_factory.mktemp("classifier")
    model = save_paddle_model("image_classifier", str(work / "paddle"))
    out = _convert(model, str(work / "out"), "--no-verify")
    folder, names = images
    x = _preprocess([os.path.join(folder, n) for n in names])
    refs = _refs(out, _batches(x))
    logits = {fw: _cat(batches) for fw, batches in refs.items()}
    labels = logits["paddle"].argmax(axis=1)
    labels_file = work / "labels.csv"
    labels_file.write_text("file,label\n" + "".join(f"{n},{label}\n" for n, label in zip(names, labels, strict=True)))
    return {"model": model, "out": out, "x": x, "logits": logits, "labels": str(labels_file), "work": work}


def _check(out_dir: str, dataset_path: str, options: DatasetOptions = DatasetOptions(), **kwargs) -> DatasetResult:
    """The dataset check on a conversion's output (the core, without the three-way check api.verify_output runs)."""
    output = Output.open(out_dir)
    model = Model(output.onnx_path, output.saved_model, output.signature, output.paddle_model())
    dataset = open_dataset(dataset_path, ModelIO.from_report(output.onnx_path, output.report), **kwargs)
    return verify_dataset(model, dataset, options)


def test_classifier_agreement_accuracy_and_per_sample_errors(classifier, images):
    folder, names = images
    logits = classifier["logits"]
    assert len(set(logits["paddle"].argmax(axis=1).tolist())) >= 3  # predictions spread over the classes
    result = _check(classifier["out"], folder, preprocess=parse_preprocess(SPEC), labels=classifier["labels"])
    assert result.complete and result.samples == IMAGES and result.frameworks == ["paddle", "onnxruntime",
                                                                                   "tensorflow"]
    for a, b in (("paddle", "tensorflow"), ("onnxruntime", "tensorflow"), ("paddle", "onnxruntime")):
        pair = f"{a}_vs_{b}"
        top1 = np.mean(logits[a].argmax(axis=1) == logits[b].argmax(axis=1))
        top5 = np.mean([x == y for x, y in zip(_topk_sets(logits[a], 5), _topk_sets(logits[b], 5), strict=True)])
        assert _agreement(result, "top1", pair).value == pytest.approx(top1, abs=1e-12)
        assert _agreement(result, "top5", pair).value == pytest.approx(top5, abs=1e-12)
    labels = logits["paddle"].argmax(axis=1)
    accuracy = {a.framework: a for a in result.accuracy}
    assert accuracy["paddle"].accuracy == 1.0 and accuracy["paddle"].drop_pp is None
    tf_acc = np.mean(logits["tensorflow"].argmax(axis=1) == labels)
    assert accuracy["tensorflow"].accuracy == pytest.approx(tf_acc, abs=1e-12)
    assert accuracy["tensorflow"].drop_pp == pytest.approx(100 * (1 - tf_acc), abs=1e-9)
    # element-wise, over the whole dataset
    out = result.outputs[0]
    a, b = logits["paddle"].astype(np.float64), logits["tensorflow"].astype(np.float64)
    metrics = out.pairs["paddle_vs_tensorflow"]
    assert metrics.max_abs == pytest.approx(np.abs(a - b).max(), rel=1e-6)
    assert metrics.max_rel == pytest.approx(np.abs(a - b).max() / np.abs(a).max(), rel=1e-6)
    assert metrics.rel_l2 == pytest.approx(np.linalg.norm(a - b) / np.linalg.norm(a), rel=1e-6)
    assert metrics.elements == a.size
    # per-sample max relative error: percentiles and the worst 10 with their files
    per_sample = np.abs(a - b).max(axis=1) / np.abs(a).max(axis=1)
    dist = out.per_sample["paddle_vs_tensorflow"]
    for q in (50, 90, 99, 99.9):
        assert dist.percentiles[f"p{q:g}"] == pytest.approx(np.sort(per_sample)[int(np.ceil(q / 100 * IMAGES)) - 1],
                                                            rel=1e-6)
    assert dist.percentiles["max"] == pytest.approx(per_sample.max(), rel=1e-6)
    worst = np.argsort(-per_sample, kind="stable")[:10]
    assert [w.name for w in dist.worst] == [names[i] for i in worst]
    assert all(w.thumbnail.startswith("data:image/png;base64,") for w in dist.worst)
    assert sum(dist.histogram) + dist.zeros == IMAGES
    assert result.verdict == "pass"
    assert result.throughput["end_to_end"] > 0 and set(result.throughput) >= {"paddle", "onnxruntime", "tensorflow"}
    text = render_dataset(result)
    assert "top1" in text and "accuracy" in text and "dataset verdict: PASS" in text
    assert DatasetResult.from_dict(json.loads(json.dumps(result.to_dict()))).to_dict() == result.to_dict()
    page = render_html({"dataset": json.loads(json.dumps(result.to_dict()))})
    assert "Dataset check" in page and 'alt="per-sample error histogram and CDF"' in page
    assert page.count('<img src="data:image/png;base64,') == 10  # the worst samples' thumbnails
    assert f"<code>{names[worst[0]]}</code>" in page


@pytest.fixture(scope="module")
def perturbed(classifier, tmp_path_factory):
    """The classifier converted with its middle Conv's output scaled by 5 % (a converter plugin)."""
    work = tmp_path_factory.mktemp("perturbed")
    onnx_model = onnx.load(os.path.join(classifier["out"], "model.onnx"))
    conv = [n.name for n in onnx_model.graph.node if n.op_type == "Conv"][1]
    plugin = work / "fault.py"
    plugin.write_text(CONV_FAULT.replace('TARGET = "conv_a"', f'TARGET = "{conv}"').replace("1.01", "1.05"))
    out = _convert(classifier["model"], str(work / "out"), "--plugin", str(plugin), *LOOSE)
    shutil.copyfile(classifier["labels"], work / "labels.csv")
    return out


def perturbed_labels(out: str) -> str:
    return os.path.join(os.path.dirname(out), "labels.csv")


def test_perturbed_conv_passes_random_inputs_but_loses_agreement(perturbed, classifier, images):
    """The middle Conv's output scaled by 5 % (max_rel ~4.5 %) passes the random-tensor check at a loose tolerance
    (0.1); on the dataset, predictions flip."""
    out = perturbed
    with open(os.path.join(out, "report.json")) as handle:
        assert json.load(handle)["verdict"] == "pass"  # the random-tensor check at the loose tolerance
    folder, names = images
    tf_logits = _cat(run_each("tensorflow", out, _batches(classifier["x"])))
    result = _check(out, folder, DatasetOptions(tolerance=Tolerance(0.1, 0.1)), preprocess=parse_preprocess(SPEC),
                    labels=classifier["labels"])
    labels = classifier["logits"]["paddle"].argmax(axis=1)
    top1 = np.mean(tf_logits.argmax(axis=1) == labels)
    assert top1 < 0.999  # the fault flips predictions on real images
    assert _agreement(result, "top1", "paddle_vs_tensorflow").value == pytest.approx(top1, abs=1e-12)
    assert _agreement(result, "top1", "paddle_vs_tensorflow").verdict == "fail"
    assert _agreement(result, "top1", "paddle_vs_onnxruntime").verdict == "pass"
    drop = {a.framework: a for a in result.accuracy}["tensorflow"]
    assert drop.drop_pp == pytest.approx(100 * (1 - top1), abs=1e-9) and drop.verdict == "fail"
    assert all(o.verdict == "pass" for o in result.outputs)  # element-wise at the loose tolerance: within
    assert result.verdict == "fail"
    report = ConversionReport(source={}, opset=13, signature={}, verification=Verification([], [], [], "pass"),
                              dataset=result)
    assert report.verdict == "fail"  # the dataset check fails the conversion like a parity failure
    assert "dataset verdict: FAIL" in render_summary(report)
    assert "Partial result" not in render_html(json.loads(json.dumps(report.to_dict())))


def test_fp16_variant_on_the_dataset(classifier, images, tmp_path):
    out = _convert(classifier["model"], str(tmp_path / "out"), "--no-verify", "--precision", "fp16")
    folder, _ = images
    tf_logits = _cat(run_each("tensorflow", out, _batches(classifier["x"])))
    result = _check(out, folder, DatasetOptions(tolerance=Tolerance(1e-2, 1e-2)), preprocess=parse_preprocess(SPEC),
                    labels=classifier["labels"])
    labels = classifier["logits"]["paddle"].argmax(axis=1)
    top1 = np.mean(tf_logits.argmax(axis=1) == labels)
    assert _agreement(result, "top1", "paddle_vs_tensorflow").value == pytest.approx(top1, abs=1e-12)
    onnx_top1 = np.mean(tf_logits.argmax(axis=1) == classifier["logits"]["onnxruntime"].argmax(axis=1))
    assert _agreement(result, "top1", "onnxruntime_vs_tensorflow").value == pytest.approx(onnx_top1, abs=1e-12)
    per_sample = (np.abs(classifier["logits"]["paddle"].astype(np.float64) - tf_logits).max(axis=1)
                  / np.abs(classifier["logits"]["paddle"]).max(axis=1))
    dist = result.outputs[0].per_sample["paddle_vs_tensorflow"]
    assert dist.percentiles["max"] == pytest.approx(per_sample.max(), rel=1e-5)
    assert dist.percentiles["max"] > 1e-5  # float16 arithmetic, visibly
    expected = "pass" if top1 >= 0.999 and 100 * (1 - top1) <= 0.1 else "fail"
    assert {a.framework: a for a in result.accuracy}["tensorflow"].verdict == expected


def test_cli_convert_with_dataset_judges_the_tflite_variants(classifier, images, tmp_path):
    """`convert --tflite fp32,fp16 --dataset ...`: the TFLite files run on the dataset beside the SavedModel, each
    compared with Paddle; labels give each one's accuracy."""
    folder, names = images
    out = str(tmp_path / "out")
    proc = run_cli("convert", classifier["model"], "-o", out, "--no-verify", "--tflite", "fp32,fp16", "--dataset",
                   folder, "--dataset-preprocess", SPEC, "--labels", classifier["labels"], "--limit", "96")
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    with open(os.path.join(out, "report.json")) as handle:
        data = json.load(handle)["dataset"]
    assert data["frameworks"] == ["paddle", "onnxruntime", "tensorflow", "tflite-fp32", "tflite-fp16"]
    assert data["samples"] == 96
    x = classifier["x"][:96]
    labels = classifier["logits"]["paddle"].argmax(axis=1)[:96]
    for variant in ("tflite-fp32", "tflite-fp16"):
        logits = _cat(run_each(variant, out, _batches(x)))
        top1 = np.mean(logits.argmax(axis=1) == classifier["logits"]["paddle"][:96].argmax(axis=1))
        found = [a for a in data["agreements"] if a["pair"] == f"paddle_vs_{variant}" and a["metric"] == "top1"]
        assert found[0]["value"] == pytest.approx(top1, abs=1e-12)
        accuracy = next(a for a in data["accuracy"] if a["framework"] == variant)
        assert accuracy["accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == labels), abs=1e-12)
        metrics = next(o for o in data["outputs"])["pairs"][f"paddle_vs_{variant}"]
        ref = classifier["logits"]["paddle"][:96].astype(np.float64)
        assert metrics["max_abs"] == pytest.approx(np.abs(ref - logits).max(), rel=1e-6)
    fp16 = next(a for a in data["accuracy"] if a["framework"] == "tflite-fp16")
    assert fp16["verdict"] == "not_judged"  # a quantised file: judged by --tflite-min-top1 only
    assert "tflite-fp32" in proc.stdout and "dataset verdict" in proc.stdout


def test_preprocessing_compiled_into_the_signature_gets_raw_images(classifier, tmp_path):
    """A SavedModel converted with --preprocess (resize compiled in): the dataset's raw images of any size go to it
    as they are (one part per run of equal sizes), Paddle / ONNX Runtime get the numpy reference's output."""
    folder = tmp_path / "mixed"
    small = render_images(str(folder / "a"), 6, size=(48, 48))
    large = render_images(str(folder / "b"), 6, size=(80, 72), seed=1)
    names = sorted([f"a/{n}" for n in small] + [f"b/{n}" for n in large])
    out = _convert(classifier["model"], str(tmp_path / "out"), "--no-verify", "--preprocess", SPEC + ",resize=64x64")
    raw = [load_rgb(os.path.join(folder, n))[None] for n in names]
    spec = parse_preprocess(SPEC + ",resize=64x64")
    model_x = np.concatenate([apply_reference(spec, r) for r in raw])
    paddle = _cat(run_each("paddle", out, _batches(model_x)))
    tf = _cat(run_each("tensorflow", out, [{"x": r} for r in raw]))
    result = _check(out, str(folder))
    assert result.preprocess.endswith("(compiled into the signature)") and result.samples == 12
    agreement = _agreement(result, "top1", "paddle_vs_tensorflow")
    assert agreement.value == pytest.approx(np.mean(paddle.argmax(1) == tf.argmax(1)), abs=1e-12)
    metrics = result.outputs[0].pairs["paddle_vs_tensorflow"]
    assert metrics.max_abs == pytest.approx(np.abs(paddle.astype(np.float64) - tf).max(), rel=1e-6)


def _match(ref: np.ndarray, cand: np.ndarray) -> tuple[int, float]:
    """Greedy matching written here: reference boxes by descending score, each to the same-class unmatched
    candidate of highest IoU when >= 0.5."""
    taken: set[int] = set()
    matched, diff = 0, 0.0
    for i in sorted(range(len(ref)), key=lambda k: -float(ref[k][1])):
        best, best_iou = None, 0.5
        for j in range(len(cand)):
            if j in taken or cand[j][0] != ref[i][0]:
                continue
            ax1, ay1, ax2, ay2 = (float(v) for v in ref[i][2:6])
            bx1, by1, bx2, by2 = (float(v) for v in cand[j][2:6])
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            value = inter / union if union > 0 else 0.0
            if value >= best_iou and (best is None or value > best_iou):
                best, best_iou = j, value
        if best is not None:
            taken.add(best)
            matched += 1
            diff = max(diff, abs(float(ref[i][1]) - float(cand[best][1])))
    return matched, diff


def test_detection_boxes_matched_per_image(images, tmp_path):
    work = tmp_path
    model = save_paddle_model("image_detector", str(work / "paddle"))
    out = _convert(model, str(work / "out"), "--no-verify")
    folder, names = images
    count = 24
    x = _preprocess([os.path.join(folder, n) for n in names[:count]])
    refs = _refs(out, _batches(x, 1), ("onnxruntime", "tensorflow"))
    result = _check(out, folder, preprocess=parse_preprocess(SPEC), limit=count)
    assert result.samples == count and result.batch_size == 1 and result.limit == count
    boxes_output = result.outputs[0].name
    for a, b in (("onnxruntime", "tensorflow"),):
        matched = total = 0
        diff = 0.0
        for ref_batch, cand_batch in zip(refs[a], refs[b], strict=True):
            m, d = _match(ref_batch[0], cand_batch[0])
            matched += m
            total += max(len(ref_batch[0]), len(cand_batch[0]))
            diff = max(diff, d)
        agreement = _agreement(result, "boxes", f"{a}_vs_{b}", boxes_output)
        assert total > count  # several boxes per image
        assert (agreement.agree, agreement.total) == (matched, total)
        assert agreement.max_score_diff == pytest.approx(diff, abs=1e-12)
        assert agreement.task == "detection"
    assert result.verdict == "pass"


def test_ctc_recogniser_sequence_and_dense_agreement(tmp_path):
    """[N, T, C] scores and a [N, 1, H, W] mask: on a folder of text lines (tasks from the outputs' forms), and on an
    .npz (memory-mapped) with --limit and a forced task."""
    folder = tmp_path / "lines"
    names = render_images(str(folder), 48, size=(32, 128), text_lines=True)
    model = save_paddle_model("ctc_recogniser", str(tmp_path / "paddle"))
    out = _convert(model, str(tmp_path / "out"), "--no-verify")
    x = _preprocess([os.path.join(folder, n) for n in names])
    noise = np.random.default_rng(3).uniform(-1, 1, (40, 3, 32, 128)).astype(np.float32)
    refs = _refs(out, _batches(x) + _batches(noise[:35], 8), ("onnxruntime", "tensorflow"))
    a, b = _cat(refs["onnxruntime"][:3]), _cat(refs["tensorflow"][:3])
    assert a.shape == (48, 32, 12)
    result = _check(str(out), str(folder), preprocess=parse_preprocess(SPEC))
    outputs = [o.name for o in result.outputs]
    assert [o.task for o in result.outputs] == ["sequence", "dense"]
    expected = np.mean([(p == q).all() for p, q in zip(a.argmax(-1), b.argmax(-1), strict=True)])
    sequence = _agreement(result, "sequence", "onnxruntime_vs_tensorflow", outputs[0])
    assert sequence.value == pytest.approx(expected, abs=1e-12) and sequence.total == 48
    mask_a, mask_b = _cat(refs["onnxruntime"][:3], 1), _cat(refs["tensorflow"][:3], 1)
    pixels = _agreement(result, "pixels", "onnxruntime_vs_tensorflow", outputs[1])
    assert pixels.value == pytest.approx(np.mean((mask_a > 0.5) == (mask_b > 0.5)), abs=1e-12)
    per_sample = np.abs(a.astype(np.float64) - b).reshape(48, -1).max(1) / np.abs(a).reshape(48, -1).max(1)
    dist = result.outputs[0].per_sample["onnxruntime_vs_tensorflow"]
    assert dist.percentiles["p50"] == pytest.approx(np.sort(per_sample)[23], rel=1e-6)
    worst = result.outputs[0].per_sample["paddle_vs_tensorflow"].worst  # listed for the judged pair only
    assert not dist.worst and len(worst) == 10 and {w.name for w in worst} <= set(names)
    # arrays: an .npz (stored members, memory-mapped), the first 35 samples, the dense task forced
    np.savez(tmp_path / "data.npz", x=noise)
    result = _check(str(out), str(tmp_path / "data.npz"), DatasetOptions(batch_size=8, task="dense"), limit=35)
    assert result.samples == 35 and result.total == 40 and result.kind == "arrays" and result.limit == 35
    assert [o.task for o in result.outputs] == [None, "dense"]
    mask_a, mask_b = _cat(refs["onnxruntime"][3:], 1), _cat(refs["tensorflow"][3:], 1)
    pixels = _agreement(result, "pixels", "onnxruntime_vs_tensorflow")
    assert pixels.value == pytest.approx(np.mean((mask_a > 0.5) == (mask_b > 0.5)), abs=1e-12)
    assert pixels.total == 35 * 32 * 128
    # labels are for a classification output
    labels = tmp_path / "labels.txt"
    labels.write_text("".join("1\n" for _ in names))
    with pytest.raises(BadInputError, match="labels.txt: labels are for a classification output"):
        _check(str(out), str(folder), preprocess=parse_preprocess(SPEC), labels=str(labels))


def test_labels_outside_the_classes_are_refused(classifier, images, tmp_path):
    """A label no class index can match (999, -1) made accuracy 0 % and the check pass (exit 0)."""
    folder, names = images
    classes = classifier["logits"]["paddle"].shape[1]
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{label}\n" for label in [classes, -1] + [0] * (len(names) - 2)))
    with pytest.raises(BadInputError, match=rf"labels.txt: label {classes} of sample {names[0]} is not a class of "
                                            rf"output .* \(\[N, {classes}\]: 0 to {classes - 1}\); 2 label"):
        _check(classifier["out"], folder, preprocess=parse_preprocess(SPEC), labels=str(labels))


def test_interrupt_gives_a_partial_result(classifier, images, tmp_path):
    """Ctrl-C at the terminal (SIGINT to the process group): the runners are spared, the check stops after the
    batch in flight, and report.json gets what it has, marked partial."""
    folder, _ = images
    out = tmp_path / "out"
    shutil.copytree(classifier["out"], out)
    script = tmp_path / "interrupt.py"
    script.write_text(f"""
import os, signal
from paddle2tf.app import api
from paddle2tf.app.options import DatasetRequest, VerifyOptions
from paddle2tf.converter.preprocess import apply_reference, parse_preprocess
from paddle2tf.verify.dataset import run
run.PROGRESS_INTERVAL = 0
# as at a terminal: a shell's background job (e.g. CI started with `&`) inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
seen = []
def progress(event):
    print(event.render(), flush=True)
    if "samples/s" in event.text:
        seen.append(event)
        if len(seen) == 2:
            os.killpg(os.getpgid(0), signal.SIGINT)
request = DatasetRequest({folder!r}, batch_size=8, preprocess=parse_preprocess({SPEC!r}))
report = api.verify_output({str(out)!r}, VerifyOptions(dataset=request), progress=progress)
print("complete:", report.dataset.complete)
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "interrupted after" in proc.stdout and "complete: False" in proc.stdout
    data = json.loads((out / "report.json").read_text())["dataset"]
    assert data["complete"] is False and "interrupted" in data["notes"][0]
    assert 16 <= data["samples"] < IMAGES and data["samples"] % 8 == 0
    assert "partial" in render_dataset(data)
    assert "Partial result" in (out / "report.html").read_text()


def test_cli_verify_dataset_fails_on_the_perturbed_model_and_bad_input_is_one_line(perturbed, images, tmp_path):
    """`paddle2tf verify OUT --dataset ...`: exit 1 on the agreement drop (report.json / report.html updated);
    bad dataset input: exit 2 with one line naming the user's file, before any framework runs."""
    folder, _ = images
    out = str(tmp_path / "out")
    shutil.copytree(perturbed, out)
    proc = run_cli("verify", out, "--dataset", folder, "--labels", perturbed_labels(perturbed), "--preprocess",
                   SPEC, *LOOSE, "--no-locate")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "dataset verdict: FAIL" in proc.stdout and "top1" in proc.stdout
    with open(os.path.join(out, "report.json")) as handle:
        report = json.load(handle)
    assert report["verdict"] == "fail" and report["verification"]["verdict"] == "pass"
    assert report["dataset"]["samples"] == IMAGES and report["dataset"]["labels"] == perturbed_labels(perturbed)
    assert "dataset" in [s["stage"] for s in report["stages"]]
    with open(os.path.join(out, "report.html")) as handle:
        assert "Dataset check" in handle.read()
    short = tmp_path / "short.txt"
    short.write_text("1\n" * 7)
    proc = run_cli("verify", out, "--dataset", folder, "--labels", str(short), "--preprocess", SPEC)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("paddle2tf: error: ") and f"{short}: 7 labels for {IMAGES} samples" in last
    assert "running Paddle" not in proc.stderr  # rejected before the three-way check
    proc = run_cli("verify", out, "--labels", str(short))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith("--labels: only with --dataset")


# -- bad input: one line naming the user's file -----------------------------------------------------------------
def _io(shape=(None, 3, 64, 64)) -> ModelIO:
    spec = InputSpec("x", "float32", shape)
    return ModelIO((spec,), (TensorInfo("x", "x", "float32", list(shape)),), (spec,))


def test_unreadable_image_names_the_file(tmp_path):
    render_images(str(tmp_path), 3)
    (tmp_path / "set0" / "broken.png").write_bytes(b"not an image")
    dataset = open_dataset(str(tmp_path), _io(), preprocess=parse_preprocess(SPEC))
    with pytest.raises(BadInputError, match=r"broken\.png: not a readable image"):
        list(dataset.batches(16))


def test_wrong_image_size_names_the_file(tmp_path):
    render_images(str(tmp_path), 2, size=(48, 48))
    dataset = open_dataset(str(tmp_path), _io(), preprocess=parse_preprocess(SPEC))
    with pytest.raises(BadInputError, match=r"img_0000\.png: the image is 48x48 .* takes 64x64 .*resize=64x64"):
        list(dataset.batches(16))
    resized = open_dataset(str(tmp_path), _io(), preprocess=parse_preprocess(SPEC + ",resize=64x64"))
    assert next(resized.batches(16)).feeds["x"].shape == (2, 3, 64, 64)


def test_labels_mismatch_and_bad_rows(tmp_path):
    names = render_images(str(tmp_path / "imgs"), 4)
    short = tmp_path / "labels.txt"
    short.write_text("1\n2\n3\n")
    with pytest.raises(BadInputError, match=r"labels\.txt: 3 labels for 4 samples"):
        open_dataset(str(tmp_path / "imgs"), _io(), preprocess=parse_preprocess(SPEC), labels=str(short))
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\n" + "".join(f"{os.path.basename(n)},{i}\n" for i, n in enumerate(names[:3])))
    with pytest.raises(BadInputError, match=rf"labels\.csv: no label for '{names[3]}'"):
        open_dataset(str(tmp_path / "imgs"), _io(), preprocess=parse_preprocess(SPEC), labels=str(csv))
    csv.write_text("".join(f"{n},{i}\n" for i, n in enumerate(names)) + "elsewhere.png,1\n")
    with pytest.raises(BadInputError, match=r"labels\.csv: 'elsewhere.png' is not a sample"):
        open_dataset(str(tmp_path / "imgs"), _io(), preprocess=parse_preprocess(SPEC), labels=str(csv))
    csv.write_text("".join(f"{n},cat\n" for n in names))
    with pytest.raises(BadInputError, match=r"labels\.csv: line 1: label 'cat' is not an integer"):
        open_dataset(str(tmp_path / "imgs"), _io(), preprocess=parse_preprocess(SPEC), labels=str(csv))
    csv.write_text("".join(f"{n},{i}\n" for i, n in enumerate(reversed(names))))
    dataset = open_dataset(str(tmp_path / "imgs"), _io(), preprocess=parse_preprocess(SPEC), labels=str(csv), limit=2)
    assert dataset.labels.tolist() == [3, 2]


def test_arrays_not_matching_the_model(tmp_path):
    np.savez(tmp_path / "wrong.npz", x=np.zeros((5, 3, 32, 32), np.float32))
    with pytest.raises(BadInputError, match=r"wrong\.npz: input 'x' has shape \[5, 3, 32, 32\], the model expects "
                                            r"\[samples, 3, 64, 64\]"):
        open_dataset(str(tmp_path / "wrong.npz"), _io())
    np.savez(tmp_path / "names.npz", y=np.zeros((5, 3, 64, 64), np.float32))
    with pytest.raises(BadInputError, match=r"names\.npz: arrays do not match the model inputs \(missing: x\) "
                                            r"\(unexpected: y\)"):
        open_dataset(str(tmp_path / "names.npz"), _io())
    np.save(tmp_path / "f64.npy", np.zeros((5, 3, 64, 64)))
    with pytest.raises(BadInputError, match=r"f64\.npy: input 'x' is float64, the model expects float32"):
        open_dataset(str(tmp_path / "f64.npy"), _io())
    with pytest.raises(BadInputError, match=r"missing\.npz: no such dataset file"):
        open_dataset(str(tmp_path / "missing.npz"), _io())
    with pytest.raises(BadInputError, match=r"needs their preprocessing: give --dataset-preprocess \(convert\) or "
                                            r"--preprocess \(verify\)"):
        render_images(str(tmp_path / "imgs"), 1)
        open_dataset(str(tmp_path / "imgs"), _io())


def test_npz_members_memory_mapped_and_compressed(tmp_path):
    x = np.arange(4 * 3 * 64 * 64, dtype=np.float32).reshape(4, 3, 64, 64)
    np.savez(tmp_path / "stored.npz", x=x)
    np.savez_compressed(tmp_path / "packed.npz", x=x)
    stored = open_dataset(str(tmp_path / "stored.npz"), _io())
    assert isinstance(stored._arrays["x"], np.memmap)
    for dataset in (stored, open_dataset(str(tmp_path / "packed.npz"), _io())):
        batches = list(dataset.batches(3))
        assert [b.count for b in batches] == [3, 1]
        np.testing.assert_array_equal(np.concatenate([b.feeds["x"] for b in batches]), x)


def test_fixed_batch_pads_the_last_batch(tmp_path):
    x = np.random.default_rng(0).uniform(size=(5, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    batches = list(open_dataset(str(tmp_path / "x.npy"), _io((2, 3, 64, 64))).batches(16))
    assert [b.count for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(batches[-1].feeds["x"], x[[4, 4]])


def test_inference_yml(tmp_path):
    yml = tmp_path / "inference.yml"
    yml.write_text("PreProcess:\n  transform_ops:\n  - ResizeImage:\n      resize_short: 80\n  - CropImage:\n"
                   "      size: 64\n  - NormalizeImage:\n      scale: 1./255.\n      mean: [0.485, 0.456, 0.406]\n"
                   "      std: [0.229, 0.224, 0.225]\n      order: ''\n  - ToCHWImage:\n")
    found = from_inference_yml(str(yml), {"x": ("float32", (None, 3, 64, 64))})
    assert (found.resize_short, found.crop, found.spec.input) == (80, (64, 64), "x")
    assert found.spec.scale == pytest.approx(1 / 255) and found.spec.mean == (0.485, 0.456, 0.406)
    yml.write_text("Preprocess:\n- type: Resize\n  target_size: [64, 64]\n  keep_ratio: false\n"
                   "- type: NormalizeImage\n  mean: [0.5, 0.5, 0.5]\n  std: [0.5, 0.5, 0.5]\n  is_scale: true\n"
                   "- type: Permute\n")
    found = from_inference_yml(str(yml), {"x": ("float32", (None, 3, 64, 64))})
    assert found.spec.resize == (64, 64) and found.spec.scale == pytest.approx(1 / 255)
    yml.write_text("Preprocess:\n- type: LetterBoxResize\n  target_size: [64, 64]\n")
    with pytest.raises(BadInputError, match=r"inference\.yml: preprocessing step LetterBoxResize"):
        from_inference_yml(str(yml), {"x": ("float32", (None, 3, 64, 64))})
    # images centre-cropped after the short side is resized: a 64x96 image → 80x120 → 64x64 crop
    render_images(str(tmp_path / "imgs"), 1, size=(64, 96))
    yml.write_text("PreProcess:\n  transform_ops:\n  - ResizeImage:\n      resize_short: 80\n  - CropImage:\n"
                   "      size: 64\n  - NormalizeImage:\n      scale: 1.0\n      mean: [0, 0, 0]\n"
                   "      std: [1, 1, 1]\n")
    dataset = open_dataset(str(tmp_path / "imgs"), _io(), inference_yml=str(yml))
    assert next(dataset.batches(4)).feeds["x"].shape == (1, 3, 64, 64)


def test_merge_is_exact_over_parts():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(7, 30))
    b = a + rng.normal(scale=1e-4, size=a.shape)
    parts = [compare_with_sums(a[i:i + 3], b[i:i + 3]) for i in range(0, 7, 3)]
    merged = merge(parts)
    assert merged.max_abs == pytest.approx(np.abs(a - b).max())
    assert merged.max_rel == pytest.approx(np.abs(a - b).max() / np.abs(a).max())
    assert merged.rel_l2 == pytest.approx(np.linalg.norm(a - b) / np.linalg.norm(a))
    assert merged.cosine == pytest.approx(float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b)))
    assert merged.elements == a.size
    assert merged.out_of_tolerance == sum(compare(a[i:i + 3], b[i:i + 3]).out_of_tolerance for i in range(0, 7, 3))
    ints = merge([compare_with_sums(np.array([1, 2]), np.array([1, 3])), compare_with_sums(np.array([4]),
                                                                                           np.array([4]))])
    assert (ints.out_of_tolerance, ints.elements, ints.verdict) == (1, 3, "fail")


def _detector_io(image_batch, sizes_batch, names=("scale_factor",)) -> ModelIO:
    """A PaddleDetection deploy model's inputs: the image, then im_shape / scale_factor float [N, 2]."""
    specs = (InputSpec("image", "float32", (image_batch, 3, 64, 64)),
             *(InputSpec(name, "float32", (sizes_batch, 2)) for name in names))
    infos = tuple(TensorInfo(s.name, s.name, s.dtype, list(s.shape)) for s in specs)
    return ModelIO(specs, infos, specs)


def test_detection_size_inputs_from_each_image_s_resize(tmp_path):
    """PaddleDetection models take im_shape (the resized H, W) and scale_factor (resized / original per axis) beside
    the image: an image folder was refused for them. Images of three sizes, each resized to 64x64."""
    from PIL import Image

    sizes = [(48, 80), (64, 64), (100, 30)]
    for i, (height, width) in enumerate(sizes):
        render_images(str(tmp_path / f"size{i}"), 1, size=(height, width), seed=i)
    io_spec = _detector_io(None, None, ("im_shape", "scale_factor"))
    dataset = open_dataset(str(tmp_path), io_spec, preprocess=parse_preprocess("resize=64x64," + SPEC))
    assert "im_shape, scale_factor from each image's resize" in dataset.describe()
    [batch] = list(dataset.batches(16))
    originals = []
    for name in batch.names:  # the sizes as PIL reads them from the files
        with Image.open(tmp_path / name) as image:
            originals.append((image.height, image.width))
    assert sorted(originals) == sorted(sizes)
    np.testing.assert_array_equal(batch.feeds["im_shape"], np.full((3, 2), 64, np.float32))
    np.testing.assert_allclose(batch.feeds["scale_factor"], [(64 / h, 64 / w) for h, w in originals], rtol=1e-7)
    assert batch.feeds["scale_factor"].dtype == np.float32 and batch.feeds["image"].shape == (3, 3, 64, 64)


def test_a_fixed_first_dim_on_any_input_fixes_the_batch(tmp_path):
    """PicoDet exports scale_factor [1, 2] beside a dynamic image batch: batches of 16 failed in ONNX Runtime."""
    render_images(str(tmp_path), 3)
    dataset = open_dataset(str(tmp_path), _detector_io(None, 1), preprocess=parse_preprocess(SPEC))
    batches = list(dataset.batches(16))
    assert [b.count for b in batches] == [1, 1, 1]
    assert all(b.feeds["scale_factor"].shape == (1, 2) for b in batches)


PPOCR_DET_YML = """Hpi:
  backend_configs:
    paddle_infer:
      trt_dynamic_shapes:
        x: [[1, 3, 32, 32], [1, 3, 64, 96], [1, 3, 640, 640]]
PreProcess:
  transform_ops:
  - DecodeImage: {channel_first: false, img_mode: BGR}
  - DetLabelEncode: null
  - DetResizeForTest: null
  - NormalizeImage: {mean: [0.485, 0.456, 0.406], order: hwc, scale: 1./255., std: [0.229, 0.224, 0.225]}
  - ToCHWImage: null
  - KeepKeys: {keep_keys: [image, shape, polys, ignore_tags]}
"""


def test_inference_yml_of_a_ppocr_detector(tmp_path):
    """PaddleOCR's det inference.yml: the label steps are skipped; its aspect-keeping DetResizeForTest is refused
    with a spec to give instead, built from the file's normalisation and its TensorRT opt size."""
    yml = tmp_path / "inference.yml"
    yml.write_text(PPOCR_DET_YML)
    with pytest.raises(BadInputError, match=r"step DetResizeForTest is not supported .* "
                       r"--dataset-preprocess \(convert\).* e\.g\. 'resize=64x96,scale=1/255,"
                       r"mean=0\.485/0\.456/0\.406,std=0\.229/0\.224/0\.225,model_channels=bgr'"):
        from_inference_yml(str(yml), {"x": ("float32", (None, 3, None, None))})
    yml.write_text(PPOCR_DET_YML.replace("  - DetResizeForTest: null\n", "  - ResizeImage: {size: [96, 64]}\n"))
    found = from_inference_yml(str(yml), {"x": ("float32", (None, 3, None, None))})
    assert found.spec.resize == (96, 64) and found.spec.model_channels == "bgr"


def _tiny_image_model(path) -> str:
    """y = mean over H, W of a 1x1 conv of a [N, 3, 16, 16] image."""
    weight = np.random.default_rng(0).standard_normal((4, 3, 1, 1)).astype(np.float32)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["c"]), onnx.helper.make_node("GlobalAveragePool", ["c"], ["p"]),
         onnx.helper.make_node("Flatten", ["p"], ["y"])], "tiny_image",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, 16, 16])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 4])],
        [onnx.numpy_helper.from_array(weight, "w")])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_an_onnx_model_s_inference_yml_preprocesses_the_dataset(tmp_path):
    """An ONNX model shipped with its inference.yml (PaddleOCR / PaddleX ONNX packages): the dataset check said
    'keep the model's inference.yml beside it' while it was there; it is read, and kept in OUT_DIR for verify."""
    folder = tmp_path / "model"
    folder.mkdir()
    model = _tiny_image_model(folder / "model.onnx")
    (folder / "inference.yml").write_text(
        "PreProcess:\n  transform_ops:\n  - DecodeImage: {img_mode: RGB}\n  - ResizeImage: {size: 16}\n"
        "  - NormalizeImage: {scale: 1./255., mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}\n"
        "  - ToCHWImage: null\n")
    render_images(str(tmp_path / "images"), 5, size=(20, 24))
    out = tmp_path / "out"
    proc = run_cli("convert", model, "-o", str(out), "--dataset", str(tmp_path / "images"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    dataset = json.loads((out / "report.json").read_text())["dataset"]
    assert dataset["samples"] == 5 and dataset["verdict"] == "pass"
    assert dataset["preprocess"].startswith("resize=16x16,scale=0.00392157,mean=0.5/0.5/0.5,std=0.25/0.25/0.25"), \
        dataset["preprocess"]
    assert (out / "inference.yml").exists()
    proc = run_cli("verify", str(out), "--dataset", str(tmp_path / "images"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
