"""The Python API with a paddle.nn.Layer object (Paddle imported by the caller, TF after it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from helpers.paddle_fixtures import HELPERS_DIR


def test_layer_object_source(tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {HELPERS_DIR!r})
        import paddle_models
        from paddle2tf.app import api
        from paddle2tf.app.options import ConvertOptions
        from paddle2tf.frontend.sources import parse_input_spec

        layer = paddle_models.build_norm_zoo()
        options = ConvertOptions(input_specs=(parse_input_spec("x:float32:-1x3x24x24"),))
        report = api.convert(layer, {str(out)!r}, options,
                             progress=lambda _: None)
        print(json.dumps({{"verdict": report.verdict,
                          "max_rel": [o.pairs["paddle_vs_tensorflow"].max_rel
                                      for o in report.verification.outputs]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["verdict"] in ("pass", "warn")
    assert max(result["max_rel"]) <= 1e-4
    assert not os.path.exists(out / "layer")  # the temporary save of the Layer is not left in OUT_DIR


def test_savedmodel_runs_in_plain_tensorflow(tmp_path):
    """Loaded in a fresh process that never imports paddle2tf or paddle; only standard TF ops inside."""
    from helpers.cli import run_cli, tiny_onnx

    out = tmp_path / "out"
    assert run_cli("convert", tiny_onnx(tmp_path / "m.onnx"), "-o", str(out)).returncode == 0
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(out / 'saved_model')!r})
        serving = loaded.signatures["serving_default"]
        ops = {{op.type for op in serving.graph.get_operations()}}
        for f in serving.graph.as_graph_def().library.function:
            ops |= {{n.op for n in f.node_def}}
        assert not ops & {{"PyFunc", "EagerPyFunc", "PyFuncStateless"}}, ops
        for batch in (1, 4):
            y = serving(x=tf.constant(np.ones((batch, 8), np.float32)))["y"]
            assert y.shape == (batch, 4), y.shape
        assert "paddle2tf" not in sys.modules and "paddle" not in sys.modules
        print("ok", sorted(ops)[:3])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_onnx_source_through_the_api(tmp_path):
    from paddle2tf.app import api

    from helpers.cli import tiny_onnx

    report = api.convert(tiny_onnx(tmp_path / "m.onnx"), str(tmp_path / "out"), progress=lambda _: None)
    assert report.verdict == "pass"
    assert report.source["kind"] == "onnx"
    assert [o.name for o in report.verification.outputs] == ["y"]
    assert report.verification.outputs[0].pairs["onnxruntime_vs_tensorflow"].max_rel <= 1e-5


def test_io_layout_nhwc_resnet18(paddle_model, tmp_path):
    """--io-layout nhwc: the signature takes NHWC images; the three-way check (feeds transposed for the SavedModel)
    passes at the default 1e-5, and `verify` re-runs it from the stored NHWC feeds."""
    import numpy as np

    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    out = tmp_path / "out"
    report = api.convert(paddle_model("resnet18"), str(out), ConvertOptions(io_layout="nhwc"), progress=lambda _: None)
    assert report.verdict == "pass", report.verification
    (x,) = report.signature["inputs"]
    assert (x["shape"], x["layout"]) == ([None, 224, 224, 3], "nhwc")
    assert report.signature["outputs"][0]["layout"] == "onnx"  # logits [N, 1000]
    with np.load(out / "verification_inputs.npz") as stored:
        assert stored["x"].shape[1:] == (224, 224, 3)
    assert api.verify_output(str(out), progress=lambda _: None).verdict == "pass"
