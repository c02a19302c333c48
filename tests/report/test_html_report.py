"""report.html: written for every conversion, self-contained, rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from paddle2tf.app import api
from paddle2tf.report.html import render_html

from helpers.cli import tiny_onnx
from helpers.locate_faults import perturb, scaled_output

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path, page, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    proc = subprocess.run([CHROMIUM, *flags, *args, f"file://{page}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _assert_self_contained(text: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "a network resource in report.html"
    assert "@import" not in text and "url(http" not in text


def test_failing_conversion_report_in_chromium(tmp_path):
    out = tmp_path / "out"
    # The Sigmoid: MatMul + Add (+ Relu) convert as one fused node (fuse_matmul_bias), which locate cannot name.
    with perturb("Sigmoid", "act", scaled_output(1.5)):
        report = api.convert(tiny_onnx(tmp_path / "m.onnx", "Sigmoid"), str(out), progress=lambda _: None)
    assert report.verdict == "fail" and report.locate.nodewise.culprit.name == "act"
    page = out / "report.html"
    text = page.read_text()
    _assert_self_contained(text)
    assert 'id="error-curve"' in text and "data:image/png;base64," in text

    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    assert 'id="culprit"' in dom
    culprit = re.search(r'<section class="culprit" id="culprit"><h2>(.*?)</h2>', dom).group(1)
    assert "act" in culprit and "Sigmoid" in culprit and "node 2" in culprit
    assert re.search(r'<img class="chart" id="error-curve"[^>]*src="data:image/png;base64,', dom)
    for text_ in ("Three-way verification", "Op histogram", "Stage timings", "locate", "MatMul"):
        assert text_ in dom, text_

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.stat().st_size > 20_000  # a rendered page with a chart, not a blank one


def test_passing_conversion_has_a_report_without_locate(tmp_path):
    out = tmp_path / "out"
    report = api.convert(tiny_onnx(tmp_path / "m.onnx"), str(out), progress=lambda _: None)
    assert report.verdict == "pass" and report.locate is None
    data = json.loads((out / "report.json").read_text())
    assert data["locate"] is None
    assert data["model_summary"]["nodes"] == 3
    assert data["model_summary"]["op_histogram"] == {"Add": 1, "MatMul": 1, "Relu": 1}
    text = (out / "report.html").read_text()
    _assert_self_contained(text)
    assert "Locate" not in text and "error-curve" not in text
    assert "PASS" in text and "Op histogram" in text
    assert text == render_html(data)  # the page is a pure function of report.json
    # verify rewrites it too (and keeps the model summary)
    os.remove(out / "report.html")
    api.verify_output(str(out), progress=lambda _: None)
    assert "Three-way verification" in (out / "report.html").read_text()
