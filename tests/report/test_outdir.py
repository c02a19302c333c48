"""The output folder through the CLI: modes other users can read, two writers of one OUT_DIR, SIGTERM and the
leftovers of killed writers, what `--force` may replace (report/outdir.py)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from paddle2tf.errors import EXIT_OK, BadInputError
from paddle2tf.report.outdir import REPORT_FILE, atomic_output

from helpers.cli import assert_clean_failure, cli_env, run_cli, tiny_onnx


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(parent) -> list[str]:
    return sorted(name for name in os.listdir(parent) if ".partial-" in name or ".old-" in name)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_output_readable_by_other_users(tmp_path, umask_022):
    """mkdtemp's 0700 must not survive the rename: TF Serving often runs as another user."""
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "m.onnx"), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    assert _mode(out) == 0o755
    assert _mode(out / "saved_model") == 0o755
    for name in ("report.json", "report.html", "model.onnx", "verification_inputs.npz"):
        assert _mode(out / name) == 0o644, name
    assert _mode(out / "saved_model" / "saved_model.pb") == 0o644


def test_two_force_writers_of_one_output(tmp_path):
    """Two `convert --force` into one OUT_DIR at once: both succeed, the folder is complete, nothing is left."""
    source = tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "out"
    assert run_cli("convert", source, "-o", str(out)).returncode == EXIT_OK
    command = [sys.executable, "-m", "paddle2tf", "convert", source, "-o", str(out), "--force"]
    writers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
               for _ in range(3)]
    results = [(w.wait(timeout=600), w.stderr.read()) for w in writers]
    assert [code for code, _ in results] == [EXIT_OK] * 3, [err[-1500:] for _, err in results]
    assert (out / "report.json").is_file() and (out / "saved_model" / "saved_model.pb").is_file()
    assert _leftovers(tmp_path) == []


def test_sigterm_cleans_up(tmp_path):
    """SIGTERM (CI runners, `timeout`) is handled like Ctrl-C: exit 143, no partial output, no temporary folders."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "paddle2tf", "convert", "paddle_models:build_mlp", "--input-spec",
                             "x:float32:-1x64", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(TMPDIR=str(scratch)))
    for line in proc.stderr:  # the export child is running: a Paddle temporary folder exists
        if line.startswith("paddle2tf: export"):
            break
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=120)
    rest = proc.stderr.read()
    assert code == 128 + signal.SIGTERM, rest[-2000:]
    assert rest.strip().splitlines()[-1] == "paddle2tf: terminated"
    assert "Traceback" not in rest
    assert not out.exists() and _leftovers(tmp_path) == []
    assert [name for name in os.listdir(scratch) if name.startswith("paddle2tf")] == []


def test_stale_partials_of_dead_writers_removed(tmp_path):
    """A writer killed by SIGKILL leaves `.NAME.partial-PID-*`; the next run removes those whose process is gone
    (and keeps a live writer's)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.partial-{dead.pid}-abc"
    (stale / "saved_model").mkdir(parents=True)
    live = tmp_path / f".out.partial-{os.getpid()}-xyz"
    live.mkdir()
    other = tmp_path / f".other.partial-{dead.pid}-abc"
    other.mkdir()
    proc = run_cli("convert", tiny_onnx(tmp_path / "m.onnx"), "-o", str(tmp_path / "out"))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    assert not stale.exists()
    assert live.exists() and other.exists()  # a live writer's, and another output's


def _entries(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if not name.endswith(".lock"))  # (the writers' lock stays)


def _replace(out_dir, reads=()) -> None:
    with atomic_output(str(out_dir), force=True, reads=[str(path) for path in reads]) as work:
        open(os.path.join(work, REPORT_FILE), "w").close()


@pytest.mark.parametrize("case", ["not_ours", "a_file", "holds_an_input", "current_folder"])
def test_force_replaces_only_an_earlier_output(tmp_path, monkeypatch, case):
    """--force removes the whole folder: a folder paddle2tf did not write, a file, a folder holding the run's
    own input or the current folder is refused (exit 2) and left exactly as it was."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    reads = ()
    if case == "a_file":
        out = tmp_path / "model.onnx"
        out.write_text("the user's")
    elif case == "holds_an_input":
        (out / REPORT_FILE).write_text("{}")  # even an earlier output: the source is read from it
        reads = [out / "notes.txt"]
    elif case == "current_folder":
        (out / REPORT_FILE).write_text("{}")
        monkeypatch.chdir(out)
    expected = {"not_ours": "is not a paddle2tf output (no report.json)", "a_file": "is a file, not a folder",
                "holds_an_input": f"holds {out / 'notes.txt'}, which this run reads",
                "current_folder": "is the current folder or holds it"}[case]
    before = _entries(tmp_path)
    with pytest.raises(BadInputError, match="not replaced: it " + expected.replace("(", r"\(").replace(")", r"\)")):
        _replace(out, reads)
    assert _entries(tmp_path) == before and "the user's" in (
        out.read_text() if case == "a_file" else (out / "notes.txt").read_text())


def test_force_replaces_an_earlier_output_or_an_empty_folder(tmp_path):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / REPORT_FILE).write_text("{}")
    (earlier / "old.txt").write_text("")
    _replace(earlier)
    assert os.listdir(earlier) == [REPORT_FILE]
    empty = tmp_path / "empty"
    empty.mkdir()
    _replace(empty)
    assert os.listdir(empty) == [REPORT_FILE]


def test_output_dot_from_the_model_folder_is_refused(tmp_path):
    """`convert model.onnx -o . --force` inside the model's folder used to delete the folder (the model, the
    user's other files), then crash with a traceback and exit 1."""
    project = tmp_path / "project"
    project.mkdir()
    tiny_onnx(project / "model.onnx")
    (project / "notes.txt").write_text("the user's")
    proc = subprocess.run([sys.executable, "-m", "paddle2tf", "convert", "model.onnx", "-o", ".", "--force"],
                          capture_output=True, text=True, env=cli_env(), cwd=project, timeout=600)
    assert_clean_failure(proc, tmp_path / "absent", "not replaced: it is the current folder")
    assert sorted(os.listdir(project)) == ["model.onnx", "notes.txt"]
    empty = run_cli("convert", str(project / "model.onnx"), "-o", "", "--no-verify")
    assert_clean_failure(empty, tmp_path / "absent", "-o/--output: empty")
