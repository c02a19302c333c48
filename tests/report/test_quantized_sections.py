"""The quantized tensors in the terminal summary and report.html (renderers of report data, no stage run)."""

from __future__ import annotations

from dataclasses import asdict

from paddle2tf.onnxutil.quantization import quantized_tensors
from paddle2tf.report.html import render_html
from paddle2tf.report.model import ConversionReport
from paddle2tf.report.terminal import render_summary

from helpers.qdq_models import qdq_cnn


def _report() -> ConversionReport:
    quantized = [asdict(t) for t in quantized_tensors(qdq_cnn())]
    return ConversionReport(
        source={"kind": "onnx", "path": "qdq_cnn.onnx"}, opset=13, signature={}, model_summary={"quantized": quantized}
    )


def test_terminal_line_without_verification():
    text = render_summary(_report())
    assert "quantized: 6 tensors (3 activations int8 per-tensor, 3 weights int8 per-axis)" in text


def test_html_section_lists_each_tensor():
    page = render_html(_report().to_dict())
    section = page[page.index("<h2>Quantized tensors</h2>") :]
    section = section[: section.index("</section>")]
    assert section.count("<tr") == 1 + 6  # the header and one row per tensor
    assert "per-axis (axis 0)" in section and "<code>Conv conv1</code>" in section and "w3.int8" in section
