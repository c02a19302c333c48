"""The ONNX node conformance suite (``onnx.backend.test`` node tests) run through ``paddle2tf.tools.backend``.

Shared by ``tests/tools/test_backend_suite.py`` (which asserts the outcome of every test) and
``paddle2tf.tools.operators_doc`` (which reports the outcomes per op). Every node test is either

- **excluded** by category (training ops, Optional/Sequence-typed values, randomised ops, strings),
  for the reason given in ``EXCLUDED_CATEGORIES``;
- **rejected**: the converter's pre-scan (``find_unsupported``) declares an op or op variant of the
  model unsupported, so ``prepare`` raises ``UnsupportedModelError``;
- or run and compared with the expected outputs by ``BackendTest`` (its own rtol/atol):
  **pass** or **fail**.

Usage: ``python -m paddle2tf.tools.node_suite [--jobs N] [--json FILE] [--expectations]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import onnx

import paddle2tf.tools.backend
from paddle2tf.converter.prescan import find_unsupported
from paddle2tf.errors import UnsupportedModelError
from paddle2tf.onnxutil.graph import iter_nodes, node_subgraphs

DEVICE_SUFFIX = "_cpu"

TRAINING_OPS = {"Adagrad", "Adam", "Momentum", "Gradient"}
OPTIONAL_SEQUENCE_OPS = {
    "Optional", "OptionalHasElement", "OptionalGetElement", "SequenceAt", "SequenceConstruct",
    "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "SplitToSequence",
    "ConcatFromSequence",
}
RANDOM_OPS = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}
STRING_OPS = {"StringNormalizer", "StringSplit", "StringConcat", "RegexFullMatch"}

# category -> reason. The only categories of node tests the suite does not run (issue "ONNX conformance").
EXCLUDED_CATEGORIES = {
    "training": "training-only ops and training-mode variants (ai.onnx.preview.training optimisers, "
                "Gradient, *_training* tests): the converter produces inference graphs",
    "optional/sequence": "Optional- or Sequence-typed graph values: a SavedModel signature has tensors only",
    "random": "randomised ops (Random*, Bernoulli, Multinomial): outputs are not reproducible",
    "string": "string tensors and string ops: out of scope for numeric model conversion",
}


@dataclass
class NodeTest:
    name: str  # BackendTest's name, e.g. "test_abs_cpu"
    model_dir: str
    op: str  # the op the test is about (the function op for *_expanded tests)
    category: str | None  # an EXCLUDED_CATEGORIES key, or None when the test is eligible


@dataclass
class Outcome:
    name: str
    op: str
    outcome: str  # "pass" | "fail" | "rejected" | "excluded"
    detail: str = ""
    seconds: float = 0.0


def _all_types(graph: onnx.GraphProto) -> Iterable[onnx.TypeProto]:
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        yield vi.type

    for node in graph.node:
        for sub in node_subgraphs(node):
            yield from _all_types(sub)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == onnx.TensorProto.STRING:
                yield onnx.helper.make_tensor_type_proto(onnx.TensorProto.STRING, None)


def _nodes(graph: onnx.GraphProto):
    return list(iter_nodes(graph))


def _string_attr_target(node: onnx.NodeProto) -> bool:
    return node.op_type in ("Cast", "CastLike") and any(
        a.name == "to" and a.i == onnx.TensorProto.STRING for a in node.attribute)


def category_of(name: str, model: onnx.ModelProto) -> str | None:
    nodes = _nodes(model.graph)
    ops = {n.op_type for n in nodes}
    domains = {n.domain for n in nodes}
    if "_training" in name or ops & TRAINING_OPS or "ai.onnx.preview.training" in domains:
        return "training"
    kinds = {t.WhichOneof("value") for t in _all_types(model.graph)}
    if ops & OPTIONAL_SEQUENCE_OPS or kinds & {"sequence_type", "optional_type"}:
        return "optional/sequence"
    if ops & RANDOM_OPS:
        return "random"
    string_typed = any(t.WhichOneof("value") == "tensor_type" and t.tensor_type.elem_type == onnx.TensorProto.STRING
                       for t in _all_types(model.graph))
    if ops & STRING_OPS or string_typed or any(_string_attr_target(n) for n in nodes):
        return "string"
    return None


@functools.cache
def _op_names() -> dict[str, str]:
    """lower-case op name without underscores -> op name, for every op schema."""
    return {s.name.lower(): s.name for s in onnx.defs.get_all_schemas_with_history()}


def op_of(name: str, model: onnx.ModelProto) -> str:
    """The op a node test is about: the op named by the test name, among the ops in its graph."""
    base = re.sub(r"_expanded(_ver\d+)?$", "", re.sub(r"^test_", "", name.removesuffix(DEVICE_SUFFIX)))
    squashed = base.replace("_", "").lower()
    nodes = _nodes(model.graph)
    ops = [n.op_type for n in nodes]
    domains = {n.op_type: n.domain for n in nodes if n.domain not in ("", "ai.onnx")}
    best = ""
    for op in {*ops, *(_op_names().values() if "_expanded" in name else ())}:
        if (squashed.startswith(op.lower()) or squashed.startswith(f"aionnxml{op.lower()}")) and len(op) > len(best):
            best = op
    if not best:
        non_const = [op for op in ops if op != "Constant"]
        best = (non_const or ops or ["?"])[0]
    return f"{domains[best]}.{best}" if best in domains else best


@functools.cache
def node_tests() -> list[NodeTest]:
    """Every node test of the installed onnx package (CPU device), sorted by name."""
    from onnx.backend.test.loader import load_model_tests

    tests = []
    for case in load_model_tests(kind="node"):
        model = onnx.load(os.path.join(case.model_dir, "model.onnx"), load_external_data=False)
        name = case.name + DEVICE_SUFFIX
        tests.append(NodeTest(name, case.model_dir, op_of(name, model), category_of(name, model)))
    return sorted(tests, key=lambda t: t.name)


@functools.cache
def backend_test():
    """``onnx.backend.test.BackendTest`` over ``paddle2tf.tools.backend`` (its node-test functions are used)."""
    import onnx.backend.test


    return onnx.backend.test.BackendTest(paddle2tf.tools.backend, __name__)


def test_function(name: str):
    """The BackendTest function for one node test: loads, prepares, runs and compares (rtol/atol of the test)."""
    return backend_test()._test_items["NodeModel"][name].func


def rejection(test: NodeTest) -> dict[str, list[str]]:
    """The converter pre-scan's findings for the test's model (empty: the model is supported)."""

    return find_unsupported(onnx.load(os.path.join(test.model_dir, "model.onnx")))


def run_test(test: NodeTest) -> Outcome:
    if test.category is not None:
        return Outcome(test.name, test.op, "excluded", test.category)
    start = time.perf_counter()
    problems = rejection(test)
    try:
        test_function(test.name)(None)
    except UnsupportedModelError as exc:
        outcome = Outcome(test.name, test.op, "rejected" if problems else "fail", str(exc))
    except Exception as exc:  # noqa: BLE001 - any other failure is a conformance failure
        outcome = Outcome(test.name, test.op, "fail", f"{type(exc).__name__}: {exc}".strip()[:2000])
    else:
        outcome = Outcome(test.name, test.op, "fail" if problems else "pass",
                          "accepted despite pre-scan findings" if problems else "")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _run_chunk(names: list[str]) -> list[dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    by_name = {t.name: t for t in node_tests()}
    return [asdict(run_test(by_name[name])) for name in names]


def run_suite(jobs: int = 2, names: Iterable[str] | None = None) -> list[Outcome]:
    """Run the node tests (all, or ``names``) in ``jobs`` fresh processes; outcomes sorted by name."""
    import multiprocessing

    wanted = sorted(names) if names is not None else [t.name for t in node_tests()]
    chunks = [wanted[i::jobs] for i in range(jobs)]
    if jobs == 1:
        results = [_run_chunk(wanted)]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_run_chunk, chunks)
    return sorted((Outcome(**r) for chunk in results for r in chunk), key=lambda o: o.name)


def save_results(outcomes: list[Outcome], path: str) -> None:
    import onnx as _onnx

    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"onnx": _onnx.__version__, "results": [asdict(o) for o in outcomes]}, fh, indent=1)


def load_results(path: str) -> list[Outcome]:
    with open(path, encoding="utf-8") as fh:
        return [Outcome(**r) for r in json.load(fh)["results"]]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"total": len(outcomes), "pass": 0, "fail": 0, "rejected": 0, "excluded": 0}
    for o in outcomes:
        counts[o.outcome] += 1
    counts["eligible"] = counts["total"] - counts["excluded"]
    return counts


def rejection_label(test: NodeTest) -> str:
    """What the pre-scan rejects in the test's model, e.g. 'ReduceSum; Resize' (node names dropped)."""
    return "; ".join(sorted(rejection(test)))


def _key_lines(label: str) -> list[str]:
    """A dict key line for ``label``: adjacent literals in parentheses when one would pass the line length."""
    if len(f"    {label!r}: [") <= 120:
        return [f"    {label!r}: ["]
    chunks = textwrap.wrap(label, 96, drop_whitespace=False, break_long_words=False)
    return ["    (", *(f"        {chunk!r}" for chunk in chunks), "    ): ["]


def expectations_source(outcomes: list[Outcome]) -> str:
    """Python source of EXPECTED_UNSUPPORTED (tests/node_suite_expectations.py), grouped by what is rejected."""
    by_name = {t.name: t for t in node_tests()}
    groups: dict[str, list[str]] = {}
    for o in outcomes:
        if o.outcome == "rejected":
            groups.setdefault(rejection_label(by_name[o.name]), []).append(o.name)
    lines = [
        '"""Node tests the converter\'s pre-scan rejects (generated by',
        '``python -m paddle2tf.tools.node_suite --expectations``; review the diff when regenerating).',
        "",
        "Keys: what ``find_unsupported`` reports for the test's model; values: the tests.",
        '"""',
        "",
        "EXPECTED_UNSUPPORTED = {",
    ]
    for label in sorted(groups):
        lines.extend(_key_lines(label))
        lines.extend(f"        {name!r}," for name in groups[label])
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paddle2tf.tools.node_suite", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="write the outcomes to this JSON file")
    parser.add_argument("--expectations", action="store_true", help="print EXPECTED_UNSUPPORTED for the test file")
    parser.add_argument("-k", help="only tests whose name contains this string")
    args = parser.parse_args(argv)
    names = [t.name for t in node_tests() if not args.k or args.k in t.name]
    outcomes = run_suite(args.jobs, names)
    if args.json:
        save_results(outcomes, args.json)
    if args.expectations:
        sys.stdout.write(expectations_source(outcomes))
        return 0
    for o in outcomes:
        if o.outcome == "fail":
            print(f"FAIL {o.name} [{o.op}]: {o.detail.splitlines()[0] if o.detail else ''}"[:300])
    counts = summary(outcomes)
    print(f"{counts['pass']}/{counts['eligible']} eligible passed, {counts['rejected']} rejected, "
          f"{counts['fail']} failed, {counts['excluded']} excluded by category (of {counts['total']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

