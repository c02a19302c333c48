"""The three-way check's measure of a failing output's own sensitivity: ONNX Runtime against itself with every
float input one ulp up. It tells an ill-conditioned output (float32 rounding amplified, e.g. by a long decoding
loop: SLANet's table decoder on random inputs) from a conversion fault; the verdict stays fail either way."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions
from paddle2tf.errors import BadInputError
from paddle2tf.verify.three_way import one_ulp_up

from helpers.cli import assert_clean_failure, run_cli, tiny_onnx
from helpers.locate_faults import perturb, scaled_output

F = TensorProto.FLOAT


def test_one_ulp_up_moves_floats_only():
    feeds = {"x": np.array([0.0, 1.0, -2.5], np.float32), "ids": np.array([1, 2], np.int64)}
    moved = one_ulp_up(feeds)
    assert moved["x"].dtype == np.float32 and (moved["x"] > feeds["x"]).all()
    np.testing.assert_array_equal(np.nextafter(moved["x"], np.float32(-np.inf)), feeds["x"])  # exactly one ulp
    np.testing.assert_array_equal(moved["ids"], feeds["ids"])
    assert one_ulp_up({"ids": feeds["ids"]}) is None


def _chaotic_loop(path) -> str:
    """v <- 3.9 v (1 - v) + 0.05 mean(v * w), 120 times: the logistic map (chaotic at 3.9) fed a 4096-element
    mean, whose summation order differs between ONNX Runtime and TensorFlow in the last bits."""
    w = np.random.default_rng(0).uniform(0, 1, (4096,)).astype(np.float32)
    body = helper.make_graph(
        [helper.make_node("Mul", ["v", "w"], ["vw"]), helper.make_node("ReduceMean", ["vw"], ["m"], keepdims=1),
         helper.make_node("Sub", ["one", "v"], ["omv"]), helper.make_node("Mul", ["v", "omv"], ["p"]),
         helper.make_node("Mul", ["p", "r"], ["q"]), helper.make_node("Mul", ["m", "eps"], ["me"]),
         helper.make_node("Add", ["q", "me"], ["v_out"]), helper.make_node("Identity", ["c"], ["c_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", F, [1, 4096])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", F, [1, 4096])])
    constants = {"steps": np.array(120, np.int64), "w": w, "one": np.array(1, np.float32),
                 "r": np.array(3.9, np.float32), "eps": np.array(0.05, np.float32)}
    graph = helper.make_graph([helper.make_node("Loop", ["steps", "", "x"], ["y"], body=body)], "chaos",
                              [helper.make_tensor_value_info("x", F, [1, 4096])],
                              [helper.make_tensor_value_info("y", F, [1, 4096])],
                              [numpy_helper.from_array(v, k) for k, v in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_an_ill_conditioned_output_is_told_apart_from_a_conversion_fault(tmp_path):
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x=np.random.default_rng(1).uniform(0.1, 0.9, (1, 4096)).astype(np.float32))
    options = ConvertOptions(feeds=str(feeds), locate=False)
    report = api.convert(_chaotic_loop(tmp_path / "chaos.onnx"), str(tmp_path / "chaos"), options,
                         progress=lambda _: None)
    (output,) = report.verification.outputs
    assert output.verdict == "fail"  # the verdict is not softened
    # one ulp on the inputs moves ONNX Runtime's own output as far as TF is from it (both O(1) here)
    assert output.sensitivity.verdict == "fail" and output.sensitivity.max_rel > 0.1
    saved = json.loads((tmp_path / "chaos" / "report.json").read_text())["verification"]["outputs"][0]
    assert saved["sensitivity"]["verdict"] == "fail"
    assert "y: ill-conditioned on these inputs" in (tmp_path / "chaos" / "report.html").read_text()

    # A conversion fault (the activation's output scaled by 1.01): rounding alone moves it by far less.
    with perturb("Sigmoid", "act", scaled_output(1.01)):
        report = api.convert(tiny_onnx(tmp_path / "tiny.onnx", "Sigmoid"), str(tmp_path / "fault"),
                             ConvertOptions(locate=False), progress=lambda _: None)
    (output,) = report.verification.outputs
    assert output.verdict == "fail" and output.sensitivity.verdict == "pass"
    assert output.sensitivity.max_rel < 1e-5
    # the passing outputs of a conversion are not measured (no extra ONNX Runtime run)
    passing = api.convert(tiny_onnx(tmp_path / "ok.onnx", "Sigmoid"), str(tmp_path / "ok"),
                          progress=lambda _: None)
    assert passing.verdict == "pass" and passing.verification.outputs[0].sensitivity is None


def _feeds(tmp_path, name: str, x: np.ndarray) -> str:
    path = tmp_path / f"{name}.npz"
    np.savez(path, x=x)
    return str(path)


def test_inputs_on_which_every_value_is_nan_verify_nothing(tmp_path):
    """NaN matches NaN: on inputs that make an output NaN everywhere, a faulty conversion would "pass". Such
    inputs are refused (exit 2, nothing written), fault or not; a row of NaN among finite rows still compares.
    (Sigmoid, not Relu: ONNX Runtime's Relu keeps NaN, TF's and Paddle's give 0.)"""
    model = tiny_onnx(tmp_path / "tiny.onnx", "Sigmoid")
    all_nan = _feeds(tmp_path, "all_nan", np.full((2, 8), np.nan, np.float32))
    with perturb("Sigmoid", "act", scaled_output(1.01)), pytest.raises(BadInputError) as refused:
        api.convert(model, str(tmp_path / "fault"), ConvertOptions(feeds=all_nan, locate=False),
                    progress=lambda _: None)
    assert "output y: all 8 of its values are NaN or Inf in ONNX Runtime" in str(refused.value)
    assert "the input x holds 16 NaN / Inf values" in str(refused.value)
    out = tmp_path / "cli"
    assert_clean_failure(run_cli("convert", model, "-o", str(out), "--inputs", all_nan), out,
                         "output y: all 8 of its values are NaN or Inf", "from all_nan.npz")

    one_row = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    one_row[0, 3] = np.nan  # row 0 of y is NaN in every framework; row 1 is compared
    partly = _feeds(tmp_path, "partly", one_row)
    with perturb("Sigmoid", "act", scaled_output(1.01)):
        faulty = api.convert(model, str(tmp_path / "partly_fault"), ConvertOptions(feeds=partly, locate=False),
                             progress=lambda _: None)
    assert faulty.verdict == "fail"
    clean = api.convert(model, str(tmp_path / "partly_clean"), ConvertOptions(feeds=partly),
                        progress=lambda _: None)
    assert clean.verdict == "pass"  # (rtol 1e-5: the default tolerance)


def test_inputs_on_which_an_output_is_empty_verify_nothing(tmp_path):
    model = tiny_onnx(tmp_path / "tiny.onnx", "Sigmoid")
    empty = _feeds(tmp_path, "empty", np.zeros((0, 8), np.float32))
    with perturb("Sigmoid", "act", scaled_output(1.01)), pytest.raises(BadInputError, match=r"output y is empty"):
        api.convert(model, str(tmp_path / "fault"), ConvertOptions(feeds=empty, locate=False),
                    progress=lambda _: None)
    out = tmp_path / "cli"
    assert_clean_failure(run_cli("convert", model, "-o", str(out), "--inputs", empty), out,
                         "output y is empty ([0, 4]) on the verification inputs (x [0, 8]; from empty.npz)")


def test_an_empty_output_beside_a_compared_one_is_refused(tmp_path):
    """A detector finding nothing on random images: its boxes output is empty while the counts compare (0 = 0);
    exit 0 would vouch for values nobody compared."""
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"]),
         helper.make_node("Slice", ["x", "zero", "zero", "one"], ["boxes"])],  # columns [0, 0): none
        "empty_beside", [helper.make_tensor_value_info("x", F, ["n", 4])],
        [helper.make_tensor_value_info("y", F, ["n", 4]), helper.make_tensor_value_info("boxes", F, ["n", 0])],
        [numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([1], np.int64),
                                                                                           "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    expected = r"output boxes is empty \(\[2, 0\]\) on the verification inputs \(x \[2, 4\]; generated"
    with pytest.raises(BadInputError, match=expected):
        api.convert(str(tmp_path / "m.onnx"), str(tmp_path / "out"), progress=lambda _: None)
    assert not (tmp_path / "out").exists()


def _picker(path) -> str:
    """picked = the values of x above 5, as a detector's boxes above a score threshold: empty on generated inputs
    (uniform [-1, 1]), not on data that holds such values."""
    graph = helper.make_graph(
        [helper.make_node("Greater", ["x", "five"], ["keep"]), helper.make_node("NonZero", ["keep"], ["where"]),
         helper.make_node("Transpose", ["where"], ["indices"], perm=[1, 0]),
         helper.make_node("GatherND", ["x", "indices"], ["picked"]), helper.make_node("Sigmoid", ["x"], ["y"])],
        "picker", [helper.make_tensor_value_info("x", F, ["n", 4])],
        [helper.make_tensor_value_info("picked", F, ["k"]), helper.make_tensor_value_info("y", F, ["n", 4])],
        [numpy_helper.from_array(np.array(5, np.float32), "five")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_an_output_empty_on_generated_inputs_is_judged_on_the_dataset(tmp_path):
    """With --dataset the user's data judges an output random inputs leave empty (a detector finding nothing in
    noise was refused even when real images came with it); a dataset on which it is empty everywhere is refused,
    not passed as 0 of 0 values agreeing."""
    model = _picker(tmp_path / "picker.onnx")
    out = tmp_path / "out"
    assert_clean_failure(run_cli("convert", model, "-o", str(out)), out, "output picked is empty", "--dataset")
    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    data[[1, 4], [2, 0]] = [7.5, 9.0]
    np.savez(tmp_path / "data.npz", x=data)
    proc = run_cli("convert", model, "-o", str(out), "--dataset", str(tmp_path / "data.npz"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert any("output picked: empty on the verification inputs" in note and "judged on the dataset" in note
               for note in report["notes"]), report["notes"]
    [picked] = [o for o in report["dataset"]["outputs"] if o["name"] == "picked"]
    assert picked["verdict"] == "pass", picked
    np.savez(tmp_path / "below.npz", x=np.clip(data, -1, 1))
    assert_clean_failure(run_cli("convert", model, "-o", str(tmp_path / "out2"), "--dataset",
                                 str(tmp_path / "below.npz")), tmp_path / "out2",
                         f"{tmp_path / 'below.npz'}: output picked is empty on all 6 samples")
