"""Workarounds for known paddle2onnx 2.1.0 defects (docs/known-exporter-defects.md).

Two stages, each a list of small named passes:
- ``sanitise``: on the Paddle program (PIR JSON) before export;
- ``repair``: on the exported ONNX model before checking.
Every change is recorded as a ``Fix`` so report.json says what was changed and why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    stage: str  # "sanitise" | "repair"
    pass_name: str
    target: str  # the Paddle op or ONNX node changed
    change: str
    reason: str
