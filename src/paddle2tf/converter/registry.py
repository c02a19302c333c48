"""Registry of per-op converters keyed by (domain, op type, since-version).

A converter is a small function ``fn(node, inputs, attrs, ctx)`` returning one TF tensor or a
sequence of them (one per ONNX output). It is registered with::

    @converter("Relu", since=6)
    def relu(node, inputs, attrs, ctx):
        return tf.nn.relu(inputs[0])

For a model whose opset for the op's domain is N, the converter with the greatest ``since`` <= N
is used. ``unsupported`` optionally names attribute combinations the converter cannot handle,
so the pre-scan can reject a model before anything is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

ConverterFn = Callable[..., object]
UnsupportedCheck = Callable[..., "str | None"]


@dataclass(frozen=True)
class Converter:
    domain: str
    op_type: str
    since: int
    fn: ConverterFn
    module: str
    unsupported: UnsupportedCheck | None = None
    foldable: bool = True  # False for ops whose result must not be computed at conversion time


_REGISTRY: dict[tuple[str, str], list[Converter]] = {}
_BROKEN_MODULES: dict[str, str] = {}
_loaded = False


def normalise_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def converter(op_type: str, since: int = 1, domain: str = "", unsupported: UnsupportedCheck | None = None,
              foldable: bool = True):
    """Register ``fn`` as the converter of ``op_type`` from opset ``since`` on."""

    def register(fn: ConverterFn) -> ConverterFn:
        key = (normalise_domain(domain), op_type)
        entries = _REGISTRY.setdefault(key, [])
        if any(c.since == since for c in entries):
            raise ValueError(f"duplicate converter for {op_type} since opset {since}")
        entries.append(Converter(key[0], op_type, since, fn, fn.__module__, unsupported, foldable))
        entries.sort(key=lambda c: c.since)
        return fn

    return register


def load_converters() -> None:
    """Import every module of ``paddle2tf.ops``; a module that fails to import is recorded, not fatal."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from paddle2tf import ops

    for info in pkgutil.iter_modules(ops.__path__):
        name = f"{ops.__name__}.{info.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # one broken converter module must not break the package
            _BROKEN_MODULES[name] = f"{type(exc).__name__}: {exc}"


def broken_modules() -> dict[str, str]:
    load_converters()
    return dict(_BROKEN_MODULES)


def lookup(op_type: str, opset: int, domain: str = "") -> Converter | None:
    load_converters()
    best = None
    for entry in _REGISTRY.get((normalise_domain(domain), op_type), []):
        if entry.since <= opset:
            best = entry
    return best


def all_converters() -> dict[tuple[str, str], list[Converter]]:
    load_converters()
    return {key: list(entries) for key, entries in sorted(_REGISTRY.items())}
