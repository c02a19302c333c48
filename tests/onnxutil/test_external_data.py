"""ONNX models with external data: read from beside the user's file (check, convert, verify); OUT_DIR's model.onnx
keeps its tensors in model.onnx.data; a missing data file is one exit-2 line naming the user's folder."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.errors import EXIT_OK
from paddle2tf.onnxutil import external_data
from paddle2tf.pipeline.repository import Repository, source_hash

from helpers.cli import assert_clean_failure, run_cli
from helpers.onnx_graphs import run_ort


def mlp() -> onnx.ModelProto:
    """x (N, 64) → MatMul w1 (8 KB) → Add → Relu → MatMul w2 → y (N, 10): weights above the 1 KB inline limit."""
    rng = np.random.default_rng(0)
    weights = {"w1": rng.standard_normal((64, 32)).astype(np.float32),
               "b1": rng.standard_normal(32).astype(np.float32),
               "w2": rng.standard_normal((32, 10)).astype(np.float32)}
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Add", ["h", "b1"], ["a"]),
         helper.make_node("Relu", ["a"], ["r"], name="relu"), helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def save_with_external_data(folder) -> str:
    folder.mkdir(exist_ok=True)
    path = str(folder / "model.onnx")
    onnx.save(mlp(), path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=0)
    return path


def test_convert_verify_and_check_read_the_data_beside_the_user_s_file(tmp_path):
    source, out = save_with_external_data(tmp_path / "user"), tmp_path / "out"
    proc = run_cli("check", source)
    assert proc.returncode == EXIT_OK and "supported: every node can be converted" in proc.stdout, proc.stderr
    proc = run_cli("convert", source, "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    [output] = json.loads((out / "report.json").read_text())["verification"]["outputs"]
    # ONNX Runtime ran OUT_DIR's model.onnx: its weights came through model.onnx.data (rtol = atol = 1e-5, scaled)
    assert output["verdict"] == "pass" and output["pairs"]["onnxruntime_vs_tensorflow"]["max_rel"] <= 1e-5, output
    written = onnx.load(str(out / "model.onnx"), load_external_data=False)
    assert set(external_data.external_files(written)) == {"model.onnx.data"}
    assert os.path.getsize(out / "model.onnx.data") >= 4 * (64 * 32 + 32 * 10)
    feeds = {"x": np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)}
    np.testing.assert_allclose(run_ort(onnx.load(str(out / "model.onnx")), feeds)["y"],
                               run_ort(mlp(), feeds)["y"], rtol=0, atol=0)  # the same weights, bit for bit
    proc = run_cli("verify", str(out))
    assert proc.returncode == EXIT_OK and "verdict: PASS" in proc.stdout, proc.stderr[-2000:]


def test_a_missing_data_file_names_the_user_s_folder(tmp_path):
    source, out = save_with_external_data(tmp_path / "user"), tmp_path / "out"
    os.remove(tmp_path / "user" / "w.bin")
    expected = f"{source}: external data file 'w.bin' (tensor 'w1') not found in {tmp_path / 'user'}"
    assert_clean_failure(run_cli("check", source), out, expected)
    assert_clean_failure(run_cli("convert", source, "-o", str(out)), out, expected)


def test_a_copy_joins_the_data_files_without_loading_the_weights(tmp_path):
    """One data file per tensor (one without a length: to the end of its file): OUT_DIR's copy holds them in
    model.onnx.data at page-aligned starts, and ONNX Runtime computes exactly what it computes on the original."""
    folder = tmp_path / "user"
    folder.mkdir()
    source = str(folder / "model.onnx")
    onnx.save(mlp(), source, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    header = onnx.load(source, load_external_data=False)
    w2 = next(t for t in header.graph.initializer if t.name == "w2")
    kept = [(e.key, e.value) for e in w2.external_data if e.key != "length"]
    del w2.external_data[:]
    for key, value in kept:
        w2.external_data.add(key=key, value=value)
    onnx.save(header, source)
    assert len(external_data.external_files(header)) == 3
    copy = str(tmp_path / "out" / "model.onnx")
    os.makedirs(os.path.dirname(copy))
    external_data.copy_model(source, copy)
    assert sorted(os.listdir(tmp_path / "out")) == ["model.onnx", "model.onnx.data"]
    copied = onnx.load(copy, load_external_data=False)
    offsets = [int(e.value) for t in copied.graph.initializer for e in t.external_data if e.key == "offset"]
    assert len(offsets) == 3 and all(offset % external_data.DATA_ALIGNMENT == 0 for offset in offsets)
    feeds = {"x": np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)}
    np.testing.assert_array_equal(run_ort(onnx.load(copy), feeds)["y"], run_ort(onnx.load(source), feeds)["y"])


def test_a_model_over_the_inline_limit_is_written_with_external_data(tmp_path, monkeypatch):
    """The 2 GB rule, with the limit lowered to this model's size: same file layout, same results in ONNX Runtime."""
    model = mlp()
    monkeypatch.setattr(external_data, "INLINE_MAX_BYTES", external_data.tensor_bytes(model) - 1)
    path = str(tmp_path / "model.onnx")
    external_data.save_model(onnx.load_from_string(model.SerializeToString()), path)
    assert set(external_data.external_files(onnx.load(path, load_external_data=False))) == {"model.onnx.data"}
    feeds = {"x": np.random.default_rng(2).standard_normal((2, 64)).astype(np.float32)}
    np.testing.assert_array_equal(run_ort(onnx.load(path), feeds)["y"], run_ort(model, feeds)["y"])
    monkeypatch.setattr(external_data, "INLINE_MAX_BYTES", external_data.tensor_bytes(model))
    external_data.save_model(model, str(tmp_path / "small.onnx"))
    assert not os.path.exists(tmp_path / "small.onnx.data")


@pytest.mark.parametrize("with_data", [True, False])
def test_publishing_keeps_the_data_file_and_hashes_it(tmp_path, with_data):
    """A published version holds model.onnx.data beside model.onnx; the source hash changes with the weights."""
    source = save_with_external_data(tmp_path / "user")
    out = tmp_path / "out"
    (out / "saved_model").mkdir(parents=True)
    (out / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (out / "model.onnx").write_bytes(b"onnx")
    if with_data:
        (out / "model.onnx.data").write_bytes(b"weights")
    published = Repository(str(tmp_path / "repo")).publish("mlp", str(out), {"source_sha256": "x"})
    extra = os.path.join(published.path, "assets.extra")
    assert os.path.isfile(os.path.join(extra, "model.onnx.data")) == with_data
    before = source_hash(source, ())
    with open(tmp_path / "user" / "w.bin", "r+b") as handle:
        handle.write(b"\x00\x00\x80\x3f")
    assert source_hash(source, ()) != before


def test_a_truncated_data_file_names_the_file_and_the_tensor(tmp_path):
    """A data file cut short (an interrupted copy) failed deep in numpy ("cannot reshape array of size ...")."""
    source, out = save_with_external_data(tmp_path / "user"), tmp_path / "out"
    data = tmp_path / "user" / "w.bin"
    data.write_bytes(data.read_bytes()[:-100])  # w2 is stored last: its end is missing
    expected = f"{source}: external data file 'w.bin' ends at byte {os.path.getsize(data)}, but tensor 'w2'"
    assert_clean_failure(run_cli("check", source), out, expected, "truncated")
    assert_clean_failure(run_cli("convert", source, "-o", str(out)), out, expected)
