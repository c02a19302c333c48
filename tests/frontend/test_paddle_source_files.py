"""Paddle model files as the user gives them: a program without parameters (Paddle saves no .pdiparams) converts and
verifies three ways in both formats; a model.json that is not a Paddle program, or a program whose parameters file is
missing, is one exit-2 line naming the user's file (not a working copy, not a library's warning)."""

from __future__ import annotations

import json
import os

import pytest

from paddle2tf.errors import EXIT_OK

from helpers.cli import assert_clean_failure, run_cli
from helpers.paddle_fixtures import save_paddle_model


@pytest.fixture(scope="module")
def postprocess(tmp_path_factory):
    """The parameterless post-processing model saved by Paddle in both formats: {format: model file}."""
    folder = tmp_path_factory.mktemp("postprocess")
    return {"json": save_paddle_model("postprocess", str(folder / "pir")),
            "legacy": save_paddle_model("postprocess", str(folder / "legacy"), legacy=True)}


@pytest.mark.parametrize("fmt", ["json", "legacy"])
def test_a_program_without_parameters_converts_and_verifies(postprocess, tmp_path, fmt):
    model_file = postprocess[fmt]
    assert not os.path.exists(os.path.splitext(model_file)[0] + ".pdiparams")  # what Paddle saved: no parameters
    out = tmp_path / "out"
    proc = run_cli("convert", model_file, "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["verification"]["frameworks"] == ["paddle", "onnxruntime", "tensorflow"]
    for output in report["verification"]["outputs"]:  # default tolerance: rtol = atol = 1e-5 (scaled)
        assert output["verdict"] == "pass", output
        assert output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-5, output
    proc = run_cli("verify", str(out))  # the Paddle copy kept in OUT_DIR runs again
    assert proc.returncode == EXIT_OK and "verdict: PASS" in proc.stdout, proc.stderr[-2000:]


def test_a_folder_holding_a_program_without_parameters_is_a_source(postprocess, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", os.path.dirname(postprocess["json"]), "-o", str(out), "--no-verify")
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["source"]["kind"] == "paddle_json"


@pytest.mark.parametrize("legacy", [False, True], ids=["json", "legacy"])
def test_missing_parameters_of_a_program_that_has_some(paddle_model, tmp_path, legacy):
    """The mlp reads 6 parameters: without its .pdiparams it cannot run, and the error says so."""
    source = paddle_model("mlp", legacy=legacy)
    folder = tmp_path / "copy"
    folder.mkdir()
    model_file = folder / ("inference" + os.path.splitext(source)[1])  # not the working copy's name, model.*
    model_file.write_bytes(open(source, "rb").read())
    out = tmp_path / "out"
    last = assert_clean_failure(run_cli("convert", str(model_file), "-o", str(out)), out, str(model_file),
                                "parameters file", "beside it (the program reads 6 parameter(s)")
    assert "model.pdiparams" not in last and ("inference.pdiparams" in last or legacy)


@pytest.mark.parametrize("text,fragment", [
    ('{"base_code": {"magic": "pir"', "invalid JSON"),
    ('{"a": 1}', "JSON without the 'base_code' magic 'pir'"),
    ("[1, 2]", "JSON without the 'base_code' magic 'pir'"),
])
@pytest.mark.parametrize("with_params", [True, False], ids=["with_pdiparams", "alone"])
def test_a_json_that_is_not_a_paddle_program(tmp_path, text, fragment, with_params):
    model_file = tmp_path / "model.json"
    model_file.write_text(text)
    if with_params:
        (tmp_path / "model.pdiparams").write_bytes(b"")
    out = tmp_path / "out"
    for extra in ([], ["--no-fixes"]):  # without the sanitiser too: rejected before paddle2onnx runs
        last = assert_clean_failure(run_cli("convert", str(model_file), "-o", str(out), *extra), out,
                                    f"{model_file}: not a Paddle PIR program", fragment)
        assert "sanitised" not in last and "ccache" not in last


@pytest.mark.parametrize("legacy", [False, True], ids=["json", "legacy"])
@pytest.mark.parametrize("params", ["another_model", "cut_short"])
def test_parameters_that_are_not_the_program_s(paddle_model, tmp_path, legacy, params):
    """A .pdiparams of another model beside the program, or one cut short: the line says the parameters file does
    not match (it showed Paddle's 'In user code:' frames, paths of paddle2tf's worker, under 'cannot translate')."""
    source = paddle_model("mlp", legacy=legacy)
    folder = tmp_path / "user"
    folder.mkdir()
    model_file = folder / ("inference" + os.path.splitext(source)[1])
    model_file.write_bytes(open(source, "rb").read())
    if params == "another_model":
        data = open(os.path.splitext(paddle_model("text_direction_cls", legacy=legacy))[0] + ".pdiparams", "rb").read()
    else:
        data = open(os.path.splitext(source)[0] + ".pdiparams", "rb").read()
        data = data[: len(data) // 2]
    (folder / "inference.pdiparams").write_bytes(data)
    out = tmp_path / "out"
    last = assert_clean_failure(run_cli("convert", str(model_file), "-o", str(out)), out, str(model_file),
                                "parameters file (.pdiparams) does not hold this program's parameters")
    assert "In user code" not in last and "paddle_worker" not in last and "model.pdiparams" not in last
