"""Error metrics between a reference output and a candidate, and the element-wise verdict rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PASS, WARN, FAIL = "pass", "warn", "fail"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}
WARN_BAND = 1e-3  # beyond the requested tolerance but within this band: warn, not fail


@dataclass(frozen=True)
class Tolerance:
    """Element-wise tolerance: an element is out when |a-b| > atol_eff and |a-b| > rtol*|a|.

    With ``scale_atol`` (the default) atol_eff = atol * max(1, max|a|): float32 rounding error grows with
    the magnitude of the values summed into an output, not with each element's own size, so an element
    near zero in a tensor of magnitude 1e3 legitimately carries ~1e-3 of absolute error. For outputs of
    magnitude <= 1 this is exactly the plain rule.
    """

    rtol: float = 1e-5
    atol: float = 1e-5
    scale_atol: bool = True


# Default verification tolerances (atol in units of max(1, max|reference|), see Tolerance), chosen with a
# ~3x margin over what seeded random-weight resnet18/resnet50/mobilenet_v2/bert_small reach against Paddle float32
# (docs: README, "Reduced precision"). --rtol/--atol override them.
# Keyed by converter.precision.PRECISIONS.
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(rtol=1e-5, atol=1e-5),
    "fp16": Tolerance(rtol=1e-2, atol=1e-2),
    "bf16": Tolerance(rtol=5e-2, atol=5e-2),
}


def default_tolerance(precision: str) -> Tolerance:
    return DEFAULT_TOLERANCES[precision]


@dataclass
class PairMetrics:
    """``reference`` vs ``candidate`` for one output. Relative figures are relative to the reference."""

    max_abs: float
    max_rel: float  # max|a-b| / max|a|
    rel_l2: float  # ||a-b|| / ||a||
    cosine: float
    l2: float  # ||a-b||, the figure practitioners quote (not a usable criterion on its own)
    out_of_tolerance: int  # elements with |a-b| > atol_eff and |a-b| > rtol*|a| (see Tolerance)
    out_of_warn_band: int  # the same count at atol = rtol = 1e-3
    elements: int
    verdict: str
    mismatch: str = ""  # why the values could not be compared at all, e.g. "shape (2, 10) vs (2, 1000)"

    def to_dict(self) -> dict:
        return asdict(self)

    def headline(self) -> str:
        """The pair in one cell: its max relative error, or why there is none."""
        return self.mismatch or format_error(self.max_rel)


def format_error(value: float) -> str:
    return f"{value:.2e}" if value == value else "nan"


def worst(verdicts) -> str:
    return max(verdicts, key=_ORDER.__getitem__, default=PASS)


def _out_of_tolerance(diff: np.ndarray, ref_abs: np.ndarray, tol: Tolerance, scale: float) -> np.ndarray:
    atol = tol.atol * max(1.0, scale) if tol.scale_atol else tol.atol
    return (diff > atol) & (diff > tol.rtol * ref_abs)


@dataclass
class PairSums:
    """What ``merge`` needs of one part to make the exact whole-set norms: sum a², sum b², sum a·b, sum (a-b)²
    (non-finite values as in ``compare``: 0 in the norms, an infinite difference makes l2 infinite), max|a|."""

    aa: float = 0.0
    bb: float = 0.0
    ab: float = 0.0
    dd: float = 0.0
    scale: float = 0.0
    exact: bool = False  # integer outputs: compared for equality, the figures are about mismatched elements


def compare(reference: np.ndarray, candidate: np.ndarray, tol: Tolerance = Tolerance()) -> PairMetrics:
    return compare_with_sums(reference, candidate, tol)[0]


def merge(parts: list[tuple[PairMetrics, PairSums]]) -> PairMetrics:
    """One PairMetrics for the parts together (e.g. the batches of a dataset): max_abs, max_rel (over the
    whole set's max|a|), rel_l2, cosine and l2 are exactly those of the concatenated arrays; the element counts
    are the parts' sums, each part judged by the element-wise rule with its own max|a| (see Tolerance); the
    verdict is the worst part's."""
    if not parts:
        nan = float("nan")
        return PairMetrics(nan, nan, nan, nan, nan, 0, 0, 0, FAIL)
    metrics = [m for m, _ in parts]
    if all(s.exact for _, s in parts):
        return _exact_metrics(sum(m.out_of_tolerance for m in metrics), sum(m.elements for m in metrics))
    aa, bb, ab, dd = (sum(getattr(s, k) for _, s in parts) for k in ("aa", "bb", "ab", "dd"))
    scale = max(s.scale for _, s in parts)
    max_abs = max(m.max_abs for m in metrics)
    if any(m.max_abs != m.max_abs for m in metrics):  # a shape mismatch: no figure is meaningful
        max_abs = float("nan")
    l2 = float(np.sqrt(dd))
    norm_a, norm_b = float(np.sqrt(aa)), float(np.sqrt(bb))
    cosine = ab / (norm_a * norm_b) if norm_a and norm_b else (1.0 if norm_a == norm_b else 0.0)
    return PairMetrics(max_abs=max_abs, max_rel=max_abs / scale if scale else max_abs,
                       rel_l2=l2 / norm_a if norm_a else l2, cosine=float(cosine), l2=l2,
                       out_of_tolerance=sum(m.out_of_tolerance for m in metrics),
                       out_of_warn_band=sum(m.out_of_warn_band for m in metrics),
                       elements=sum(m.elements for m in metrics), verdict=worst(m.verdict for m in metrics))


def _exact_metrics(mismatched: int, elements: int) -> PairMetrics:
    return PairMetrics(float(mismatched > 0), float(mismatched > 0), float(mismatched > 0),
                       1.0 if mismatched == 0 else 0.0, float(mismatched), mismatched, mismatched,
                       elements, PASS if mismatched == 0 else FAIL)


def compare_with_sums(reference: np.ndarray, candidate: np.ndarray,
                      tol: Tolerance = Tolerance()) -> tuple[PairMetrics, PairSums]:
    reference = np.asarray(reference)
    candidate = np.asarray(candidate)
    if reference.shape != candidate.shape:
        nan = float("nan")
        return (PairMetrics(nan, nan, nan, nan, nan, reference.size, reference.size, reference.size, FAIL,
                            mismatch=f"shape {reference.shape} vs {candidate.shape}"), PairSums(dd=float("inf")))
    if reference.dtype.kind not in "fc" and candidate.dtype.kind not in "fc":
        mismatched = int(np.count_nonzero(reference != candidate))
        return _exact_metrics(mismatched, reference.size), PairSums(exact=True)
    a = reference.astype(np.float64)
    b = candidate.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & (a == b)
    agree = both_nan | same_inf
    with np.errstate(invalid="ignore"):  # inf - inf: handled by ``agree`` and the NaN rule below
        diff = np.where(agree, 0.0, np.abs(a - b))
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only is the worst disagreement
    finite_a = np.where(np.isfinite(a), a, 0.0)
    finite_b = np.where(np.isfinite(b), b, 0.0)
    ref_abs = np.abs(finite_a)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(ref_abs.max()) if ref_abs.size else 0.0
    norm_a = float(np.linalg.norm(finite_a))
    norm_b = float(np.linalg.norm(finite_b))
    l2 = float(np.linalg.norm(np.where(np.isfinite(diff), diff, 0.0)))
    if not np.isfinite(diff).all():
        l2 = float("inf")
    out = int(np.count_nonzero(_out_of_tolerance(diff, ref_abs, tol, scale)))
    band = Tolerance(max(WARN_BAND, tol.rtol), max(WARN_BAND, tol.atol), tol.scale_atol)
    out_band = int(np.count_nonzero(_out_of_tolerance(diff, ref_abs, band, scale)))
    cosine = float(np.dot(finite_a.ravel(), finite_b.ravel()) / (norm_a * norm_b)) if norm_a and norm_b else (
        1.0 if norm_a == norm_b else 0.0)
    verdict = PASS if out == 0 else (WARN if out_band == 0 else FAIL)
    metrics = PairMetrics(max_abs=max_abs, max_rel=max_abs / scale if scale else max_abs,
                          rel_l2=l2 / norm_a if norm_a else l2, cosine=cosine, l2=l2, out_of_tolerance=out,
                          out_of_warn_band=out_band, elements=int(a.size), verdict=verdict)
    return metrics, PairSums(norm_a ** 2, norm_b ** 2, float(np.dot(finite_a.ravel(), finite_b.ravel())), l2 ** 2,
                             scale)
