import json

import pytest

from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import InputSpec, check_specs_against_model, parse_input_spec, resolve_source


def test_parse_input_spec():
    spec = parse_input_spec("x:float32:-1x3x224x224")
    assert spec == InputSpec("x", "float32", (None, 3, 224, 224))
    assert str(spec) == "x:float32:-1x3x224x224"
    assert parse_input_spec("ids:int64:?x?").shape == (None, None)
    assert parse_input_spec("s:float32:").shape == ()


@pytest.mark.parametrize("text", ["x", "x:float32", "x:float99:1x2", "x:float32:1x0", "x:float32:1xa", ":float32:1",
                                  "x:float32:-1x8x", "x:float32:x8"])  # (an empty dim was dropped: rank 2 read)
def test_bad_input_spec_is_one_clear_error(text):
    with pytest.raises(BadInputError, match="--input-spec"):
        parse_input_spec(text)


# The smallest texts resolve_source takes as Paddle 3 programs: without and with a parameter (op "p").
PIR_PROGRAM = json.dumps({"base_code": {"magic": "pir", "version": 4}, "program": {"regions": []}})
PIR_PROGRAM_WITH_PARAMETER = json.dumps({"base_code": {"magic": "pir", "version": 4}, "program": {"regions": [
    {"blocks": [{"ops": [{"#": "p", "A": [0, 1, 1, "linear_0.w_0"]}]}]}]}})


def test_resolve_onnx_and_paddle_files(tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")
    assert resolve_source(str(onnx_file)).kind == "onnx"
    for suffix, kind in ((".json", "paddle_json"), (".pdmodel", "paddle_pdmodel")):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / f"model{suffix}").write_text(PIR_PROGRAM)
        (folder / "model.pdiparams").write_bytes(b"")
        for text in (folder / f"model{suffix}", folder / "model", folder / "model.pdiparams", folder):
            source = resolve_source(str(text))
            assert (source.kind, source.model_file) == (kind, str(folder / f"model{suffix}"))


def test_resolve_errors(tmp_path):
    with pytest.raises(BadInputError, match="no such ONNX file"):
        resolve_source(str(tmp_path / "missing.onnx"))
    (tmp_path / "m.json").write_text(PIR_PROGRAM_WITH_PARAMETER)
    with pytest.raises(BadInputError, match="no parameters file m.pdiparams beside it .the program reads 1 parameter"):
        resolve_source(str(tmp_path / "m.json"))
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(BadInputError, match="m.json: not a Paddle PIR program"):
        resolve_source(str(tmp_path / "m.json"))
    with pytest.raises(BadInputError, match="needs --input-spec"):
        resolve_source("paddle.vision.models:resnet18")
    with pytest.raises(BadInputError, match="not found"):
        resolve_source(str(tmp_path / "nothing_here"))
    (tmp_path / "notes.txt").write_text("")  # exists, but is no model: not "not found"
    with pytest.raises(BadInputError, match="notes.txt: not a model paddle2tf reads"):
        resolve_source(str(tmp_path / "notes.txt"))
    legacy = tmp_path / "paddle1"  # Paddle 1.x: __model__ and one file per parameter
    legacy.mkdir()
    (legacy / "__model__").write_bytes(b"\x08\x01")
    for source in (legacy, legacy / "__model__"):
        with pytest.raises(BadInputError, match="a Paddle 1.x inference model .__model__ with one file per parameter"):
            resolve_source(str(source))


def test_a_program_without_parameters_needs_no_parameters_file(tmp_path):
    (tmp_path / "post.json").write_text(PIR_PROGRAM)
    (tmp_path / "notes.json").write_text('{"not": "a program"}')  # a folder's other JSON files are not candidates
    for text in (tmp_path / "post.json", tmp_path / "post", tmp_path):
        source = resolve_source(str(text))
        assert (source.kind, source.model_file, source.params_file) == ("paddle_json", str(tmp_path / "post.json"), "")


def test_python_reference_with_specs():
    spec = parse_input_spec("x:float32:-1x3x224x224")
    source = resolve_source("paddle.vision.models:resnet18", (spec,))
    assert (source.kind, source.reference, source.input_specs) == ("python", "paddle.vision.models:resnet18", (spec,))


def test_specs_checked_against_model():
    model = [InputSpec("x", "float32", (None, 3, 8, 8))]
    check_specs_against_model((parse_input_spec("x:float32:4x3x8x8"),), model, "m.onnx")
    for bad, message in (("y:float32:1x3x8x8", "no input 'y'"), ("x:int64:1x3x8x8", "is float32"),
                         ("x:float32:1x3x8", "rank 4"), ("x:float32:1x3x9x8", "has shape")):
        with pytest.raises(BadInputError, match=message):
            check_specs_against_model((parse_input_spec(bad),), model, "m.onnx")
