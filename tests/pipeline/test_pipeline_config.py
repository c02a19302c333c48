"""Pipeline files: the schema, and one-line `file:line: message` errors (exit 2) for bad ones."""

from __future__ import annotations

import json
import os

import pytest

from paddle2tf.errors import EXIT_BAD_INPUT
from paddle2tf.pipeline.config import PipelineConfigError, load_pipeline

from helpers.cli import run_cli

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "examples", "pipeline.yaml")

GOOD = """\
repository: repo
defaults:
  opset: 13
  rtol: 1e-4
  atol: 0.001
  timeout_s: 60
alerts:
  webhooks: ["http://127.0.0.1:1/hook"]
  alerts_file: alerts.jsonl
  command: cat > /dev/null
models:
  - name: resnet
    source: paddle.vision.models:resnet18
    input_specs: ["x:float32:-1x3x224x224"]
    preprocessing: RGB, /255, ImageNet mean/std
    atol: 1e-3
  - name: local
    source: model.onnx
    fixes: false
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return str(path)


def test_good_pipeline(tmp_path):
    pipeline = load_pipeline(write(tmp_path, GOOD))
    assert pipeline.repository == str(tmp_path / "repo")
    resnet, local = pipeline.models
    assert resnet.source == "paddle.vision.models:resnet18"
    assert str(resnet.options.input_specs[0]) == "x:float32:-1x3x224x224"
    tolerance = resnet.options.tolerance
    assert (tolerance.rtol, tolerance.atol, resnet.timeout_s, resnet.options.fixes) == (1e-4, 1e-3, 60.0, True)
    assert local.source == str(tmp_path / "model.onnx") and local.options.fixes is False
    assert pipeline.alerts.webhooks == ("http://127.0.0.1:1/hook",)
    assert pipeline.alerts.alerts_file == str(tmp_path / "alerts.jsonl")


def test_example_pipeline_is_valid():
    pipeline = load_pipeline(EXAMPLE)
    assert len(pipeline.models) >= 3
    assert any(m.source == "paddle.vision.models:mobilenet_v3_small" for m in pipeline.models)


BAD = [
    ("unknown key", GOOD.replace("    atol: 1e-3\n", "    atol: 1e-3\n    tolerance: 3\n"), 17,
     "unknown key 'tolerance'"),
    ("unknown top-level key", "repo: x\n" + GOOD, 1, "unknown key 'repo'"),
    ("missing source", GOOD.replace("    source: model.onnx\n", ""), 17, "missing required key 'source'"),
    ("missing models", "repository: repo\n", 1, "missing required key 'models'"),
    ("wrong type: opset", GOOD.replace("opset: 13", "opset: thirteen"), 3, "defaults.opset: expected an integer"),
    ("wrong type: rtol", GOOD.replace("rtol: 1e-4", "rtol: [1]"), 4, "defaults.rtol: expected a number"),
    ("wrong type: fixes", GOOD.replace("fixes: false", "fixes: 3"), 19, "fixes: expected true or false"),
    ("wrong type: input_specs", GOOD.replace('input_specs: ["x:float32:-1x3x224x224"]', "input_specs: x"), 14,
     "input_specs: expected a list"),
    ("bad input spec", GOOD.replace("x:float32:-1x3x224x224", "x:float99:1"), 14, "unknown dtype 'float99'"),
    ("wrong type: models", "repository: repo\nmodels: {a: 1}\n", 2, "models: expected a non-empty list"),
    ("duplicate names", GOOD.replace("name: local", "name: resnet"), 17,
     "duplicate model name (first defined at line 12)"),
    ("bad webhook", GOOD.replace("http://127.0.0.1:1/hook", "ftp://x"), 8, "not an http(s) URL"),
    ("invalid yaml", GOOD.replace("models:\n", "models: [\n"), 12, "invalid YAML"),
]


@pytest.mark.parametrize("text,line,fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_pipeline(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_bad_pipeline_cli_exit_2(tmp_path):
    path = write(tmp_path, GOOD.replace("name: local", "name: resnet"))
    proc = run_cli("pipeline", "run", path)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"paddle2tf: error: {path}:17: model 'resnet': duplicate model name "
                                                "(first defined at line 12)"]
    assert not os.path.exists(tmp_path / "repo")


def _job(entry) -> dict:
    """The options the pipeline's worker receives for ``entry`` (the JSON it reads)."""
    from paddle2tf.app.options import ConvertOptions

    return ConvertOptions.from_dict(json.loads(json.dumps(entry.options.to_dict()))).to_dict()


def test_static_shapes(tmp_path):
    text = GOOD.replace('    input_specs: ["x:float32:-1x3x224x224"]\n',
                        '    input_specs: ["x:float32:-1x3x224x224"]\n    static_shapes: ["x:1x3x224x224"]\n')
    resnet, local = load_pipeline(write(tmp_path, text)).models
    assert [str(s) for s in resnet.options.static_shapes] == ["x:1x3x224x224"]
    assert resnet.settings()["static_shapes"] == ["x:1x3x224x224"] and "static_shapes" not in local.settings()
    assert _job(resnet)["static_shapes"] == ["x:1x3x224x224"]
    with pytest.raises(PipelineConfigError, match=r":15: model 'resnet'.static_shapes: 'x:1x-3': expected NAME:DIMS"):
        load_pipeline(write(tmp_path, text.replace("x:1x3x224x224\"]\n    pre", "x:1x-3\"]\n    pre")))


def test_plugins(tmp_path):
    text = "plugins: [ops/shared.py, my_package.ops]\n" + GOOD.replace(
        "    fixes: false\n", "    fixes: false\n    plugins: [fault.py]\n")
    resnet, local = load_pipeline(write(tmp_path, text)).models
    shared = str(tmp_path / "ops" / "shared.py")
    assert resnet.options.plugins == (shared, "my_package.ops")
    assert local.options.plugins == (shared, "my_package.ops", str(tmp_path / "fault.py"))
    assert local.settings()["plugins"] == list(local.options.plugins)
    assert "plugins" not in load_pipeline(write(tmp_path, GOOD)).models[0].settings()
    assert _job(local)["plugins"] == list(local.options.plugins)
    with pytest.raises(PipelineConfigError, match=r":1: plugins: expected a list, got str 'x.py'"):
        load_pipeline(write(tmp_path, "plugins: x.py\n" + GOOD))
