"""Shape ops: Reshape, Flatten, Transpose, (Un)Squeeze, Concat, Split, Slice, Expand, Tile, Pad, ...

Shape arithmetic stays in int64. Inputs that describe shapes (shape, axes, starts, pads, ...) are read
with ``ctx.static`` when constant, which keeps TF's static shapes; otherwise they are used as
runtime tensors wherever the op allows it.
"""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from paddle2tf.converter.context import ChannelsLast
from paddle2tf.converter.layout import channels_last_axis, to_channels_first, to_channels_last
from paddle2tf.converter.registry import converter
from paddle2tf.ops.shared import normalise_axis

INT64_MAX = np.iinfo(np.int64).max


# -- helpers ------------------------------------------------------------------------------------
def _dim(x, i: int):
    """Dimension ``i`` of ``x``: a Python int when static, else an int64 scalar tensor."""
    import tensorflow as tf

    d = x.shape[i]
    return int(d) if d is not None else tf.shape(x, out_type=tf.int64)[i]


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer)


def _shape_of(dims):
    """A list of ints / int64 scalar tensors as a shape: numpy int64 when all static, else a tensor."""
    import tensorflow as tf

    if all(_is_int(d) for d in dims):
        return np.array([int(d) for d in dims], dtype=np.int64)
    return tf.stack([tf.cast(d, tf.int64) for d in dims])


def _ints(ctx, inputs, index: int):
    """Optional input ``index``: list of ints when constant, int64 tensor at run time, None when absent."""
    import tensorflow as tf

    if not ctx.has_input(index):
        return None
    value = ctx.static(index)
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    return tf.reshape(tf.cast(inputs[index], tf.int64), [-1])


def _rank(x) -> int:
    if x.shape.rank is None:
        raise NotImplementedError("input of unknown rank")
    return x.shape.rank


def _mode_check(modes):
    def check(node, attrs):
        mode = attrs.get("mode", modes[0])
        return None if mode in modes else f"mode={mode!r}"

    return check


# -- Reshape / Flatten / Transpose --------------------------------------------------------------
def _reshape(x, target, allowzero: bool):
    import tensorflow as tf

    if isinstance(target, list):
        copied = {i for i, v in enumerate(target) if v == 0 and not allowzero}
        dims = [(_dim(x, i) if i in copied else v) for i, v in enumerate(target)]
        return tf.reshape(x, _shape_of(_infer_minus_one(x, target, dims, copied)))
    shape = target
    if not allowzero:
        in_shape = tf.shape(x, out_type=tf.int64)
        padded = tf.concat([in_shape, tf.zeros_like(shape)], 0)[: tf.size(shape)]
        shape = tf.where(tf.equal(shape, 0), padded, shape)
    return tf.reshape(x, shape)


def _infer_minus_one(x, target, dims, copied):
    """Resolve -1 statically when every dynamic input dim is copied through a 0 (e.g. [0, -1])."""
    if -1 not in target or x.shape.rank is None:
        return dims
    in_dims = x.shape.as_list()
    dynamic = {i for i, d in enumerate(in_dims) if d is None}
    if not dynamic <= copied:
        return dims
    known_in = int(np.prod([d for d in in_dims if d is not None], dtype=np.int64))
    known_out = int(np.prod([d for i, d in enumerate(dims) if i not in dynamic and target[i] != -1],
                            dtype=np.int64))
    if known_out == 0 or known_in % known_out:
        return dims
    return [known_in // known_out if target[i] == -1 else d for i, d in enumerate(dims)]


@converter("Reshape", since=1)
def reshape_v1(node, inputs, attrs, ctx):
    return _reshape(inputs[0], [int(v) for v in attrs["shape"]], False)


@converter("Reshape", since=5)
def reshape(node, inputs, attrs, ctx):
    return _reshape(inputs[0], _ints(ctx, inputs, 1), bool(attrs.get("allowzero", 0)))


@converter("Flatten", since=1)
def flatten(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    rank = _rank(x)
    axis = normalise_axis(attrs.get("axis", 1), rank)
    dims = x.shape.as_list()

    def product(lo, hi):
        if all(d is not None for d in dims[lo:hi]):
            return int(np.prod(dims[lo:hi], dtype=np.int64))
        return tf.reduce_prod(tf.shape(x, out_type=tf.int64)[lo:hi])

    return tf.reshape(x, _shape_of([product(0, axis), product(axis, rank)]))


@converter("Transpose", since=1)
def transpose(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    perm = attrs.get("perm")
    if perm is None:
        perm = list(reversed(range(_rank(x))))
    return tf.transpose(x, [int(p) for p in perm])


# -- Squeeze / Unsqueeze ------------------------------------------------------------------------
def _squeeze(x, axes):
    import tensorflow as tf

    if axes is None or (isinstance(axes, list) and not axes):
        return tf.squeeze(x)  # every dimension of size 1
    rank = _rank(x)
    if isinstance(axes, list):
        return tf.squeeze(x, axis=[normalise_axis(a, rank) for a in axes])
    axes = tf.where(axes < 0, axes + rank, axes)
    keep = tf.reduce_all(tf.not_equal(tf.range(rank, dtype=tf.int64)[:, None], axes[None, :]), axis=1)
    return tf.reshape(x, tf.boolean_mask(tf.shape(x, out_type=tf.int64), keep))


def _squeeze_check(node, attrs, values):
    """No axes on an input whose shape is not static, feeding other nodes: which dims are 1, hence the
    result's rank, is only known at run time, and converters need a static rank (an ONNX function body,
    e.g. AffineGrid's, squeezes an [N, 1, 3] tensor with N from a run-time size)."""
    has_axes = "axes" in attrs or (len(node.input) > 1 and node.input[1])
    if has_axes or not values.consumed(node.output[0]):
        return None
    shape = values.shape(node.input[0])
    if shape is not None and None not in shape:
        return None
    return "no axes on an input of unknown shape, feeding other nodes: the result's rank is only known at run time"


@converter("Squeeze", since=1, unsupported=_squeeze_check)
def squeeze_v1(node, inputs, attrs, ctx):
    axes = attrs.get("axes")
    return _squeeze(inputs[0], None if axes is None else [int(a) for a in axes])


@converter("Squeeze", since=13, unsupported=_squeeze_check)
def squeeze(node, inputs, attrs, ctx):
    return _squeeze(inputs[0], _ints(ctx, inputs, 1))


def _unsqueeze(x, axes):
    import tensorflow as tf

    rank = _rank(x)
    if isinstance(axes, list):
        out_rank = rank + len(axes)
        for axis in sorted(normalise_axis(a, out_rank) for a in axes):
            x = tf.expand_dims(x, axis)
        return x
    out_rank = rank + tf.size(axes, out_type=tf.int64)
    axes = tf.where(axes < 0, axes + out_rank, axes)
    positions = tf.range(out_rank, dtype=tf.int64)
    is_new = tf.reduce_any(tf.equal(positions[:, None], axes[None, :]), axis=1)
    source = tf.maximum(tf.cumsum(tf.cast(~is_new, tf.int64)) - 1, 0)
    in_shape = tf.concat([tf.shape(x, out_type=tf.int64), [1]], 0)  # [1]: valid gather for rank 0
    return tf.reshape(x, tf.where(is_new, tf.ones_like(positions), tf.gather(in_shape, source)))


@converter("Unsqueeze", since=1)
def unsqueeze_v1(node, inputs, attrs, ctx):
    return _unsqueeze(inputs[0], [int(a) for a in attrs["axes"]])


@converter("Unsqueeze", since=13)
def unsqueeze(node, inputs, attrs, ctx):
    return _unsqueeze(inputs[0], _ints(ctx, inputs, 1))


# -- Concat / Split -----------------------------------------------------------------------------
@converter("Concat", since=1)
def concat(node, inputs, attrs, ctx):
    import tensorflow as tf

    present = [i for i in range(len(inputs)) if ctx.has_input(i)]
    if any(ctx.has_channels_last(i) for i in present):  # e.g. DenseNet's feature concatenation
        values = [ctx.channels_last(i) for i in present]
        rank = values[0].shape.rank
        return ChannelsLast(tf.concat(values, axis=channels_last_axis(normalise_axis(attrs.get("axis", 1), rank),
                                                                      rank)))
    values = [inputs[i] for i in present]
    axis = normalise_axis(attrs.get("axis", 1), _rank(values[0]))
    return tf.concat(values, axis=axis)


def _split(x, axis: int, sizes, count: int, uneven: bool):
    import tensorflow as tf

    axis = normalise_axis(axis, _rank(x))
    if isinstance(sizes, list):
        return tf.split(x, sizes, axis=axis, num=len(sizes))
    if sizes is not None:
        return tf.split(x, sizes, axis=axis, num=count)
    if not uneven:
        return tf.split(x, count, axis=axis)
    d = _dim(x, axis)
    if _is_int(d):
        chunk = -(-d // count)
        return tf.split(x, [chunk] * (count - 1) + [d - chunk * (count - 1)], axis=axis, num=count)
    chunk = (d + count - 1) // count
    ends = [tf.minimum(chunk * (i + 1), d) for i in range(count - 1)] + [d]
    begins = [tf.constant(0, tf.int64)] + ends[:-1]
    return tf.split(x, tf.stack([e - b for b, e in zip(begins, ends, strict=True)]), axis=axis, num=count)


@converter("Split", since=1)
def split_v1(node, inputs, attrs, ctx):
    sizes = attrs.get("split")
    sizes = [int(s) for s in sizes] if sizes else _ints(ctx, inputs, 1)
    return _split(inputs[0], attrs.get("axis", 0), sizes, len(node.output), False)


@converter("Split", since=2)
def split_v2(node, inputs, attrs, ctx):
    sizes = attrs.get("split")
    return _split(inputs[0], attrs.get("axis", 0), [int(s) for s in sizes] if sizes else None,
                  len(node.output), False)


@converter("Split", since=13)
def split(node, inputs, attrs, ctx):
    sizes = _ints(ctx, inputs, 1)
    num_outputs = attrs.get("num_outputs")
    return _split(inputs[0], attrs.get("axis", 0), sizes, num_outputs or len(node.output),
                  num_outputs is not None)


# -- Slice --------------------------------------------------------------------------------------
def _slice(x, starts, ends, axes, steps):
    """ONNX Slice via tf.strided_slice.

    TF and ONNX agree for positive steps. For negative steps ONNX clamps the (wrapped) start to
    [0, dim-1] where TF clamps it to [-1, dim-1]; max(start, -dim) makes both agree for any step.
    Ends agree in both cases (an end of -dim-1 or less means "past index 0" in both).
    """
    import tensorflow as tf

    rank = _rank(x)
    if not all(isinstance(v, list | None) for v in (starts, ends, axes, steps)):
        return _slice_dynamic(x, starts, ends, axes, steps)
    if axes is None:
        axes = list(range(len(starts)))
    axes = [normalise_axis(a, rank) for a in axes]
    if steps is None:
        steps = [1] * len(axes)
    begin, end, stride = [0] * rank, [0] * rank, [1] * rank
    begin_mask = end_mask = 0
    for i in range(rank):
        if i not in axes:
            begin_mask |= 1 << i
            end_mask |= 1 << i
    for i, axis in enumerate(axes):
        start, stop, step = starts[i], ends[i], steps[i]
        if start < 0 and step < 0:
            d = _dim(x, axis)
            start = max(start, -d) if _is_int(d) else tf.maximum(np.int64(start), -d)
        begin[axis], end[axis], stride[axis] = start, stop, step
    vectors = [_shape_of(v) for v in (begin, end, stride)]
    return tf.strided_slice(x, *vectors, begin_mask=begin_mask, end_mask=end_mask)


def _slice_dynamic(x, starts, ends, axes, steps):
    """Slice with run-time starts / ends / axes / steps: full-rank begin/end/stride vectors."""
    import tensorflow as tf

    rank = _rank(x)
    starts, ends = (tf.constant(np.array(v, np.int64)) if isinstance(v, list) else v for v in (starts, ends))
    if axes is None:
        axes = tf.range(tf.size(starts, out_type=tf.int64), dtype=tf.int64)
    axes = tf.constant(np.array(axes, np.int64)) if isinstance(axes, list) else axes
    axes = tf.where(axes < 0, axes + rank, axes)[:, None]
    if steps is None:
        steps = tf.ones_like(starts)
    steps = tf.constant(np.array(steps, np.int64)) if isinstance(steps, list) else steps
    shape = tf.shape(x, out_type=tf.int64)
    begin = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, starts)
    end = tf.tensor_scatter_nd_update(tf.fill([rank], tf.constant(INT64_MAX, tf.int64)), axes, ends)
    stride = tf.tensor_scatter_nd_update(tf.ones([rank], tf.int64), axes, steps)
    return tf.strided_slice(x, tf.maximum(begin, -shape), end, stride)


@converter("Slice", since=1)
def slice_v1(node, inputs, attrs, ctx):
    axes = attrs.get("axes")
    return _slice(inputs[0], [int(v) for v in attrs["starts"]], [int(v) for v in attrs["ends"]],
                  None if axes is None else [int(a) for a in axes], None)


@converter("Slice", since=10)
def slice_(node, inputs, attrs, ctx):
    return _slice(inputs[0], _ints(ctx, inputs, 1), _ints(ctx, inputs, 2), _ints(ctx, inputs, 3),
                  _ints(ctx, inputs, 4))


# -- Expand / Tile ------------------------------------------------------------------------------
@converter("Expand", since=8)
def expand(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    target = _ints(ctx, inputs, 1)
    if isinstance(target, list) and x.shape.rank is not None:
        # A target dim other than 1 is the output dim (the input dim must be 1 or equal to it).
        rank = max(x.shape.rank, len(target))
        target = [1] * (rank - len(target)) + target
        offset = rank - x.shape.rank
        dims = [_dim(x, i - offset) if (t == 1 and i >= offset) else t for i, t in enumerate(target)]
        return tf.broadcast_to(x, _shape_of(dims))
    target = tf.constant(np.array(target, np.int64)) if isinstance(target, list) else target
    return tf.broadcast_to(x, tf.broadcast_dynamic_shape(tf.shape(x, out_type=tf.int64), target))


@converter("Tile", since=6)
def tile(node, inputs, attrs, ctx):
    import tensorflow as tf

    repeats = _ints(ctx, inputs, 1)
    return tf.tile(inputs[0], np.array(repeats, np.int64) if isinstance(repeats, list) else repeats)


# -- Pad ----------------------------------------------------------------------------------------
def _pad_indices(before, after, d, mode: str):
    """Source indices along one axis for edge / wrap padding."""
    import tensorflow as tf

    idx = tf.range(-tf.cast(before, tf.int64), tf.cast(d, tf.int64) + tf.cast(after, tf.int64))
    if mode == "edge":
        return tf.clip_by_value(idx, 0, tf.cast(d, tf.int64) - 1)
    return tf.math.floormod(idx, tf.cast(d, tf.int64))


def _pad(x, pairs, mode: str, value):
    """Pad ``x`` by (begin, end) per axis (ints or int64 scalars); negative pads crop first."""
    import tensorflow as tf

    rank = _rank(x)
    static = all(_is_int(v) for pair in pairs for v in pair)
    if static:
        if any(v < 0 for pair in pairs for v in pair):
            x = x[tuple(slice(max(-b, 0), -max(-e, 0) or None) for b, e in pairs)]
        pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
        paddings = np.array(pairs, dtype=np.int64)
    else:
        b = tf.stack([tf.cast(p[0], tf.int64) for p in pairs])
        e = tf.stack([tf.cast(p[1], tf.int64) for p in pairs])
        begin = tf.maximum(-b, 0)
        x = tf.slice(x, begin, tf.shape(x, out_type=tf.int64) - begin - tf.maximum(-e, 0))
        paddings = tf.stack([tf.maximum(b, 0), tf.maximum(e, 0)], axis=1)
        pairs = [(paddings[i, 0], paddings[i, 1]) for i in range(rank)]
    if mode == "constant":
        return tf.pad(x, paddings, constant_values=tf.cast(value, x.dtype) if value is not None else 0)
    if mode == "reflect":
        return tf.pad(x, paddings, mode="REFLECT")
    for axis, (before, after) in enumerate(pairs):
        if static and before == 0 and after == 0:
            continue
        x = tf.gather(x, _pad_indices(before, after, _dim(x, axis), mode), axis=axis)
    return x


def _pairs(pads, axes, rank):
    """Flat ONNX pads [b1, b2, ..., e1, e2, ...] over ``axes`` -> (begin, end) per axis of the rank."""
    n = len(pads) // 2 if isinstance(pads, list) else None
    if axes is None:
        axes = list(range(rank))
    if n is None:
        n = len(axes)
    pairs = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        pairs[normalise_axis(axis, rank)] = (pads[i], pads[n + i])
    return pairs


@converter("Pad", since=1, unsupported=_mode_check(("constant", "reflect", "edge")))
def pad_v1(node, inputs, attrs, ctx):
    x = inputs[0]
    pads = [int(p) for p in attrs.get("pads", attrs.get("paddings", []))]
    return _pad(x, _pairs(pads, None, _rank(x)), attrs.get("mode", "constant"), attrs.get("value", 0.0))


@converter("Pad", since=11, unsupported=_mode_check(("constant", "reflect", "edge", "wrap")))
def pad(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    pads = _ints(ctx, inputs, 1)
    axes = _ints(ctx, inputs, 3)
    value = inputs[2]
    if value is not None:
        value = tf.reshape(value, [])
    if axes is not None and not isinstance(axes, list):  # run-time axes: scatter the pads per axis
        rank = _rank(x)
        pads = tf.constant(np.array(pads, np.int64)) if isinstance(pads, list) else pads
        axes = tf.where(axes < 0, axes + rank, axes)[:, None]
        n = tf.shape(axes)[0]
        begin = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, pads[:n])
        end = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), axes, pads[n:])
        return _pad(x, [(begin[i], end[i]) for i in range(rank)], attrs.get("mode", "constant"), value)
    return _pad(x, _pairs(pads, axes, _rank(x)), attrs.get("mode", "constant"), value)


# -- ConstantOfShape / Range / Size ------------------------------------------------------------
@converter("ConstantOfShape", since=9)
def constant_of_shape(node, inputs, attrs, ctx):
    import tensorflow as tf

    value = attrs.get("value")
    value = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    shape = _ints(ctx, inputs, 0)
    shape = np.array(shape, np.int64) if isinstance(shape, list) else shape
    return tf.fill(shape, tf.constant(value.reshape(-1)[0], dtype=tf.as_dtype(value.dtype)))


@converter("Range", since=11)
def range_(node, inputs, attrs, ctx):
    import tensorflow as tf

    start, limit, delta = (tf.reshape(t, []) for t in inputs[:3])
    return tf.range(start, limit, delta, dtype=start.dtype)


@converter("Size", since=1)
def size(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    if x.shape.is_fully_defined():
        return tf.constant(np.int64(x.shape.num_elements()))
    return tf.size(x, out_type=tf.int64)


# -- DepthToSpace / SpaceToDepth / Trilu -------------------------------------------------------
@converter("DepthToSpace", since=1, unsupported=_mode_check(("DCR", "CRD")))
def depth_to_space(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    bs = int(attrs["blocksize"])
    if attrs.get("mode", "DCR") == "DCR":  # TF's NHWC depth_to_space is DCR
        return to_channels_first(tf.nn.depth_to_space(to_channels_last(x), bs))
    n, c, h, w = (_dim(x, i) for i in range(4))
    tmp = tf.reshape(x, _shape_of([n, c // (bs * bs), bs, bs, h, w]))
    tmp = tf.transpose(tmp, [0, 1, 4, 2, 5, 3])
    return tf.reshape(tmp, _shape_of([n, c // (bs * bs), h * bs, w * bs]))


@converter("SpaceToDepth", since=1)
def space_to_depth(node, inputs, attrs, ctx):
    import tensorflow as tf

    return to_channels_first(tf.nn.space_to_depth(to_channels_last(inputs[0]), int(attrs["blocksize"])))


@converter("Trilu", since=14)
def trilu(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    k = tf.cast(tf.reshape(inputs[1], []), tf.int64) if inputs[1] is not None else 0
    rows = tf.range(_dim(x, -2), dtype=tf.int64)[:, None]
    cols = tf.range(_dim(x, -1), dtype=tf.int64)[None, :]
    keep = cols - rows >= k if attrs.get("upper", 1) else cols - rows <= k
    return tf.where(keep, x, tf.zeros_like(x))
