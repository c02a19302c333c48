"""Channels-first (ONNX, NC...) <-> channels-last (TF CPU kernels, N...C) layout moves."""

from __future__ import annotations


def channels_last_perm(rank: int) -> list[int]:
    """The transpose permutation NC... -> N...C; also maps an ONNX axis to its channels-last position."""
    return [0, *range(2, rank), 1]


def channels_last_axis(axis: int, rank: int) -> int:
    """Where ONNX axis ``axis`` (normalised, >= 0) of a rank-``rank`` value is in channels-last layout."""
    return channels_last_perm(rank).index(axis)


def to_channels_last(x):
    """NC... -> N...C"""
    import tensorflow as tf

    return tf.transpose(x, channels_last_perm(x.shape.rank))


def to_channels_first(x):
    """N...C -> NC..."""
    import tensorflow as tf

    rank = x.shape.rank
    return tf.transpose(x, [0, rank - 1, *range(1, rank - 1)])
