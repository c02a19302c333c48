"""Test-only fault injection: a converter of one op type that perturbs exactly one node.

``perturb(op_type, node_name, change)`` temporarily replaces the registry entries of ``op_type`` with a
wrapper calling ``change(fn, node, inputs, attrs, ctx)`` for the node named ``node_name`` and the real
converter ``fn`` for every other node. Conversion, verification and locate inside the block all see it.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from paddle2tf.converter import registry
from paddle2tf.converter.context import ChannelsLast


@contextlib.contextmanager
def perturb(op_type: str, node_name: str, change, domain: str = ""):
    registry.load_converters()
    key = (domain, op_type)
    original = registry._REGISTRY[key]

    def wrap(fn):
        def wrapper(node, inputs, attrs, ctx):
            if node.name == node_name:
                return change(fn, node, inputs, attrs, ctx)
            return fn(node, inputs, attrs, ctx)

        return wrapper

    registry._REGISTRY[key] = [dataclasses.replace(entry, fn=wrap(entry.fn)) for entry in original]
    try:
        yield
    finally:
        registry._REGISTRY[key] = original


def first_node(model, op_type: str, where=lambda node: True) -> str:
    return next(node.name for node in model.graph.node if node.op_type == op_type and where(node))


# -- the faults -------------------------------------------------------------------------------------
def scaled_output(factor: float = 1.01):
    def change(fn, node, inputs, attrs, ctx):
        result = fn(node, inputs, attrs, ctx)
        if isinstance(result, ChannelsLast):  # a Conv's result stays in the layout the converter chose
            return ChannelsLast(result.tensor * factor)
        return result * factor

    return change


def attribute(name: str, value):
    def change(fn, node, inputs, attrs, ctx):
        return fn(node, inputs, {**attrs, name: value}, ctx)

    return change


def swapped_trans_b(fn, node, inputs, attrs, ctx):
    """Gemm reading B the other way round: with a square B the shapes still agree, the values do not."""
    return fn(node, inputs, {**attrs, "transB": 1 - attrs.get("transB", 0)}, ctx)


class _ShiftedStarts:
    """A NodeContext whose Slice starts and ends (inputs 1 and 2) are one more than the model says."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def static(self, index):
        value = self._ctx.static(index)
        return value + np.ones_like(value) if index in (1, 2) and value is not None else value


def slice_off_by_one(fn, node, inputs, attrs, ctx):
    return fn(node, inputs, attrs, _ShiftedStarts(ctx))
