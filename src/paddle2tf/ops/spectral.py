"""DFT, STFT and MelWeightMatrix (signal processing ops, opset 17+).

Complex values are ONNX-style real tensors with a trailing dimension of 1 (real) or 2 (real,
imaginary); forward FFTs run on complex128 tensors, inverse DFTs in the input's precision, results are
cast back to the input's type.
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.dtypes import DTYPE_NAMES as ONNX_TO_TF_DTYPE
from paddle2tf.ops.shared import normalise_axis


def _to_complex(x, real_dtype=None):
    """[..., 1|2] real tensor -> complex [...], in double unless ``real_dtype`` says otherwise."""
    import tensorflow as tf

    # Forward FFTs in double: float32 ones are off by ~1e-6 of the signal's scale (sums of n terms).
    x = tf.cast(x, real_dtype or tf.float64)
    if x.shape[-1] == 2:
        return tf.complex(x[..., 0], x[..., 1])
    return tf.complex(x[..., 0], tf.zeros_like(x[..., 0]))


def _to_real_pair(z, dtype):
    import tensorflow as tf

    return tf.cast(tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1), dtype)


def _fit_length(z, length):
    """Zero-pad or truncate the last axis of z to ``length``."""
    import tensorflow as tf

    current = tf.shape(z)[-1]
    z = z[..., :length]
    pad = tf.maximum(length - current, 0)
    paddings = tf.concat([tf.zeros([z.shape.rank - 1, 2], tf.int32), [[0, pad]]], 0)
    return tf.pad(z, paddings)


def dft(x, axis: int, length, inverse: bool, onesided: bool):
    import tensorflow as tf

    rank = x.shape.rank
    axis = normalise_axis(axis, rank)
    if x.shape[-1] not in (1, 2) or not 0 < axis < rank - 1:
        raise NotImplementedError(f"axis={axis} on a rank-{rank} input of shape {x.shape}: only signal axes "
                                  f"({_signal_axes(rank)}) of a [batch, signal..., 1|2] input are transformed")
    # The inverse in the input's precision, like the ONNX reference (numpy transforms float32 data in
    # complex64): its 1/n-scaled outputs keep float32 round-off (~2e-7 at exact zeros) that the expected
    # data has and a double transform misses by more than the node tests' atol=1e-7.
    precision = tf.float64 if x.dtype == tf.float64 or not inverse else tf.float32
    z = _to_complex(x, precision)  # rank - 1 axes
    perm = [i for i in range(rank - 1) if i != axis] + [axis]
    z = tf.transpose(z, perm)
    if length is not None:
        z = _fit_length(z, tf.cast(tf.reshape(length, []), tf.int32))
    z = tf.signal.ifft(z) if inverse else tf.signal.fft(z)
    if onesided:
        z = z[..., : tf.shape(z)[-1] // 2 + 1]
    back = [0] * (rank - 1)
    for i, p in enumerate(perm):
        back[p] = i
    return _to_real_pair(tf.transpose(z, back), x.dtype)


def _signal_axes(rank: int) -> str:
    return ", ".join(str(axis) for axis in range(1, rank - 1)) or "none"


def _signal_axis_problem(node, axis: int, values) -> str | None:
    """The converter's DFT needs a [batch, signal..., 1|2] input and a signal axis: neither 0 (batch) nor the
    last (real/imaginary). Checked when the input's rank is known."""
    shape = values.shape(node.input[0])
    if shape is None:
        return None
    rank = len(shape)
    if shape and shape[-1] not in (None, 1, 2):
        return f"the input's last dimension is {shape[-1]}, not 1 (real) or 2 (real, imaginary)"
    if not 0 < (axis + rank if axis < 0 else axis) < rank - 1:
        return f"axis={axis} on a rank-{rank} input: only signal axes ({_signal_axes(rank)}) are transformed"
    return None


def _unsupported_dft_17(node, attrs, values):
    """axis 0 (the batch) or the last (real, imaginary) of an input of known rank: only signal axes."""
    return _signal_axis_problem(node, attrs.get("axis", 1), values)


def _unsupported_dft_20(node, attrs, values):
    """axis 0 (the batch) or the last (real, imaginary) as a constant axis input (a run-time axis picks a signal
    axis)."""
    axis_name = node.input[2] if len(node.input) > 2 else ""
    if not axis_name:
        return _signal_axis_problem(node, -2, values)
    axis = values.constant(axis_name)
    return None if axis is None else _signal_axis_problem(node, int(np.asarray(axis).reshape(-1)[0]), values)


@converter("DFT", since=17, unsupported=_unsupported_dft_17)
def dft_17(node, inputs, attrs, ctx):
    return dft(inputs[0], attrs.get("axis", 1), inputs[1], bool(attrs.get("inverse", 0)),
               bool(attrs.get("onesided", 0)))


@converter("DFT", since=20, unsupported=_unsupported_dft_20)
def dft_20(node, inputs, attrs, ctx):
    """The axis becomes an input (default -2: the last signal axis); it must be constant."""
    import tensorflow as tf

    x, inverse, onesided = inputs[0], bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
    if not ctx.has_input(2):
        return dft(x, -2, inputs[1], inverse, onesided)
    value = ctx.static(2)
    if value is not None:
        return dft(x, int(np.asarray(value).reshape(-1)[0]), inputs[1], inverse, onesided)
    rank = x.shape.rank  # a run-time axis: one branch per signal axis
    axis = tf.cast(tf.reshape(inputs[2], []), tf.int32)
    axis = tf.where(axis < 0, axis + rank, axis)
    branches = [lambda a=a: dft(x, a, inputs[1], inverse, onesided) for a in range(1, rank - 1)]
    return tf.switch_case(axis - 1, branches)


def _unsupported_stft(node, attrs):
    """Neither a window nor a frame_length: the frame length is unknown.

    It comes from frame_length (input 3) or the window's length (input 2)."""
    given = [name for name in node.input[2:4] if name]
    return None if given else "neither a window nor a frame_length: the frame length is unknown"


@converter("STFT", since=17, unsupported=_unsupported_stft)
def stft(node, inputs, attrs, ctx):
    """signal [batch, length, 1|2] -> [batch, frames, bins, 2]: DFT of each (windowed) frame."""
    import tensorflow as tf

    signal, step, window, frame_length = inputs[0], inputs[1], inputs[2], inputs[3]
    if frame_length is not None:
        length = tf.cast(tf.reshape(frame_length, []), tf.int32)
    elif window is not None:
        length = tf.shape(window)[0]
    else:
        raise NotImplementedError("neither a window nor a frame_length: the frame length is unknown")
    z = _to_complex(signal)  # [batch, length]
    frames = tf.signal.frame(z, length, tf.cast(tf.reshape(step, []), tf.int32), axis=-1)  # [b, f, length]
    if window is not None:
        frames = frames * tf.cast(window, frames.dtype)
    spectrum = tf.signal.fft(frames)
    if attrs.get("onesided", 1):
        spectrum = spectrum[..., : length // 2 + 1]
    return _to_real_pair(spectrum, signal.dtype)


@converter("MelWeightMatrix", since=17, unsupported=lambda node, attrs: None if attrs.get(
    "output_datatype", 1) in ONNX_TO_TF_DTYPE else f"output_datatype={attrs['output_datatype']}")
def mel_weight_matrix(node, inputs, attrs, ctx):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters on integer spectrogram bins (the
    spec's construction: mel-spaced edges, bin = floor((dft_length + 1) * hz / sample_rate))."""
    import tensorflow as tf

    num_mel, dft_length, rate = (tf.cast(tf.reshape(inputs[i], []), tf.int64) for i in range(3))
    # Like the spec's reference: the mel edges in the inputs' float type, the step over num_mel + 2.
    lower, upper = (tf.reshape(inputs[i], []) for i in (3, 4))
    ten = tf.constant(10.0, lower.dtype)
    low_mel = 2595.0 * (tf.math.log(1.0 + lower / 700.0) / tf.math.log(ten))
    high_mel = 2595.0 * (tf.math.log(1.0 + upper / 700.0) / tf.math.log(ten))
    step = tf.cast((high_mel - low_mel) / tf.cast(num_mel + 2, lower.dtype), tf.float64)
    mel = tf.cast(tf.range(num_mel + 2), tf.float64) * step + tf.cast(low_mel, tf.float64)
    hz = 700.0 * (tf.pow(tf.constant(10.0, tf.float64), mel / 2595.0) - 1.0)
    bins = tf.cast(tf.floor(tf.cast(dft_length + 1, tf.float64) * hz / tf.cast(rate, tf.float64)), tf.int64)
    left, centre, right = bins[:-2][None, :], bins[1:-1][None, :], bins[2:][None, :]
    j = tf.range(dft_length // 2 + 1)[:, None]
    as_float = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    rise = tf.where(tf.equal(centre, left), as_float(tf.equal(j, centre)),
                    as_float(j - left) / as_float(tf.maximum(centre - left, 1)))
    rising = tf.logical_and(j >= left, j <= centre)
    falling = tf.logical_and(tf.logical_and(j >= centre, j < right), right > centre)
    fall = as_float(right - j) / as_float(tf.maximum(right - centre, 1))
    weights = tf.where(falling, fall, tf.where(rising, rise, tf.zeros_like(fall)))
    return tf.cast(weights, ONNX_TO_TF_DTYPE[attrs.get("output_datatype", 1)])
