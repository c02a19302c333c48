"""Converter plugins seen from a conversion: loading them, recording them in report.json, reloading them for
``verify``/``locate`` on an OUT_DIR, and what a custom-domain node means for the pre-scan and for ONNX Runtime.

The registry side (``load_plugin``, entry points, which converter came from which plugin) is in
``converter/registry.py``; how to write one is in docs/writing-converters.md ("Plugins").
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import onnx

from paddle2tf.converter import registry
from paddle2tf.converter.prescan import check_supported as pre_scan
from paddle2tf.errors import BadInputError, UnsupportedModelError
from paddle2tf.onnxutil.graph import ONNX_DOMAINS, graph_opsets, iter_nodes

# ONNX's own domains: any other domain is a custom op (Paddle custom operators, vendor extensions).
DOCS = "docs/writing-converters.md, section Plugins"


@dataclass
class PluginRecord:
    """A loaded plugin as report.json records it (``plugins``)."""

    source: str  # absolute .py path, module name, or entry point "name = value"
    kind: str  # file | module | entry_point
    sha256: str | None = None  # of a file plugin, when it was loaded
    ops: list[str] = field(default_factory=list)  # "domain.Op vN" it registered
    replaces: list[str] = field(default_factory=list)  # "domain.Op vN (module)" it replaced


def _label(domain: str, op_type: str) -> str:
    return f"{domain}.{op_type}" if domain else op_type


def load(sources: Iterable[str | os.PathLike]) -> None:
    """Load plugins named explicitly (``--plugin``, ``plugins:``); a broken one is a one-line BadInputError."""
    for source in sources:
        registry.load_plugin(os.fspath(source))


def records() -> list[PluginRecord]:
    """Every plugin loaded in this process, with the converters it registered."""
    found = {p.source: PluginRecord(p.source, p.kind, p.sha256) for p in registry.plugins()}
    for entries in registry.all_converters().values():
        for entry in entries:
            record = found.get(entry.plugin)
            if record is None:
                continue
            name = f"{_label(entry.domain, entry.op_type)} v{entry.since}"
            record.ops.append(name)
            if entry.replaces:
                record.replaces.append(f"{name} ({entry.replaces})")
    return list(found.values())


def record_dicts() -> list[dict]:
    return [asdict(record) for record in records()]


def load_recorded(recorded: list[dict], progress: Callable[[str], None] = lambda _: None) -> None:
    """Reload the file and module plugins report.json names (entry points load themselves).

    A missing file is skipped when a file plugin of the same name or content is loaded already (moved, and
    given again with ``--plugin``), else a BadInputError saying which; a file changed since the conversion is
    loaded as it is now, with a progress note (what is analysed is what it builds now)."""
    files = [p for p in registry.plugins() if p.kind == "file"]
    given = {p.sha256 for p in files} | {os.path.basename(p.source) for p in files}
    for record in recorded:
        source, kind = record["source"], record["kind"]
        if kind == "entry_point":
            continue
        if kind == "file" and not os.path.isfile(source) and (record.get("sha256") in given
                                                               or os.path.basename(source) in given):
            continue
        if kind == "file" and not os.path.isfile(source):
            raise BadInputError(f"plugin {source} (recorded in report.json) no longer exists: "
                                "give its new place with --plugin")
        if kind == "file" and record.get("sha256"):
            with open(source, "rb") as handle:
                if hashlib.sha256(handle.read()).hexdigest() != record["sha256"]:
                    progress(f"plugin {source} changed since the conversion; using it as it is now")
        registry.load_plugin(source)


# -- custom-domain nodes ----------------------------------------------------------------------------
def custom_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [node for node in iter_nodes(model.graph) if node.domain not in ONNX_DOMAINS]


def _onnxruntime_ops() -> set[tuple[str, str]]:
    from onnxruntime.capi import onnxruntime_pybind11_state

    return {(schema.domain, schema.name) for schema in onnxruntime_pybind11_state.get_all_operator_schema()}


def onnxruntime_skip_reason(model: onnx.ModelProto) -> str:
    """Why ONNX Runtime cannot run ``model`` ('' when it can): nodes of domains it has no operator for."""
    custom = custom_nodes(model)
    if not custom:
        return ""
    known = _onnxruntime_ops()
    foreign = [node for node in custom if (node.domain, node.op_type) not in known]
    if not foreign:
        return ""
    names = ", ".join(f"'{n.name or n.op_type}' ({_label(n.domain, n.op_type)})" for n in foreign[:3])
    more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
    return f"ONNX Runtime has no kernel for custom-domain node(s) {names}{more}"


def how_to_hint(model: onnx.ModelProto) -> str:
    """One sentence on writing a plugin for the first custom-domain node without a converter ('' if none)."""

    opsets = graph_opsets(model)
    missing = [node for node in custom_nodes(model)
               if registry.lookup(node.op_type, opsets.get(registry.normalise_domain(node.domain), 1),
                                  node.domain) is None]
    if not missing:
        return ""
    node = missing[0]
    more = f" (and {len(missing) - 1} more custom-domain node(s))" if len(missing) > 1 else ""
    return (f"node '{node.name or node.op_type}' is op {node.op_type} of custom domain '{node.domain}'{more}: "
            f"write its converter in TF ops, @converter(\"{node.op_type}\", domain=\"{node.domain}\") in a "
            f"plugin file, and pass --plugin FILE ({DOCS})")


def check_supported(model: onnx.ModelProto) -> None:
    """The converter's pre-scan; for a custom op without a converter the error also says how to write one."""

    try:
        pre_scan(model)
    except UnsupportedModelError as exc:
        hint = how_to_hint(model)
        if not hint:
            raise
        raise UnsupportedModelError(f"{exc}; {hint}") from None


def render_broken_converters() -> str:
    """Converter modules and installed plugins (entry points) that failed to import: their ops cannot convert."""
    broken = sorted(registry.broken_modules().items())
    return "\n".join(f"broken converter {'plugin' if name.startswith('plugin ') else 'module'} "
                     f"{name.removeprefix('plugin ')}: {error}" for name, error in broken)
