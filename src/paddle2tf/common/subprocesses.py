"""Run a stage in a child process and turn its failure into one clear line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence

from paddle2tf.errors import Paddle2TFError

ERROR_PREFIX = "paddle2tf-error: "


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("GLOG_minloglevel", "2")
    return env


def run_child(args: Sequence[str], what: str, error_type: type[Paddle2TFError], log_file: str | None = None,
              timeout: float | None = None) -> str:
    """Run ``python ARGS``; return its stderr. On failure raise ``error_type`` with one line about ``what``."""
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=child_env(),
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise error_type(f"{what}: timed out after {timeout:.0f} s") from exc
    output = (proc.stdout or "") + (proc.stderr or "")
    if log_file:
        with open(log_file, "a") as handle:
            handle.write(f"$ {' '.join(args)}\n{output}\n")
    if proc.returncode != 0:
        raise error_type(f"{what}: {explain_failure(proc.returncode, output)}")
    return output


def explain_failure(returncode: int, output: str) -> str:
    """The most useful single line about why a child failed: its own ``paddle2tf-error:`` line, else the last
    ``[ERROR]`` line of a library's log (paddle2onnx), else the last line that is not noise."""
    for line in reversed(output.splitlines()):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):].strip()
    how = describe_exit(returncode)
    last = last_error_line(output) or last_meaningful_line(output)
    return f"{how}{': ' + last if last else ''}"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# A Python warning ("path.py:712: UserWarning: No ccache found ...") says nothing about why a child failed.
_PYTHON_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ")
_LOG_ERROR = re.compile(r"\[ERROR\]\s*(.*)$")


def _clean_lines(output: str) -> list[str]:
    return [_ANSI_ESCAPE.sub("", line).strip() for line in output.splitlines()]


def last_error_line(output: str) -> str:
    """The message of the last ``[ERROR]`` log line (paddle2onnx logs its failure so, then exits), timestamp off."""
    for text in reversed(_clean_lines(output)):
        if m := _LOG_ERROR.search(text):
            return m.group(1).strip()[:300]
    return ""


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the process was killed by {name}"
    return f"the process exited with status {returncode}"


def last_meaningful_line(output: str) -> str:
    noise = ("warnings.warn", "Warning", "WARNING", "I1", "W1", "[Paddle2ONNX]")
    for text in reversed(_clean_lines(output)):
        if (any(c.isalnum() for c in text) and not text.startswith(noise) and not text.startswith("File ")
                and not _PYTHON_WARNING.match(text)):
            return text[:300]
    return ""
