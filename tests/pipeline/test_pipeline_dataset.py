"""The dataset check in the pipeline: `dataset:`, `labels:` and thresholds per model; the manifest records the
agreement and accuracy; an agreement drop is alerted like a parity failure and not published."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import onnx
import pytest

from paddle2tf.app.options import ConvertOptions
from paddle2tf.errors import EXIT_PARITY
from paddle2tf.pipeline.config import PipelineConfigError, load_pipeline

from helpers.cli import run_cli
from helpers.dataset_refs import run_each
from helpers.images import load_rgb, render_images
from helpers.paddle_fixtures import save_paddle_model
from helpers.pipeline import WebhookReceiver
from helpers.plugin_fixtures import CONV_FAULT

SPEC = "scale=1/255,mean=0.5/0.5/0.5,std=0.25/0.25/0.25"


def _pipeline(tmp_path, models: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text("repository: repo\nmodels:\n" + textwrap.indent(textwrap.dedent(models), "  "))
    return str(path)


def test_dataset_keys(tmp_path):
    path = _pipeline(tmp_path, f"""\
        - name: clf
          source: model.onnx
          dataset: images
          labels: labels.csv
          limit: 100
          batch_size: 8
          task: classification
          min_agreement: 0.99
          max_accuracy_drop: 0.5
          dataset_preprocess: "{SPEC}"
        - name: plain
          source: model.onnx
        """)
    clf, plain = load_pipeline(path).models
    options = clf.options
    assert (options.dataset, options.labels) == (str(tmp_path / "images"), str(tmp_path / "labels.csv"))
    assert (options.limit, options.batch_size, options.task, options.min_agreement, options.max_accuracy_drop) == (
        100, 8, "classification", 0.99, 0.5)
    assert options.dataset_preprocess.scale == pytest.approx(1 / 255)
    assert clf.settings()["dataset"] == str(tmp_path / "images") and clf.settings()["min_agreement"] == 0.99
    assert "dataset" not in plain.settings()  # versions published before the option existed stay `unchanged`
    assert ConvertOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options  # the manifest's form
    assert options.dataset_request.options(options.effective_tolerance, {}).min_agreement == 0.99
    bad = path.replace("pipeline.yaml", "bad.yaml")
    with open(path) as source, open(bad, "w") as target:
        target.write(source.read().replace("min_agreement: 0.99", "min_agreement: 2"))
    with pytest.raises(PipelineConfigError, match=r"bad\.yaml:3: model 'clf': --min-agreement 2.0: expected a share"):
        load_pipeline(bad)
    with open(path) as source, open(bad, "w") as target:
        target.write(source.read().replace("    dataset: images\n", ""))
    with pytest.raises(PipelineConfigError, match=r"model 'clf': --labels: only with --dataset"):
        load_pipeline(bad)


def test_pipeline_alerts_a_dataset_agreement_drop(tmp_path):
    """Two conversions of one classifier: as is (published, the manifest records agreement and accuracy) and with a
    Conv scaled by 5 % (passes the random-input check at tolerance 0.1, fails on the dataset: alerted)."""
    names = render_images(str(tmp_path / "images"), 240)
    model = save_paddle_model("image_classifier", str(tmp_path / "paddle"))
    # labels: the classifier's own Paddle predictions (an ONNX export first gives the conv's node name)
    probe = tmp_path / "probe"
    proc = run_cli("convert", model, "-o", str(probe), "--no-verify")
    assert proc.returncode == 0, proc.stderr[-2000:]
    images = np.stack([load_rgb(str(tmp_path / "images" / n)) for n in names]).astype(np.float64)
    x = np.ascontiguousarray(((images / 255 - 0.5) / 0.25).transpose(0, 3, 1, 2)).astype(np.float32)
    logits = np.concatenate([b[0] for b in run_each("paddle", str(probe), [{"x": x[i:i + 16]}
                                                                          for i in range(0, len(x), 16)])])
    (tmp_path / "labels.csv").write_text("".join(f"{n},{label}\n" for n, label in zip(names, logits.argmax(1),
                                                                                       strict=True)))
    conv = [n.name for n in onnx.load(str(probe / "model.onnx")).graph.node if n.op_type == "Conv"][1]
    (tmp_path / "fault.py").write_text(CONV_FAULT.replace('TARGET = "conv_a"', f'TARGET = "{conv}"')
                                       .replace("1.01", "1.05"))
    common = (f"  source: {model}\n  rtol: 0.1\n  atol: 0.1\n  dataset: images\n  labels: labels.csv\n"
              f"  dataset_preprocess: \"{SPEC}\"\n")
    with WebhookReceiver() as hook:
        path = _pipeline(tmp_path, f"- name: good\n{common}- name: faulty\n{common}  plugins: [fault.py]\n")
        with open(path, "a") as handle:
            handle.write(f"alerts:\n  webhooks: [\"{hook.url}\"]\n")
        proc = run_cli("pipeline", "run", path, "--jobs", "1")
        assert proc.returncode == EXIT_PARITY, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "[good] published version 1" in proc.stdout and "[faulty] FAILED in stage dataset" in proc.stdout
        (alert,) = [a["json"] for a in hook.received]
    assert alert["model"] == "faulty" and alert["stage"] == "dataset"
    assert alert["dataset"]["verdict"] == "fail" and alert["verdict_table"][0]["verdict"] == "pass"
    assert any("top1 agreement paddle_vs_tensorflow" in line for line in alert["dataset"]["failures"])
    assert "dataset: " in alert["error"]
    assert not os.path.exists(tmp_path / "repo" / "faulty")
    with open(tmp_path / "repo" / "good" / "1" / "assets.extra" / "manifest.json") as handle:
        manifest = json.load(handle)
    dataset = manifest["metrics"]["dataset"]
    assert dataset["samples"] == 240 and dataset["verdict"] == "pass" and dataset["complete"] is True
    paddle = next(a for a in dataset["accuracy"] if a["framework"] == "paddle")
    assert paddle["accuracy"] == 1.0
    top1 = next(a for a in dataset["agreement"] if a["metric"] == "top1" and a["pair"] == "paddle_vs_tensorflow")
    tf_logits = np.concatenate([b[0] for b in run_each("tensorflow", str(probe), [{"x": x[i:i + 16]}
                                                                                 for i in range(0, len(x), 16)])])
    assert top1["value"] == pytest.approx(np.mean(tf_logits.argmax(1) == logits.argmax(1)), abs=1e-12)
    assert manifest["options"]["dataset"] == str(tmp_path / "images")
