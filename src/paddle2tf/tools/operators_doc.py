"""The operator support table: the converter registry plus the ONNX node-suite results per op.

``python -m paddle2tf.tools.operators_doc`` runs the node suite (``paddle2tf.tools.node_suite``, or
reads ``--results FILE`` written by ``python -m paddle2tf.tools.node_suite --json FILE``), stores the
results next to this module (``node_suite_results.json``, read by ``support_table()``) and writes
``docs/operators.md``.

``support_table()`` returns the same table as plain text, from the registry and the stored results,
without running anything (for ``paddle2tf ops``).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from paddle2tf.converter import registry
from paddle2tf.converter.plugins import records
from paddle2tf.tools import node_suite

RESULTS_PATH = os.path.join(os.path.dirname(__file__), "node_suite_results.json")
DEFAULT_DOC = os.path.join("docs", "operators.md")
OUTCOMES = ("pass", "fail", "rejected", "excluded")


@dataclass
class OpRow:
    domain: str
    op: str
    since: list[int] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    failing: list[tuple[str, str]] = field(default_factory=list)  # (test, first line of the error)

    @property
    def label(self) -> str:
        return self.op if not self.domain else f"{self.domain}.{self.op}"


def _describe_check(check) -> str | None:
    """A declared limitation: the first paragraph of the check's docstring, else its name (lambdas: None,
    see observed reasons)."""
    if check is None:
        return None
    doc = inspect.getdoc(check)
    if doc:
        return " ".join(doc.split("\n\n")[0].split()).rstrip(".")
    name = getattr(check, "__qualname__", "")
    if "<lambda>" in name or not name:
        return None
    return f"see {check.__module__}.{name.replace('.<locals>', '')}"


def _rejection_reasons(outcomes, tests_by_name) -> dict[str, set[str]]:
    """Op a rejected test is about -> the reasons the pre-scan gave ('Op (reason)' labels). A reason about
    another op (e.g. a node of an expanded function body) keeps that op's name: the rejection belongs to
    the test's op row, whose counts include the test."""
    reasons: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        if o.outcome != "rejected" or o.name not in tests_by_name:
            continue
        for label in node_suite.rejection(tests_by_name[o.name]):
            op, _, reason = label.partition(" (")
            if reason.endswith(")"):
                reasons[o.op].add(reason[:-1] if op == o.op.rpartition(".")[2] else label)
    return reasons


def _origin(entry) -> str:
    """The module column: paddle2tf's module, or ``plugin:NAME`` (a file plugin by its file name)."""
    if not entry.plugin:
        return entry.module.rsplit(".", 1)[-1]
    name = os.path.basename(entry.plugin) if entry.plugin.endswith(".py") else entry.plugin
    replaced = entry.replaces.rsplit(".", 1)[-1]
    return f"plugin:{name}" + (f" (replaces {replaced})" if entry.replaces else "")


def build_rows(outcomes: list[node_suite.Outcome] | None, with_plugins: bool = True) -> list[OpRow]:
    rows: dict[tuple[str, str], OpRow] = {}
    for (domain, op), all_entries in registry.all_converters().items():
        entries = [e for e in all_entries if with_plugins or not e.plugin]
        if not entries:
            continue
        row = rows.setdefault((domain, op), OpRow(domain, op))
        row.since = [e.since for e in entries]
        row.modules = sorted({_origin(e) for e in entries})
        for entry in entries:
            described = _describe_check(entry.unsupported)
            if described and described not in row.limitations:
                row.limitations.append(described)
    if outcomes:
        tests_by_name = {t.name: t for t in node_suite.node_tests()}
        reasons = _rejection_reasons(outcomes, tests_by_name)
        for o in outcomes:
            domain, _, op = o.op.rpartition(".")
            row = rows.setdefault((domain, op), OpRow(domain, op))
            row.counts[o.outcome] += 1
            if o.outcome == "fail":
                lines = [line.strip() for line in o.detail.splitlines() if line.strip()]
                row.failing.append((o.name, " ".join(lines[:2])[:200]))
        for row in rows.values():
            if reasons.get(row.label):
                row.limitations.append(f"rejected in the suite: {'; '.join(sorted(reasons[row.label]))}")
    return sorted(rows.values(), key=lambda r: (r.domain, r.op))


def load_stored_results() -> tuple[list[node_suite.Outcome] | None, str | None]:
    if not os.path.exists(RESULTS_PATH):
        return None, None
    import json

    with open(RESULTS_PATH, encoding="utf-8") as fh:
        data = json.load(fh)
    return [node_suite.Outcome(**r) for r in data["results"]], data.get("onnx")


def _counts_text(row: OpRow) -> str:
    c = row.counts
    if not sum(c.values()):
        return "-"
    return f"{c['pass']}/{c['fail']}/{c['rejected']}" + (f" (+{c['excluded']} excl.)" if c["excluded"] else "")


def support_table(outcomes: list[node_suite.Outcome] | None = None) -> str:
    """Plain-text table: op, domain, since-versions, module, node-suite pass/fail/rejected, limitations.

    Uses the stored node-suite results (``node_suite_results.json``) unless ``outcomes`` is given.
    """
    onnx_version = None
    if outcomes is None:
        outcomes, onnx_version = load_stored_results()
    rows = build_rows(outcomes)
    header = ("op", "domain", "since", "module", "suite p/f/r", "limitations")
    lines = [header]
    for row in rows:
        lines.append((row.op, row.domain or "ai.onnx", ",".join(map(str, row.since)) or "-",
                      ",".join(row.modules) or "(none)", _counts_text(row), "; ".join(row.limitations)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
            for line in lines]
    if outcomes:
        counts = node_suite.summary(outcomes)
        text.append("")
        text.append(f"ONNX node suite{f' (onnx {onnx_version})' if onnx_version else ''}: "
                    f"{counts['pass']}/{counts['eligible']} eligible tests pass, {counts['fail']} fail, "
                    f"{counts['rejected']} rejected by the pre-scan, {counts['excluded']} excluded by category.")
    else:
        text.append("")
        text.append("(no node-suite results stored: run python -m paddle2tf.tools.operators_doc)")
    return "\n".join(text + _registry_notes())


def _registry_notes() -> list[str]:
    """Loaded plugins and what failed to import (converter modules, entry-point plugins)."""

    loaded, broken = records(), registry.broken_modules()
    lines = [""] if loaded or broken else []
    for record in loaded:
        lines.append(f"plugin ({record.kind}) {record.source}: {', '.join(record.ops) or 'no converters'}"
                     + (f"; replaces {', '.join(record.replaces)}" if record.replaces else ""))
    for name, error in sorted(broken.items()):
        lines.append(f"BROKEN {name}: {error}")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(outcomes: list[node_suite.Outcome]) -> str:
    import onnx

    rows = build_rows(outcomes, with_plugins=False)  # the document describes paddle2tf, not this machine's plugins
    counts = node_suite.summary(outcomes)
    implemented = [r for r in rows if r.since]
    missing = [r for r in rows if not r.since]
    out = [
        "# Supported ONNX operators",
        "",
        "Generated by `python -m paddle2tf.tools.operators_doc` from the converter registry and the ONNX",
        f"node conformance suite (onnx {onnx.__version__}, `tests/tools/test_backend_suite.py`). Do not edit by hand.",
        "",
        f"**Node suite: {counts['pass']} / {counts['eligible']} eligible tests pass**; {counts['fail']} fail, "
        f"{counts['rejected']} are rejected by the pre-scan (op or variant declared unsupported), "
        f"{counts['excluded']} of {counts['total']} are excluded by category:",
        "",
    ]
    excluded = Counter(o.detail for o in outcomes if o.outcome == "excluded")
    for category, reason in node_suite.EXCLUDED_CATEGORIES.items():
        out.append(f"- {category} ({excluded.get(category, 0)} tests): {reason}")
    out += [
        "",
        "Suite columns count the node tests about the op (`*_expanded` tests count for the function op",
        "they expand): pass / fail / rejected (rejected: the model is refused before conversion, naming",
        "the node). The converter registered at the greatest `since` <= the model's opset is used.",
        "",
        "## Implemented",
        "",
        "| op | domain | since | module | pass | fail | rejected | limitations |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in implemented:
        out.append(f"| {r.op} | {r.domain or 'ai.onnx'} | {', '.join(map(str, r.since))} | {', '.join(r.modules)} "
                   f"| {r.counts['pass']} | {r.counts['fail']} | {r.counts['rejected']} "
                   f"| {_md('; '.join(r.limitations))} |")
    out += ["", "## Not implemented (ops of the node suite without a converter)", "",
            "| op | domain | rejected tests |", "| --- | --- | ---: |"]
    for r in missing:
        if r.counts["rejected"] or r.counts["fail"] or r.counts["pass"]:
            out.append(f"| {r.op} | {r.domain or 'ai.onnx'} | {r.counts['rejected']} |")
    failing = [(r, name, error) for r in rows for name, error in r.failing]
    out += ["", "## Failing node tests", "",
            "A failing test is a conformance bug: the converter is fixed, or the op variant is declared unsupported",
            "in the converter's pre-scan check (with the reason listed under limitations above).", ""]
    if failing:
        out += [f"- `{name}` ({r.label}): {_md(error)}" for r, name, error in failing]
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paddle2tf.tools.operators_doc",
                                     description="write docs/operators.md from the registry and the node suite")
    parser.add_argument("--results", help="node-suite results JSON (default: run the suite)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for running the suite")
    parser.add_argument("--output", default=DEFAULT_DOC, help=f"markdown file (default {DEFAULT_DOC})")
    parser.add_argument("--print", action="store_true", help="also print the text table")
    args = parser.parse_args(argv)
    if args.results:
        outcomes = node_suite.load_results(args.results)
    else:
        outcomes = node_suite.run_suite(args.jobs)
    node_suite.save_results(outcomes, RESULTS_PATH)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(render_markdown(outcomes))
    if args.print:
        print(support_table(outcomes))
    counts = node_suite.summary(outcomes)
    print(f"wrote {args.output}: {counts['pass']}/{counts['eligible']} eligible node tests pass, "
          f"{counts['fail']} fail, {counts['rejected']} rejected, {counts['excluded']} excluded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
