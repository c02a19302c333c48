import numpy as np
import pytest

from paddle2tf.verify.metrics import FAIL, PASS, WARN, Tolerance, compare, worst


def test_identical_arrays_pass_with_zero_error():
    a = np.linspace(-3, 3, 50, dtype=np.float32)
    m = compare(a, a.copy())
    assert (m.verdict, m.max_abs, m.max_rel, m.l2, m.out_of_tolerance) == (PASS, 0.0, 0.0, 0.0, 0)
    assert m.cosine == pytest.approx(1.0)


def test_metric_definitions():
    a = np.array([3.0, -4.0, 0.0])
    b = np.array([3.0, -4.0, 0.5])
    m = compare(a, b)
    assert m.max_abs == pytest.approx(0.5)
    assert m.max_rel == pytest.approx(0.5 / 4.0)
    assert m.rel_l2 == pytest.approx(0.5 / 5.0)
    assert m.l2 == pytest.approx(0.5)
    assert m.cosine == pytest.approx(25.0 / (5.0 * np.sqrt(25.25)))


def test_elementwise_rule_needs_both_atol_and_rtol_exceeded():
    a = np.array([1000.0, 0.5], dtype=np.float64)
    # 5e-3 absolute on 1000 is 5e-6 relative: within rtol 1e-5 even though far beyond atol
    assert compare(a, a + [5e-3, 0.0], Tolerance(scale_atol=False)).verdict == PASS
    # 2e-5 absolute on 0.5 exceeds both atol 1e-5 and rtol*|a| = 5e-6, but holds in the 1e-3 band
    assert compare(a, a + [0.0, 2e-5], Tolerance(scale_atol=False)).verdict == WARN
    assert compare(a, a + [0.0, 2e-2], Tolerance(scale_atol=False)).verdict == FAIL


def test_scaled_atol_follows_output_magnitude():
    a = np.array([1000.0, 0.5])
    b = a + [0.0, 5e-3]  # 5e-3 absolute error near zero in an output of magnitude 1e3
    assert compare(a, b, Tolerance(scale_atol=True)).verdict == PASS  # atol_eff = 1e-5 * 1000 = 1e-2
    assert compare(a, b, Tolerance(scale_atol=False)).verdict == FAIL
    small = np.array([0.1, 0.5])  # magnitude below 1: the plain rule applies
    assert compare(small, small + [0.0, 5e-3], Tolerance()).verdict == FAIL


def test_nan_on_one_side_fails_and_on_both_sides_agrees():
    a = np.array([1.0, np.nan, np.inf])
    assert compare(a, a.copy()).verdict == PASS
    assert compare(a, np.array([1.0, 2.0, np.inf])).verdict == FAIL


def test_shape_mismatch_fails_and_says_so():
    m = compare(np.zeros((2, 10)), np.zeros((2, 1000)))
    assert (m.verdict, m.mismatch, m.headline()) == (FAIL, "shape (2, 10) vs (2, 1000)", "shape (2, 10) vs (2, 1000)")
    same = compare(np.zeros((2, 3)), np.full((2, 3), 0.5))
    assert (same.mismatch, same.headline()) == ("", "5.00e-01")


def test_integer_outputs_must_match_exactly():
    a = np.array([1, 2, 3], dtype=np.int64)
    assert compare(a, a.copy()).verdict == PASS
    m = compare(a, np.array([1, 2, 4], dtype=np.int64))
    assert (m.verdict, m.out_of_tolerance) == (FAIL, 1)


def test_worst():
    assert worst([PASS, WARN]) == WARN
    assert worst([PASS, FAIL, WARN]) == FAIL
    assert worst([]) == PASS
