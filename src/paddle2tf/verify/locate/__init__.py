"""Locate: where a diverging conversion goes wrong (stage.py orchestrates; model.py is its report data)."""

from paddle2tf.verify.locate.model import HOP_LABELS, LocateReport
from paddle2tf.verify.locate.stage import run_locate

__all__ = ["HOP_LABELS", "LocateReport", "run_locate"]
