"""GridSample and AffineGrid (spatial transformer ops), N-D, computed by explicit gathers (exact)."""

from __future__ import annotations

import itertools

from paddle2tf.converter.registry import converter

CUBIC_ALPHA = -0.75
MODES_16 = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}
MODES_20 = {"linear": "linear", "nearest": "nearest", "cubic": "cubic"}
PADDING_MODES = ("zeros", "border", "reflection")


def _reflect(x, low: float, high: float):
    """Reflect x by the borders [low, high] until it lies inside (as the ONNX reference does)."""
    import tensorflow as tf

    span = high - low
    below, above = x < low, x > high
    dx = tf.where(below, low - x, x - high)
    n = tf.floor(dx / span)
    r = dx - n * span
    even = tf.equal(tf.math.floormod(n, 2.0), 0.0)
    from_below = tf.where(even, low + r, high - r)
    from_above = tf.where(even, high - r, low + r)
    return tf.where(below, from_below, tf.where(above, from_above, x))


def _cubic_weights(t):
    """Keys cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 for a fraction t in [0, 1)."""
    a = CUBIC_ALPHA

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(x, size: int, mode: str, padding: str, align_corners: bool):
    """Per spatial axis: [(index, weight, valid)] taps of the sampling positions x (any shape)."""
    import tensorflow as tf

    low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)

    def fetch(index):  # the padding mode's pixel index for an integer-valued float index
        if padding == "zeros":
            valid = tf.logical_and(index >= 0, index <= size - 1)
            return tf.cast(tf.clip_by_value(index, 0, size - 1), tf.int32), valid
        if padding == "border":
            return tf.cast(tf.clip_by_value(index, 0, size - 1), tf.int32), None
        reflected = _reflect(index, low, high)
        return tf.cast(tf.clip_by_value(tf.cast(tf.cast(reflected, tf.int32), x.dtype), 0, size - 1), tf.int32), None

    if mode == "nearest":
        x = tf.round(x)  # half to even, like the reference's rint
    outside = tf.logical_or(x < low, x > high)
    if padding == "border":
        x = tf.where(outside, tf.clip_by_value(x, 0.0, size - 1.0), x)
    elif padding == "reflection":
        x = tf.where(outside, _reflect(x, low, high), x)
    if mode == "nearest":
        index, valid = fetch(tf.cast(tf.cast(x, tf.int32), x.dtype))  # truncation, as astype(int32)
        return [(index, tf.ones_like(x), valid)]
    base = tf.floor(x)
    t = x - base
    if mode == "linear":
        offsets, weights = (0, 1), (1 - t, t)
    else:
        offsets, weights = (-1, 0, 1, 2), _cubic_weights(t)
    taps = []
    for offset, weight in zip(offsets, weights, strict=True):
        index, valid = fetch(base + offset)
        taps.append((index, weight, valid))
    return taps


def grid_sample(x, grid, mode: str, padding: str, align_corners: bool):
    """x (N, C, D1..Dk), grid (N, O1..Om, k) with coordinates (xk, ..., x1) in [-1, 1] -> (N, C, O...)."""
    import tensorflow as tf

    k = x.shape.rank - 2
    sizes = x.shape[2:].as_list()
    if any(s is None for s in sizes):
        raise NotImplementedError("GridSample needs static spatial sizes")
    channels_last = tf.transpose(x, [0, *range(2, k + 2), 1])
    compute = tf.float64 if x.dtype == tf.float64 else tf.float32
    coords = tf.cast(grid, tf.float64)
    per_axis = []
    for axis, size in enumerate(sizes):
        g = coords[..., k - 1 - axis]  # the grid's last component indexes the first spatial axis
        if align_corners:
            position = (g + 1) / 2 * (size - 1)
        else:
            position = ((g + 1) * size - 1) / 2
        per_axis.append(_taps(tf.cast(position, compute), size, mode, padding, align_corners))
    result = None
    for combination in itertools.product(*per_axis):
        index = tf.stack([tap[0] for tap in combination], axis=-1)
        weight = combination[0][1]
        valid = combination[0][2]
        for tap in combination[1:]:
            weight = weight * tap[1]
            if tap[2] is not None:
                valid = tap[2] if valid is None else tf.logical_and(valid, tap[2])
        if valid is not None:
            weight = tf.where(valid, weight, tf.zeros_like(weight))
        values = tf.cast(tf.gather_nd(channels_last, index, batch_dims=1), compute)
        term = values * weight[..., None]
        result = term if result is None else result + term
    m = grid.shape.rank - 2
    return tf.cast(tf.transpose(result, [0, m + 1, *range(1, m + 1)]), x.dtype)


def _check(modes):
    def check(node, attrs):
        """Unknown mode or padding_mode; cubic with padding_mode=border (ONNX reference and ONNX Runtime disagree)."""
        mode = attrs.get("mode", next(iter(modes)))
        if mode not in modes:
            return f"mode={mode!r}"
        padding = attrs.get("padding_mode", "zeros")
        if padding not in PADDING_MODES:
            return f"padding_mode={padding!r}"
        if modes[mode] == "cubic" and padding == "border":
            # The ONNX reference clamps the sampling position, then each tap; ONNX Runtime (like
            # PyTorch) clamps only the taps. Results differ near the border: no single exact answer.
            return f"mode={mode!r} with padding_mode='border' (ONNX reference and ONNX Runtime disagree)"
        return None

    return check


@converter("GridSample", since=16, unsupported=_check(MODES_16))
def grid_sample_16(node, inputs, attrs, ctx):
    return grid_sample(inputs[0], inputs[1], MODES_16[attrs.get("mode", "bilinear")],
                       attrs.get("padding_mode", "zeros"), bool(attrs.get("align_corners", 0)))


@converter("GridSample", since=20, unsupported=_check(MODES_20))
def grid_sample_20(node, inputs, attrs, ctx):
    """Renames the modes (linear, cubic) and allows N-D inputs."""
    return grid_sample(inputs[0], inputs[1], MODES_20[attrs.get("mode", "linear")],
                       attrs.get("padding_mode", "zeros"), bool(attrs.get("align_corners", 0)))


@converter("AffineGrid", since=20)
def affine_grid(node, inputs, attrs, ctx):
    """theta (N, k, k+1) and size (N, C, D1..Dk) -> grid (N, D1..Dk, k) of (x_k, ..., x_1) coordinates."""
    import tensorflow as tf

    theta, size = inputs[0], tf.cast(inputs[1], tf.int64)
    k = theta.shape[1]
    align_corners = bool(attrs.get("align_corners", 0))
    axes = []
    for axis in range(k):
        n = size[2 + axis]
        steps = tf.cast(tf.range(n), tf.float64)
        length = tf.cast(n, tf.float64)
        if align_corners:
            axes.append(tf.where(n > 1, -1 + 2 * steps / tf.maximum(length - 1, 1), tf.zeros_like(steps)))
        else:
            axes.append(-1 + (2 * steps + 1) / length)
    mesh = tf.meshgrid(*axes, indexing="ij")  # k tensors (D1..Dk)
    base = tf.stack([*reversed(mesh), tf.ones_like(mesh[0])], axis=-1)  # (D1..Dk, k + 1): x_k first
    flat = tf.reshape(base, [-1, k + 1])
    grid = tf.einsum("pj,nij->npi", flat, tf.cast(theta, tf.float64))
    shape = tf.concat([size[:1], size[2:], [k]], 0)
    return tf.cast(tf.reshape(grid, shape), theta.dtype)
