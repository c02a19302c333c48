"""Conv and ConvTranspose (1-D/2-D/3-D) as channels-last TF convolutions with explicit padding.

Padding is always computed here and applied with ``tf.pad`` (or, for ConvTranspose, by cropping the
full transposed convolution), so TF's own 'SAME' rule never decides an output size. Only kernels that
exist on every TF CPU build are used: TF's plain CPU kernels (oneDNN off) reject dilated Conv3D and
dilated or grouped Conv2DBackpropInput, so those cases dilate the kernel with zeros and split groups.

The geometry helpers (``spatial_sizes``, ``auto_pads``, ``pad_channels_last``...) are also used by
``pool.py``; sizes are python ints when static and int32 scalar tensors when the dim is symbolic.
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.context import ChannelsLast
from paddle2tf.converter.registry import converter

SAME_MODES = ("SAME_UPPER", "SAME_LOWER")


# -- geometry shared with pool.py ------------------------------------------------------------------
def spatial_sizes(x, channels_last: bool = False) -> list:
    """Spatial dims of an NC... (or N...C) tensor: ints where static, scalar tensors where symbolic."""
    import tensorflow as tf

    dynamic = None
    sizes = []
    axes = range(1, x.shape.rank - 1) if channels_last else range(2, x.shape.rank)
    for axis in axes:
        if x.shape[axis] is not None:
            sizes.append(int(x.shape[axis]))
            continue
        dynamic = tf.shape(x) if dynamic is None else dynamic
        sizes.append(dynamic[axis])
    return sizes


def ceil_div(a, b):
    """ceil(a / b) for ints or int tensors (floor division of the negation)."""
    return -((-a) // b)


def at_least_zero(value):
    import tensorflow as tf

    return max(value, 0) if isinstance(value, int) else tf.maximum(value, 0)


def auto_pad_mode(attrs) -> str:
    mode = attrs.get("auto_pad", "NOTSET")
    return mode or "NOTSET"  # some exporters write an empty string for the default


def split_total_pad(total, mode: str):
    """(begin, end) of a total pad: the odd element goes to the end for SAME_UPPER, else to the begin."""
    small = total // 2
    big = total - small
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def auto_pads(mode: str, sizes, kernel, strides, dilations):
    """Pads of auto_pad SAME_UPPER/SAME_LOWER: output = ceil(in / stride) with the dilated kernel."""
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        total = at_least_zero((ceil_div(size, s) - 1) * s + (k - 1) * d + 1 - size)
        begin, end = split_total_pad(total, mode)
        begins.append(begin)
        ends.append(end)
    return begins, ends


def resolve_pads(attrs, sizes, kernel, strides, dilations):
    """(begins, ends) per spatial axis from explicit ``pads`` or ``auto_pad``."""
    n = len(kernel)
    mode = auto_pad_mode(attrs)
    if mode in SAME_MODES:
        return auto_pads(mode, sizes, kernel, strides, dilations)
    if mode == "VALID":
        return [0] * n, [0] * n
    pads = list(attrs.get("pads", [0] * (2 * n)))
    return pads[:n], pads[n:]


def is_zero(value) -> bool:
    return isinstance(value, int) and value == 0


def pad_channels_last(x, begins, ends, value=0):
    """tf.pad of the spatial axes of an N...C tensor (skipped when every pad is statically zero)."""
    import tensorflow as tf

    if all(is_zero(v) for v in (*begins, *ends)):
        return x
    paddings = [[0, 0], *([b, e] for b, e in zip(begins, ends, strict=True)), [0, 0]]
    return tf.pad(x, paddings, constant_values=value)


def kernel_shape(attrs, w, n: int) -> list[int]:
    """kernel_shape attribute, else the static spatial shape of W."""
    if "kernel_shape" in attrs:
        return list(attrs["kernel_shape"])
    dims = list(w.shape[2:])  # a numpy shape (constant W) or a TensorShape
    if len(dims) != n or any(d is None for d in dims):
        raise NotImplementedError("no kernel_shape attribute and W's spatial dims are not static")
    return [int(v) for v in dims]


def dims_of(a, xp) -> list:
    """Shape as a list (static ints, scalar tensors for unknown dims); ``xp`` is numpy or tensorflow."""
    if xp is np:
        return list(a.shape)
    return [a.shape[i] if a.shape[i] is not None else xp.shape(a)[i] for i in range(a.shape.rank)]


# -- kernel layouts ----------------------------------------------------------------------------------
def dilate_kernel(w, axes, dilations, xp):
    """Insert d-1 zeros between taps along each axis, so a dilation-1 op computes the dilated one."""
    for axis, d in zip(axes, dilations, strict=True):
        if d == 1:
            continue
        taps = dims_of(w, xp)[axis]
        w = xp.expand_dims(w, axis + 1)
        pads = [[0, 0]] * len(w.shape)
        pads[axis + 1] = [0, d - 1]
        w = xp.pad(w, pads)
        shape = dims_of(w, xp)
        w = xp.reshape(w, [*shape[:axis], shape[axis] * d, *shape[axis + 2:]])
        index = [slice(None)] * len(w.shape)
        index[axis] = slice(0, (taps - 1) * d + 1)
        w = w[tuple(index)]
    return w


def spatial_first(w, xp, n: int):
    """ONNX [A, B, k...] -> TF [k..., B, A] (HWIO for Conv, HW-out-in for ConvTranspose)."""
    return xp.transpose(w, [*range(2, n + 2), 1, 0])


def depthwise_layout(w, xp, group: int, n: int):
    """ONNX [C*mult, 1, k...] -> TF [k..., C, mult] (output channel c*mult + j)."""
    w = xp.reshape(w, [group, -1, *dims_of(w, xp)[2:]])
    return xp.transpose(w, [*range(2, n + 2), 0, 1])


def tf_filter(ctx, w, layout: str, n: int, group: int, dilations, as_2d: bool):
    """The TF filter for W: pre-transformed in numpy when constant, else the same steps in TF."""
    import tensorflow as tf

    def build(array, xp):
        out = depthwise_layout(array, xp, group, n) if layout == "depthwise" else spatial_first(array, xp, n)
        if any(d != 1 for d in dilations):
            out = dilate_kernel(out, list(range(n)), dilations, xp)
        return xp.expand_dims(out, 0) if as_2d else out

    if ctx.static(1) is None:
        return build(w, tf)
    tag = f"{layout}_g{group}_d{'x'.join(map(str, dilations))}_{'2d' if as_2d else f'{n}d'}"
    return ctx.weight(1, transform=lambda array: build(array, np), tag=tag)


# -- Conv --------------------------------------------------------------------------------------------
def conv_attrs(attrs, n: int):
    return (list(attrs.get("strides", [1] * n)), list(attrs.get("dilations", [1] * n)),
            int(attrs.get("group", 1)))


def is_depthwise(w, group: int, strides, dilations) -> bool:
    """group == C_in with a 2-D (or 1-D as 2-D) kernel that DepthwiseConv2dNative runs on every CPU build.

    Its plain CPU kernel has no dilation and needs equal row/column strides; other cases go grouped.
    """
    return (group > 1 and len(strides) == 2 and w.shape[1] == 1 and strides[0] == strides[1]
            and all(d == 1 for d in dilations))


def grouped_conv(x, filters, group: int, conv_fn):
    """Split channels and filters into groups (for kernels without native group support)."""
    import tensorflow as tf

    if group == 1:
        return conv_fn(x, filters)
    parts = [conv_fn(xg, fg) for xg, fg in zip(tf.split(x, group, axis=-1), tf.split(filters, group, axis=-1),
                                                 strict=True)]
    return tf.concat(parts, axis=-1)


def conv_channels_last(x, filters, layout: str, strides, dilations, group: int, begins, ends):
    """Convolution of an N...C tensor (rank 4 or 5) with the given spatial pads.

    Static 2-D pads go into the convolution op itself, so grappler can fuse it with the bias and
    activation that follow, as the named mode wherever one fits: TF's CPU kernel runs an unpadded 1x1
    Conv2D as one matrix product only when its padding is not EXPLICIT (with explicit pads, even zero
    ones, it takes the general spatial convolution). Conv2D takes explicit pads when neither VALID nor
    SAME gives these; DepthwiseConv2dNative only 'SAME' (grappler's shape inference aborts the process on
    its explicit pads). Other pads are applied with tf.pad before a VALID convolution.
    """
    import tensorflow as tf

    padding = "VALID"
    if x.shape.rank == 4 and all(isinstance(v, int) for v in (*begins, *ends)) and any((*begins, *ends)):
        if is_tf_same(list(x.shape[1:-1]), dilated_sizes(filters.shape[:2], dilations), strides, begins, ends):
            padding = "SAME"
        elif layout != "depthwise":
            padding = [[0, 0], *([b, e] for b, e in zip(begins, ends, strict=True)), [0, 0]]
    if padding == "VALID":
        x = pad_channels_last(x, begins, ends)
    if x.shape.rank == 4:
        if layout == "depthwise":
            return tf.nn.depthwise_conv2d(x, filters, [1, *strides, 1], padding)
        # Conv2D infers the group count from input depth / filter depth on every CPU build.
        return tf.nn.conv2d(x, filters, [1, *strides, 1], padding, dilations=[1, *dilations, 1])
    # Conv3D: no groups and no dilation on plain CPU kernels; the filter is already dilated with zeros.
    return grouped_conv(x, filters, group, lambda xg, fg: tf.nn.conv3d(xg, fg, [1, *strides, 1], "VALID"))


def dilated_sizes(kernel, dilations) -> list[int]:
    """The spatial extent of each dilated kernel axis: what TF's 'SAME' rule pads for."""
    return [(int(k) - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]


def is_tf_same(sizes, kernel, strides, begins, ends) -> bool:
    """True when TF's 'SAME' rule gives exactly these pads (static sizes; ``kernel``: the windows' extents)."""
    if not all(isinstance(v, int) for v in (*sizes, *begins, *ends)):
        return False
    return auto_pads("SAME_UPPER", sizes, kernel, strides, [1] * len(kernel)) == (list(begins), list(ends))


def add_bias_channels_last(y, bias):
    """BiasAdd (not a broadcast Add): the form grappler fuses into the preceding convolution."""
    import tensorflow as tf

    return y if bias is None else tf.nn.bias_add(y, bias)


def conv_checks(weight_index: int = 1):
    """The ``unsupported`` check of a convolution whose W is input ``weight_index``: auto_pad other than NOTSET,
    VALID, SAME_UPPER, SAME_LOWER; no kernel_shape attribute while W is a graph input whose spatial dims are not
    static (``kernel_shape`` has nothing to read them from). A W computed by other nodes passes: TensorFlow's shape
    inference may know more at conversion time than ONNX's does here."""
    def check(node, attrs, values):
        """auto_pad other than NOTSET, VALID, SAME_UPPER, SAME_LOWER; no kernel_shape attribute while W is a graph
        input with non-static spatial dims."""
        mode = auto_pad_mode(attrs)
        if mode not in ("NOTSET", "VALID", *SAME_MODES):
            return f"auto_pad={mode}"
        return _unknown_kernel(node.input[weight_index], attrs, values)

    return check


def _unknown_kernel(w: str, attrs, values) -> str | None:
    if "kernel_shape" in attrs or not values.is_graph_input(w):
        return None
    shape = values.shape(w)
    if shape is None or any(d is None for d in shape[2:]):
        dims = "unknown" if shape is None else "x".join("?" if d is None else str(d) for d in shape)
        return f"no kernel_shape attribute and W is the graph input '{w}' of shape {dims}"
    return None


check_conv_attrs = conv_checks()


@converter("Conv", since=1, unsupported=check_conv_attrs)
def conv(node, inputs, attrs, ctx):
    """Conv-1 and Conv-11 only differ in documentation: one converter."""
    # A constant W is read as numpy for its shape: materialising inputs[1] would store it a second time.
    w = ctx.static(1) if ctx.static(1) is not None else inputs[1]
    return ChannelsLast(convolve(ctx.channels_last(0), w, inputs[2], attrs, ctx))


def convolve(x, w, bias, attrs, ctx):
    """ONNX Conv of a channels-last ``x`` (N...C) -> channels-last result; ``w`` is W as numpy when
    constant (``ctx`` then stores the TF filter layout once), else as a tensor."""
    import tensorflow as tf

    n = x.shape.rank - 2
    kernel = kernel_shape(attrs, w, n)
    strides, dilations, group = conv_attrs(attrs, n)
    begins, ends = resolve_pads(attrs, spatial_sizes(x, channels_last=True), kernel, strides, dilations)
    # 3-D dilation is baked into the filter (zeros); 2-D kernels take dilations natively.
    baked = dilations if n == 3 else [1] * n
    as_2d = n == 1  # no Conv1D kernel in TF: run 1-D as 2-D with a unit height
    if as_2d:
        x = tf.expand_dims(x, 1)
        strides, dilations, begins, ends = [1, *strides], [1, *dilations], [0, *begins], [0, *ends]
    layout = "depthwise" if is_depthwise(w, group, strides, dilations) else "conv"
    filters = tf_filter(ctx, w, layout, n, group, baked, as_2d)
    y = conv_channels_last(x, filters, layout, strides, [1] * 3 if n == 3 else dilations, group, begins, ends)
    if as_2d:
        y = tf.squeeze(y, 1)
    if bias is not None and group > 1 and layout == "conv" and n <= 2:
        # Grappler fuses Conv2D + BiasAdd into _FusedConv2D even for a grouped Conv2D, which that kernel
        # cannot run without oneDNN ("does not support grouped convolutions"): a broadcast add is not fused.
        return y + bias
    return add_bias_channels_last(y, bias)


# -- ConvTranspose -----------------------------------------------------------------------------------
def transpose_geometry(attrs, sizes, kernel, strides, dilations):
    """(pad_begins, out_sizes) of ConvTranspose: output index o reads full-result index o + pad_begin."""
    n = len(kernel)
    mode = auto_pad_mode(attrs)
    output_padding = list(attrs.get("output_padding", [0] * n))
    full = [s * (size - 1) + (k - 1) * d + 1 for size, k, s, d in zip(sizes, kernel, strides, dilations,
                                                                       strict=True)]
    if "output_shape" in attrs or mode in SAME_MODES:
        if "output_shape" in attrs:
            outs = list(attrs["output_shape"])[-n:]  # some exporters include N and C
        else:
            outs = [size * s for size, s in zip(sizes, strides, strict=True)]
        # A negative total (output_shape past the full result, which ONNX Runtime rejects) is taken as
        # no pad, since pads are non-negative; the positions past the full result then read zeros.
        begins = [split_total_pad(at_least_zero(f + op - out), mode)[0]
                  for f, op, out in zip(full, output_padding, outs, strict=True)]
        return begins, outs, full
    pads = [0] * (2 * n) if mode == "VALID" else list(attrs.get("pads", [0] * (2 * n)))
    outs = [f + op - b - e for f, op, b, e in zip(full, output_padding, pads[:n], pads[n:], strict=True)]
    return pads[:n], outs, full


def crop_channels_last(y, begins, outs, full):
    """y[begin : begin + out] per spatial axis, reading zeros outside [0, full) (output_padding)."""
    import tensorflow as tf

    before = [at_least_zero(-b) for b in begins]
    after = [at_least_zero(b + o - f) for b, o, f in zip(begins, outs, full, strict=True)]
    y = pad_channels_last(y, before, after)
    starts = [at_least_zero(b) for b in begins]
    if all(is_zero(s) for s in starts) and all(isinstance(o, int) and o == f for o, f in zip(outs, full,
                                                                                                strict=True)):
        return y
    return tf.slice(y, [0, *starts, 0], [-1, *outs, -1])


def conv_transpose_full(x, filters, full, strides, group: int):
    """Unpadded transposed convolution of an N...C tensor: each spatial size s*(in-1) + dilated kernel."""
    import tensorflow as tf

    def one_group(xg, fg):
        shape = tf.shape(xg)
        out_shape = tf.stack([shape[0], *full, tf.shape(fg)[-2]])
        if xg.shape.rank == 4:
            return tf.nn.conv2d_transpose(xg, fg, out_shape, [1, *strides, 1], "VALID")
        return tf.nn.conv3d_transpose(xg, fg, out_shape, [1, *strides, 1], "VALID")

    # Grouped Conv2DBackpropInput fails on plain CPU kernels: always split groups.
    return grouped_conv(x, filters, group, one_group)


@converter("ConvTranspose", since=1, unsupported=check_conv_attrs)
def conv_transpose(node, inputs, attrs, ctx):
    """ConvTranspose-1 and -11 only differ in documentation: one converter."""
    import tensorflow as tf

    y, bias = ctx.channels_last(0), inputs[2]
    # A constant W is read as numpy for its shape: materialising inputs[1] would store it a second time.
    w = ctx.static(1) if ctx.static(1) is not None else inputs[1]
    n = y.shape.rank - 2
    kernel = kernel_shape(attrs, w, n)
    strides, dilations, group = conv_attrs(attrs, n)
    begins, outs, full = transpose_geometry(attrs, spatial_sizes(y, channels_last=True), kernel, strides, dilations)
    as_2d = n == 1
    if as_2d:
        y = tf.expand_dims(y, 1)
        strides, full, begins, outs = [1, *strides], [1, *full], [0, *begins], [1, *outs]
    # Dilated backprop kernels are missing on plain CPU builds: dilate the filter with zeros instead.
    filters = tf_filter(ctx, w, "conv", n, group, dilations, as_2d)
    y = conv_transpose_full(y, filters, full, strides, group)
    y = crop_channels_last(y, begins, outs, full)
    if as_2d:
        y = tf.squeeze(y, 1)
    return ChannelsLast(add_bias_channels_last(y, bias))
