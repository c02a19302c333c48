"""Running the ``paddle2tf`` command in tests, and the small ONNX model most CLI tests convert."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.errors import EXIT_BAD_INPUT

from helpers.paddle_fixtures import HELPERS_DIR


def cli_env(**extra: str) -> dict:
    """The environment of a CLI child: ``paddle_models:FACTORY`` sources importable."""
    return {**os.environ, "PYTHONPATH": HELPERS_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def run_cli(*args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paddle2tf", *args], capture_output=True, text=True,
                          env=cli_env(**env), timeout=timeout)


def assert_clean_failure(proc: subprocess.CompletedProcess, out_dir, *fragments: str) -> str:
    """Exit 2, no traceback, the last stderr line names the problem, nothing left at OUT_DIR."""
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("paddle2tf: error: "), last
    for fragment in fragments:
        assert fragment in last, last
    assert not os.path.exists(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    if os.path.isdir(parent):  # (an OUT_DIR under a file has no folder to leave anything in)
        assert not [n for n in os.listdir(parent) if ".partial-" in n], os.listdir(parent)
    return last


def tiny_onnx(path, op_type: str = "Relu", domain: str = "") -> str:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
             helper.make_node("Add", ["h", "b"], ["a"], name="add"),
             helper.make_node(op_type, ["a"], ["y"], name="act", domain=domain)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")])
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)
