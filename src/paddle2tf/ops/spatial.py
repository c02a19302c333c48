"""Col2Im, MaxUnpool and RoiAlign: scatter/gather formulations, exact for any (static) attributes."""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter
from paddle2tf.ops.conv import auto_pad_mode


def _digits(value, bases):
    """Mixed-radix decomposition (row-major): value -> [d_0, ..., d_{n-1}] with d_i < bases[i]."""
    digits = []
    for base in reversed(bases):
        digits.append(value % base)
        value = value // base
    return list(reversed(digits)), value


@converter("Col2Im", since=18)
def col2im(node, inputs, attrs, ctx):
    """(N, C * prod(block), L) columns -> (N, C, *image): every column entry added at its image position.

    image_shape and block_shape may be run-time values; their length (the spatial rank) must be static.
    """
    import tensorflow as tf

    x = inputs[0]
    image, block = tf.cast(inputs[1], tf.int64), tf.cast(inputs[2], tf.int64)
    n = inputs[2].shape[0]
    if n is None:
        raise NotImplementedError("Col2Im needs a block_shape of static length")
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    pads = list(attrs.get("pads", [0] * (2 * n)))
    shape = tf.shape(x, out_type=tf.int64)
    batch, rows, length = shape[0], shape[1], shape[2]
    blocks = [block[d] for d in range(n)]
    sizes = [image[d] for d in range(n)]
    counts = [(sizes[d] + pads[d] + pads[d + n] - (dilations[d] * (blocks[d] - 1) + 1)) // strides[d] + 1
              for d in range(n)]
    row, col = tf.meshgrid(tf.range(rows), tf.range(length), indexing="ij")  # (rows, L)
    offsets, channel = _digits(row, blocks)
    starts, _ = _digits(col, counts)
    valid = tf.ones_like(row, dtype=tf.bool)
    flat = channel
    for d in range(n):
        position = starts[d] * strides[d] - pads[d] + offsets[d] * dilations[d]
        valid = tf.logical_and(valid, tf.logical_and(position >= 0, position < sizes[d]))
        flat = flat * sizes[d] + position
    image_size = tf.reduce_prod(image)
    channels = rows // tf.reduce_prod(block)
    segments = tf.where(valid, flat, channels * image_size)  # invalid entries go to a dropped segment
    values = tf.transpose(x, [1, 2, 0])  # (rows, L, N)
    summed = tf.math.unsorted_segment_sum(values, segments, channels * image_size + 1)[:-1]  # (C*img, N)
    out_shape = tf.concat([[batch, channels], image], 0)
    return tf.reshape(tf.transpose(summed), out_shape)


def _unpool_check(node, attrs, values):
    """auto_pad other than NOTSET; an output_shape that differs from the unpooled X shape after the first dim
    (or is not known at check time): the ONNX reference scatters into the unpooled shape and pads that to
    output_shape; the spec (indices are flat positions in the output, i.e. the original MaxPool input) and
    ONNX Runtime, like this converter, scatter into output_shape directly."""
    mode = auto_pad_mode(attrs) if "auto_pad" in attrs else "NOTSET"
    if mode != "NOTSET":
        return f"auto_pad={mode}"
    if len(node.input) < 3 or not node.input[2]:
        return None
    wanted, shape = values.constant(node.input[2]), values.shape(node.input[0])
    if wanted is not None and shape is not None and None not in shape[1:]:
        n = len(shape) - 2
        kernel, strides = attrs["kernel_shape"], attrs.get("strides") or [1] * n
        pads = attrs.get("pads") or [0] * (2 * n)
        unpooled = [shape[1], *((shape[2 + d] - 1) * strides[d] - pads[d] - pads[d + n] + kernel[d] for d in range(n))]
        # Padding only the outermost dim leaves every flat position where it is.
        if [int(v) for v in wanted.reshape(-1)[1:]] == unpooled:
            return None
    return ("output_shape other than the unpooled shape: the ONNX reference pads the unpooled result, the spec "
            "and ONNX Runtime index into output_shape")


@converter("MaxUnpool", since=9, unsupported=_unpool_check)
def max_unpool(node, inputs, attrs, ctx):
    """Zeros of the output shape with X's values at the flat (N, C, spatial) positions I."""
    import tensorflow as tf

    x, indices, output_shape = inputs[0], tf.cast(inputs[1], tf.int64), inputs[2]
    if output_shape is None:
        n = x.shape.rank - 2
        kernel = attrs["kernel_shape"]
        strides = list(attrs.get("strides", [1] * n))
        pads = list(attrs.get("pads", [0] * (2 * n)))
        shape = tf.shape(x, out_type=tf.int64)
        spatial = [(shape[2 + d] - 1) * strides[d] - pads[d] - pads[d + n] + kernel[d] for d in range(n)]
        output_shape = tf.stack([shape[0], shape[1], *spatial])
    output_shape = tf.cast(output_shape, tf.int64)
    flat = tf.scatter_nd(tf.reshape(indices, [-1, 1]), tf.reshape(x, [-1]), tf.reduce_prod(output_shape)[None])
    return tf.reshape(flat, output_shape)


def _roi_check(node, attrs):
    """sampling_ratio=0 (adaptive per-RoI sample count); mode other than avg/max."""
    if attrs.get("sampling_ratio", 0) <= 0:
        return "sampling_ratio=0 (adaptive sample count per RoI)"
    mode = attrs.get("mode", "avg")
    return None if mode in ("avg", "max") else f"mode={mode!r}"


def _roi_align(node, inputs, attrs, half_pixel: bool):
    """ONNX Runtime's RoiAlign: bilinear samples (zero outside [-1, size]) averaged, or for 'max' the
    largest weighted corner value over the samples, on a sampling_ratio^2 grid per output bin."""
    import tensorflow as tf

    x, rois, batch_index = inputs[0], inputs[1], tf.cast(inputs[2], tf.int32)
    out_h, out_w = attrs.get("output_height", 1), attrs.get("output_width", 1)
    ratio = attrs["sampling_ratio"]
    scale = attrs.get("spatial_scale", 1.0)
    offset = 0.5 if half_pixel else 0.0
    dtype = x.dtype
    height, width = tf.shape(x)[2], tf.shape(x)[3]
    rois = tf.cast(rois, dtype)
    x1, y1, x2, y2 = (rois[:, i] * scale - offset for i in range(4))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not half_pixel:
        roi_w, roi_h = tf.maximum(roi_w, 1.0), tf.maximum(roi_h, 1.0)

    def positions(start, extent, bins):  # (R, bins * ratio) sample coordinates
        step = extent / bins
        grid = tf.cast(tf.range(bins * ratio), dtype)
        cell, sub = tf.math.floordiv(grid, ratio), tf.math.floormod(grid, ratio)
        return start[:, None] + cell[None, :] * step[:, None] + (sub[None, :] + 0.5) * step[:, None] / ratio

    ys, xs = positions(y1, roi_h, out_h), positions(x1, roi_w, out_w)

    def corners(coord, size):
        size_f = tf.cast(size, dtype)
        inside = tf.logical_and(coord >= -1.0, coord <= size_f)
        coord = tf.maximum(coord, 0.0)
        low = tf.cast(tf.floor(coord), tf.int32)
        at_end = low >= size - 1
        low = tf.where(at_end, size - 1, low)
        high = tf.where(at_end, size - 1, low + 1)
        coord = tf.where(at_end, tf.cast(low, dtype), coord)
        frac = coord - tf.cast(low, dtype)
        return low, high, 1.0 - frac, frac, inside

    y_lo, y_hi, y_wlo, y_whi, y_in = corners(ys, height)
    x_lo, x_hi, x_wlo, x_whi, x_in = corners(xs, width)
    channels_last = tf.transpose(x, [0, 2, 3, 1])
    r = tf.shape(rois)[0]
    b = tf.broadcast_to(batch_index[:, None, None], [r, out_h * ratio, out_w * ratio])
    valid = tf.cast(tf.logical_and(y_in[:, :, None], x_in[:, None, :]), dtype)
    terms = []
    for yi, yw in ((y_lo, y_wlo), (y_hi, y_whi)):
        for xi, xw in ((x_lo, x_wlo), (x_hi, x_whi)):
            yy = tf.broadcast_to(yi[:, :, None], tf.shape(b))
            xx = tf.broadcast_to(xi[:, None, :], tf.shape(b))
            values = tf.gather_nd(channels_last, tf.stack([b, yy, xx], axis=-1))  # (R, H', W', C)
            weight = yw[:, :, None] * xw[:, None, :] * valid
            terms.append(values * weight[..., None])
    if attrs.get("mode", "avg") == "max":
        sample = tf.reduce_max(tf.stack(terms), axis=0)
        reduce = tf.reduce_max
    else:
        sample = tf.add_n(terms)
        reduce = tf.reduce_mean
    channels = tf.shape(x)[1]
    sample = tf.reshape(sample, tf.stack([r, out_h, ratio, out_w, ratio, channels]))
    pooled = reduce(sample, axis=[2, 4])  # (R, out_h, out_w, C)
    return tf.transpose(pooled, [0, 3, 1, 2])


@converter("RoiAlign", since=10, unsupported=_roi_check)
def roi_align_10(node, inputs, attrs, ctx):
    """Opset 10 has no coordinate_transformation_mode: output_half_pixel (no half-pixel offset)."""
    return _roi_align(node, inputs, attrs, half_pixel=False)


@converter("RoiAlign", since=16, unsupported=_roi_check)
def roi_align_16(node, inputs, attrs, ctx):
    """Adds coordinate_transformation_mode (default half_pixel)."""
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    return _roi_align(node, inputs, attrs, half_pixel=mode == "half_pixel")


def _deform_check(node, attrs):
    """Kernels that are not 2-D."""
    kernel = attrs.get("kernel_shape")
    return None if kernel is None or len(kernel) == 2 else f"{len(kernel)}-D kernel (only 2-D)"


@converter("DeformConv", since=19, unsupported=_deform_check)
def deform_conv(node, inputs, attrs, ctx):
    """2-D deformable convolution: each kernel tap samples X bilinearly at its offset position (zero
    outside the image), times the optional mask, then a (grouped) convolution with W, plus B."""
    import tensorflow as tf

    x, w, offset, bias, mask = (inputs[i] for i in range(5))
    if x.shape.rank != 4:
        raise NotImplementedError("DeformConv supports 2-D inputs only")
    kh, kw = attrs.get("kernel_shape", w.shape[2:].as_list())
    if kh is None or kw is None:
        raise NotImplementedError("DeformConv needs a static kernel shape")
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    ph, pw = attrs.get("pads", [0, 0, 0, 0])[:2]
    group, offset_group = attrs.get("group", 1), attrs.get("offset_group", 1)
    taps = kh * kw
    dtype = x.dtype
    shape = tf.shape(x)
    n, c, height, width = shape[0], shape[1], shape[2], shape[3]
    out_h, out_w = tf.shape(offset)[2], tf.shape(offset)[3]
    offset = tf.reshape(offset, tf.stack([n, offset_group, taps, 2, out_h, out_w]))
    ki, kj = np.divmod(np.arange(taps), kw)
    rows = (tf.cast(tf.range(out_h), dtype)[None, :, None] * sh - ph
            + tf.constant(ki * dh, dtype)[:, None, None])  # (K, out_h, 1)
    cols = (tf.cast(tf.range(out_w), dtype)[None, None, :] * sw - pw
            + tf.constant(kj * dw, dtype)[:, None, None])  # (K, 1, out_w)
    y = rows[None, None] + offset[:, :, :, 0]  # (N, G, K, out_h, out_w)
    xx = cols[None, None] + offset[:, :, :, 1]
    inside = (y > -1) & (y < tf.cast(height, dtype)) & (xx > -1) & (xx < tf.cast(width, dtype))
    y0, x0 = tf.floor(y), tf.floor(xx)
    ly, lx = y - y0, xx - x0
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    per_group = tf.transpose(tf.reshape(x, tf.stack([n, offset_group, c // offset_group, height, width])),
                             [0, 1, 3, 4, 2])  # (N, G, H, W, Cg)
    sampled = 0
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yi, xi = y0 + dy, x0 + dx
            valid = inside & (yi >= 0) & (yi <= height - 1) & (xi >= 0) & (xi <= width - 1)
            index = tf.stack([tf.clip_by_value(yi, 0, height - 1), tf.clip_by_value(xi, 0, width - 1)], -1)
            values = tf.gather_nd(per_group, index, batch_dims=2)  # (N, G, K, out_h, out_w, Cg)
            weight = tf.where(valid, wy * wx, tf.zeros_like(wy))
            sampled += values * weight[..., None]
    if mask is not None:
        mask = tf.reshape(mask, tf.stack([n, offset_group, taps, out_h, out_w]))
        sampled *= mask[..., None]
    # columns (N, out_h, out_w, C, K) with channel = g * Cg + c
    columns = tf.transpose(sampled, [0, 3, 4, 1, 5, 2])
    out_channels = tf.shape(w)[0]
    columns = tf.reshape(columns, tf.stack([n, out_h, out_w, group, (c // group) * taps]))
    kernel = tf.reshape(w, tf.stack([group, out_channels // group, (c // group) * taps]))
    y_out = tf.einsum("nhwgk,gok->nhwgo", columns, kernel)
    y_out = tf.reshape(y_out, tf.stack([n, out_h, out_w, out_channels]))
    if bias is not None:
        y_out += bias
    return tf.transpose(y_out, [0, 3, 1, 2])
