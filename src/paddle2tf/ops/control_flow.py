"""Control flow: If (tf.cond), Loop and Scan (tf.while_loop). Bodies run through ``ctx.run_subgraph``.

Loop-carried values may change shape across iterations (ONNX allows it, tf.while_loop rejects it unless
told). Before building the loop, the body is traced once in a throw-away ``tf.function`` to see which
dimensions it changes; those become ``None`` in the shape invariants and all others stay static, so
converters after the loop still see every static dimension the loop does not change.
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter

# A body that keeps changing shapes after this many relaxations gets fully unknown shape invariants.
_MAX_RELAXATIONS = 4


def _scalar_bool(x):
    import tensorflow as tf

    return tf.reshape(tf.cast(x, tf.bool), [])


def _declared_rank(value_info) -> int | None:
    tensor_type = value_info.type.tensor_type
    return len(tensor_type.shape.dim) if tensor_type.HasField("shape") else None


def _as_declared(x, value_info):
    """Loop's iteration number and condition are scalars here; a body may declare them with shape [1]."""
    import tensorflow as tf

    return tf.reshape(x, [1]) if _declared_rank(value_info) == 1 else x


# -- If -------------------------------------------------------------------------------------------

@converter("If", since=1)
def if_(node, inputs, attrs, ctx):
    """tf.cond over the two branch subgraphs; a condition known at conversion time builds one branch."""
    import tensorflow as tf

    then_branch, else_branch = attrs["then_branch"], attrs["else_branch"]
    known = ctx.static(0)
    if known is not None:  # the other branch may not even be valid for these shapes: don't build it
        return ctx.run_subgraph(then_branch if bool(np.asarray(known).reshape(-1)[0]) else else_branch, [])
    outputs = tf.cond(_scalar_bool(inputs[0]),
                      lambda: list(ctx.run_subgraph(then_branch, [])),
                      lambda: list(ctx.run_subgraph(else_branch, [])))
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]


# -- shape invariants -------------------------------------------------------------------------------

def _same_shape(a, b) -> bool:
    if a.rank is None or b.rank is None:
        return a.rank == b.rank
    return a.as_list() == b.as_list()


def _relax(shape, other):
    """The most specific shape compatible with both (different ranks: unknown rank)."""
    import tensorflow as tf

    if shape.rank is None or other.rank is None or shape.rank != other.rank:
        return tf.TensorShape(None)
    return shape.most_specific_compatible_shape(other)


def _trace_body(step, fixed, state_dtypes, state_shapes):
    """Trace ``step(*fixed, *state)`` in a throw-away function; returns its outputs (symbolic)."""
    import tensorflow as tf

    specs = [tf.TensorSpec(f.shape, f.dtype) for f in fixed]
    specs += [tf.TensorSpec(shape, dtype) for shape, dtype in zip(state_shapes, state_dtypes, strict=True)]
    return tf.function(step, autograph=False).get_concrete_function(*specs).structured_outputs


def _loop_invariants(step, fixed, state):
    """Shapes for the loop-carried ``state`` that ``step`` maps to themselves, and the traced outputs
    of the last trace (for the dtypes and shapes of scan outputs). ``step`` returns state first."""
    import tensorflow as tf

    dtypes = [s.dtype for s in state]
    shapes = [s.shape for s in state]
    for _ in range(_MAX_RELAXATIONS):
        outs = _trace_body(step, fixed, dtypes, shapes)
        relaxed = [_relax(shape, out.shape) for shape, out in zip(shapes, outs, strict=False)]
        if all(_same_shape(a, b) for a, b in zip(relaxed, shapes, strict=True)):
            return shapes, outs
        shapes = relaxed
    shapes = [tf.TensorShape(None)] * len(state)
    return shapes, _trace_body(step, fixed, dtypes, shapes)


def _scan_arrays(traced):
    """One growable TensorArray per scan output, with the element shape seen when tracing the body."""
    import tensorflow as tf

    return [tf.TensorArray(t.dtype, size=0, dynamic_size=True, element_shape=t.shape) for t in traced]


# -- Loop -----------------------------------------------------------------------------------------

@converter("Loop", since=1)
def loop(node, inputs, attrs, ctx):
    """for (i = 0; i < M && cond; ++i) {cond, state..., scans... = body(i, cond, state...)}.

    Without M only the condition stops the loop. Without the cond input the first iteration always runs
    and the body's condition output still stops the loop: the spec's table calls it "ignored" there, but
    onnxruntime (the reference the conversion is verified against) honours it, so this does too.
    """
    import tensorflow as tf

    body = attrs["body"]
    trip = tf.reshape(tf.cast(inputs[0], tf.int64), []) if inputs[0] is not None else None
    cond0 = _scalar_bool(inputs[1]) if inputs[1] is not None else tf.constant(True)
    state0 = list(inputs[2:len(node.input)])
    n = len(state0)

    def step(i, cond, *state):
        outs = ctx.run_subgraph(body, [_as_declared(i, body.input[0]), _as_declared(cond, body.input[1]), *state])
        return [*outs[1:1 + n], _scalar_bool(outs[0]), *outs[1 + n:]]  # state first, as _loop_invariants expects

    i0 = tf.constant(0, tf.int64)
    shapes, traced = _loop_invariants(step, [i0, cond0], state0)
    arrays = _scan_arrays(traced[n + 1:])

    def keep_going(i, cond, *_):
        return tf.logical_and(i < trip, cond) if trip is not None else cond

    def iterate(i, cond, *rest):
        outs = step(i, cond, *rest[:n])
        index = tf.cast(i, tf.int32)
        written = [ta.write(index, value) for ta, value in zip(rest[n:], outs[n + 1:], strict=True)]
        return (i + 1, outs[n], *outs[:n], *written)

    # A TensorArray travels through the loop as a scalar variant (its element shape stays on the array).
    invariants = [i0.shape, cond0.shape, *shapes, *[tf.TensorShape([])] * len(arrays)]
    final = tf.while_loop(keep_going, iterate, (i0, cond0, *state0, *arrays), shape_invariants=tuple(invariants))
    body_ranks = [out.shape.rank if out.shape.rank is not None else _declared_rank(declared)
                  for out, declared in zip(traced[:n], body.output[1:1 + n], strict=True)]
    return [*_ranked_after_first_step(state0, shapes, body_ranks, final[2:2 + n]),
            *[ta.stack() for ta in final[2 + n:]]]


def _ranked_after_first_step(initial, invariants, body_ranks, final):
    """paddle2onnx starts some loop-carried tensors as rank-0 placeholders that the first iteration broadcasts to
    their real shape (SLANet's table decoder: ``Constant 0.0`` carried in, [N, 501, 30] carried out). Their
    invariant must be of unknown rank, which converters after the loop cannot work with (Slice, Transpose); once
    the body has run, the value has the rank the body gives it (as traced, else as the body declares it). That rank
    is stated with a run-time check (tf.ensure_shape): a loop that runs no iteration fails there, loudly, instead of
    returning the placeholder, and so does a declaration the body does not keep."""
    import tensorflow as tf

    ranked = []
    for start, invariant, rank, value in zip(initial, invariants, body_ranks, final, strict=True):
        if invariant.rank is None and rank is not None and start.shape.rank != rank:
            value = tf.ensure_shape(value, [None] * rank)
        ranked.append(value)
    return ranked


# -- Scan (opset 9+) --------------------------------------------------------------------------------

def _time_major(x, axis: int, reverse: bool):
    """Move the scanned axis to 0 (reversed for a backward scan input)."""
    import tensorflow as tf

    rank = x.shape.rank
    axis = axis + rank if axis < 0 else axis
    if axis != 0:
        x = tf.transpose(x, [axis, *[a for a in range(rank) if a != axis]])
    return tf.reverse(x, [0]) if reverse else x


def _from_time_major(y, axis: int, reverse: bool):
    """Stacked scan output [T, ...] -> accumulated along ``axis`` (prepended when ``reverse``)."""
    import tensorflow as tf

    if reverse:
        y = tf.reverse(y, [0])
    rank = y.shape.rank
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        return y
    return tf.transpose(y, [*range(1, axis + 1), 0, *range(axis + 1, rank)])


@converter("Scan", since=9)
def scan(node, inputs, attrs, ctx):
    import tensorflow as tf

    body = attrs["body"]
    m = attrs["num_scan_inputs"]
    values = list(inputs[:len(node.input)])
    n = len(values) - m
    state0 = values[:n]
    in_axes = attrs.get("scan_input_axes", [0] * m)
    in_dirs = attrs.get("scan_input_directions", [0] * m)
    k = len(body.output) - n
    out_axes = attrs.get("scan_output_axes", [0] * k)
    out_dirs = attrs.get("scan_output_directions", [0] * k)
    xs = [_time_major(x, a, bool(d)) for x, a, d in zip(values[n:], in_axes, in_dirs, strict=True)]
    steps = tf.shape(xs[0])[0]

    def step(t, *state):
        return list(ctx.run_subgraph(body, [*state, *[x[t] for x in xs]]))

    t0 = tf.constant(0)
    shapes, traced = _loop_invariants(step, [t0], state0)
    arrays = [tf.TensorArray(t.dtype, size=steps, element_shape=t.shape) for t in traced[n:]]

    def iterate(t, *rest):
        outs = step(t, *rest[:n])
        written = [ta.write(t, value) for ta, value in zip(rest[n:], outs[n:], strict=True)]
        return (t + 1, *outs[:n], *written)

    invariants = [t0.shape, *shapes, *[tf.TensorShape([])] * len(arrays)]
    final = tf.while_loop(lambda t, *_: t < steps, iterate, (t0, *state0, *arrays), shape_invariants=tuple(invariants))
    scans = []
    for ta, axis, direction in zip(final[1 + n:], out_axes, out_dirs, strict=True):
        stacked = ta.stack()
        stacked.set_shape(xs[0].shape[:1].concatenate(stacked.shape[1:]))
        scans.append(_from_time_major(stacked, axis, bool(direction)))
    return [*final[1:1 + n], *scans]
