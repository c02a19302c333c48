"""MatMul, Gemm, MatMulInteger, Einsum, and paddle2tf.Linear (MatMul + bias + activation)."""

from __future__ import annotations

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN
from paddle2tf.ops.activation import gelu_exact

# TF's BatchMatMulV2 has no unsigned kernels: compute in a wider signed type (wrap-around is
# modular, so the low bits - the ONNX result - are identical) and cast back.
_WIDEN = {"uint8": "int32", "uint16": "int32", "uint32": "int64", "uint64": "int64", "int8": "int32",
          "int16": "int32"}


def numpy_matmul(a, b):
    """numpy.matmul semantics: 1-D operands are promoted and the added axis removed; batch axes broadcast."""
    import tensorflow as tf

    dtype = a.dtype
    if dtype.name in _WIDEN:
        wide = tf.as_dtype(_WIDEN[dtype.name])
        return tf.cast(numpy_matmul(tf.cast(a, wide), tf.cast(b, wide)), dtype)
    a_vec, b_vec = a.shape.rank == 1, b.shape.rank == 1
    if a_vec:
        a = a[tf.newaxis, :]
    if b_vec:
        b = b[:, tf.newaxis]
    y = _matmul_folding_batch(a, b) if a.shape.rank > 2 and b.shape.rank == 2 else tf.linalg.matmul(a, b)
    if a_vec and b_vec:
        return tf.reshape(y, [])
    if a_vec:
        return tf.squeeze(y, axis=-2)
    if b_vec:
        return tf.squeeze(y, axis=-1)
    return y


def _matmul_folding_batch(a, b):
    """[..., M, K] @ [K, N] as one [prod(...) * M, K] @ [K, N] MatMul: TF's broadcasting BatchMatMulV2 is
    about twice as slow on CPU for a Linear layer's shapes (measured: [8, 128, 768] @ [768, 3072])."""
    import tensorflow as tf

    k, n = a.shape[-1], b.shape[-1]
    y = tf.linalg.matmul(tf.reshape(a, [-1, k if k is not None else tf.shape(a)[-1]]), b)
    return tf.reshape(y, [*_outer_dims(a), n if n is not None else tf.shape(b)[-1]])


def _outer_dims(a) -> list:
    """a's dims but the last: static where known, else read at run time."""
    import tensorflow as tf

    return [d if d is not None else tf.shape(a)[i] for i, d in enumerate(a.shape[:-1])]


@converter("MatMul", since=1)
def matmul(node, inputs, attrs, ctx):
    return numpy_matmul(inputs[0], inputs[1])


@converter("Gemm", since=1)
def gemm(node, inputs, attrs, ctx):
    """Y = alpha * A' @ B' + beta * C; C optional (from 11), unidirectionally broadcast to (M, N).

    Opsets 1-6 carry a ``broadcast`` attribute; with broadcast=0 C must already be (M, N), so numpy
    broadcasting is correct for both settings.
    """
    import tensorflow as tf

    a, b, c = inputs[0], inputs[1], inputs[2]
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    dtype = a.dtype
    if dtype.name in _WIDEN:
        wide = tf.as_dtype(_WIDEN[dtype.name])
        a, b = tf.cast(a, wide), tf.cast(b, wide)
        c = tf.cast(c, wide) if c is not None else None
    y = tf.linalg.matmul(a, b, transpose_a=trans_a, transpose_b=trans_b)
    if alpha != 1.0:
        y = y * tf.cast(alpha, y.dtype)
    if c is not None and beta != 0.0:
        if c.shape.rank == 2 and c.shape[0] == 1:
            # Same broadcast as a 1-D bias. Grappler's remapper fuses MatMul + Add into _FusedMatMul
            # for a [1, N] addend too, and that kernel then fails ("bias must be 1-dimensional").
            c = tf.reshape(c, [-1])
        y = y + (c if beta == 1.0 else c * tf.cast(beta, y.dtype))
    return tf.cast(y, dtype) if y.dtype != dtype else y


def _relu(y):
    import tensorflow as tf

    return tf.nn.relu(y)


_ACTIVATIONS = {"": lambda y: y, "Relu": _relu, "Gelu": gelu_exact}


@converter("Linear", since=1, domain=INTERNAL_DOMAIN,
           unsupported=lambda node, attrs: None if attrs.get("activation", "") in _ACTIVATIONS
           else f"activation={attrs.get('activation')!r}")
def linear(node, inputs, attrs, ctx):
    """activation(A @ W + bias) with W [K, N], bias [N] (the fuse_matmul_bias pass): one 2-D MatMul over A's
    rows, BiasAdd and the activation, the sequence grappler's remapper fuses into one _FusedMatMul."""
    import tensorflow as tf

    a, w, bias = inputs[0], inputs[1], inputs[2]
    k, n = w.shape
    rows = a if a.shape.rank == 2 else tf.reshape(a, [-1, k])
    y = _ACTIVATIONS[attrs.get("activation", "")](tf.nn.bias_add(tf.linalg.matmul(rows, w), bias))
    return y if a.shape.rank == 2 else tf.reshape(y, [*_outer_dims(a), n])


def _zero_point_a(zp, rank_a):
    """a_zero_point: scalar (per tensor), [M] (per row of a 2-D A) or A's shape with K -> 1."""
    import tensorflow as tf

    if zp.shape.rank == 1 and rank_a >= 2:
        return tf.reshape(zp, [-1, 1])
    return zp


@converter("MatMulInteger", since=10)
def matmul_integer(node, inputs, attrs, ctx):
    """int32 (A - a_zero_point) @ (B - b_zero_point); B's 1-D zero point is per column (broadcasts as is)."""
    import tensorflow as tf

    a, b = tf.cast(inputs[0], tf.int32), tf.cast(inputs[1], tf.int32)
    if inputs[2] is not None:
        a = a - _zero_point_a(tf.cast(inputs[2], tf.int32), a.shape.rank)
    if inputs[3] is not None:
        b = b - tf.cast(inputs[3], tf.int32)
    return numpy_matmul(a, b)


def _explicit_equation(equation: str) -> str:
    """The einsum equation with an explicit output (numpy's implicit-mode rule) and no spaces."""
    equation = equation.replace(" ", "")
    if "->" in equation:
        return equation
    counts: dict[str, int] = {}
    for term in equation.split(","):
        for label in term.replace("...", ""):
            counts[label] = counts.get(label, 0) + 1
    ellipsis = "..." if "..." in equation else ""
    return f"{equation}->{ellipsis}{''.join(sorted(k for k, v in counts.items() if v == 1))}"


@converter("Einsum", since=12)
def einsum(node, inputs, attrs, ctx):
    import tensorflow as tf

    operands = list(inputs)
    equation = _explicit_equation(attrs["equation"])
    dtype = operands[0].dtype
    if dtype.name in _WIDEN:
        wide = tf.as_dtype(_WIDEN[dtype.name])
        return tf.cast(tf.einsum(equation, *[tf.cast(t, wide) for t in operands]), dtype)
    return tf.einsum(equation, *operands)
