import json
import shutil

import numpy as np
import pytest

from paddle2tf.frontend.fixes.sanitise import (
    explicit_reduce_all_axes,
    flatten_vector_norms,
    float_attributes_as_f32,
    sanitise_program,
)
from paddle2tf.verify.runners import run_paddle


def _op(name: str, attrs: dict) -> dict:
    return {"#": f"1.{name}", "A": [{"AT": value, "N": key} for key, value in attrs.items()], "I": [], "O": []}


def _program(*ops: dict) -> dict:
    return {"base_code": {}, "program": {"regions": [{"blocks": [{"ops": list(ops)}]}]}}


def test_f64_float_attributes_are_retagged_scalars_and_arrays():
    interp = _op("nearest_interp", {"scale": {"#": "0.a_array", "D": [{"#": "0.a_f64", "D": 2.0},
                                                                      {"#": "0.a_f64", "D": 2.0}]},
                                    "align_corners": {"#": "0.a_bool", "D": False}})
    norm = _op("group_norm", {"epsilon": {"#": "0.a_f64", "D": 1e-5}, "groups": {"#": "0.a_i32", "D": 4}})
    program = _program(interp, norm)
    fixes = float_attributes_as_f32(program)
    assert [(f.target, f.change) for f in fixes] == [
        ("pd_op.nearest_interp", "attribute 'scale' retagged f64 -> f32"),
        ("pd_op.group_norm", "attribute 'epsilon' retagged f64 -> f32")]
    assert [item["#"] for item in interp["A"][0]["AT"]["D"]] == ["0.a_f32", "0.a_f32"]
    assert norm["A"][0]["AT"] == {"#": "0.a_f32", "D": 1e-5}  # the value itself is kept
    assert norm["A"][1]["AT"] == {"#": "0.a_i32", "D": 4}


def test_double_declared_attributes_are_left_alone():
    full = _op("full", {"value": {"#": "0.a_f64", "D": 0.1767766922712326}})
    program = _program(full)
    assert float_attributes_as_f32(program) == []
    assert full["A"][0]["AT"]["#"] == "0.a_f64"


def test_nested_blocks_are_visited(tmp_path):
    inner = _op("pad3d", {"pad_value": {"#": "0.a_f64", "D": 0.5}})
    outer = {"#": "1.if", "A": [], "I": [], "O": [], "regions": [{"blocks": [{"ops": [inner]}]}]}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_program(outer)))
    fixes = sanitise_program(str(path), str(tmp_path / "out.json"))
    assert [f.target for f in fixes] == ["pd_op.pad3d"]
    assert '"0.a_f32"' in (tmp_path / "out.json").read_text()


def test_empty_reduce_axes_made_explicit():
    axes = {"#": "1.full_int_array", "A": [{"AT": {"#": "0.a_array", "D": []}, "N": "value"}], "I": [],
            "O": [{"%": 7, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_i64"}, [0], "NCHW", [], 0]}}]}
    source = {"#": "1.add", "A": [], "I": [],
              "O": [{"%": 6, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_f32"}, [-1, 8, 4], "NCHW", [], 0]}}]}
    mean = {"#": "1.mean", "A": [{"AT": {"#": "0.a_bool", "D": False}, "N": "keepdim"}],
            "I": [{"%": 6}, {"%": 7}], "O": [{"%": 8}]}
    program = _program(source, axes, mean)
    fixes = float_attributes_as_f32(program) + explicit_reduce_all_axes(program)
    assert [(f.pass_name, f.target) for f in fixes] == [("explicit_reduce_all_axes", "pd_op.mean")]
    assert axes["A"][0]["AT"]["D"] == [{"#": "0.a_i64", "D": i} for i in range(3)]
    assert axes["O"][0]["TT"]["D"][1] == [3]


def test_non_empty_or_shared_axes_untouched():
    axes = {"#": "1.full_int_array", "A": [{"AT": {"#": "0.a_array", "D": []}, "N": "value"}], "I": [],
            "O": [{"%": 7}]}
    reshape = {"#": "1.reshape", "A": [], "I": [{"%": 6}, {"%": 7}], "O": [{"%": 8}]}
    assert explicit_reduce_all_axes(_program(axes, reshape)) == []


def _tensor(shape: list[int]) -> dict:
    return {"#": "0.t_dtensor", "D": [{"#": "0.t_f32"}, shape, "NCHW", [], 0]}


def _p_norm(source: int, result: int, asvector: bool, keepdim: bool = False) -> dict:
    op = _op("p_norm", {"porder": {"#": "0.a_f32", "D": 2.0}, "axis": {"#": "0.a_i32", "D": -1},
                        "keepdim": {"#": "0.a_bool", "D": keepdim}, "asvector": {"#": "0.a_bool", "D": asvector}})
    op["I"], op["O"] = [{"%": source}], [{"%": result, "TT": _tensor([])}]
    return op


def test_vector_norm_input_flattened():
    """Known defect 8: paddle2onnx ignores p_norm's asvector; a flatten makes the last axis every element."""
    data = {"#": "1.data", "A": [], "I": [], "O": [{"%": 3, "TT": _tensor([-1, 4, 8])}]}
    by_axis = _p_norm(3, 5, asvector=False)
    whole = _p_norm(3, 4, asvector=True)
    program = _program(data, by_axis, whole)
    fixes = flatten_vector_norms(program)
    assert [(f.target, f.change) for f in fixes] == [
        ("pd_op.p_norm", "input of rank 3 flattened first (asvector=true: the norm of every element)")]
    ops = program["program"]["regions"][0]["blocks"][0]["ops"]
    assert [op["#"] for op in ops] == ["1.data", "1.p_norm", "1.flatten", "1.p_norm"]
    flatten = ops[2]
    assert flatten["I"] == [{"%": 3}] and flatten["O"][0]["%"] == 6 and flatten["O"][0]["TT"]["D"][1] == [-1]
    assert [a["AT"]["D"] for a in flatten["A"]] == [0, 2]
    assert whole["I"] == [{"%": 6}] and by_axis["I"] == [{"%": 3}]
    assert flatten_vector_norms(_program(data, _p_norm(3, 4, asvector=True, keepdim=True))) == []


def test_deform_conv_without_mask_gets_a_mask_of_ones_paddle_agrees(paddle_model, tmp_path):
    """Reference: Paddle running the user's program (deform conv v1, no mask) and the sanitised one (mask of
    ones fed): the same outputs. Tolerance: float32 rounding of the same kernel, rtol 1e-5."""
    source = paddle_model("deform_conv")
    params = source[: -len(".json")] + ".pdiparams"
    (tmp_path / "sanitised").mkdir()
    sanitised = str(tmp_path / "sanitised" / "model.json")
    fixes = [f for f in sanitise_program(source, sanitised) if f.pass_name == "deform_conv_mask_of_ones"]
    assert [(f.target, f.change) for f in fixes] == [
        ("pd_op.deformable_conv DeformConv2D", "mask of ones [9 channels] fed (deform conv v1 = v2 with mask 1)")
    ]
    shutil.copyfile(params, tmp_path / "sanitised" / "model.pdiparams")
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    expected = run_paddle(source, params, {"x": x}, ["y"])["y"]
    actual = run_paddle(sanitised, str(tmp_path / "sanitised" / "model.pdiparams"), {"x": x}, ["y"])["y"]
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("case", ["prior_box", "prior_box_ordered"])
def test_static_prior_box_folded_paddle_agrees(paddle_model, tmp_path, case):
    """Reference: Paddle running the user's program (its prior_box kernel) and the sanitised one (constants):
    both outputs (boxes + a data-dependent shift, variances). prior_box_ordered: Caffe's order, two sizes,
    steps and offset given, no clipping. Tolerance: float32 rounding, rtol 1e-6."""
    source = paddle_model(case)
    params = source[: -len(".json")] + ".pdiparams"
    (tmp_path / "sanitised").mkdir()
    sanitised = str(tmp_path / "sanitised" / "model.json")
    fixes = [f for f in sanitise_program(source, sanitised) if f.pass_name == "fold_static_prior_box"]
    assert [f.target for f in fixes] == ["pd_op.prior_box"]
    assert '"1.prior_box"' not in (tmp_path / "sanitised" / "model.json").read_text()
    shutil.copyfile(params, tmp_path / "sanitised" / "model.pdiparams")
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    expected = run_paddle(source, params, {"x": x}, ["boxes", "variances"])
    actual = run_paddle(sanitised, str(tmp_path / "sanitised" / "model.pdiparams"), {"x": x}, ["boxes", "variances"])
    for name in ("boxes", "variances"):
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-6, atol=1e-7)
