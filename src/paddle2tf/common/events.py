"""Progress as structured events: what the API reports while it works, rendered by the CLI as text lines and
sent by the pipeline's worker as JSON lines (so the pipeline never parses human text)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass

STAGE_START, STAGE_DONE, MESSAGE, ERROR = "stage_start", "stage_done", "message", "error"


@dataclass(frozen=True)
class Event:
    kind: str  # stage_start | stage_done | message | error
    stage: str = ""  # the stage it belongs to ("" outside any stage)
    text: str = ""  # stage_start: what the stage does; message / error: the line
    seconds: float | None = None  # stage_done: how long the stage took
    exit_code: int | None = None  # error: the exit code it ends with

    def render(self) -> str:
        """The terminal line (without the ``paddle2tf: `` prefix)."""
        if self.kind == STAGE_START:
            return f"{self.stage}{' ' + self.text if self.text else ''} ..."
        if self.kind == STAGE_DONE:
            return f"{self.stage} done in {self.seconds:.1f} s"
        if self.kind == ERROR:
            return f"error: {self.text}"
        return f"  {self.text}"

    def to_json(self) -> str:
        return json.dumps({key: value for key, value in asdict(self).items() if value not in (None, "")})

    @classmethod
    def from_json(cls, line: str) -> Event | None:
        """The event a JSON line holds, or None for any other line."""
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return None
        return cls(**{key: data[key] for key in ("kind", "stage", "text", "seconds", "exit_code") if key in data})


Progress = Callable[[Event], None]


_terminal = None  # where paddle2tf's own lines go while file descriptor 2 is captured (capture_stderr)


def terminal():
    """The stream for paddle2tf's own lines: the user's stderr, even while libraries' output is captured."""
    return _terminal or sys.stderr


def to_stderr(event: Event) -> None:
    print(f"paddle2tf: {event.render()}", file=terminal(), flush=True)


@contextlib.contextmanager
def capture_stderr():
    """Send what libraries write to file descriptor 2 (TensorFlow's absl / oneDNN start-up lines, Python
    warnings) to a temporary file, and paddle2tf's own lines to the real stderr. Yields the file's path; the
    caller copies it where it belongs (OUT_DIR/conversion.log) before the context ends."""
    global _terminal
    sys.stderr.flush()
    saved = os.dup(2)
    handle, path = tempfile.mkstemp(prefix="paddle2tf-stderr-", suffix=".log")
    os.dup2(handle, 2)
    os.close(handle)
    _terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        _terminal.close()
        _terminal = None
        os.unlink(path)


def quiet(event: Event) -> None:
    """A progress sink that shows nothing."""


def messages(progress: Progress, stage: str) -> Callable[[str], None]:
    """A plain-text callback for a stage's inner steps (what the stage modules take), as MESSAGE events."""
    return lambda text: progress(Event(MESSAGE, stage, text))
