"""``paddle2tf doctor``: which known exporter defects a Paddle model triggers, and what paddle2tf does about each.

It runs what ``convert`` runs up to the ONNX check (export with the sanitise and Paddle-op stages, then the
repair stage) in a temporary folder, and reports the fixes those stages apply; nothing is converted or kept.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import DEFAULT_OPSET, export_paddle
from paddle2tf.frontend.fixes import Fix
from paddle2tf.frontend.fixes.repair import repair_model
from paddle2tf.frontend.sources import InputSpec, resolve_source
from paddle2tf.onnxutil.checker import load_model


def diagnose(source: str, input_specs: Sequence[InputSpec] = (), opset: int = DEFAULT_OPSET,
             seed: int = 0) -> list[Fix]:
    """The fixes ``convert`` would apply to ``source`` (a Paddle model or ``module:attr`` Layer)."""
    resolved = resolve_source(source, tuple(input_specs))
    if not resolved.is_paddle:
        raise BadInputError(f"{source}: doctor diagnoses Paddle models (an ONNX file has no export step)")
    with tempfile.TemporaryDirectory(prefix="paddle2tf-doctor-") as work:
        exported = export_paddle(resolved, work, opset, seed, os.path.join(work, "export.log"), apply_fixes=True)
        return exported.fixes + repair_model(load_model(exported.onnx_path))


def render(source: str, fixes: list[Fix]) -> str:
    if not fixes:
        return f"{source}: no known exporter defect is triggered; convert needs no fixes"
    lines = [f"{source}: {len(fixes)} fix(es) convert will apply (docs/known-exporter-defects.md)"]
    for fix in fixes:
        lines.append(f"- [{fix.stage}/{fix.pass_name}] {fix.target}: {fix.change}\n    why: {fix.reason}")
    return "\n".join(lines)
