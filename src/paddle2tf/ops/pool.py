"""MaxPool, AveragePool, LpPool and their Global forms (1-D/2-D/3-D).

Every pooling window is laid out explicitly: pads (explicit, auto_pad, plus the end padding ceil_mode
needs) are applied with ``tf.pad`` and the TF pool runs 'VALID'. Padding never wins a max (it is the
dtype's lowest value) and never counts in an average unless ``count_include_pad`` says so (a pooled
mask of counted positions is the divisor).

Two paths compute the same windows:
- the TF pooling kernels, channels-last, when they exist for the dtype/rank and dilation is 1;
- a gather path (channels-first) that materialises every window, for dilations, MaxPool's Indices
  output, and dtypes the CPU kernels lack (3-D float16/float64/int8/uint8).
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.context import ChannelsLast
from paddle2tf.converter.layout import to_channels_first, to_channels_last
from paddle2tf.converter.registry import converter
from paddle2tf.ops.conv import (
    SAME_MODES,
    at_least_zero,
    auto_pad_mode,
    ceil_div,
    is_tf_same,
    is_zero,
    pad_channels_last,
    resolve_pads,
    spatial_sizes,
)

AUTO_PADS = ("NOTSET", "VALID", *SAME_MODES)


# -- geometry ----------------------------------------------------------------------------------------
class Windows:
    """Where the pooling windows of one node lie.

    ``begins``/``ends`` are the padding to apply (``ends`` covers exactly the last window, including
    the extra positions of ceil_mode, so a VALID pool yields ``outs``); ``counted_ends`` is the end
    padding that counts as 'pad' for count_include_pad (the explicit/auto pads, not the ceil extension).
    """

    def __init__(self, sizes: list, attrs, ceil_mode: bool, dilations=None):
        n = len(sizes)
        self.kernel = list(attrs["kernel_shape"])
        self.strides = list(attrs.get("strides", [1] * n))
        self.dilations = list(dilations or [1] * n)
        self.sizes = sizes
        self.begins, pad_ends = resolve_pads(attrs, self.sizes, self.kernel, self.strides, self.dilations)
        self.pad_ends = pad_ends
        # ceil_mode applies under auto_pad too, as in ONNX shape inference and ONNX Runtime: VALID is
        # zero pads (the doc's VALID formula disagrees with both); SAME windows fit either way.
        self.outs, self.ends, self.counted_ends = [], [], []
        for size, k, s, d, b, e in zip(self.sizes, self.kernel, self.strides, self.dilations, self.begins,
                                       pad_ends, strict=True):
            span = (k - 1) * d + 1
            out = output_size(size, b, e, span, s, ceil_mode)
            needed = at_least_zero((out - 1) * s + span - size - b)  # end pad the last window reaches
            self.outs.append(out)
            self.ends.append(needed)
            self.counted_ends.append(minimum(e, needed))

    @property
    def spans(self) -> list[int]:
        return [(k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True)]

    @property
    def empty_axes(self) -> list[int]:
        """Axes where ONNX's output may be empty (the padded input short of a window by a stride or more)."""
        return [i for i in empty_axes(self.sizes, self.spans, self.begins, self.pad_ends, self.strides)
                if not (isinstance(self.outs[i], int) and self.outs[i] >= 1)]  # ceil_mode's window fits

    @property
    def undilated(self) -> bool:
        return all(d == 1 for d in self.dilations)

    @property
    def single_element(self) -> bool:
        """Every window is one input element and covers no padding: the pool is the identity (Paddle's
        AdaptiveAvgPool2D exports this when the input already has the target size, as in VGG-16)."""
        return (all(k == 1 for k in self.kernel) and all(s == 1 for s in self.strides)
                and all(is_zero(v) for v in (*self.begins, *self.ends)))

    @property
    def is_tf_same(self) -> bool:
        """True when TF's 'SAME' rule lays out exactly these windows (static sizes, no dilation)."""
        return self.undilated and is_tf_same(self.sizes, self.kernel, self.strides, self.begins, self.ends)


def minimum(a, b):
    import tensorflow as tf

    return min(a, b) if isinstance(a, int) and isinstance(b, int) else tf.minimum(a, b)


def output_size(size, begin, end, span, stride, ceil: bool):
    """floor/ceil((size + pads - span) / stride) + 1; in ceil mode a window starting in the end pad is
    dropped (the spec's 'sliding windows that would start in the right padded region are ignored').

    A padded input shorter than one window (room < 0) is rounded toward zero, as ONNX Runtime and Paddle do (the
    spec's floor would give 0 where both compute one window over the elements there are): empty only when the
    input is short of a window by a stride or more."""
    import tensorflow as tf

    room = size + begin + end - span
    if not ceil:
        if isinstance(room, int):
            return (room // stride if room >= 0 else -(-room // stride)) + 1
        return tf.truncatediv(room, stride) + 1
    out = ceil_div(room, stride) + 1
    starts_in_pad = (out - 1) * stride >= size + begin
    if isinstance(out, int):
        return out - int(starts_in_pad)
    return out - tf.cast(starts_in_pad, out.dtype)


def lowest(dtype):
    """The value padding takes in a max: -inf for floats, the minimum for integers."""
    return -np.inf if dtype.is_floating else dtype.min


# -- empty results: the padded input shorter than one window ------------------------------------------
# A pool's output is then empty along that axis in ONNX Runtime and Paddle (a Conv's is an error in ONNX
# Runtime, "Invalid input shape", so Conv is left as it is); TF's VALID pools raise ("Computed output size would
# be negative", or oneDNN's "could not create a descriptor"). The input is padded at the end to hold one window
# and the result trimmed to ONNX's size (0). Only axes where that can happen get the two ops: static sizes that
# are too short, or dynamic ones whose window is longer than the pads and stride allow for a size of 1.

def empty_axes(sizes, spans, begins, ends, strides) -> list[int]:
    """Spatial axes whose output may be empty (``ends``: the pads the op itself declares). ONNX Runtime and Paddle
    round a pool's size toward zero: an input short of a window by less than a stride still has one window."""
    axes = []
    for i, (size, span, b, e, s) in enumerate(zip(sizes, spans, begins, ends, strides, strict=True)):
        if not (isinstance(b, int) and isinstance(e, int)):
            continue  # SAME pads computed from the size: at least one window
        if size + b + e + s - 1 < span if isinstance(size, int) else span > b + e + s:
            axes.append(i)
    return axes


def fit_one_window(x, axes: list[int], spans, channels_last: bool = True):
    """``x`` (already padded as the pool needs) padded at the end of ``axes`` to at least one window."""
    import tensorflow as tf

    if not axes:
        return x
    first = 1 if channels_last else 2
    paddings = [[0, 0] for _ in range(x.shape.rank)]
    for i in axes:
        size = x.shape[first + i] if x.shape[first + i] is not None else tf.shape(x)[first + i]
        paddings[first + i] = [0, at_least_zero(spans[i] - size)]
    if all(is_zero(b) and is_zero(e) for b, e in paddings):
        return x
    return tf.pad(x, paddings)


def trim_to(y, axes: list[int], outs, channels_last: bool = True):
    """``y`` cut to ONNX's output size (``outs``, clamped at 0) along ``axes``."""
    import tensorflow as tf

    if not axes:
        return y
    first = 1 if channels_last else 2
    sizes = [-1] * y.shape.rank
    for i in axes:
        sizes[first + i] = at_least_zero(outs[i])
    return tf.slice(y, [0] * y.shape.rank, tf.stack(sizes) if any(not isinstance(v, int) for v in sizes)
                    else sizes)


def valid_pool(pool, padded, win: Windows, channels_last: bool = True):
    """TF's VALID pool of a padded N...C tensor, with ONNX's empty result where no window fits."""
    empty = win.empty_axes
    y = pool(fit_one_window(padded, empty, win.spans, channels_last), win.kernel, win.strides, "VALID")
    return trim_to(y, empty, win.outs, channels_last)


# -- reducing every window ---------------------------------------------------------------------------
# Dtypes with a CPU kernel in TF 2.21 (with and without oneDNN), by pool kind and input rank.
NATIVE_POOL_DTYPES = {
    ("MAX", 3): ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int32", "int64"),
    ("MAX", 4): ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int32", "int64"),
    ("MAX", 5): ("bfloat16", "float32"),
    ("AVG", 3): ("float16", "bfloat16", "float32", "float64"),
    ("AVG", 4): ("float16", "bfloat16", "float32", "float64"),
    ("AVG", 5): ("bfloat16", "float32"),
}


def pad_channels_first(x, begins, ends, value=0):
    import tensorflow as tf

    if all(is_zero(v) for v in (*begins, *ends)):
        return x
    paddings = [[0, 0], [0, 0], *([b, e] for b, e in zip(begins, ends, strict=True))]
    return tf.pad(x, paddings, constant_values=value)


def pad_for_windows(x, win: Windows, value=0):
    """x padded so that a VALID pool gives exactly ``win.outs`` windows."""
    return pad_channels_first(x, win.begins, win.ends, value)


def gather_windows(x, win: Windows):
    """Padded NC... -> [N, C, out..., K]: the K = prod(kernel) taps of every window, row-major."""
    import tensorflow as tf

    n = len(win.kernel)
    for i, (out, k, s, d) in enumerate(zip(win.outs, win.kernel, win.strides, win.dilations, strict=True)):
        taps = tf.range(out)[:, None] * s + tf.range(k)[None, :] * d
        x = tf.gather(x, taps, axis=2 + 2 * i)  # axis -> (out, k): [N, C, o1, k1, ..., oi, ki, rest...]
    x = tf.transpose(x, [0, 1, *range(2, 2 + 2 * n, 2), *range(3, 3 + 2 * n, 2)])
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([shape[:2 + n], [int(np.prod(win.kernel))]], 0))


def pools_natively(x, kind: str, dilations) -> bool:
    return all(d == 1 for d in dilations or []) and x.dtype.name in NATIVE_POOL_DTYPES[(kind, x.shape.rank)]


def native_pool(ctx, attrs, kind: str, ceil_mode: bool, dilations=None, include_pad: bool = False):
    """The common case, channels-last in and out on TF's pooling kernels; None when they cannot compute it.

    TF's 'SAME' windows ignore the padding in both a max and an average (the divisor counts only real
    positions), which is ONNX's count_include_pad=0; other pads are applied with tf.pad before 'VALID'.
    """
    import tensorflow as tf

    x = ctx.channels_last(0)
    if not pools_natively(x, kind, dilations):
        return None
    win = Windows(spatial_sizes(x, channels_last=True), attrs, ceil_mode, dilations)
    if win.single_element:
        return ChannelsLast(x)
    pool = tf.nn.max_pool if kind == "MAX" else tf.nn.avg_pool
    if win.is_tf_same and (kind == "MAX" or not include_pad):
        return ChannelsLast(pool(x, win.kernel, win.strides, "SAME"))
    if kind == "AVG" and not every_position_counts(win, include_pad):
        return None
    if kind == "MAX" and edge_copies_are_exact(win):
        padded = tf.pad(x, [[0, 0], *([b, e] for b, e in zip(win.begins, win.ends, strict=True)), [0, 0]],
                        mode="SYMMETRIC")
    else:
        padded = pad_channels_last(x, win.begins, win.ends, lowest(x.dtype) if kind == "MAX" else 0)
    return ChannelsLast(valid_pool(pool, padded, win))


def edge_copies_are_exact(win: Windows) -> bool:
    """Whether a max pool may pad with copies of the edge elements instead of -inf (same result).

    -inf never wins a max, but it is an unbounded value in the graph: TFLite's int8 calibration then gets an
    infinite range and quantises the whole tensor to one level. With every pad 0 or 1 wide, undilated and
    windows of 2 or more, a window reaching the pad position also holds the edge element copied there."""
    pads = (*win.begins, *win.ends)
    return (win.undilated and all(isinstance(p, int) and p <= 1 for p in pads)
            and all(k >= 2 for k, b, e in zip(win.kernel, win.begins, win.ends, strict=True) if b or e))


def window_reduce(padded, win: Windows, kind: str):
    """Max ("MAX") or mean ("AVG") of every window of a padded NC... tensor.

    TF's pooling kernels (channels-last, VALID) when they exist for the dtype and rank and the windows
    are not dilated; otherwise every window is gathered (exact for any dilation/dtype, more memory).
    """
    import tensorflow as tf

    if win.undilated and padded.dtype.name in NATIVE_POOL_DTYPES[(kind, padded.shape.rank)]:
        pool = tf.nn.max_pool if kind == "MAX" else tf.nn.avg_pool
        return to_channels_first(valid_pool(pool, to_channels_last(padded), win))
    reduce = tf.reduce_max if kind == "MAX" else tf.reduce_mean
    return reduce(gather_windows(padded, win), axis=-1)


def max_indices(x, win: Windows, storage_order: int):
    """MaxPool's Indices: flat position of each max in the unpadded NC... input (first max wins).

    Row-major over (N, C, spatial...) for storage_order 0; for 1 the spatial part is column-major.
    """
    import tensorflow as tf

    padded = pad_for_windows(x, win, lowest(x.dtype))
    tap = tf.argmax(gather_windows(padded, win), axis=-1, output_type=tf.int64)  # [N, C, out...]
    n = len(win.kernel)
    sizes = [tf.cast(s, tf.int64) for s in win.sizes]
    order = list(range(n)) if storage_order == 0 else list(reversed(range(n)))
    flat = tf.zeros_like(tap)
    taps_after = int(np.prod(win.kernel))
    for i in range(n):
        taps_after //= win.kernel[i]
        offset = (tap // taps_after) % win.kernel[i]  # the tap's position along spatial axis i
        begin = tf.cast(win.begins[i], tf.int64)
        start = tf.range(tf.cast(win.outs[i], tf.int64), dtype=tf.int64) * win.strides[i] - begin
        position = tf.reshape(start, [-1] + [1] * (n - 1 - i)) + offset * win.dilations[i]
        flat += position * product([sizes[j] for j in order[order.index(i) + 1:]])
    shape = tf.shape(x, out_type=tf.int64)
    plane = tf.reshape(tf.range(shape[0] * shape[1]), tf.concat([shape[:2], tf.ones([n], tf.int64)], 0))
    return flat + plane * product(sizes)


def product(values):
    import tensorflow as tf

    result = tf.constant(1, tf.int64)
    for value in values:
        result *= value
    return result


# -- MaxPool -----------------------------------------------------------------------------------------
def check_pool_attrs(node, attrs):
    """auto_pad other than NOTSET, VALID, SAME_UPPER, SAME_LOWER; storage_order other than 0/1."""
    mode = auto_pad_mode(attrs)
    if mode not in AUTO_PADS:
        return f"auto_pad={mode}"
    if attrs.get("storage_order", 0) not in (0, 1):
        return f"storage_order={attrs['storage_order']}"
    return None


def max_pool(node, inputs, ctx, attrs, with_indices: bool, ceil_mode: bool = False, dilations=None):
    wants_indices = with_indices and len(node.output) > 1 and node.output[1]
    if not wants_indices:
        native = native_pool(ctx, attrs, "MAX", ceil_mode, dilations)
        if native is not None:
            return native
    x = inputs[0]
    win = Windows(spatial_sizes(x), attrs, ceil_mode, dilations)
    y = window_reduce(pad_for_windows(x, win, lowest(x.dtype)), win, "MAX")
    if wants_indices:
        return [y, max_indices(x, win, attrs.get("storage_order", 0))]
    return y


@converter("MaxPool", since=1, unsupported=check_pool_attrs)
def max_pool_1(node, inputs, attrs, ctx):
    return max_pool(node, inputs, ctx, attrs, with_indices=False)


@converter("MaxPool", since=8, unsupported=check_pool_attrs)
def max_pool_8(node, inputs, attrs, ctx):
    """Adds the optional Indices output and storage_order."""
    return max_pool(node, inputs, ctx, attrs, with_indices=True)


def max_pool_10(node, inputs, attrs, ctx):
    """Adds ceil_mode and dilations."""
    return max_pool(node, inputs, ctx, attrs, with_indices=True, ceil_mode=bool(attrs.get("ceil_mode", 0)),
                    dilations=attrs.get("dilations"))


# 11 reworded pads/auto_pad and 12 added int8/uint8 inputs: same computation as 10.
for _since in (10, 11, 12):
    converter("MaxPool", since=_since, unsupported=check_pool_attrs)(max_pool_10)


# -- AveragePool -------------------------------------------------------------------------------------
def counted_mask(x, win: Windows, include_pad: bool):
    """[1, 1, padded spatial...]: 1 where a position counts in the divisor (channels-first)."""
    import tensorflow as tf

    mask = tf.ones(tf.stack([1, 1, *win.sizes]), dtype=x.dtype)
    if not include_pad:
        return pad_for_windows(mask, win)
    # Explicit and auto pads count. Windows past the end pad (ceil_mode), whose positions the spec counts and
    # ONNX Runtime does not, are rejected by check_average_pool: here counted_ends covers the last window.
    return pad_channels_first(mask, win.begins, win.counted_ends, 1)


def every_position_counts(win: Windows, include_pad: bool) -> bool:
    """True when the divisor is statically the window size (no mask needed)."""
    if include_pad:
        return all(isinstance(e, int) and isinstance(c, int) and e == c
                   for e, c in zip(win.ends, win.counted_ends, strict=True))
    return all(is_zero(v) for v in (*win.begins, *win.ends))


def average_pool(inputs, ctx, attrs, include_pad: bool, ceil_mode: bool = False, dilations=None):
    native = native_pool(ctx, attrs, "AVG", ceil_mode, dilations, include_pad)
    if native is not None:
        return native
    x = inputs[0]
    win = Windows(spatial_sizes(x), attrs, ceil_mode, dilations)
    mean = window_reduce(pad_for_windows(x, win), win, "AVG")
    if every_position_counts(win, include_pad):
        return mean
    # mean of x / mean of the mask = sum of x / number of counted positions in the window.
    return mean / window_reduce(counted_mask(x, win, include_pad), win, "AVG")


@converter("AveragePool", since=1, unsupported=check_pool_attrs)
def average_pool_1(node, inputs, attrs, ctx):
    """No count_include_pad yet: padding never counts."""
    return average_pool(inputs, ctx, attrs, include_pad=False)


@converter("AveragePool", since=7, unsupported=check_pool_attrs)
def average_pool_7(node, inputs, attrs, ctx):
    """Adds count_include_pad."""
    return average_pool(inputs, ctx, attrs, include_pad=bool(attrs.get("count_include_pad", 0)))


def average_pool_10(node, inputs, attrs, ctx):
    """Adds ceil_mode."""
    return average_pool(inputs, ctx, attrs, include_pad=bool(attrs.get("count_include_pad", 0)),
                        ceil_mode=bool(attrs.get("ceil_mode", 0)))


def check_average_pool(node, attrs, values):
    """count_include_pad=1 with ceil_mode=1 where a window may extend past the end padding (the windows
    ceil_mode adds do, or the input's spatial size is unknown): the ONNX reference also counts those
    positions in the divisor, ONNX Runtime and PyTorch (like this converter) only the input and the pads.

    Besides the limits of check_pool_attrs."""
    reason = check_pool_attrs(node, attrs)
    if reason or not (attrs.get("count_include_pad", 0) and attrs.get("ceil_mode", 0)):
        return reason
    if auto_pad_mode(attrs) != "NOTSET":
        return None  # SAME and VALID windows end inside the padded input
    kernel = attrs["kernel_shape"]
    n = len(kernel)
    strides, dilations = attrs.get("strides") or [1] * n, attrs.get("dilations") or [1] * n
    pads = attrs.get("pads") or [0] * (2 * n)
    shape = values.shape(node.input[0])
    for d, size in enumerate(shape[2:] if shape is not None and len(shape) == n + 2 else [None] * n):
        span = dilations[d] * (kernel[d] - 1) + 1
        if size is not None:
            count = ceil_div(size + pads[d] + pads[d + n] - span, strides[d]) + 1
            if (count - 1) * strides[d] >= size + pads[d]:
                count -= 1  # a window that would start in the end padding is dropped
            if (count - 1) * strides[d] - pads[d] + span <= size + pads[d + n]:
                continue
        return ("count_include_pad=1 with ceil_mode windows past the end padding: the ONNX reference counts "
                "them in the divisor, ONNX Runtime does not")
    return None


# 11 reworded pads/auto_pad: same computation as 10.
for _since in (10, 11):
    converter("AveragePool", since=_since, unsupported=check_average_pool)(average_pool_10)


@converter("AveragePool", since=19, unsupported=check_average_pool)
def average_pool_19(node, inputs, attrs, ctx):
    """Adds dilations."""
    return average_pool(inputs, ctx, attrs, include_pad=bool(attrs.get("count_include_pad", 0)),
                        ceil_mode=bool(attrs.get("ceil_mode", 0)), dilations=attrs.get("dilations"))


# -- LpPool ------------------------------------------------------------------------------------------
def lp_pool(x, attrs, p: float, ceil_mode: bool = False, dilations=None):
    """(sum over the window of |x|^p)^(1/p); padding adds zeros to the sum."""
    import tensorflow as tf

    win = Windows(spatial_sizes(x), attrs, ceil_mode, dilations)
    powered = tf.pow(tf.abs(x), tf.cast(p, x.dtype))
    total = window_reduce(pad_for_windows(powered, win), win, "AVG") * tf.cast(np.prod(win.kernel), x.dtype)
    return tf.pow(total, tf.cast(1.0 / p, x.dtype))


@converter("LpPool", since=1, unsupported=check_pool_attrs)
def lp_pool_1(node, inputs, attrs, ctx):
    """p is a float attribute."""
    return lp_pool(inputs[0], attrs, float(attrs.get("p", 2.0)))


def lp_pool_2(node, inputs, attrs, ctx):
    """p becomes an int attribute."""
    return lp_pool(inputs[0], attrs, int(attrs.get("p", 2)))


# 11 reworded pads/auto_pad: same computation as 2.
for _since in (2, 11):
    converter("LpPool", since=_since, unsupported=check_pool_attrs)(lp_pool_2)


@converter("LpPool", since=18, unsupported=check_pool_attrs)
def lp_pool_18(node, inputs, attrs, ctx):
    """Adds ceil_mode and dilations."""
    return lp_pool(inputs[0], attrs, int(attrs.get("p", 2)), ceil_mode=bool(attrs.get("ceil_mode", 0)),
                   dilations=attrs.get("dilations"))


# -- Global pools (reductions over every spatial axis, in whichever layout the input already has) -----
def global_reduce(ctx, inputs, reduce):
    """``reduce(x, axes)`` over the spatial axes, channels-last when the input already is."""
    if ctx.has_channels_last(0):
        x = ctx.channels_last(0)
        return ChannelsLast(reduce(x, list(range(1, x.shape.rank - 1))))
    return reduce(inputs[0], list(range(2, inputs[0].shape.rank)))


@converter("GlobalAveragePool", since=1)
def global_average_pool(node, inputs, attrs, ctx):
    import tensorflow as tf

    return global_reduce(ctx, inputs, lambda x, axes: tf.reduce_mean(x, axis=axes, keepdims=True))


@converter("GlobalMaxPool", since=1)
def global_max_pool(node, inputs, attrs, ctx):
    import tensorflow as tf

    return global_reduce(ctx, inputs, lambda x, axes: tf.reduce_max(x, axis=axes, keepdims=True))


def global_lp_pool(x, p: float):
    import tensorflow as tf

    total = tf.reduce_sum(tf.pow(tf.abs(x), tf.cast(p, x.dtype)), axis=list(range(2, x.shape.rank)), keepdims=True)
    return tf.pow(total, tf.cast(1.0 / p, x.dtype))


@converter("GlobalLpPool", since=1)
def global_lp_pool_1(node, inputs, attrs, ctx):
    """p is a float attribute."""
    return global_lp_pool(inputs[0], float(attrs.get("p", 2.0)))


@converter("GlobalLpPool", since=2)
def global_lp_pool_2(node, inputs, attrs, ctx):
    """p becomes an int attribute."""
    return global_lp_pool(inputs[0], int(attrs.get("p", 2)))
