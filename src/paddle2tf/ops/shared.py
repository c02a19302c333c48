"""Helpers shared by converters (axis handling, constant inputs)."""

from __future__ import annotations

import numpy as np


def normalise_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def static_ints(ctx, index: int, what: str) -> list[int]:
    """An input that must be constant (axes, pads, ...) as a list of ints."""
    value = ctx.static(index)
    if value is None:
        raise NotImplementedError(f"{what} (input {index}) must be constant")
    return [int(v) for v in np.asarray(value).reshape(-1)]
