"""The command line end to end: each source kind, `verify`, and every bad-input case (exit 2, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK

from helpers.cli import assert_clean_failure, cli_env, run_cli, tiny_onnx


def test_onnx_source(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "verdict: PASS" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert report["verification"]["frameworks"] == ["onnxruntime", "tensorflow"]
    assert {"model.onnx", "saved_model", "report.json"} <= set(os.listdir(out))
    proc = run_cli("verify", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "verdict: PASS" in proc.stdout


def test_paddle_json_source(paddle_model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("mlp"), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["kind"] == "paddle_json"
    assert report["verification"]["frameworks"] == ["paddle", "onnxruntime", "tensorflow"]
    pair = report["verification"]["outputs"][0]["pairs"]["paddle_vs_tensorflow"]
    assert pair["max_rel"] <= 1e-4


def test_paddle_legacy_pdmodel_source(paddle_model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("resnet18", legacy=True), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["kind"] == "paddle_pdmodel"
    assert any("legacy" in note for note in report["notes"])
    assert report["verification"]["outputs"][0]["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-4


def test_python_reference_source(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", "paddle_models:build_mlp", "--input-spec", "x:float32:-1x64", "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["kind"] == "python"
    assert report["verification"]["outputs"][0]["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-4


def test_existing_output_needs_force(tmp_path):
    onnx_path = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    proc = run_cli("convert", onnx_path, "-o", str(out))
    assert proc.returncode == EXIT_BAD_INPUT and "already exists" in proc.stderr
    assert (out / "keep.txt").read_text() == "user data"
    # --force never deletes a folder paddle2tf did not write: the user's file survives
    proc = run_cli("convert", onnx_path, "-o", str(out), "--force")
    assert proc.returncode == EXIT_BAD_INPUT and "not a paddle2tf output" in proc.stderr
    assert (out / "keep.txt").read_text() == "user data"
    # an earlier paddle2tf output is what --force replaces
    earlier = tmp_path / "earlier"
    assert run_cli("convert", onnx_path, "-o", str(earlier)).returncode == EXIT_OK
    (earlier / "stale.txt").write_text("from the earlier run")
    proc = run_cli("convert", onnx_path, "-o", str(earlier), "--force")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert not (earlier / "stale.txt").exists() and (earlier / "report.json").exists()


def _corrupt(tmp_path) -> str:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07garbage-not-a-protobuf\xff\xff\xff")
    return str(path)


def _truncated(tmp_path) -> str:
    data = open(tiny_onnx(tmp_path / "full.onnx"), "rb").read()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _checker_failure(tmp_path) -> str:
    model = onnx.load(tiny_onnx(tmp_path / "ok.onnx"))
    model.graph.node[1].input[1] = "undefined_value"
    path = tmp_path / "invalid.onnx"
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("make,fragments", [
    (lambda t: str(t / "missing.onnx"), ["missing.onnx", "no such ONNX file"]),
    (_corrupt, ["corrupt.onnx", "not a readable ONNX model"]),
    (_truncated, ["truncated.onnx"]),
    (_checker_failure, ["invalid.onnx", "onnx.checker", "undefined_value"]),
    (lambda t: tiny_onnx(t / "custom.onnx", "FancyActivation", "com.example"),
     ["unsupported ONNX ops", "com.example.FancyActivation", "act"]),
])
def test_bad_onnx_inputs(tmp_path, make, fragments):
    out = tmp_path / "out"
    assert_clean_failure(run_cli("convert", make(tmp_path), "-o", str(out)), out, *fragments)


@pytest.mark.parametrize("spec,fragment", [
    ("x:float32:-1x8x3", "has rank 2 (shape [?, 8])"),
    ("x:float32:2x9", "input 'x' has shape [?, 8]"),
    # a typo's size: one line naming the input (was "unexpected MemoryError")
    ("x:float32:100000000000x8", "generated values of shape [100000000000x8] would take 5.96e+03 GiB"),
    ("x:int64:-1x8", "is float32"),
    ("nope:float32:-1x8", "no input 'nope'"),
    ("x:float32", "expected NAME:DTYPE:SHAPE"),
])
def test_bad_input_spec(tmp_path, spec, fragment):
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out), "--input-spec", spec)
    assert_clean_failure(proc, out, fragment)


@pytest.mark.parametrize("feeds,fragment", [
    ({"wrong_name": np.zeros((2, 8), np.float32)}, "missing: x"),
    ({"x": np.zeros((2, 5), np.float32)}, "has shape"),
    ({"x": np.zeros((2, 8), np.float64)}, "is float64"),
])
def test_bad_feeds(tmp_path, feeds, fragment):
    feeds_file = tmp_path / "feeds.npz"
    np.savez(feeds_file, **feeds)
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out), "--inputs", str(feeds_file))
    assert_clean_failure(proc, out, "feeds.npz", fragment)


def test_bad_paddle_sources(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(run_cli("convert", str(tmp_path / "nothing.json"), "-o", str(out)), out, "nothing.json")
    assert_clean_failure(run_cli("convert", "paddle_models:no_such_factory", "--input-spec", "x:float32:1x4",
                                 "-o", str(out)), out, "no attribute 'no_such_factory'")
    assert_clean_failure(run_cli("convert", "no_such_module_xyz:build", "--input-spec", "x:float32:1x4",
                                 "-o", str(out)), out, "cannot import module 'no_such_module_xyz'")


def test_usage_errors_exit_2():
    proc = run_cli("convert")
    assert proc.returncode == EXIT_BAD_INPUT and "Traceback" not in proc.stderr
    proc = run_cli("verify", "/nonexistent/dir")
    assert proc.returncode == EXIT_BAD_INPUT and "not a paddle2tf output" in proc.stderr


def test_exporter_crash_is_one_clear_line(paddle_model, tmp_path):
    """paddle2onnx ends its process on this model (exit 255); paddle2tf survives and names the failure."""
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("interpolate_scale"), "-o", str(out), "--no-fixes")
    assert_clean_failure(proc, out, "paddle2onnx could not export the model")


def test_check_command(tmp_path):
    proc = run_cli("check", tiny_onnx(tmp_path / "ok.onnx"))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "3 nodes" in proc.stdout and "supported: every node can be converted" in proc.stdout
    proc = run_cli("check", tiny_onnx(tmp_path / "custom.onnx", "FancyActivation", "com.example"))
    assert proc.returncode == EXIT_BAD_INPUT
    assert "unsupported: com.example.FancyActivation: act" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_ops_command_prints_the_support_table():
    proc = run_cli("ops")
    assert proc.returncode == EXIT_OK, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["op", "domain", "since", "module"]
    assert any(line.startswith("Conv ") for line in lines) and any(line.startswith("LSTM ") for line in lines)


@pytest.mark.parametrize("extra,fragment", [
    (["--input-spec", "x:float32:-1x8", "--input-spec", "x:float32:2x8"], "--input-spec x: given more than once"),
    (["--tolerance", "nope:1e-3:1e-3"], "--tolerance nope: the model has no output of that name (outputs: y)"),
    (["--tolerance", "y:1e-3:1e-3", "--tolerance", "y:1e-2:1e-2"], "--tolerance y: given more than once"),
    (["--rtol=-1e-5"], "--rtol -1e-05: must be a finite number >= 0"),
    (["--atol", "-1"], "--atol -1.0: must be a finite number >= 0"),
    (["--tolerance", "y:1e-3:-2"], "--atol -2.0 (--tolerance y): must be a finite number >= 0"),
])
def test_contradicting_options_rejected(tmp_path, extra, fragment):
    """Settings that were accepted silently: one exit-2 line naming the option, before any work."""
    out = tmp_path / "out"
    assert_clean_failure(run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out), *extra), out, fragment)


@pytest.mark.parametrize("command,extra,fragment", [
    ("verify", ["--rtol=-1"], "--rtol -1.0: must be a finite number >= 0"),
    ("verify", ["--tolerance", "y:nan:0"], "--rtol nan (--tolerance y): must be a finite number >= 0"),
    ("locate", ["--chunk-size", "0"], "--chunk-size 0: must be at least 1"),
    ("locate", ["--atol=-1"], "--atol -1.0: must be a finite number >= 0"),
    ("deploy-check", ["--time", "-1"], "--time -1: must be at least 0"),
])
def test_commands_on_an_output_validate_their_options_first(tmp_path, command, extra, fragment):
    """VerifyOptions / LocateOptions / DeployCheckOptions reject a bad setting in one exit-2 line, before the
    folder is read (this one does not exist)."""
    proc = run_cli(command, str(tmp_path / "no-such-output"), *extra)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"paddle2tf: error: {fragment}"], proc.stderr


def test_stderr_holds_only_paddle2tf_lines(tmp_path):
    """TensorFlow's absl / oneDNN start-up lines go to OUT_DIR/conversion.log, not the terminal (even with
    TF_CPP_MIN_LOG_LEVEL=0, when TF prints the most); --debug, accepted after the subcommand too, shows them."""
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out), TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("paddle2tf: ") for line in lines), lines
    log = (out / "conversion.log").read_text()
    assert "this process's stderr" in log
    debug = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out), "--force", "--debug",
                    TF_CPP_MIN_LOG_LEVEL="0")
    assert debug.returncode == EXIT_OK
    assert any(not line.startswith("paddle2tf: ") for line in debug.stderr.strip().splitlines())


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    proc = run_cli("convert", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "out"), "--debug")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "Traceback" in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("paddle2tf: error: ")


def test_version_names_the_stack():
    proc = run_cli("--version")
    assert proc.returncode == EXIT_OK
    line = proc.stdout.strip()
    for name in ("paddle2tf 0.1.0", "paddlepaddle 3.3.1", "paddle2onnx 2.1.0", "tensorflow-cpu 2.21", "onnx 1.17"):
        assert name in line, line


def test_interrupt_while_the_libraries_load_is_one_line():
    """Ctrl-C lands during the imports (a second or more) far more often than a user expects: as in a command,
    one line and exit 130. The KeyboardInterrupt is raised where Python raises it, inside the import."""
    script = ("import builtins, runpy\n"
              "real = builtins.__import__\n"
              "def interrupted(name, *args, **kwargs):\n"
              "    if name == 'paddle2tf.pipeline.commands':\n"
              "        raise KeyboardInterrupt\n"
              "    return real(name, *args, **kwargs)\n"
              "builtins.__import__ = interrupted\n"
              "runpy.run_module('paddle2tf', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", script, "--version"], capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "paddle2tf: interrupted\n"
