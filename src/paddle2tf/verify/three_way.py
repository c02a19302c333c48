"""Verify stage: the same inputs through Paddle, ONNX Runtime and the reloaded SavedModel; compare pairs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager

import numpy as np

from paddle2tf.converter.module import SignatureInfo, from_signature_layout, to_signature_layout
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import PaddleModel
from paddle2tf.verify.feeds import INT_RANGE
from paddle2tf.verify.metrics import FAIL, Tolerance, compare, worst
from paddle2tf.verify.model import PAIRS, FeedInfo, OutputResult, Verification, pair_key
from paddle2tf.verify.runners import RunnerError, run_onnxruntime, run_paddle, run_savedmodel


def verify(onnx_path: str, saved_model: str, signature: SignatureInfo, feeds: dict[str, np.ndarray],
           feeds_origin: str, paddle_model: PaddleModel | None = None,
           tolerance: Tolerance = Tolerance(), per_output: Mapping[str, Tolerance] | None = None,
           log_file: str | None = None, progress: Callable[[str], None] = lambda _: None,
           skip_onnxruntime: str = "", serving_feeds: dict[str, np.ndarray] | None = None,
           source_name: str | None = None, allow_empty: bool = False) -> Verification:
    """``skip_onnxruntime``: why ONNX Runtime cannot run the model (custom-domain nodes, see
    ``plugins.onnxruntime_skip_reason``); it is then left out and recorded in ``Verification.skipped``.
    ``serving_feeds``: the feeds as the SavedModel's signature takes them when they differ from the model's
    ``feeds`` (raw images, ``convert --preprocess``), else made from them (``--io-layout``); recorded as the feeds.
    The SavedModel's outputs are compared in the ONNX layout. ``source_name``: the user's model, which errors of
    Paddle and ONNX Runtime name instead of the working copies they run. ``allow_empty``: an empty output is
    judged elsewhere (on a dataset), not refused."""
    check_verifiable(paddle_model is not None, skip_onnxruntime)
    output_names = [t.onnx_name for t in signature.outputs]
    results: dict[str, dict[str, np.ndarray]] = {}
    with generated_values_hint(feeds, feeds_origin):
        if paddle_model is not None:
            progress("running Paddle")
            results["paddle"] = run_paddle(paddle_model.model_file, paddle_model.params_file, feeds, output_names,
                                           log_file, display_name=source_name)
        if skip_onnxruntime:
            progress(f"ONNX Runtime skipped: {skip_onnxruntime}")
        else:
            progress("running ONNX Runtime")
            results["onnxruntime"] = run_onnxruntime(onnx_path, feeds, display_name=source_name)
    progress("running the SavedModel (fresh TensorFlow process)")
    if serving_feeds is None:
        serving_feeds = to_signature_layout(feeds, signature.inputs)
    with generated_values_hint(feeds, feeds_origin):
        results["tensorflow"] = run_signature(saved_model, signature, serving_feeds, log_file,
                                              display_name=f"{source_name} (converted)"
                                              if source_name else None)

    reference_framework = "paddle" if "paddle" in results else "onnxruntime"
    require_values_to_compare(results[reference_framework], reference_framework, feeds, feeds_origin, allow_empty)
    outputs = []
    for name in output_names:
        tol = (per_output or {}).get(name, tolerance)
        pairs = {pair_key(a, b): compare(results[a][name], results[b][name], tol)
                 for a, b in PAIRS if a in results and b in results}
        reference = results[reference_framework][name]
        outputs.append(OutputResult(name, list(reference.shape), str(reference.dtype), tol, pairs,
                                    worst(p.verdict for p in pairs.values())))
    failing = [out for out in outputs if out.verdict == FAIL]
    nudged = one_ulp_up(feeds) if failing and "onnxruntime" in results else None
    if nudged is not None:
        progress("running ONNX Runtime on the float inputs moved one ulp up (how far rounding alone moves "
                 "the failing outputs)")
        moved = run_onnxruntime(onnx_path, nudged, display_name=source_name)
        for out in failing:
            out.sensitivity = compare(results["onnxruntime"][out.name], moved[out.name], out.tolerance)
    feed_infos = [FeedInfo(name, str(array.dtype), list(array.shape), feeds_origin)
                  for name, array in serving_feeds.items()]
    return Verification.from_outputs(list(results), feed_infos, outputs,
                                     {"onnxruntime": skip_onnxruntime} if skip_onnxruntime else None)


def require_values_to_compare(reference: Mapping[str, np.ndarray], framework: str,
                              feeds: Mapping[str, np.ndarray], feeds_origin: str, allow_empty: bool = False) -> None:
    """Refuse inputs on which the comparison proves nothing: a float output whose every value is NaN or Inf in the
    reference (NaN matches NaN, so any converter would agree), or an empty output (nothing of it compared) unless
    ``allow_empty``."""
    framework = {"paddle": "Paddle", "onnxruntime": "ONNX Runtime"}[framework]
    nonfinite = {name: int(np.count_nonzero(~np.isfinite(array))) for name, array in feeds.items()
                 if array.dtype.kind == "f"}
    held = ", ".join(f"{name} holds {count} NaN / Inf values" for name, count in nonfinite.items() if count)
    why = f"; the input {held}" if held else ""
    for name, values in reference.items():
        if values.size and values.dtype.kind in "fc" and not np.isfinite(values).any():
            raise BadInputError(
                f"output {name}: all {values.size} of its values are NaN or Inf in {framework} on the verification "
                f"inputs ({feeds_origin}{why}), so comparing them proves nothing; give inputs on which the model "
                "computes finite values with --inputs FEEDS.npz")
        if not values.size and not allow_empty:
            shapes = ", ".join(f"{feed} {list(array.shape)}" for feed, array in feeds.items())
            raise BadInputError(
                f"output {name} is empty ({list(values.shape)}) on the verification inputs ({shapes}; {feeds_origin}), "
                "so none of its values would be compared (e.g. a detector finding nothing on random images); give "
                "inputs on which the model produces it with --inputs FEEDS.npz, or judge it on your data with "
                "--dataset")


def one_ulp_up(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The feeds with every float value moved to the next representable one; None without float inputs."""
    if not any(array.dtype.kind == "f" for array in feeds.values()):
        return None
    return {name: np.nextafter(array, np.array(np.inf, array.dtype)) if array.dtype.kind == "f" else array
            for name, array in feeds.items()}


@contextmanager
def generated_values_hint(feeds: Mapping[str, np.ndarray], feeds_origin: str):
    """A reference failing on generated integer inputs most likely got ids outside the model's range (a vocabulary
    or class count under INT_RANGE's upper bound): its error then says which inputs and what to do."""
    try:
        yield
    except RunnerError as exc:
        integers = [name for name, array in feeds.items() if array.dtype.kind in "iu"]
        if not integers or not feeds_origin.startswith("generated"):
            raise
        raise RunnerError(f"{exc}; the integer input(s) {', '.join(integers)} were generated in [{INT_RANGE[0]}, "
                          f"{INT_RANGE[1]}): give values in the model's range with --inputs FEEDS.npz") from exc


def run_signature(saved_model: str, signature: SignatureInfo, serving_feeds: dict[str, np.ndarray],
                  log_file: str | None = None, display_name: str | None = None) -> dict[str, np.ndarray]:
    """The SavedModel's outputs on feeds as its signature takes them, by ONNX name, in the ONNX layout."""
    return from_signature_layout(run_savedmodel(
        saved_model, serving_feeds, {t.onnx_name: t.tf_name for t in signature.inputs},
        {t.onnx_name: t.tf_name for t in signature.outputs}, log_file, display_name), signature.outputs)


def check_verifiable(has_paddle: bool, skip_onnxruntime: str) -> None:
    """The SavedModel needs a reference: Paddle, or ONNX Runtime when it can run the model."""
    if skip_onnxruntime and not has_paddle:
        raise BadInputError(f"nothing to verify the SavedModel against: {skip_onnxruntime} and there is no Paddle "
                            "model (give the one the ONNX was exported from with --paddle-reference, or --no-verify)")
