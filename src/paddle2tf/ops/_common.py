"""Helpers shared by converters (layout moves, axis handling)."""

from __future__ import annotations

import numpy as np


def to_channels_last(x):
    """NC... -> N...C"""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, [0, *range(2, rank), 1])


def to_channels_first(x):
    """N...C -> NC..."""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, [0, rank - 1, *range(1, rank - 1)])


def normalise_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def static_ints(ctx, index: int, what: str) -> list[int]:
    """An input that must be constant (axes, pads, ...) as a list of ints."""
    value = ctx.static(index)
    if value is None:
        raise NotImplementedError(f"node '{ctx.node.name}': {what} (input {index}) must be constant")
    return [int(v) for v in np.asarray(value).reshape(-1)]
