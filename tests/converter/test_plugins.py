"""Converter plugins: a custom-domain op (a Paddle custom operator as paddle2onnx would export it) converted by a
plugin and verified against Paddle; the how-to error without it; entry points; the registry's override rules.

The custom op is made the way a Paddle custom operator reaches ONNX: norm_zoo is exported from Paddle, then the
five nodes of its GELU (Div, Erf, Add, Mul, Mul) are replaced by one ``com.example.MyGelu`` node. The Paddle
model is still the reference: ONNX Runtime cannot run the custom node, so verification compares Paddle and TF.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap

import onnx
import pytest
from onnx import helper

from paddle2tf.converter import registry
from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK, BadInputError

from helpers.cli import assert_clean_failure, run_cli
from helpers.plugin_fixtures import CONV_FAULT, conv_onnx

DOMAIN, OP, NODE = "com.example", "MyGelu", "my_gelu"

MY_GELU = textwrap.dedent(f'''\
    """{DOMAIN}.{OP}: the exact (erf) GELU, written in TF ops."""
    from paddle2tf.converter.registry import converter


    @converter("{OP}", since=1, domain="{DOMAIN}")
    def my_gelu(node, inputs, attrs, ctx):
        import tensorflow as tf

        return tf.nn.gelu(inputs[0], approximate=False)
    ''')


def _replace_gelu(model: onnx.ModelProto) -> None:
    """Div(x, √2) → Erf → Add(1) → Mul(x) → Mul(0.5), in place, becomes one MyGelu(x) node."""
    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}

    def consumer(name: str) -> onnx.NodeProto:
        (node,) = [n for n in nodes if name in n.input]
        return node

    erf = next(n for n in nodes if n.op_type == "Erf")
    div = producer[erf.input[0]]
    add = consumer(erf.output[0])
    mul = consumer(add.output[0])
    half = consumer(mul.output[0])
    assert [n.op_type for n in (div, add, mul, half)] == ["Div", "Add", "Mul", "Mul"]
    x = div.input[0]
    assert x in mul.input
    gelu = helper.make_node(OP, [x], [half.output[0]], name=NODE, domain=DOMAIN)
    position = nodes.index(div)
    replaced = {id(n) for n in (div, erf, add, mul, half)}
    kept = [n for n in nodes if id(n) not in replaced]
    kept.insert(position, gelu)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.opset_import.append(helper.make_opsetid(DOMAIN, 1))


@pytest.fixture(scope="module")
def custom_op_case(paddle_model, tmp_path_factory):
    """(edited ONNX with com.example.MyGelu, the Paddle model it comes from, the plugin file)."""
    from paddle2tf.frontend.export import export_paddle
    from paddle2tf.frontend.sources import resolve_source

    folder = tmp_path_factory.mktemp("custom_op")
    reference = paddle_model("norm_zoo")
    model = onnx.load(export_paddle(resolve_source(reference), str(folder / "export")).onnx_path)
    _replace_gelu(model)
    onnx.checker.check_model(model)
    onnx_path = folder / "norm_zoo_my_gelu.onnx"
    onnx.save(model, str(onnx_path))
    plugin = folder / "my_gelu.py"
    plugin.write_text(MY_GELU)
    return str(onnx_path), reference, str(plugin)


def test_custom_op_plugin_convert_verify(custom_op_case, tmp_path):
    onnx_path, reference, plugin = custom_op_case
    out = tmp_path / "out"

    # Without the plugin: rejected before conversion, with how to write one.
    for proc in (run_cli("check", onnx_path),
                 run_cli("convert", onnx_path, "-o", str(out), "--paddle-reference", reference)):
        assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
        last = proc.stderr.strip().splitlines()[-1]
        for fragment in (f"node '{NODE}' is op {OP} of custom domain '{DOMAIN}'", "--plugin",
                         "docs/writing-converters.md"):
            assert fragment in last, last
    assert not out.exists()

    proc = run_cli("convert", onnx_path, "-o", str(out), "--paddle-reference", reference, "--plugin", plugin)
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    assert "verdict: PASS" in proc.stdout and "onnxruntime skipped: ONNX Runtime has no kernel" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    verification = report["verification"]
    assert verification["frameworks"] == ["paddle", "tensorflow"]
    assert f"'{NODE}' ({DOMAIN}.{OP})" in verification["skipped"]["onnxruntime"]
    (output,) = verification["outputs"]
    assert list(output["pairs"]) == ["paddle_vs_tensorflow"]
    assert output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-4
    assert report["source"]["kind"] == "onnx" and report["source"]["paddle_model"] == "paddle/model.json"
    (record,) = report["plugins"]
    assert record["source"] == plugin and record["kind"] == "file" and len(record["sha256"]) == 64
    assert record["ops"] == [f"{DOMAIN}.{OP} v1"] and record["replaces"] == []
    assert "onnxruntime skipped" in (out / "report.html").read_text()

    # The SavedModel stands alone: verify OUT_DIR needs no plugin.
    proc = run_cli("verify", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    assert "verdict: PASS" in proc.stdout
    assert json.loads((out / "report.json").read_text())["plugins"] == report["plugins"]

    # ... and deploys as plain TF: the plugin's TF ops are standard ops, the graph compiles with XLA.
    proc = run_cli("deploy-check", str(out), "--require", "standard-ops,xla")
    assert proc.returncode == EXIT_OK, proc.stdout[-2000:] + proc.stderr[-2000:]

    # locate's reference is ONNX Runtime: refused with the reason, nothing else.
    proc = run_cli("locate", str(out))
    assert proc.returncode == EXIT_BAD_INPUT and "locate compares against ONNX Runtime" in proc.stderr

    proc = run_cli("ops", "--plugin", plugin)
    assert proc.returncode == EXIT_OK, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith(f"{OP} "))
    assert DOMAIN in row and "plugin:my_gelu.py" in row
    assert f"plugin (file) {plugin}: {DOMAIN}.{OP} v1" in proc.stdout


def test_onnx_source_with_custom_op_needs_a_reference(custom_op_case, tmp_path):
    onnx_path, _, plugin = custom_op_case
    out = tmp_path / "out"
    proc = run_cli("convert", onnx_path, "-o", str(out), "--plugin", plugin)
    assert_clean_failure(proc, out, "nothing to verify the SavedModel against", "--paddle-reference")
    proc = run_cli("convert", onnx_path, "-o", str(out), "--plugin", str(tmp_path / "missing.py"))
    assert_clean_failure(proc, out, "plugin", "missing.py: no such file")


def _site(tmp_path, plugin_source: str) -> str:
    """A folder importlib.metadata reads as an installed distribution with paddle2tf.converters entry points."""
    site = tmp_path / "site"
    dist = site / "paddle2tf_example_ops-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: paddle2tf-example-ops\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[paddle2tf.converters]\nmy_gelu = example_ops\nbroken = broken_ops\n")
    (site / "example_ops.py").write_text(plugin_source)
    (site / "broken_ops.py").write_text("raise ImportError('needs libfoo')\n")
    return str(site)


def _run_with_site(site: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": site + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)


def test_entry_point_plugins(custom_op_case, tmp_path):
    """Installed plugins load by themselves; a broken one is reported, not fatal."""
    onnx_path, _, _ = custom_op_case
    site = _site(tmp_path, MY_GELU)
    proc = _run_with_site(site, "-m", "paddle2tf", "check", onnx_path)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "supported: every node can be converted" in proc.stdout
    proc = _run_with_site(site, "-m", "paddle2tf", "ops")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "plugin:my_gelu = example_ops" in next(line for line in proc.stdout.splitlines()
                                                   if line.startswith(f"{OP} "))
    assert f"plugin (entry_point) my_gelu = example_ops: {DOMAIN}.{OP} v1" in proc.stdout
    assert "BROKEN plugin broken = broken_ops: ImportError: needs libfoo" in proc.stdout
    proc = _run_with_site(site, "-c",
                          "from paddle2tf.converter.plugins import render_broken_converters as r; print(r())")
    assert proc.stdout.strip() == "broken converter plugin broken = broken_ops: ImportError: needs libfoo"


# -- a plugin overriding a standard converter: fault injection (helpers/plugin_fixtures.py) ----------------
# -- the registry's rules, in process --------------------------------------------------------------------------
@contextlib.contextmanager
def _restored_registry():
    """Plugins loaded inside are forgotten after: as in a process that never loaded them."""
    registry.load_converters()
    saved = {key: list(entries) for key, entries in registry._REGISTRY.items()}
    plugins = dict(registry._PLUGINS)
    try:
        yield
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)
        registry._PLUGINS.clear()
        registry._PLUGINS.update(plugins)


@pytest.fixture
def clean_registry():
    """Plugins loaded by a test must not leak into the other tests of this process."""
    with _restored_registry():
        yield


def test_plugin_replaces_a_standard_converter(clean_registry, tmp_path):
    builtin = registry.lookup("Relu", 14)
    plugin = tmp_path / "relu6.py"
    plugin.write_text(textwrap.dedent(f"""\
        from paddle2tf.converter.registry import converter


        @converter("Relu", since={builtin.since})
        def relu6(node, inputs, attrs, ctx):
            import tensorflow as tf

            return tf.nn.relu6(inputs[0])
        """))
    loaded = registry.load_plugin(str(plugin))
    assert registry.load_plugin(str(plugin)) is loaded  # once per process
    entry = registry.lookup("Relu", 14)
    assert entry.fn.__name__ == "relu6" and entry.plugin == str(plugin) and entry.replaces == builtin.module
    assert [e.since for e in registry.all_converters()[("", "Relu")]].count(builtin.since) == 1

    from paddle2tf.converter.plugins import records

    (record,) = [r for r in records() if r.source == str(plugin)]
    assert record.replaces == [f"Relu v{builtin.since} ({builtin.module})"]


def test_duplicate_builtin_raises_and_a_broken_plugin_changes_nothing(clean_registry, tmp_path):
    def relu(node, inputs, attrs, ctx):
        return inputs[0]

    relu.__module__ = "paddle2tf.ops.activation"
    with pytest.raises(ValueError, match="duplicate converter for Relu"):
        registry.converter("Relu", since=registry.lookup("Relu", 14).since)(relu)

    before = registry.all_converters()
    plugin = tmp_path / "half_broken.py"
    plugin.write_text(textwrap.dedent(f"""\
        from paddle2tf.converter.registry import converter

        converter("Relu", since=1)(lambda node, inputs, attrs, ctx: inputs[0])
        converter("{OP}", domain="{DOMAIN}")(lambda node, inputs, attrs, ctx: inputs[0])
        raise RuntimeError("half way")
        """))
    with pytest.raises(BadInputError, match="half_broken.py: cannot be loaded .RuntimeError: half way"):
        registry.load_plugin(str(plugin))
    assert registry.all_converters() == before
    assert registry.lookup(OP, 1, DOMAIN) is None


def test_recorded_plugin_reloaded_by_verify_and_locate(clean_registry, tmp_path):
    """verify OUT_DIR and locate OUT_DIR load the plugins report.json records: locate re-converts with them."""
    from paddle2tf.app import api
    from paddle2tf.app.api import locate_output
    from paddle2tf.app.options import ConvertOptions

    plugin = tmp_path / "conv_fault.py"
    plugin.write_text(CONV_FAULT)
    out = tmp_path / "out"
    with _restored_registry():
        report = api.convert(conv_onnx(tmp_path / "conv.onnx"), str(out), ConvertOptions(plugins=(str(plugin),)),
                             progress=lambda _: None)
    assert report.verdict == "fail" and report.locate.nodewise.culprit.name == "conv_a"
    assert report.plugins[0]["replaces"] == ["Conv v1 (paddle2tf.ops.conv)"]
    assert not registry.lookup("Conv", 13).plugin

    with _restored_registry():
        report = api.verify_output(str(out), progress=lambda _: None)
        assert registry.lookup("Conv", 13).plugin == str(plugin)
    assert report.verdict == "fail" and report.locate.nodewise.culprit.name == "conv_a"

    result = locate_output(str(out))
    assert result.diverging_hop == "onnx_to_tensorflow" and result.nodewise.culprit.name == "conv_a"


def test_recorded_plugin_moved(clean_registry, tmp_path):
    from paddle2tf.converter.plugins import load_recorded, record_dicts

    plugin = tmp_path / "my_gelu.py"
    plugin.write_text(MY_GELU)
    with _restored_registry():
        registry.load_plugin(str(plugin))
        recorded = record_dicts()
    moved = tmp_path / "elsewhere" / "my_gelu.py"
    moved.parent.mkdir()
    plugin.rename(moved)
    with pytest.raises(BadInputError, match="my_gelu.py .recorded in report.json. no longer exists"):
        load_recorded(recorded)
    registry.load_plugin(str(moved))  # --plugin with its new place
    load_recorded(recorded)
    assert registry.lookup(OP, 1, DOMAIN).plugin == str(moved)
