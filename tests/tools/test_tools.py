"""paddle2tf.tools: node-suite classification and the operator support table."""

from paddle2tf.tools import node_suite, operators_doc


def _outcomes():
    return [node_suite.Outcome("test_relu_cpu", "Relu", "pass"),
            node_suite.Outcome("test_relu_expanded_cpu", "Relu", "fail", "AssertionError: \nNot equal"),
            node_suite.Outcome("test_image_decoder_cpu", "ImageDecoder", "rejected", "unsupported ONNX ops: ..."),
            node_suite.Outcome("test_adam_cpu", "ai.onnx.preview.training.Adam", "excluded", "training")]


def test_support_table_lists_registry_and_results():
    text = operators_doc.support_table(_outcomes())
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["op", "domain", "since", "module", "suite"]
    relu = next(line for line in lines if line.startswith("Relu "))
    assert "activation" in relu and "1/1/0" in relu
    assert "1/3 eligible tests pass, 1 fail, 1 rejected by the pre-scan, 1 excluded by category" in text


def test_support_table_without_results_is_registry_only(monkeypatch):
    monkeypatch.setattr(operators_doc, "RESULTS_PATH", "/nonexistent/results.json")
    text = operators_doc.support_table()
    assert "Conv " in text and "no node-suite results stored" in text


def test_markdown_has_sections():
    markdown = operators_doc.render_markdown(_outcomes())
    assert "| Relu | ai.onnx |" in markdown
    assert "| ImageDecoder | ai.onnx | 1 |" in markdown
    assert "`test_relu_expanded_cpu` (Relu): AssertionError: Not equal" in markdown


def test_summary_counts():
    counts = node_suite.summary(_outcomes())
    assert counts == {"total": 4, "pass": 1, "fail": 1, "rejected": 1, "excluded": 1, "eligible": 3}
