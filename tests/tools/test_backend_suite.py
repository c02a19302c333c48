"""ONNX conformance: every node test shipped in the onnx package, run through ``paddle2tf.tools.backend``.

Each node test (CPU device) is exactly one of:

- **excluded by category** (explicit skip naming the category): training ops, Optional/Sequence-typed
  values, randomised ops, string ops; see ``node_suite.EXCLUDED_CATEGORIES`` for the reasons;
- **expected unsupported** (``EXPECTED_UNSUPPORTED`` in ``node_suite_expectations.py``): the pre-scan
  ``find_unsupported`` must report the model and ``prepare`` must raise ``UnsupportedModelError``;
- **converted**: the pre-scan must accept it and ``BackendTest``'s own comparison (the test's
  rtol/atol) must pass. There are no expected failures: a test the converter cannot pass is fixed, or
  its op variant is declared unsupported by the converter's pre-scan check (so expected unsupported).

Per-op results: ``python -m paddle2tf.tools.operators_doc`` (docs/operators.md).
"""

from __future__ import annotations

import functools
import os

import onnx
import onnx.backend.test
import pytest

import paddle2tf.tools.backend
from paddle2tf.converter.prescan import find_unsupported
from paddle2tf.errors import UnsupportedModelError
from paddle2tf.tools import node_suite

from helpers.node_suite_expectations import EXPECTED_UNSUPPORTED

# The official runner over our backend; its node-test functions load each test's model and data,
# call paddle2tf.tools.backend.prepare/run and compare with the expected outputs.
backend_test = onnx.backend.test.BackendTest(paddle2tf.tools.backend, __name__)

TESTS = node_suite.node_tests()
EXPECTED_REJECTIONS = {name: label for label, names in EXPECTED_UNSUPPORTED.items() for name in names}


@functools.cache
def _node_test_case():
    # Looked up lazily and kept out of the module namespace: pytest would collect a TestCase class there.
    return backend_test.test_cases["OnnxBackendNodeModelTest"]


def _run_backend_test(name: str) -> None:
    case = _node_test_case()
    getattr(case(name), name)()


@pytest.mark.parametrize("test", [pytest.param(test, id=test.name) for test in TESTS])
def test_node(test: node_suite.NodeTest):
    if test.category is not None:
        pytest.skip(f"excluded by category '{test.category}': {node_suite.EXCLUDED_CATEGORIES[test.category]}")
    model = onnx.load(os.path.join(test.model_dir, "model.onnx"))
    problems = find_unsupported(model)
    if test.name in EXPECTED_REJECTIONS:
        assert problems, (f"{test.name} is listed in EXPECTED_UNSUPPORTED ({EXPECTED_REJECTIONS[test.name]}) "
                          "but the pre-scan accepts it now: remove it from the list")
        with pytest.raises(UnsupportedModelError):
            paddle2tf.tools.backend.prepare(model)
        return
    assert not problems, (f"the pre-scan rejects {test.name} ({'; '.join(sorted(problems))}); if that is "
                          "intended, add it to EXPECTED_UNSUPPORTED")
    _run_backend_test(test.name)


def test_node_suite_is_complete():
    """Every node test of the installed onnx is classified; the lists name existing, eligible tests."""
    from onnx.backend.test.loader import load_model_tests

    assert len(TESTS) == len(load_model_tests(kind="node"))
    assert {t.name for t in TESTS} <= set(backend_test._test_items["NodeModel"])
    eligible = {t.name for t in TESTS if t.category is None}
    assert not set(EXPECTED_REJECTIONS) - eligible
    assert {t.category for t in TESTS} - {None} <= set(node_suite.EXCLUDED_CATEGORIES)
