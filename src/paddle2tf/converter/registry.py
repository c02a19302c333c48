"""Registry of per-op converters keyed by (domain, op type, since-version).

A converter is a small function ``fn(node, inputs, attrs, ctx)`` returning one TF tensor or a
sequence of them (one per ONNX output). It is registered with::

    @converter("Relu", since=6)
    def relu(node, inputs, attrs, ctx):
        return tf.nn.relu(inputs[0])

For a model whose opset for the op's domain is N, the converter with the greatest ``since`` <= N
is used. ``unsupported`` optionally names attribute combinations the converter cannot handle,
so the pre-scan can reject a model before anything is built. ``elementwise=True`` declares that
each output element depends only on the input elements at its (broadcast) position, so the runner
may call the converter on channels-last tensors (see ``GraphRunner``) without any change to it.

Plugins (docs/writing-converters.md, "Plugins") register converters the same way from outside the package: a
``.py`` file or module given to ``load_plugin`` (``--plugin``), or the modules named by the entry points of
group ``paddle2tf.converters``, imported by ``load_converters`` after paddle2tf's own. A plugin's registration
for an existing (domain, op type, since) replaces that converter (the last one loaded wins); between
paddle2tf's own modules a duplicate is a bug and raises. An entry point that fails to import is recorded
like a broken module; a plugin named explicitly that fails to import is a ``BadInputError``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from paddle2tf.errors import BadInputError

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
    elementwise: bool = False  # layout-agnostic: may run on channels-last inputs
    plugin: str = ""  # source of the plugin that registered it (Plugin.source); "" for paddle2tf's own
    replaces: str = ""  # module or plugin whose converter for the same (domain, op, since) it replaced


@dataclass(frozen=True)
class Plugin:
    source: str  # absolute path of a .py file, a module name, or an entry point "name = value"
    kind: str  # file | module | entry_point
    sha256: str | None = None  # of a file plugin: which version of it built a SavedModel


OPS_PACKAGE = "paddle2tf.ops"  # paddle2tf's own converters, one module per op family
ENTRY_POINT_GROUP = "paddle2tf.converters"

_REGISTRY: dict[tuple[str, str], list[Converter]] = {}
_BROKEN_MODULES: dict[str, str] = {}
_PLUGINS: dict[str, Plugin] = {}
_loading: list[str] = []  # plugins being imported: what their modules (and modules they import) register
_loaded = False


def normalise_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def converter(op_type: str, since: int = 1, domain: str = "", unsupported: UnsupportedCheck | None = None,
              foldable: bool = True, elementwise: bool = False):
    """Register ``fn`` as the converter of ``op_type`` from opset ``since`` on."""

    def register(fn: ConverterFn) -> ConverterFn:
        plugin = _plugin_of(fn)
        if plugin:
            load_converters()  # paddle2tf's own first: a plugin replaces one of them, never the reverse
        key = (normalise_domain(domain), op_type)
        entries = _REGISTRY.setdefault(key, [])
        replaced = next((c for c in entries if c.since == since), None)
        if replaced is not None:
            if not plugin:
                raise ValueError(f"duplicate converter for {op_type} since opset {since}")
            entries.remove(replaced)
        entries.append(Converter(key[0], op_type, since, fn, fn.__module__, unsupported, foldable, elementwise,
                                 plugin, (replaced.plugin or replaced.module) if replaced else ""))
        entries.sort(key=lambda c: c.since)
        return fn

    return register


def load_converters() -> None:
    """Import every module of ``paddle2tf.ops``, then the plugins installed as ``paddle2tf.converters`` entry
    points; a module or installed plugin that fails to import is recorded, not fatal."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    # Discovered by name, like the plugins: the converter modules build on this registry (ops imports converter).
    ops = importlib.import_module(OPS_PACKAGE)
    for info in pkgutil.iter_modules(ops.__path__):
        name = f"{ops.__name__}.{info.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # one broken converter module must not break the package
            _BROKEN_MODULES[name] = f"{type(exc).__name__}: {exc}"
    for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"{entry_point.name} = {entry_point.value}"
        try:
            _import_plugin(source, entry_point.load)
        except Exception as exc:  # an installed plugin that is broken must not break every conversion
            _BROKEN_MODULES[f"plugin {source}"] = f"{type(exc).__name__}: {exc}"
        else:
            _PLUGINS[source] = Plugin(source, "entry_point")


def _plugin_of(fn: ConverterFn) -> str:
    if _loading:
        return _loading[0]
    module = fn.__module__
    if module == "paddle2tf" or module.startswith("paddle2tf."):
        return ""
    # Registered by a module the user imported themselves (Python API): a plugin all the same.
    _PLUGINS.setdefault(module, Plugin(module, "module"))
    return module


def _import_plugin(source: str, load: Callable[[], object]) -> None:
    """Run ``load`` with registrations attributed to ``source``; on failure undo what it registered."""
    saved = {key: list(entries) for key, entries in _REGISTRY.items()}
    _loading.append(source)
    try:
        load()
    except BaseException:
        _REGISTRY.clear()
        _REGISTRY.update(saved)
        raise
    finally:
        _loading.pop()


def _import_file(path: str) -> None:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"paddle2tf_plugin_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def load_plugin(source: str) -> Plugin:
    """Import a converter plugin: a ``.py`` file (a path) or an importable module name. Its ``@converter``
    registrations are recorded as coming from it. Loading a plugin again does nothing."""
    load_converters()
    is_file = source.endswith(".py") or os.sep in source
    key = os.path.abspath(source) if is_file else source
    if key in _PLUGINS:
        return _PLUGINS[key]
    if is_file and not os.path.isfile(key):
        raise BadInputError(f"plugin {source}: no such file")
    try:
        _import_plugin(key, (lambda: _import_file(key)) if is_file else (lambda: importlib.import_module(key)))
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BadInputError(f"plugin {source}: cannot be loaded ({type(exc).__name__}"
                            f"{': ' + detail if detail else ''})") from exc
    sha256 = None
    if is_file:
        with open(key, "rb") as handle:
            sha256 = hashlib.sha256(handle.read()).hexdigest()
    plugin = _PLUGINS[key] = Plugin(key, "file" if is_file else "module", sha256)
    return plugin


def plugins() -> list[Plugin]:
    """Every plugin loaded, in load order (entry points first)."""
    load_converters()
    return list(_PLUGINS.values())


def broken_modules() -> dict[str, str]:
    """Converter modules and entry-point plugins that failed to import ('plugin NAME = VALUE'): error."""
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
