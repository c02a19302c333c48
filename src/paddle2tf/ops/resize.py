"""Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9), with explicit interpolation.

Each resized axis is handled separately: the source coordinate of every output position is computed
with the ONNX formula (in float32, in the same order of operations as ONNX Runtime, so nearest-mode
ties break identically), turned into a few (index, weight) taps, and applied with ``tf.gather`` and a
weighted sum. Nearest is a pure gather (exact for every dtype), linear has 2 taps, cubic 4.
Works on any rank and with dynamic dimensions; scales/sizes/roi may be run-time tensors.
"""

from __future__ import annotations

import numpy as np
import onnx

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.graph import FLOAT_TYPES

_MODES = ("nearest", "linear", "cubic")
_COORD_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize",
                "tf_half_pixel_for_nn")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_POLICIES = ("stretch", "not_larger", "not_smaller")


# -- what cannot be converted ---------------------------------------------------------------------


def _check(attrs, coord_modes, modes=_MODES) -> str | None:
    mode = attrs.get("mode", "nearest")
    if mode not in modes:
        return f"mode={mode!r}"
    coord = attrs.get("coordinate_transformation_mode", "half_pixel")
    if coord not in coord_modes:
        return f"coordinate_transformation_mode={coord!r}"
    if attrs.get("nearest_mode", "round_prefer_floor") not in _NEAREST_MODES:
        return f"nearest_mode={attrs['nearest_mode']!r}"
    if attrs.get("keep_aspect_ratio_policy", "stretch") not in _POLICIES:
        return f"keep_aspect_ratio_policy={attrs['keep_aspect_ratio_policy']!r}"
    if attrs.get("antialias", 0) and mode != "nearest":
        return "antialias=1 with linear/cubic (the downscaling filter is not implemented)"
    return None


def _align_corners_scales(node, attrs, values) -> str | None:
    """align_corners with scales where an output length (length * scale) is fractional, or not known at
    check time (run-time scales, or a non-integer scale on an axis of unknown length): the ONNX reference
    puts the unrounded length * scale in the align_corners formula; the spec's length_resized and ONNX
    Runtime, like this converter, use the integer output length."""
    if attrs.get("coordinate_transformation_mode", "half_pixel") != "align_corners":
        return None
    scales_name = node.input[2] if len(node.input) > 2 else ""
    sizes_name = node.input[3] if len(node.input) > 3 else ""
    scales = values.constant(scales_name) if scales_name else None
    sizes = values.constant(sizes_name) if sizes_name else None
    if not scales_name or (scales is not None and scales.size == 0) or (sizes is not None and sizes.size):
        return None  # resized to sizes
    reason = ("align_corners with scales giving a fractional or unknown output length: the ONNX reference "
              "uses length * scale unrounded, ONNX Runtime the integer output length")
    if scales is None:
        return reason
    shape = values.shape(node.input[0])
    scales = scales.astype(np.float32).reshape(-1)
    for axis, scale in zip(attrs.get("axes") or range(len(scales)), scales, strict=False):
        if scale == np.floor(scale):
            continue  # an integer scale gives an integer length, whatever the input length
        length = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if length is None or np.float32(length) * scale != np.floor(np.float32(length) * scale):
            return reason
    return None


def _interpolated_integers(node, mode: str, values) -> str | None:
    """Linear/cubic interpolation of a non-float input (the converter refuses it: ONNX Runtime rounds integer
    interpolation its own way). An input of unknown type at check time passes; the converter then decides."""
    elem_type = values.elem_type(node.input[0])
    if mode == "nearest" or not elem_type or elem_type in FLOAT_TYPES:
        return None
    return f"mode={mode} on a {onnx.TensorProto.DataType.Name(elem_type)} input: only nearest resizes integers"


def _unsupported_v10(node, attrs, values):
    """Modes other than nearest and linear; linear on integers."""
    mode = attrs.get("mode", "nearest")
    return _check({"mode": mode}, _COORD_MODES, ("nearest", "linear")) or _interpolated_integers(node, mode, values)


def _unsupported(coord_modes):
    def check(node, attrs, values):
        """Modes the opset does not define; antialias with linear/cubic; linear/cubic on integers; align_corners
        with scales giving a fractional or unknown output length (ONNX reference and ONNX Runtime disagree)."""
        return (_check(attrs, coord_modes) or _interpolated_integers(node, attrs.get("mode", "nearest"), values)
                or _align_corners_scales(node, attrs, values))

    return check


_unsupported_v11 = _unsupported(_COORD_MODES)
_unsupported_v13 = _unsupported(_COORD_MODES[:-1])  # tf_half_pixel_for_nn was removed in 13
_unsupported_v19 = _unsupported((*_COORD_MODES[:-1], "half_pixel_symmetric"))


def _unsupported_upsample(node, attrs, values):
    """Modes other than nearest and (bi)linear; linear on integers."""
    mode = _upsample_mode(attrs)
    return _check({"mode": mode}, _COORD_MODES, ("nearest", "linear")) or _interpolated_integers(node, mode, values)


# -- inputs ---------------------------------------------------------------------------------------


def _optional(inputs, ctx, index: int):
    """Input ``index`` as numpy when constant, else a tensor; None when absent or empty."""
    if inputs[index] is None:
        return None
    value = ctx.static(index)
    if value is not None:
        value = np.asarray(value).reshape(-1)
        return None if value.size == 0 else value
    if inputs[index].shape.num_elements() == 0:
        return None
    return inputs[index]


def _is_static(*values) -> bool:
    return all(isinstance(v, int | float | np.number) for v in values)


def _dim(x, axis: int):
    import tensorflow as tf

    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def _round_half_away(v):
    """std::round for non-negative float32 values, exact (no v + 0.5 rounding)."""
    import tensorflow as tf

    if _is_static(v):
        r = np.floor(v)
        return int(r) + int(v - r >= np.float32(0.5))
    r = tf.floor(v)
    return tf.cast(r, tf.int32) + tf.cast(v - r >= 0.5, tf.int32)


def _output_sizes(x, axes, scales, sizes, policy):
    """Per resized axis (input length, output length, scale) — numbers when static, else tensors.

    From scales: out = floor(in * scale) in float32. From sizes: scale = out / in in float32; the
    aspect-ratio policies (opset 18) use one common scale and out = round(scale * in).
    """
    import tensorflow as tf

    in_lens = [_dim(x, a) for a in axes]
    if sizes is None:
        result = []
        for i, n in enumerate(in_lens):
            s = scales[i]
            if _is_static(n, s):
                result.append((n, int(np.floor(np.float32(n) * np.float32(s))), np.float32(s)))
            else:
                s = tf.cast(s, tf.float32)
                result.append((n, tf.cast(tf.floor(tf.cast(n, tf.float32) * s), tf.int32), s))
        return result
    static = _is_static(*in_lens) and isinstance(sizes, np.ndarray)
    outs = [int(v) for v in sizes] if static else [tf.cast(sizes[i], tf.int32) for i in range(len(axes))]
    if static:
        ratios = [np.float32(o) / np.float32(n) for o, n in zip(outs, in_lens, strict=True)]
    else:
        ratios = [tf.cast(o, tf.float32) / tf.cast(n, tf.float32) for o, n in zip(outs, in_lens, strict=True)]
    if policy != "stretch":
        pick = (min if static else tf.reduce_min) if policy == "not_larger" else (max if static else tf.reduce_max)
        common = pick(ratios) if static else pick(tf.stack(ratios))
        ratios = [common] * len(axes)
        if static:
            outs = [_round_half_away(np.float32(common) * np.float32(n)) for n in in_lens]
        else:
            outs = [_round_half_away(common * tf.cast(n, tf.float32)) for n in in_lens]
    return list(zip(in_lens, outs, ratios, strict=True))


# -- coordinates and taps -------------------------------------------------------------------------


def _select(condition, if_true, if_false):
    """Python choice when the condition is static, tf.where otherwise."""
    import tensorflow as tf

    if isinstance(condition, bool | np.bool_):
        return if_true() if condition else if_false()
    return tf.where(condition, if_true(), if_false())


def _source_coords(out_len, in_len, scale, coord, roi_start, roi_end):
    """x_original for every output position x_resized (float32, ONNX Runtime's order of operations)."""
    import tensorflow as tf

    x = tf.cast(tf.range(out_len), tf.float32)
    s = tf.cast(scale, tf.float32)
    in_f, out_f = tf.cast(in_len, tf.float32), tf.cast(out_len, tf.float32)
    out_gt_1 = out_len > 1
    if coord == "half_pixel":
        return (x + 0.5) / s - 0.5
    if coord == "half_pixel_symmetric":  # ONNX Runtime finishes this one in double precision
        adjustment = out_f / (s * in_f)
        offset = tf.cast(in_f / 2 * (1 - adjustment), tf.float64)
        x64 = tf.cast(x, tf.float64)
        return tf.cast(offset + (x64 + 0.5) / tf.cast(s, tf.float64) - 0.5, tf.float32)
    if coord == "pytorch_half_pixel":
        return _select(out_gt_1, lambda: (x + 0.5) / s - 0.5, lambda: tf.zeros_like(x))
    if coord == "align_corners":
        return _select(out_gt_1, lambda: x * (in_f - 1) / (out_f - 1), lambda: tf.zeros_like(x))
    if coord == "asymmetric":
        return x / s
    if coord == "tf_half_pixel_for_nn":
        return (x + 0.5) / s
    if coord == "tf_crop_and_resize":
        start, end = tf.cast(roi_start, tf.float32), tf.cast(roi_end, tf.float32)
        middle = tf.cast(0.5 * tf.cast(start + end, tf.float64) * tf.cast(in_f - 1, tf.float64), tf.float32)
        return _select(out_gt_1, lambda: start * (in_f - 1) + x * (end - start) * (in_f - 1) / (out_f - 1),
                       lambda: tf.zeros_like(x) + middle)
    raise ValueError(f"coordinate_transformation_mode={coord!r}")


def _nearest_taps(xo, in_len, nearest_mode, scale):
    import tensorflow as tf

    r = tf.floor(xo)
    if nearest_mode == "round_prefer_floor":
        index = r + tf.cast(xo - r > 0.5, tf.float32)
    elif nearest_mode == "round_prefer_ceil":
        index = r + tf.cast(xo - r >= 0.5, tf.float32)
    elif nearest_mode == "floor":
        index = r
    elif nearest_mode == "ceil":
        index = tf.math.ceil(xo)
    else:  # "simple": Resize-10 / Upsample in ONNX Runtime: ceil when downsampling, else truncate
        downsampling = bool(scale < 1) if _is_static(scale) else scale < 1
        index = _select(downsampling, lambda: tf.math.ceil(xo), lambda: r)
    return [(_clip_index(index, in_len), None)]


def _clip_index(index, in_len):
    import tensorflow as tf

    index = tf.cast(index, tf.int64)
    return tf.clip_by_value(index, 0, tf.cast(in_len, tf.int64) - 1)


def _linear_taps(xo, in_len):
    import tensorflow as tf

    xc = tf.clip_by_value(xo, 0.0, tf.cast(in_len, tf.float32) - 1)
    x0 = tf.floor(xc)
    w1 = xc - x0
    return [(_clip_index(x0, in_len), 1 - w1), (_clip_index(x0 + 1, in_len), w1)]


def _cubic_taps(xo, in_len, a: float, exclude_outside: bool):
    """Keys cubic kernel with coefficient a over floor(x)-1 .. floor(x)+2; edge taps clamp (or are
    dropped and the rest renormalised with exclude_outside)."""
    import tensorflow as tf

    x0 = tf.floor(xo)
    s = xo - x0
    a = tf.constant(a, tf.float32)
    t0, t2, t3 = s + 1, 1 - s, 2 - s
    weights = [((a * t0 - 5 * a) * t0 + 8 * a) * t0 - 4 * a,
               ((a + 2) * s - (a + 3)) * s * s + 1,
               ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1,
               ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a]
    positions = [x0 + (k - 1) for k in range(4)]
    if exclude_outside:
        limit = tf.cast(in_len, tf.float32) - 1
        weights = [tf.where((p >= 0) & (p <= limit), w, 0.0) for p, w in zip(positions, weights, strict=True)]
        total = weights[0] + weights[1] + weights[2] + weights[3]
        weights = [w / total for w in weights]
    return [(_clip_index(p, in_len), w) for p, w in zip(positions, weights, strict=True)]


def _apply_taps(x, axis: int, taps):
    import tensorflow as tf

    rank = x.shape.rank
    result = None
    for index, weight in taps:
        value = tf.gather(x, index, axis=axis)
        if weight is not None:
            value = value * tf.reshape(tf.cast(weight, x.dtype), [-1] + [1] * (rank - axis - 1))
        result = value if result is None else result + value
    return result


# -- the shared implementation --------------------------------------------------------------------


def _resize(x, *, scales=None, sizes=None, roi=None, axes=None, mode="nearest", coord="half_pixel",
            nearest_mode="round_prefer_floor", cubic_a=-0.75, exclude_outside=False, extrapolation=0.0,
            policy="stretch"):
    import tensorflow as tf

    rank = x.shape.rank
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    if scales is None and sizes is None:
        raise ValueError("Resize needs scales or sizes")
    if mode != "nearest" and not x.dtype.is_floating:
        raise NotImplementedError(f"Resize mode={mode} on {x.dtype.name} input (ONNX Runtime rounds "
                                  "integer interpolation its own way)")
    crop = coord == "tf_crop_and_resize"
    if crop and roi is None:
        raise ValueError("tf_crop_and_resize needs roi")
    outside = []
    for i, (axis, (in_len, out_len, scale)) in enumerate(
            zip(axes, _output_sizes(x, axes, scales, sizes, policy), strict=True)):
        roi_start = roi[i] if crop else 0.0
        roi_end = roi[len(axes) + i] if crop else 1.0
        if _is_static(scale, roi_start, roi_end) and scale == 1 and roi_start == 0 and roi_end == 1:
            continue  # every coordinate formula is the identity for scale 1 (out == in)
        xo = _source_coords(out_len, in_len, scale, coord, roi_start, roi_end)
        if mode == "nearest":
            taps = _nearest_taps(xo, in_len, nearest_mode, scale)
        elif mode == "linear":
            taps = _linear_taps(xo, in_len)
        else:
            taps = _cubic_taps(xo, in_len, cubic_a, exclude_outside)
        x = _apply_taps(x, axis, taps)
        if crop:
            mask = (xo < 0) | (xo > tf.cast(in_len, tf.float32) - 1)
            outside.append(tf.reshape(mask, [-1] + [1] * (rank - axis - 1)))
    if outside:
        mask = outside[0]
        for m in outside[1:]:
            mask = mask | m
        x = tf.where(mask, tf.cast(extrapolation, x.dtype), x)
    return x


def _resize_v11_attrs(attrs, coord_default="half_pixel"):
    return dict(mode=attrs.get("mode", "nearest"),
                coord=attrs.get("coordinate_transformation_mode", coord_default),
                nearest_mode=attrs.get("nearest_mode", "round_prefer_floor"),
                cubic_a=attrs.get("cubic_coeff_a", -0.75),
                exclude_outside=bool(attrs.get("exclude_outside", 0)),
                extrapolation=attrs.get("extrapolation_value", 0.0))


def _scales_and_sizes(inputs, ctx):
    """The one of scales / sizes that is given. A run-time tensor of unknown length next to a
    non-empty constant must be the empty one (the spec allows only one)."""
    scales, sizes = _optional(inputs, ctx, 2), _optional(inputs, ctx, 3)
    if scales is None or sizes is None:
        return scales, sizes
    if isinstance(scales, np.ndarray) and not isinstance(sizes, np.ndarray):
        return scales, None
    if isinstance(sizes, np.ndarray) and not isinstance(scales, np.ndarray):
        return None, sizes
    raise NotImplementedError("Resize with both scales and sizes "
                              "(or both of unknown length at conversion time)")


# -- converters -----------------------------------------------------------------------------------


@converter("Resize", since=10, unsupported=_unsupported_v10)
def resize_v10(node, inputs, attrs, ctx):
    """Opset 10: X, scales; ONNX Runtime's convention: asymmetric coordinates, nearest truncates
    (ceil when downsampling)."""
    return _resize(inputs[0], scales=_optional(inputs, ctx, 1), mode=attrs.get("mode", "nearest"),
                   coord="asymmetric", nearest_mode="simple")


@converter("Resize", since=11, unsupported=_unsupported_v11)
def resize_v11(node, inputs, attrs, ctx):
    """Opset 11: X, roi, scales, sizes (roi and scales required but possibly empty)."""
    scales, sizes = _scales_and_sizes(inputs, ctx)
    return _resize(inputs[0], scales=scales, sizes=sizes, roi=_optional(inputs, ctx, 1),
                   **_resize_v11_attrs(attrs))


@converter("Resize", since=13, unsupported=_unsupported_v13)
def resize_v13(node, inputs, attrs, ctx):
    """Opset 13: roi and scales become optional; tf_half_pixel_for_nn is gone."""
    scales, sizes = _scales_and_sizes(inputs, ctx)
    return _resize(inputs[0], scales=scales, sizes=sizes, roi=_optional(inputs, ctx, 1),
                   **_resize_v11_attrs(attrs))


@converter("Resize", since=18, unsupported=_unsupported_v13)
def resize_v18(node, inputs, attrs, ctx):
    """Opset 18: axes (scales/sizes/roi then cover only those axes), keep_aspect_ratio_policy,
    antialias (a no-op for nearest; declared unsupported for linear/cubic)."""
    scales, sizes = _scales_and_sizes(inputs, ctx)
    return _resize(inputs[0], scales=scales, sizes=sizes, roi=_optional(inputs, ctx, 1),
                   axes=attrs.get("axes"), policy=attrs.get("keep_aspect_ratio_policy", "stretch"),
                   **_resize_v11_attrs(attrs))


@converter("Resize", since=19, unsupported=_unsupported_v19)
def resize_v19(node, inputs, attrs, ctx):
    """Opset 19: adds coordinate_transformation_mode half_pixel_symmetric."""
    return resize_v18(node, inputs, attrs, ctx)


def _upsample_mode(attrs) -> str:
    mode = attrs.get("mode", "nearest")
    return "linear" if mode == "bilinear" else mode


@converter("Upsample", since=7, unsupported=_unsupported_upsample)
def upsample_v7(node, inputs, attrs, ctx):
    """Opset 7: scales attribute; output = floor(in * scale), asymmetric coordinates."""
    return _resize(inputs[0], scales=np.asarray(attrs["scales"], np.float32), mode=_upsample_mode(attrs),
                   coord="asymmetric", nearest_mode="simple")


@converter("Upsample", since=9, unsupported=_unsupported_upsample)
def upsample_v9(node, inputs, attrs, ctx):
    """Opset 9: scales input (deprecated in 10, still exported by older tools)."""
    return _resize(inputs[0], scales=_optional(inputs, ctx, 1), mode=_upsample_mode(attrs),
                   coord="asymmetric", nearest_mode="simple")
