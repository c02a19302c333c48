"""TFLite stage: the converted SavedModel as TFLite files, each verified against the reference framework.

Variants (``--tflite fp32,fp16,int8-dynamic,int8``), written to ``OUT_DIR/tflite/model_<variant>.tflite`` by
``tf.lite.TFLiteConverter.from_saved_model`` in a fresh TensorFlow-only process (``tflite_child.py``) per variant:
- ``fp32``: no optimisation; held to the conversion's tolerance, a failure fails the report's verdict;
- ``fp16``: float16 weights (computed in float32 on CPU);
- ``int8-dynamic``: int8 weights, activations quantised on the fly (dynamic range quantisation);
- ``int8``: full integer (``TFLITE_BUILTINS_INT8``: every op int8), float32 inputs/outputs, calibrated on a
  representative dataset: ``--calibration feeds.npz`` or seeded generated inputs.

A variant the converter rejects (an op TFLite has no builtin kernel for, an op with no int8 kernel) is recorded
with a one-line reason and no file; the conversion goes on. SELECT_TF_OPS (Flex) is not used as a fallback: such a
file needs the Flex delegate on the device, and TensorFlow's pip ``tf.lite.Interpreter`` cannot run it, so it could
not be verified here.

Verification runs each file with ``tf.lite.Interpreter`` (dynamic dims resized per call) on the verification inputs
(``metrics``: ``metrics.compare`` against Paddle, or ONNX Runtime without a Paddle model) and on 64 seeded inputs
(``top1_agreement``: argmax over the last axis of each float output of rank >= 2, the share of positions where
the variant and the reference agree). Quantised variants are judged only when ``min_top1`` is given.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from paddle2tf.common.childio import read_chunked_outputs
from paddle2tf.common.subprocesses import run_child
from paddle2tf.errors import BadInputError, Paddle2TFError
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.verify.feeds import make_feeds, read_npz
from paddle2tf.verify.metrics import FAIL, PASS, PairMetrics, Tolerance, compare, worst
from paddle2tf.verify.runners import run_onnxruntime, run_paddle

VARIANTS = ("fp32", "fp16", "int8-dynamic", "int8")
TFLITE_DIR = "tflite"
AGREEMENT_SAMPLES = 64  # inputs behind a top-1 agreement rate: one disagreement moves it by 1.6 %
CALIBRATION_SAMPLES = 16  # generated representative batches for full int8
AGREEMENT_SEED_OFFSET = 1000  # seeded inputs distinct from the verification inputs (seed) and each other
CALIBRATION_SEED_OFFSET = 2000
MAX_PADDLE_CHUNKS = 4  # a fixed-batch model needs one Paddle child per chunk; beyond this ONNX Runtime is used
NOT_CONVERTED, NOT_JUDGED, UNVERIFIED = "not_converted", "not_judged", "unverified"
_SCRIPT = os.path.join(os.path.dirname(__file__), "tflite_child.py")

Progress = Callable[[str], None]


class TfliteError(Paddle2TFError):
    """The TFLite child process itself failed (not a conversion the converter rejected)."""


@dataclass
class TfliteResult:
    """One TFLite variant: its file, whether it converted (else why not) and how it compares to the reference."""

    variant: str
    path: str  # relative to OUT_DIR; "" when not converted
    converted: bool
    size_bytes: int = 0
    reason: str = ""  # one line: why not converted, or why not verified
    seconds: float = 0.0  # conversion time (in the child process)
    reference: str = ""  # paddle | onnxruntime: what the outputs were compared with
    tolerance: Tolerance | None = None  # the fp32 verdict's (per-output overrides apply on top)
    metrics: dict[str, PairMetrics] = field(default_factory=dict)  # per output, on the verification inputs
    top1_agreement: dict[str, float] = field(default_factory=dict)  # per logits-like output, over `samples`
    samples: int = 0  # inputs behind top1_agreement
    samples_seed: int = 0  # their seed (and the next seeds for fixed-batch chunks), for re-verification
    samples_reference: str = ""  # paddle | onnxruntime for the agreement inputs (fixed batch: see MAX_PADDLE_CHUNKS)
    min_top1: float | None = None  # the threshold judging a quantised variant
    scales: str = ""  # int8: "model" (the QDQ model's own scales), "calibration" (--calibration), "generated"
    verdict: str = UNVERIFIED  # pass | warn | fail | not_judged (quantised, no threshold) | not_converted | unverified

    @staticmethod
    def from_dict(data: dict) -> TfliteResult:
        data = dict(data)
        data["metrics"] = {name: PairMetrics(**m) for name, m in (data.get("metrics") or {}).items()}
        if data.get("tolerance") is not None:
            data["tolerance"] = Tolerance(**data["tolerance"])
        return TfliteResult(**data)

    @property
    def top1(self) -> float | None:
        """The worst output's agreement (None when no output looks like logits)."""
        return min(self.top1_agreement.values()) if self.top1_agreement else None


def parse_variants(items: str | Sequence[str]) -> list[str]:
    """``fp32,int8`` (or a list of such strings, --tflite repeated) -> variant names, checked, in given order."""
    texts = [items] if isinstance(items, str) else list(items)
    names = [name.strip() for text in texts for name in text.split(",") if name.strip()]
    for name in names:
        if name not in VARIANTS:
            raise BadInputError(f"--tflite {name}: unknown variant (one of {', '.join(VARIANTS)})")
    return list(dict.fromkeys(names))


def check_options(variants: Sequence[str], calibration: str | None, min_top1: float | None) -> None:
    """Before any work: bad options are exit 2 at once, not after the export and conversion."""
    if calibration is not None:
        if "int8" not in variants:
            raise BadInputError(f"--calibration {calibration}: only used by --tflite int8")
        if not os.path.isfile(calibration):
            raise BadInputError(f"--calibration {calibration}: no such file")
    if min_top1 is not None and not 0.0 <= min_top1 <= 1.0:
        raise BadInputError(f"--tflite-min-top1 {min_top1:g}: must be between 0 and 1")
    if min_top1 is not None and not variants:
        raise BadInputError("--tflite-min-top1: only used with --tflite")


def serve_args(tflite_file: str) -> tuple[str, ...]:
    """The runner of a TFLite file for the dataset check (``verify.dataset``: ``python ARGS MAPPING.json``)."""
    return (_SCRIPT, "--serve", tflite_file)


def variant_path(variant: str) -> str:
    return f"{TFLITE_DIR}/model_{variant.replace('-', '_')}.tflite"


# -- inputs -----------------------------------------------------------------------------------------
def load_calibration(path: str, specs: Sequence[InputSpec]) -> list[dict[str, np.ndarray]]:
    """Representative samples from an .npz holding every model input: rows along the first axis are samples, taken
    in batches of the model's batch size (1 when the first dim is dynamic); a scalar input goes with every batch."""
    arrays = read_npz(path, f"--calibration {path}")
    missing = [spec.name for spec in specs if spec.name not in arrays]
    if missing:
        raise BadInputError(f"--calibration {path}: no array for input(s) {', '.join(missing)}")
    counts = []
    for spec in specs:
        array = arrays[spec.name]
        if array.dtype != np.dtype(spec.dtype):
            raise BadInputError(f"--calibration {path}: input '{spec.name}' is {array.dtype}, the model expects "
                                f"{spec.dtype}")
        if array.ndim != len(spec.shape) or any(d is not None and d != a for d, a in
                                                 zip(spec.shape[1:], array.shape[1:], strict=True)):
            expected = ["N", *("?" if d is None else d for d in spec.shape[1:])] if spec.shape else []
            raise BadInputError(f"--calibration {path}: input '{spec.name}' has shape {list(array.shape)}, the model "
                                f"expects {expected} (N samples)")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise BadInputError(f"--calibration {path}: input '{spec.name}' holds "
                                f"{np.count_nonzero(~np.isfinite(array))} NaN / Inf values; calibration ranges need "
                                "finite samples")
        if array.ndim:
            counts.append(array.shape[0] // (spec.shape[0] or 1))
    samples = min(counts, default=1)
    if samples < 1:
        raise BadInputError(f"--calibration {path}: fewer rows than one batch of the model")
    return [{spec.name: arrays[spec.name][i * (spec.shape[0] or 1):(i + 1) * (spec.shape[0] or 1)]
             if arrays[spec.name].ndim else arrays[spec.name] for spec in specs} for i in range(samples)]


def generated_calibration(specs: Sequence[InputSpec], seed: int) -> list[dict[str, np.ndarray]]:
    return [make_feeds(list(specs), seed + CALIBRATION_SEED_OFFSET + i) for i in range(CALIBRATION_SAMPLES)]


def agreement_inputs(specs: Sequence[InputSpec], seed: int) -> tuple[list[dict[str, np.ndarray]], int]:
    """``AGREEMENT_SAMPLES`` seeded inputs: one batch when the first dim is dynamic, else chunks of the fixed batch
    (each chunk its own seed, ``seed + i``). Returns the chunks and the number of samples."""
    if any(spec.shape and spec.shape[0] is None for spec in specs):
        expanded = [InputSpec(s.name, s.dtype, (AGREEMENT_SAMPLES, *s.shape[1:])) if s.shape and s.shape[0] is None
                    else s for s in specs]
        return [make_feeds(expanded, seed)], AGREEMENT_SAMPLES
    batch = max((spec.shape[0] for spec in specs if spec.shape), default=1) or 1
    chunks = math.ceil(AGREEMENT_SAMPLES / batch)
    return [make_feeds(list(specs), seed + i) for i in range(chunks)], chunks * batch


def _save_chunks(path: str, chunks: Sequence[Mapping[str, np.ndarray]]) -> str:
    np.savez(path, **{f"{i}:{name}": array for i, chunk in enumerate(chunks) for name, array in chunk.items()})
    return path


# -- the reference ----------------------------------------------------------------------------------
@dataclass
class Reference:
    """Where reference outputs come from: the Paddle model (in its own child) or ONNX Runtime."""

    output_names: list[str]
    paddle_model: object | None = None  # export.PaddleModel
    onnx_path: str = ""
    skip_onnxruntime: str = ""
    log_file: str | None = None

    def run(self, chunks: Sequence[dict[str, np.ndarray]]) -> tuple[str, list[dict[str, np.ndarray]]]:
        if self.paddle_model is not None and (len(chunks) <= MAX_PADDLE_CHUNKS or self.skip_onnxruntime):
            model = self.paddle_model
            return "paddle", [run_paddle(model.model_file, model.params_file, chunk, self.output_names,
                                         self.log_file) for chunk in chunks]
        return "onnxruntime", [run_onnxruntime(self.onnx_path, chunk) for chunk in chunks]


# -- the stage --------------------------------------------------------------------------------------
def _stacked(chunks: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    return chunks[0][name] if len(chunks) == 1 else np.stack([chunk[name] for chunk in chunks])


def _top1(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(np.mean(np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)))


def _looks_like_logits(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" and array.ndim >= 2 and array.shape[-1] > 1


def _judge(result: TfliteResult, tolerance: Tolerance, per_output: Mapping[str, Tolerance],
           verification: tuple[str, dict], agreement: tuple[str, list[dict]], candidate: dict,
           candidate_chunks: list[dict], output_names: list[str]) -> None:
    reference_name, reference = verification
    result.reference = reference_name
    result.tolerance = tolerance
    result.metrics = {name: compare(reference[name], candidate[name], per_output.get(name, tolerance))
                      for name in output_names}
    result.samples_reference, chunks = agreement
    result.top1_agreement = {name: round(_top1(_stacked(chunks, name), _stacked(candidate_chunks, name)), 6)
                             for name in output_names if _looks_like_logits(chunks[0][name])}
    if result.variant == "fp32":
        result.verdict = worst(m.verdict for m in result.metrics.values())
    elif result.min_top1 is None or result.top1 is None:
        result.verdict = NOT_JUDGED
    else:
        result.verdict = PASS if result.top1 >= result.min_top1 else FAIL


def _run_child(job: dict, folder: str, log_file: str | None) -> dict:
    job_file = os.path.join(folder, f"job_{job['variant']}.json")
    with open(job_file, "w") as handle:
        json.dump(job, handle)
    try:
        run_child([_SCRIPT, job_file], f"TFLite {job['variant']}", TfliteError, log_file)
        with open(job["result"]) as handle:
            return json.load(handle)
    except TfliteError as exc:  # e.g. the converter crashed the process: that variant fails, the others go on
        return {"converted": False, "reason": str(exc), "size_bytes": 0, "seconds": 0.0, "run_error": ""}
    finally:
        partial = job["tflite_file"] + ".partial"
        if os.path.exists(partial):  # a child killed while writing
            os.remove(partial)


def run_tflite(out_dir: str, saved_model: str, signature, variants: Sequence[str], *, reference: Reference,
               feeds: Mapping[str, np.ndarray] | None, seed: int = 0, calibration: str | None = None,
               tolerance: Tolerance = Tolerance(), per_output: Mapping[str, Tolerance] | None = None,
               min_top1: float | None = None, existing: Sequence[dict] = (), model_scales: str | None = None,
               progress: Progress = lambda _: None) -> list[TfliteResult]:
    """Convert ``variants`` of ``saved_model`` into OUT_DIR/tflite/ and verify them on ``feeds`` (None: no
    verification) and the agreement inputs. With ``existing`` (report.json's ``tflite`` records) nothing is
    converted: the files already there are verified again (records of variants that did not convert are kept).
    ``model_scales``: a SavedModel of the same model whose quantized tensors are fake-quant ops
    (``ConvertedModule(fake_quant=True)``): int8 is converted from it with those ranges, not calibrated (tensors the
    model leaves in float stay float). ``signature``: converter.module.SignatureInfo."""
    specs = [InputSpec(t.onnx_name, t.dtype, tuple(t.shape)) for t in signature.inputs]
    output_names = [t.onnx_name for t in signature.outputs]
    mapping = {"inputs": {t.onnx_name: t.tf_name for t in signature.inputs},
               "outputs": {t.onnx_name: t.tf_name for t in signature.outputs}}
    if existing:
        results = [TfliteResult.from_dict(item) for item in existing]
    else:
        int8_scales = "model" if model_scales else "calibration" if calibration else "generated"
        results = [TfliteResult(variant, variant_path(variant), False, min_top1=min_top1,
                                samples_seed=seed + AGREEMENT_SEED_OFFSET,
                                scales=int8_scales if variant == "int8" else "") for variant in variants]
        os.makedirs(os.path.join(out_dir, TFLITE_DIR), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="paddle2tf-tflite-") as tmp:
        runs, chunks = [], []
        if feeds is not None:
            # The agreement seed is recorded so `verify` re-runs exactly these inputs.
            chunks, samples = agreement_inputs(specs, results[0].samples_seed if results else seed)
            runs = [{"feeds": _save_chunks(os.path.join(tmp, "verification.npz"), [feeds])},
                    {"feeds": _save_chunks(os.path.join(tmp, "agreement.npz"), chunks)}]
        calibration_file = None
        if not existing and "int8" in variants and not model_scales:
            samples_in = load_calibration(calibration, specs) if calibration else generated_calibration(specs, seed)
            calibration_file = _save_chunks(os.path.join(tmp, "calibration.npz"), samples_in)
        outputs: dict[str, tuple[dict, list[dict]]] = {}
        for result in results:
            if existing and not result.converted:
                continue
            path = os.path.join(out_dir, result.path)
            if existing and not os.path.isfile(path):
                result.converted, result.verdict = False, NOT_CONVERTED
                result.reason = f"{result.path}: file missing from the output directory"
                continue
            progress(f"{result.variant}: {'running' if existing else 'converting'} {result.path}")
            source = model_scales if result.scales == "model" else saved_model
            job = {"saved_model": None if existing else source, "model_scales": result.scales == "model",
                   "variant": result.variant, "tflite_file": path, "calibration": calibration_file,
                   "mapping": mapping, "threads": os.cpu_count(),
                   "result": os.path.join(tmp, f"{result.variant}.json"),
                   "runs": [{**run, "out": os.path.join(tmp, f"{result.variant}_{i}.npz")}
                            for i, run in enumerate(runs)]}
            outcome = _run_child(job, tmp, reference.log_file)
            result.converted, result.size_bytes = outcome["converted"], outcome["size_bytes"]
            if not existing:
                result.seconds = outcome["seconds"]
            if not result.converted:
                result.path, result.reason, result.verdict = "", outcome["reason"], NOT_CONVERTED
                progress(f"{result.variant}: not converted: {result.reason}")
                continue
            result.reason = ""
            if outcome["run_error"]:
                result.reason, result.verdict = f"TFLite could not run it: {outcome['run_error']}", FAIL
            elif runs:
                outputs[result.variant] = (read_chunked_outputs(job["runs"][0]["out"], output_names)[0],
                                           read_chunked_outputs(job["runs"][1]["out"], output_names))
            else:
                result.verdict = UNVERIFIED
        if outputs:
            progress(f"reference outputs: verification inputs and {samples} agreement inputs")
            try:
                verification = reference.run([feeds])
                agreement = reference.run(chunks)
            except Paddle2TFError as exc:
                for result in results:
                    if result.variant in outputs:
                        result.reason, result.verdict = f"not verified: {exc}", UNVERIFIED
                return results
            for result in results:
                if result.variant in outputs:
                    candidate, candidate_chunks = outputs[result.variant]
                    result.samples = samples
                    _judge(result, tolerance, per_output or {}, (verification[0], verification[1][0]), agreement,
                           candidate, candidate_chunks, output_names)
    return results
