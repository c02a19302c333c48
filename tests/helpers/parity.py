"""Acceptance thresholds of the core issue, applied to a conversion report."""

PADDLE_TF_MAX_REL = 1e-4
ONNX_TF_MAX_REL = 1e-5


def assert_parity(report, paddle: bool = True) -> None:
    verification = report.verification
    assert verification is not None
    expected = ["paddle", "onnxruntime", "tensorflow"] if paddle else ["onnxruntime", "tensorflow"]
    assert verification.frameworks == expected
    for out in verification.outputs:
        onnx_tf = out.pairs["onnxruntime_vs_tensorflow"]
        assert onnx_tf.max_rel <= ONNX_TF_MAX_REL, f"{out.name}: ONNX↔TF max_rel {onnx_tf.max_rel:.2e}"
        if paddle:
            paddle_tf = out.pairs["paddle_vs_tensorflow"]
            assert paddle_tf.max_rel <= PADDLE_TF_MAX_REL, f"{out.name}: Paddle↔TF max_rel {paddle_tf.max_rel:.2e}"
    assert report.verdict in ("pass", "warn"), [(o.name, o.verdict) for o in verification.outputs]
