"""Workarounds for known paddle2onnx 2.1.0 defects (docs/known-exporter-defects.md).

Three stages:
- ``sanitise``: small named passes on the Paddle program (PIR JSON) before export;
- ``export``: ONNX for the Paddle ops paddle2onnx drops, emitted by paddle2tf's own Paddle-op exporter
  (``paddle_ops``, a registry) in the export child process right after paddle2onnx;
- ``repair``: small named passes on the exported ONNX model before checking.
Every change is recorded as a ``Fix`` so report.json says what was changed and why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    stage: str  # "sanitise" | "export" | "repair"
    pass_name: str
    target: str  # the Paddle op or ONNX node changed
    change: str
    reason: str
