"""The Python API: ``convert`` (export → check → convert → verify) and ``verify_output``.

The CLI is a thin layer over these two functions.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
import onnx

from paddle2tf.converter.module import (
    IO_LAYOUTS,
    SignatureInfo,
    TensorInfo,
    from_signature_layout,
    graph_inputs,
    to_signature_layout,
)
from paddle2tf.converter.plugins import check_supported as check_plugin_support
from paddle2tf.converter.plugins import load as load_plugins
from paddle2tf.converter.plugins import load_recorded, onnxruntime_skip_reason
from paddle2tf.converter.plugins import record_dicts as plugin_records
from paddle2tf.converter.precision import default_tolerance, feed_dtype, recorded_precision
from paddle2tf.converter.preprocess import Preprocess, model_feeds, raw_feed
from paddle2tf.converter.preprocess import resolve as resolve_preprocess
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import DEFAULT_OPSET, PaddleModel, copy_paddle_model, export_paddle
from paddle2tf.frontend.fixes.repair import repair_model
from paddle2tf.frontend.shape_hints import apply_hints, find_metadata, shape_hints
from paddle2tf.frontend.sources import InputSpec, Source, check_specs_against_model, resolve_source
from paddle2tf.frontend.static_shape import StaticShape, apply_to_specs, fix_onnx_file
from paddle2tf.onnxutil.checker import load_checked, load_model
from paddle2tf.report.model import ConversionReport, StageTiming, model_summary
from paddle2tf.targets.tflite import Reference as TfliteReference
from paddle2tf.targets.tflite import check_options as check_tflite_options
from paddle2tf.targets.tflite import parse_variants as parse_tflite_variants
from paddle2tf.targets.tflite import run_tflite
from paddle2tf.verify.feeds import FLOAT_RANGE, INT_RANGE, explain_failure, load_feeds, make_feeds
from paddle2tf.verify.metrics import FAIL, Tolerance
from paddle2tf.verify.runners import RunnerError
from paddle2tf.verify.three_way import check_verifiable, verify

ONNX_FILE = "model.onnx"
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "report.json"
HTML_FILE = "report.html"
FEEDS_FILE = "verification_inputs.npz"
LOG_FILE = "conversion.log"

Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(f"paddle2tf: {message}", file=sys.stderr, flush=True)


class _Stages:
    """Times each stage and announces it."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        self.progress(f"{name}{' ' + detail if detail else ''} ...")
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings.append(StageTiming(name, round(seconds, 3)))
        self.progress(f"{name} done in {seconds:.1f} s")


def _model_input_specs(model) -> list[InputSpec]:
    from onnx import helper

    specs = []
    for vi in graph_inputs(model):
        tensor_type = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                      for d in tensor_type.shape.dim)
        specs.append(InputSpec(vi.name, dtype, shape))
    return specs


def _feed_specs(model_specs: list[InputSpec], user_specs: Sequence[InputSpec]) -> list[InputSpec]:
    """The model's inputs, with the user's fixed sizes for dimensions the model leaves dynamic."""
    by_name = {spec.name: spec for spec in user_specs}
    merged = []
    for spec in model_specs:
        user = by_name.get(spec.name)
        shape = spec.shape if user is None else tuple(m if m is not None else u
                                                      for m, u in zip(spec.shape, user.shape, strict=True))
        merged.append(InputSpec(spec.name, spec.dtype, shape))
    return merged


@contextmanager
def _atomic_output(out_dir: str, force: bool):
    """Build in a temporary sibling; move into place only when complete; remove it on any failure."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not force:
        raise BadInputError(f"{out_dir}: already exists (use --force to replace it)")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.partial-", dir=parent)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if os.path.exists(out_dir):
        trash = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=parent)
        os.rename(out_dir, os.path.join(trash, "old"))
        os.rename(work, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(work, out_dir)


def _save_layer_object(layer, specs: Sequence[InputSpec], workdir: str) -> Source:
    """A Layer passed to the API: saved with Paddle in this process (the caller already imported it)."""
    from paddle2tf.frontend.paddle_worker import save_inference_model

    if not specs:
        raise BadInputError("a paddle.nn.Layer source needs input_specs")
    prefix = os.path.join(workdir, "layer", "model")
    save_inference_model(layer, [spec.to_dict() for spec in specs], prefix)
    return Source("paddle_json", model_file=prefix + ".json", params_file=prefix + ".pdiparams",
                  input_specs=tuple(specs))


def convert(source, out_dir: str, *, input_specs: Sequence[InputSpec] = (), opset: int = DEFAULT_OPSET,
            feeds_file: str | None = None, verify_outputs: bool = True, force: bool = False,
            tolerance: Tolerance | None = None, per_output: Mapping[str, Tolerance] | None = None,
            seed: int = 0, apply_fixes: bool = True, locate_on_failure: bool = True,
            static_shapes: Sequence[StaticShape] = (),
            plugins: Sequence[str] = (), paddle_reference: str | None = None,
            precision: str = "fp32", reduced_io: bool = False,
            tflite: Sequence[str] = (), calibration: str | None = None, tflite_min_top1: float | None = None,
            preprocess: Preprocess | None = None, io_layout: str = "onnx",
            progress: Progress = _stderr_progress) -> ConversionReport:
    """Convert ``source`` (ONNX path, Paddle model path/prefix, ``module:attr`` or a paddle.nn.Layer) into
    ``out_dir`` (model.onnx, saved_model/, report.json, report.html). Returns the report; check
    ``report.verdict``. ``apply_fixes=False`` turns off the workarounds for known exporter defects (sanitise,
    export of dropped Paddle ops, repair). When verification fails the locate stage runs (``report.locate``)
    unless ``locate_on_failure`` is False. ``plugins``: converter plugins to load (``.py`` files or module
    names), recorded in the report. ``paddle_reference``: for an ONNX source, the Paddle inference model it was
    exported from, run by verification like the model of a Paddle source. ``static_shapes``: inputs whose dynamic
    dims are fixed in the ONNX model, the serving signature and the feeds (a Layer is saved with them too).
    ``precision`` ``fp16``/``bf16``: the SavedModel computes in that type (``converter.precision``), with float32
    inputs/outputs unless ``reduced_io``; ``tolerance`` defaults to the precision's (``DEFAULT_TOLERANCES``).
    ``preprocess``: image preprocessing compiled into the signature (``converter.preprocess``); the verification
    feeds the SavedModel raw images and Paddle / ONNX Runtime the same images preprocessed by the reference.
    ``io_layout`` nhwc: the signature's inputs and outputs of rank 3 or more are channels-last (N, H, W, C)."""
    tolerance = tolerance or default_tolerance(precision)  # also rejects an unknown precision
    if reduced_io and precision == "fp32":
        raise BadInputError("--precision-io: only with --precision fp16 or bf16")
    if opset < 11:
        raise BadInputError(f"--opset {opset}: paddle2tf exports with opset 11 or newer")
    tflite_variants = parse_tflite_variants(tflite)  # TFLite files: paddle2tf.targets.tflite
    check_tflite_options(tflite_variants, calibration, tflite_min_top1)
    if io_layout not in IO_LAYOUTS:
        raise BadInputError(f"--io-layout {io_layout}: expected one of {', '.join(IO_LAYOUTS)}")
    if io_layout != "onnx" and (preprocess is not None or tflite_variants):
        raise BadInputError(f"--io-layout {io_layout} with {'--preprocess' if preprocess else '--tflite'}: not "
                            "supported (--preprocess has its own layout key; the TFLite check generates model inputs)")
    if tflite_variants and preprocess is not None:
        raise BadInputError("--tflite with --preprocess: not supported (the TFLite check generates model inputs, "
                            "not raw images); convert for TFLite without --preprocess")
    load_plugins(plugins)
    stages = _Stages(progress)
    with _atomic_output(out_dir, force) as work:
        log_file = os.path.join(work, LOG_FILE)
        if isinstance(source, str | os.PathLike):
            resolved = resolve_source(os.fspath(source), apply_to_specs(input_specs, static_shapes))
        else:
            resolved = _save_layer_object(source, apply_to_specs(input_specs, static_shapes), work)
        paddle_model = None
        notes: list[str] = []
        fixes = []
        onnx_path = os.path.join(work, ONNX_FILE)
        if resolved.is_paddle:
            with stages.stage("export", f"{resolved.describe()} → ONNX opset {opset}"):
                exported = export_paddle(resolved, work, opset, seed, log_file, apply_fixes)
                paddle_model, notes, fixes = exported.paddle_model, exported.notes, exported.fixes
            if resolved.kind != "python":  # a copy beside the output: `verify` re-runs Paddle on it later
                paddle_model = copy_paddle_model(paddle_model, os.path.join(work, "paddle"))
            shutil.rmtree(os.path.join(work, "layer"), ignore_errors=True)
        else:
            shutil.copyfile(resolved.model_file, onnx_path)
        if paddle_reference is not None:
            paddle_model = _paddle_reference(paddle_reference, resolved, os.path.join(work, "paddle"))
        # Errors about an ONNX source name the user's file, not our working copy.
        display_name = None if resolved.is_paddle else resolved.model_file
        if apply_fixes:
            with stages.stage("repair", "known exporter defects in the ONNX graph"):
                repairs = repair_model(model := load_model(onnx_path, display_name))
                if repairs:
                    onnx.save(model, onnx_path)
                    if display_name:  # the user's own file: model.onnx is not a copy of it
                        notes.append(f"{os.path.basename(display_name)} was repaired before conversion "
                                     f"({len(repairs)} change(s), see fixes); --no-fixes converts it as given")
                fixes += repairs
        if static_shapes:  # before the check, whose shape inference then propagates the fixed dims
            fix_onnx_file(onnx_path, static_shapes, display_name)
        with stages.stage("check", "onnx.checker + shape inference"):
            model = load_checked(onnx_path, display_name)
            model_specs = _model_input_specs(model)
            check_specs_against_model(tuple(input_specs), model_specs, display_name or "the exported model")
            specs = _feed_specs(model_specs, input_specs)
            if preprocess is not None:
                preprocess = resolve_preprocess(preprocess, {s.name: (s.dtype, s.shape) for s in specs})
        with stages.stage("convert", f"{len(model.graph.node)} ONNX nodes → TensorFlow SavedModel"):
            check_plugin_support(model)  # an unknown custom op: the error says how to write its plugin
            skip_onnxruntime = onnxruntime_skip_reason(model)
            if verify_outputs:  # before the conversion's work
                check_verifiable(paddle_model is not None, skip_onnxruntime)
            summary, opset_used = model_summary(model), _model_opset(model)  # of the model as exported
            # The model is handed over: the passes rewrite it in place (one copy of the weights, not two).
            signature, precision_record, rewrites = _convert_and_save(model, os.path.join(work, SAVED_MODEL_DIR),
                                                                      precision, reduced_io, preprocess, io_layout)
            del model
        report = ConversionReport(source={"kind": resolved.kind, "path": resolved.describe()},
                                  opset=opset_used, signature=signature.to_dict(), notes=notes,
                                  fixes=[asdict(fix) for fix in fixes], model_summary=summary,
                                  plugins=plugin_records())
        report.signature["precision"] = precision_record.to_dict()
        report.model_summary["rewrites"] = rewrites  # graph passes (converter/passes): {pass: rewrites made}
        if preprocess is not None:
            report.signature["preprocess"] = preprocess.to_dict()
        hints = {} if feeds_file else shape_hints(_metadata_file(resolved, paddle_reference), specs)
        if hints:  # the sizes the model's own metadata states (inference.yml), for its dynamic dims
            report.source["shape_hints"] = {name: {"shape": list(h.shape), "origin": h.origin}
                                            for name, h in hints.items()}
        serving_feeds, origin = _serving_feeds(feeds_file, apply_hints(specs, hints), seed, preprocess, signature)
        if hints:
            origin += "; " + "; ".join(f"{name} shape from {h.origin}" for name, h in hints.items())
        np.savez(os.path.join(work, FEEDS_FILE), **serving_feeds)
        # what Paddle, ONNX Runtime and locate are given
        feeds = model_feeds(preprocess, from_signature_layout(serving_feeds, signature.inputs))
        if verify_outputs:
            with stages.stage("verify", "Paddle / ONNX Runtime / SavedModel"):
                try:
                    report.verification = verify(onnx_path, os.path.join(work, SAVED_MODEL_DIR), signature, feeds,
                                                 origin, paddle_model, tolerance, per_output, log_file,
                                                 progress=lambda m: progress(f"  {m}"),
                                                 skip_onnxruntime=skip_onnxruntime,
                                                 serving_feeds=serving_feeds)
                except RunnerError as exc:  # on generated inputs: say which shape and how to choose one
                    if feeds_file or hints:
                        raise
                    message = str(exc).replace(os.path.join(work, SAVED_MODEL_DIR), "the converted SavedModel")
                    if paddle_model is not None:  # the copy inside the unfinished OUT_DIR: name the user's model
                        message = message.replace(paddle_model.model_file, resolved.describe())
                    raise RunnerError(explain_failure(message, specs, feeds)) from exc
            if locate_on_failure and report.verdict == FAIL:
                if precision == "fp16" and _has_infinite_error(report.verification):
                    report.notes.append("float16 overflow: an output is inf/NaN where the reference is finite "
                                        "(float16 holds values up to 65504); --precision bf16 has float32's range")
                _locate_stage(report, stages, onnx_path, feeds, origin, tolerance, per_output, paddle_model, log_file,
                              progress, precision=precision)
        if tflite_variants:
            with stages.stage("tflite", ", ".join(tflite_variants)):
                reference = TfliteReference([t.onnx_name for t in signature.outputs], paddle_model, onnx_path,
                                            skip_onnxruntime, log_file)
                report.tflite = run_tflite(work, signature, tflite_variants, reference=reference,
                                           feeds=feeds if verify_outputs else None, seed=seed, calibration=calibration,
                                           tolerance=tolerance, per_output=per_output, min_top1=tflite_min_top1,
                                           progress=lambda m: progress(f"  {m}"))
        report.stages = stages.timings
        if static_shapes:
            report.source["static_shapes"] = [str(item) for item in static_shapes]
        if paddle_model is not None:
            report.source["paddle_model"] = os.path.relpath(paddle_model.model_file, work)
        write_reports(report, work)
    return report


def _metadata_file(resolved: Source, paddle_reference: str | None) -> str | None:
    """The inference.yml (or infer_cfg.yml) beside the model file, or beside the --paddle-reference model."""
    candidates = [resolved.model_file] if resolved.model_file else []
    if paddle_reference:
        candidates.append(os.path.join(paddle_reference, "model") if os.path.isdir(paddle_reference)
                          else paddle_reference)
    return next((found for candidate in candidates if (found := find_metadata(candidate))), None)


def _has_infinite_error(verification) -> bool:
    return any(pair.max_abs == float("inf") for out in verification.outputs for key, pair in out.pairs.items()
               if key.endswith("_vs_tensorflow"))


def _paddle_reference(text: str, resolved: Source, folder: str) -> PaddleModel:
    """The Paddle model an ONNX source was exported from, copied beside the output like a Paddle source's."""
    if resolved.is_paddle:
        raise BadInputError(f"--paddle-reference {text}: only for an ONNX source (a Paddle source is its own)")
    reference = resolve_source(text)
    if reference.kind not in ("paddle_json", "paddle_pdmodel"):
        raise BadInputError(f"--paddle-reference {text}: expected a Paddle inference model "
                            "(model.json or model.pdmodel, with model.pdiparams beside it)")
    return copy_paddle_model(PaddleModel(reference.model_file, reference.params_file), folder)


def write_reports(report: ConversionReport, folder: str) -> None:
    """report.json and the self-contained report.html rendered from the same data."""
    from paddle2tf.report.html import write_html

    report.write(os.path.join(folder, REPORT_FILE))
    with open(os.path.join(folder, REPORT_FILE)) as handle:
        write_html(json.load(handle), os.path.join(folder, HTML_FILE))


def _locate_stage(report: ConversionReport, stages: _Stages, onnx_path: str, feeds, origin: str,
                  tolerance: Tolerance, per_output, paddle_model, log_file: str | None, progress: Progress,
                  recorded_plugins: Sequence[dict] = (), precision: str = "fp32") -> None:
    """Run locate after a failed verification; a locate failure is noted, never fatal to the conversion.
    ``recorded_plugins`` (report.json's) are loaded first: locate converts the model again."""
    from paddle2tf.verify.locate.search import run_locate

    if precision != "fp32":
        report.notes.append(f"locate skipped: it converts at float32; re-convert without --precision {precision} "
                            "to look for a conversion error")
        return
    skipped = report.verification.skipped.get("onnxruntime")
    if skipped:  # ONNX Runtime is locate's reference for every hop and every node
        report.notes.append(f"locate skipped: {skipped}")
        return
    with stages.stage("locate", "which hop, which ONNX node diverges"):
        try:
            load_recorded(list(recorded_plugins), progress=lambda m: progress(f"  {m}"))
            report.locate = run_locate(onnx_path, feeds, origin, tolerance=tolerance, per_output=per_output,
                                       verification=report.verification, paddle_model=paddle_model,
                                       log_file=log_file, progress=lambda m: progress(f"  {m}"))
        except Exception as exc:  # diagnosis must not turn a parity failure into a crash
            report.notes.append(f"locate failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _model_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _convert_and_save(model, path: str, precision: str = "fp32", reduced_io: bool = False,
                      preprocess: Preprocess | None = None, io_layout: str = "onnx"):
    from paddle2tf.converter.module import ConvertedModule

    converted = ConvertedModule(model, precision=precision, reduced_io=reduced_io, preprocess=preprocess,
                                in_place=True, io_layout=io_layout)
    converted.save(path)
    return converted.signature, converted.precision, converted.rewrites


def _feeds_from_file(path: str, specs: list[InputSpec], origin: str = "") -> tuple[dict[str, np.ndarray], str]:
    return load_feeds(path, specs), origin or f"from {os.path.basename(path)}"


def _serving_feeds(feeds_file: str | None, specs: list[InputSpec], seed: int, preprocess: Preprocess | None,
                   signature: SignatureInfo) -> tuple[dict[str, np.ndarray], str]:
    """The feeds as the serving signature takes them: raw images for a ``preprocess`` input (seeded uint8 pixels
    over 0..255 when generated), channels-last for ``io_layout`` nhwc. A feeds file holds them so too."""
    if preprocess is None and not any(t.channels_last for t in signature.inputs):
        return _feeds(feeds_file, specs, seed)
    if feeds_file:
        return _feeds_from_file(feeds_file, [InputSpec(t.onnx_name, t.dtype, tuple(t.shape)) for t in signature.inputs])
    feeds, origin = _feeds(None, specs, seed)
    if preprocess is not None:
        feeds[preprocess.input] = raw_feed(preprocess, feeds[preprocess.input].shape, seed)
        origin += f"; {preprocess.input}: raw images, pixels uniform in [0, 255]"
    return to_signature_layout(feeds, signature.inputs), origin


def _feeds(feeds_file: str | None, specs: list[InputSpec], seed: int) -> tuple[dict[str, np.ndarray], str]:
    if feeds_file:
        return _feeds_from_file(feeds_file, specs)
    return make_feeds(specs, seed), (f"generated: seed {seed}, floats uniform{list(FLOAT_RANGE)}, "
                                     f"ints in [{INT_RANGE[0]}, {INT_RANGE[1]})")


def stored_paddle_model(out_dir: str, report: dict) -> PaddleModel | None:
    """The Paddle model a paddle2tf output keeps (report.json's ``source.paddle_model``), if any."""
    if not report["source"].get("paddle_model"):
        return None
    model_file = os.path.join(out_dir, report["source"]["paddle_model"])
    return PaddleModel(model_file, os.path.join(os.path.dirname(model_file), "model.pdiparams"))


def stored_inputs(out_dir: str, report: dict, feeds_file: str | None = None
                  ) -> tuple[SignatureInfo, dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """A paddle2tf output's signature, its inputs as the signature takes them (``feeds_file``, else the
    conversion's), the same as the model's feeds (preprocessed, ONNX layout), and where they came from."""
    signature = SignatureInfo([TensorInfo(**t) for t in report["signature"]["inputs"]],
                              [TensorInfo(**t) for t in report["signature"]["outputs"]])
    specs = [InputSpec(t.onnx_name, feed_dtype(t.dtype, report), tuple(t.shape)) for t in signature.inputs]
    serving_feeds, origin = (_feeds_from_file(feeds_file, specs) if feeds_file else
                             _feeds_from_file(os.path.join(out_dir, FEEDS_FILE), specs,
                                              f"from {FEEDS_FILE} (the inputs of the conversion)"))
    recorded = report["signature"].get("preprocess")
    preprocess = Preprocess.from_dict(recorded) if recorded else None
    feeds = model_feeds(preprocess, from_signature_layout(serving_feeds, signature.inputs))
    return signature, serving_feeds, feeds, origin


def verify_output(out_dir: str, *, feeds_file: str | None = None, tolerance: Tolerance | None = None,
                  per_output: Mapping[str, Tolerance] | None = None, locate_on_failure: bool = True,
                  plugins: Sequence[str] = (), progress: Progress = _stderr_progress) -> ConversionReport:
    """Re-run the three-way check on an existing output directory and rewrite its report.json and report.html
    (with the locate stage when the check fails, unless ``locate_on_failure`` is False). The SavedModel runs
    without any plugin; the locate stage loads ``plugins`` and those report.json records."""
    load_plugins(plugins)
    report_path = os.path.join(out_dir, REPORT_FILE)
    if not os.path.isfile(report_path):
        raise BadInputError(f"{out_dir}: not a paddle2tf output (no {REPORT_FILE})")
    with open(report_path) as handle:
        data = json.load(handle)
    paddle_model = stored_paddle_model(out_dir, data)
    tolerance = tolerance or default_tolerance(recorded_precision(data))
    signature, serving_feeds, feeds, origin = stored_inputs(out_dir, data, feeds_file)
    stages = _Stages(progress)
    onnx_path = os.path.join(out_dir, ONNX_FILE)
    log_file = os.path.join(out_dir, LOG_FILE)
    skip_onnxruntime = onnxruntime_skip_reason(onnx.load(onnx_path, load_external_data=False))
    with stages.stage("verify", "Paddle / ONNX Runtime / SavedModel"):
        verification = verify(onnx_path, os.path.join(out_dir, SAVED_MODEL_DIR), signature,
                              feeds, origin, paddle_model, tolerance, per_output,
                              progress=lambda m: progress(f"  {m}"), skip_onnxruntime=skip_onnxruntime,
                              serving_feeds=serving_feeds)
    summary = data.get("model_summary") or model_summary(load_model(onnx_path))
    report = ConversionReport(source=data["source"], opset=data["opset"], signature=data["signature"],
                              stages=[StageTiming(**s) for s in data.get("stages", [])
                                      if s["stage"] not in ("verify", "locate", "tflite-verify")],
                              verification=verification,
                              notes=[n for n in data.get("notes", [])
                                     if not n.startswith(("locate failed:", "locate skipped:"))],
                              fixes=data.get("fixes", []), model_summary=summary, plugins=data.get("plugins", []),
                              deploy_check=data.get("deploy_check"))  # same SavedModel: still valid
    if locate_on_failure and report.verdict == FAIL:
        _locate_stage(report, stages, onnx_path, feeds, origin, tolerance, per_output, paddle_model, log_file,
                      progress, data.get("plugins", []), recorded_precision(data))
    if data.get("tflite"):  # the TFLite files of the conversion, verified again (not re-converted)
        with stages.stage("tflite-verify", "the TFLite files"):
            reference = TfliteReference([t.onnx_name for t in signature.outputs], paddle_model, onnx_path,
                                        skip_onnxruntime, log_file)
            report.tflite = run_tflite(out_dir, signature, (), reference=reference, feeds=feeds, tolerance=tolerance,
                                       per_output=per_output, existing=data["tflite"],
                                       progress=lambda m: progress(f"  {m}"))
    report.stages.extend(stages.timings)
    write_reports(report, out_dir)
    return report

