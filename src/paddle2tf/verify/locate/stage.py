"""The locate stage: which hop diverges (Paddle → ONNX or ONNX → TensorFlow), then where inside it: the first
drifting region of Paddle's values (paddle_values.py) or the first ONNX node whose TF value diverges
(nodewise.py). Takes paths and data; reading an OUT_DIR is the app's job (``api.locate_output``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict

import numpy as np

from paddle2tf.onnxutil.checker import load_model
from paddle2tf.verify.locate.model import (
    DEFAULT_CHUNK_SIZE,
    HOPS,
    NOT_CHECKED,
    NOT_COMPARED,
    HopResult,
    LocateReport,
    NodewiseResult,
)
from paddle2tf.verify.locate.nodewise import compare_graph
from paddle2tf.verify.locate.paddle_values import PaddleComparison, compare_paddle_values, describe_region
from paddle2tf.verify.metrics import FAIL, PASS, PairMetrics, Tolerance, compare, worst
from paddle2tf.verify.model import Verification, pair_key
from paddle2tf.verify.runners import run_onnxruntime, run_paddle

Progress = Callable[[str], None]


def _hop_from_pairs(hop: str, outputs: Mapping[str, PairMetrics], basis: str) -> HopResult:
    reference, candidate = HOPS[hop]
    if not outputs:
        return HopResult(reference, candidate, NOT_CHECKED, basis=basis)
    rels = {name: m.max_rel for name, m in outputs.items()}
    worst_rel = max(rels.values(), key=lambda r: math.inf if r != r else r)
    return HopResult(reference, candidate, worst(m.verdict for m in outputs.values()), worst_rel, rels, basis)


def _hops_from_verification(verification: Verification) -> dict[str, HopResult]:
    hops = {}
    for hop, (a, b) in HOPS.items():
        key = pair_key(a, b)
        pairs = {o.name: o.pairs[key] for o in verification.outputs if key in o.pairs}
        hops[hop] = _hop_from_pairs(hop, pairs, "three-way verification")
    return hops


def _diverging(hops: dict[str, HopResult]) -> str | None:
    failing = [hop for hop, result in hops.items() if result.verdict == FAIL]
    return None if not failing else failing[0] if len(failing) == 1 else "both"


def _summary(hops: dict[str, HopResult], diverging: str | None, nodewise: NodewiseResult,
             paddle_values: PaddleComparison) -> str:
    def rel(hop):
        value = hops[hop].max_rel
        return "n/a" if value is None else f"{value:.2e}"

    culprit = nodewise.culprit
    graph = f" of the graph after the passes {', '.join(nodewise.passes)}" if nodewise.passes else ""
    where = (f"first diverging ONNX node: '{culprit.name}' ({culprit.op_type}, node {culprit.index}{graph}), "
             f"max_rel {nodewise.nodes[culprit.index].max_rel:.2e} with its inputs within tolerance"
             if culprit else None)
    if diverging is None:
        text = "every hop is within tolerance end to end"
        if culprit:
            text += f"; but an intermediate value exceeds it: {where}"
        elif nodewise.ran:
            text += "; every compared ONNX value is within tolerance"
        return text
    region = (f"; {describe_region(asdict(paddle_values.region))}" if paddle_values.region else
              f"; Paddle's intermediate values not compared ({paddle_values.reason})" if not paddle_values.ran else
              "; no single Paddle value with an ONNX counterpart drifts on its own")
    if diverging == "paddle_to_onnx":
        return (f"the Paddle → ONNX hop diverges (paddle↔onnx max_rel {rel('paddle_to_onnx')}) while ONNX → "
                f"TensorFlow is within tolerance (onnx↔tf max_rel {rel('onnx_to_tensorflow')}): the ONNX model "
                "does not compute what the Paddle model does (an exporter defect, or the ONNX file was edited)"
                + region)
    prefix = ("both hops diverge" if diverging == "both" else "the ONNX → TensorFlow hop diverges")
    if diverging == "both":
        where = f"{where}{region}" if where else region[2:]
    checked = [h for h in ("paddle_to_onnx", "onnx_to_tensorflow") if hops[h].verdict != NOT_CHECKED]
    labels = {"paddle_to_onnx": "paddle↔onnx", "onnx_to_tensorflow": "onnx↔tf"}
    prefix += " (" + ", ".join(f"{labels[h]} max_rel {rel(h)}" for h in checked) + ")"
    if where:
        return f"{prefix}; {where}"
    if not nodewise.ran:
        return f"{prefix}; node-level search not run ({nodewise.reason})"
    return (f"{prefix}; no single ONNX value of the re-converted graph exceeds tolerance "
            "(the SavedModel may come from another paddle2tf version, or the divergence is inside a subgraph)")


def run_locate(onnx_path: str, feeds: Mapping[str, np.ndarray], feeds_origin: str, *,
               tolerance: Tolerance = Tolerance(), per_output: Mapping[str, Tolerance] | None = None,
               verification: Verification | None = None, paddle_model=None, nodewise: bool | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, log_file: str | None = None,
               run_saved_model: Callable[[], dict[str, np.ndarray]] | None = None,
               progress: Progress = lambda _: None) -> LocateReport:
    """The locate stage on a model and feeds. ``verification`` (the three-way check on the same feeds)
    gives the hop verdicts; without it Paddle (when ``paddle_model`` is given), ONNX Runtime and the SavedModel
    (``run_saved_model``: its outputs by ONNX name) are run here.
    ``nodewise=None`` runs the node-level search only when the ONNX → TF hop is not within tolerance."""

    start = time.perf_counter()
    model = load_model(onnx_path)
    hops: dict[str, HopResult]
    if verification is not None:
        hops = _hops_from_verification(verification)
    else:
        hops = {"paddle_to_onnx": _hop_from_pairs("paddle_to_onnx", {}, "no Paddle model"),
                "onnx_to_tensorflow": _hop_from_pairs("onnx_to_tensorflow", {}, "")}

        names = [o.name for o in model.graph.output]
        ort_out = run_onnxruntime(onnx_path, dict(feeds)) if paddle_model or run_saved_model else {}
        if paddle_model is not None:
            progress("running Paddle and ONNX Runtime (Paddle → ONNX hop)")
            paddle_out = run_paddle(paddle_model.model_file, paddle_model.params_file, dict(feeds), names, log_file)
            pairs = {n: compare(paddle_out[n], ort_out[n], (per_output or {}).get(n, tolerance)) for n in names}
            hops["paddle_to_onnx"] = _hop_from_pairs("paddle_to_onnx", pairs, "Paddle and ONNX Runtime run by locate")
        if run_saved_model is not None:
            progress("running the SavedModel (ONNX → TensorFlow hop)")
            tf_out = run_saved_model()
            pairs = {n: compare(ort_out[n], tf_out[n], (per_output or {}).get(n, tolerance)) for n in names}
            hops["onnx_to_tensorflow"] = _hop_from_pairs("onnx_to_tensorflow", pairs,
                                                         "ONNX Runtime and the SavedModel run by locate")
    run_nodes = nodewise if nodewise is not None else hops["onnx_to_tensorflow"].verdict != PASS
    if run_nodes:
        progress(f"comparing every ONNX value: ONNX Runtime vs TensorFlow ({len(model.graph.node)} nodes)")
        result = compare_graph(model, feeds, tolerance, per_output, chunk_size, progress)
        if result.culprit is None and hops["onnx_to_tensorflow"].verdict == FAIL:
            # The SavedModel diverges but no node of the graph as written does: look inside the fused nodes the
            # optimisation passes made, converted as the SavedModel was.
            progress("no culprit in the graph as written: comparing the graph after the optimisation passes")
            fused = compare_graph(model, feeds, tolerance, per_output, chunk_size, progress, optimized=True)
            if fused.culprit is not None:
                result = fused
        if verification is None and run_saved_model is None:  # judged on the re-converted graph's outputs
            by_name = {c.name: c for n in result.nodes for c in n.outputs}
            pairs = {}
            for out in model.graph.output:
                check = by_name.get(out.name)
                if check is not None and check.verdict != NOT_COMPARED:
                    pairs[out.name] = PairMetrics(check.max_abs, check.max_rel, math.nan, math.nan, math.nan,
                                                  check.out_of_tolerance, 0, check.elements, check.verdict)
            hops["onnx_to_tensorflow"] = _hop_from_pairs("onnx_to_tensorflow", pairs,
                                                         "graph outputs of the node-level comparison")
    else:
        result = NodewiseResult(False, reason="the ONNX → TensorFlow hop is within tolerance end to end")
    paddle_values = _compare_paddle(model, paddle_model, feeds, hops["paddle_to_onnx"], tolerance, chunk_size,
                                    log_file, progress)
    diverging = _diverging(hops)
    return LocateReport(hops, diverging, _summary(hops, diverging, result, paddle_values), tolerance, feeds_origin,
                        result, round(time.perf_counter() - start, 3), paddle_values)


def _compare_paddle(model, paddle_model, feeds, hop: HopResult, tolerance: Tolerance, chunk_size: int,
                    log_file: str | None, progress: Progress) -> PaddleComparison:
    """Paddle's intermediate values vs ONNX Runtime's, when the Paddle → ONNX hop fails."""
    if hop.verdict != FAIL:
        return PaddleComparison(False, "the Paddle → ONNX hop is within tolerance end to end"
                                if hop.verdict != NOT_CHECKED else "no Paddle model")
    if paddle_model is None:
        return PaddleComparison(False, "no Paddle model")
    try:
        return compare_paddle_values(model, paddle_model, feeds, tolerance, chunk_size, log_file, progress)
    except Exception as exc:  # the hop is attributed already; the finer search failing must not hide that
        return PaddleComparison(False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
