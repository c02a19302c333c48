"""Issue #15 part 1: Paddle programs whose exported ONNX declares shapes its graph does not compute.

paddle2onnx 2.1.0 declares Paddle's 0-d results rank 0 and computes them as [1]; the full onnx.checker refuses
such a file ("Inferred shape and existing shape differ in rank"), so before the repair `convert` exited 2.
With the repair (frontend/fixes/repair.py `drop_contradicting_shapes`) each converts and verifies three ways;
with --no-fixes the strict refusal stays. Tolerance: Paddle↔TF max_rel <= 1e-5 (float32, small graphs).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK

from helpers.cli import run_cli
from helpers.paddle_fixtures import save_legacy_program

MAX_REL = 1e-5
SHAPE_REPAIR = "drop_contradicting_shapes"


def decoder_feeds(path, clock_starts, seed: int = 0) -> str:
    """Feeds for the greedy decoder: x[:, 0] starts each sample's clock (0.5 ends after 1 iteration, 0.2 after
    5, -1 never ends: maxlen); the other units are seeded noise, so every sample's outputs differ."""
    x = np.random.default_rng(seed).uniform(-1, 1, (len(clock_starts), 8)).astype(np.float32)
    x[:, 0] = clock_starts
    np.savez(path, x=x)
    return str(path)


def passing_report(proc, out) -> dict:
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass"
    for output in report["verification"]["outputs"]:
        assert output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= MAX_REL, output
    return report


@pytest.fixture(scope="module")
def legacy_decoder(tmp_path_factory):
    return save_legacy_program("greedy_decoder", str(tmp_path_factory.mktemp("legacy_decoder")))


@pytest.mark.parametrize("form", ["pir", "legacy"])
def test_greedy_decoder_output_length_set_by_the_data(paddle_model, legacy_decoder, tmp_path, form):
    """A `while` decoder (Loop with a growing output; tf.while_loop with a relaxed shape invariant): the
    output length is the data's, the same as Paddle's, for a batch that stops early and one that runs to maxlen.
    The legacy form (Paddle 2.x: while, conditional_block, select_input, set_value) goes through the same path."""
    source = paddle_model("greedy_decoder") if form == "pir" else legacy_decoder
    out = tmp_path / "out"
    early = decoder_feeds(tmp_path / "early.npz", [0.5, 0.2, 1.0])  # the batch stops after 5 iterations
    report = passing_report(run_cli("convert", source, "-o", str(out), "--inputs", early), out)
    assert report["verification"]["outputs"][0]["shape"] == [3, 6, 5]
    if form == "pir":  # the Loop body's condition: declared rank 0, computed rank 1
        assert any(f["pass_name"] == SHAPE_REPAIR and "Loop" in f["change"] for f in report["fixes"])
    maxlen = decoder_feeds(tmp_path / "maxlen.npz", [-1.0, 0.5])  # one sample never emits END
    report = passing_report(run_cli("verify", str(out), "--inputs", maxlen), out)
    assert report["verification"]["outputs"][0]["shape"] == [2, 21, 5]


def test_greedy_decoder_refused_without_fixes(paddle_model, tmp_path):
    proc = run_cli("convert", paddle_model("greedy_decoder"), "-o", str(tmp_path / "out"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "Inferred shape and existing shape differ in rank: (1) vs (0)" in last and "Not" in last, last
    # The line names the user's model, never paddle2tf's working copy (.partial-*/model.onnx).
    assert last.startswith(f"paddle2tf: error: {paddle_model('greedy_decoder')} (as exported to ONNX): "), last
    assert ".partial" not in last and "model.onnx" not in last, last


def test_zero_d_results(paddle_model, tmp_path):
    """dist, p_norm, logsumexp, dot, if/else and while results: each declared rank 0, computed [1]. Repaired, the
    outputs have Paddle's shapes (a Reshape to the declared [] at the graph output) and values."""
    source = paddle_model("zero_d_results")
    out = tmp_path / "out"
    report = passing_report(run_cli("convert", source, "-o", str(out)), out)
    shapes = [o["shape"] for o in report["verification"]["outputs"]]
    assert shapes == [[], [2], [], [], [], [], [1]]
    changes = [f["change"] for f in report["fixes"] if f["pass_name"] == SHAPE_REPAIR]
    assert sum("reshaped to" in c for c in changes) == 5  # dist, logsumexp, dot, if/else, while
    assert any(c.startswith("If ") for c in changes) and any(c.startswith("Loop ") for c in changes)
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert "differ in rank" in proc.stderr.strip().splitlines()[-1]


def test_frobenius_norm(paddle_model, tmp_path):
    """Known defect 8: paddle2onnx exports `paddle.linalg.norm(x)` (p_norm, asvector) as a norm over the last axis
    ([N, 4] where Paddle returns a 0-d value). Sanitised (a flatten first), it passes; without fixes the checker
    refuses the file (declared [] computed [N, 4])."""
    out = tmp_path / "out"
    report = passing_report(run_cli("convert", paddle_model("frobenius_norm"), "-o", str(out)), out)
    assert report["verification"]["outputs"][0]["shape"] == []
    assert any(f["pass_name"] == "flatten_vector_norms" for f in report["fixes"])
    proc = run_cli("convert", paddle_model("frobenius_norm"), "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]


def test_onnx_source_with_contradicting_shapes(tmp_path):
    """A user's ONNX with such annotations (helpers.onnx_graphs.sloppy_model) is repaired with a note, converted
    and verified against ONNX Runtime on the repaired file (max_rel <= 1e-5); --no-fixes keeps the refusal."""
    import onnx

    from helpers.onnx_graphs import sloppy_model

    path = tmp_path / "sloppy.onnx"
    onnx.save(sloppy_model(), str(path))
    out = tmp_path / "out"
    proc = run_cli("convert", str(path), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert any(n.startswith("sloppy.onnx was repaired before conversion") for n in report["notes"])
    assert {f["target"] for f in report["fixes"]} == {"total", "flat", "doubled", "negated", "y", "z"}
    outputs = {o["name"]: o for o in report["verification"]["outputs"]}
    assert outputs["y"]["shape"] == [] and outputs["z"]["shape"] == [2, 4]
    for output in outputs.values():
        assert output["pairs"]["onnxruntime_vs_tensorflow"]["max_rel"] <= MAX_REL
    proc = run_cli("convert", str(path), "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "sloppy.onnx: fails onnx.checker" in last and "differ in rank" in last, last
