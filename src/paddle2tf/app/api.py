"""The Python API: ``convert`` (export → repair → check → convert → verify → [locate] → [tflite] → report) and the
commands on an existing output: ``verify_output``, ``locate_output``, ``deploy_check_output``.

The CLI and the pipeline are thin layers over these functions; every setting of a conversion is a field of
``ConvertOptions``; progress is reported as ``common.events.Event``s.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
import onnx

from paddle2tf.app.options import ConvertOptions, DatasetRequest, DeployCheckOptions, LocateOptions, VerifyOptions
from paddle2tf.common.events import STAGE_DONE, STAGE_START, Event, Progress, messages, to_stderr
from paddle2tf.converter import plugins as converter_plugins
from paddle2tf.converter.module import (
    ConvertedModule,
    SignatureInfo,
    from_signature_layout,
    to_signature_layout,
)
from paddle2tf.converter.precision import recorded_precision
from paddle2tf.converter.preprocess import Preprocess, model_feeds, raw_feed
from paddle2tf.converter.preprocess import resolve as resolve_preprocess
from paddle2tf.errors import BadInputError, InternalError, Paddle2TFError
from paddle2tf.frontend.export import PaddleModel, copy_paddle_model, export_paddle
from paddle2tf.frontend.fixes.repair import repair_model
from paddle2tf.frontend.shape_hints import apply_hints, find_metadata, shape_hints
from paddle2tf.frontend.sources import InputSpec, Source, check_specs_against_model, model_input_specs, resolve_source
from paddle2tf.frontend.static_shape import apply_to_specs, fix_onnx_file
from paddle2tf.onnxutil.checker import load_checked, load_model
from paddle2tf.onnxutil.external_data import copy_model as copy_onnx_model
from paddle2tf.onnxutil.external_data import save_model as save_onnx_model
from paddle2tf.onnxutil.graph import model_opset
from paddle2tf.report.model import ConversionReport, StageTiming, model_summary
from paddle2tf.report.outdir import (
    FEEDS_FILE,
    LOG_FILE,
    ONNX_FILE,
    PADDLE_DIR,
    SAVED_MODEL_DIR,
    Output,
    atomic_output,
    write_report,
)
from paddle2tf.targets.deploy_check import DeployCheck, deploy_check, parse_requirements
from paddle2tf.targets.tflite import Reference as TfliteReference
from paddle2tf.targets.tflite import parse_variants as parse_tflite_variants
from paddle2tf.targets.tflite import run_tflite, serve_args
from paddle2tf.verify.dataset.reader import Dataset, ModelIO, open_dataset
from paddle2tf.verify.dataset.reader import check_paths as check_dataset_paths
from paddle2tf.verify.dataset.run import ExtraRunner, Model, verify_dataset
from paddle2tf.verify.feeds import check_feeds_file, describe_generated, explain_failure, load_feeds, make_feeds
from paddle2tf.verify.locate import LocateReport, run_locate
from paddle2tf.verify.metrics import FAIL, Tolerance, default_tolerance
from paddle2tf.verify.model import Verification
from paddle2tf.verify.runners import RunnerError
from paddle2tf.verify.three_way import check_verifiable, run_signature, verify

DEFAULT_OPTIONS = ConvertOptions()


class _Stages:
    """Times each stage and reports its start and end as events."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        self.progress(Event(STAGE_START, name, detail))
        start = time.perf_counter()
        try:
            yield messages(self.progress, name)
        except Paddle2TFError:
            raise
        except Exception as exc:  # a bug or an input no check foresaw: one line naming the stage, exit 2
            raise InternalError(f"{name} stage failed unexpectedly: {type(exc).__name__}: {exc} "
                                "(--debug shows the traceback)") from exc
        seconds = time.perf_counter() - start
        self.timings.append(StageTiming(name, round(seconds, 3)))
        self.progress(Event(STAGE_DONE, name, seconds=seconds))


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


def _save_layer_object(layer, specs: Sequence[InputSpec], workdir: str) -> Source:
    """A Layer passed to the API: saved with Paddle in this process (the caller already imported it)."""
    # Imported here: the worker module is Paddle's side, loaded only for a Layer object the caller holds.
    from paddle2tf.frontend.paddle_worker import save_inference_model

    if not specs:
        raise BadInputError("a paddle.nn.Layer source needs input_specs")
    prefix = os.path.join(workdir, "layer", "model")
    save_inference_model(layer, [spec.to_dict() for spec in specs], prefix)
    return Source("paddle_json", model_file=prefix + ".json", params_file=prefix + ".pdiparams",
                  input_specs=tuple(specs))


def _files_read(source, options: ConvertOptions) -> list[str]:
    """The user's files a conversion reads (an OUT_DIR holding one is never replaced)."""
    paths = [source if isinstance(source, str | os.PathLike) else None, options.feeds, options.paddle_reference,
             options.calibration, options.dataset, options.labels, *options.plugins]
    return [os.fspath(path) for path in paths if path is not None and os.path.exists(path)]


def convert(source, out_dir: str, options: ConvertOptions = DEFAULT_OPTIONS, *,
            progress: Progress = to_stderr) -> ConversionReport:
    """Convert ``source`` (ONNX path, Paddle model path/prefix, ``module:attr`` or a paddle.nn.Layer) into
    ``out_dir`` (report/outdir.py: model.onnx, saved_model/, report.json, report.html, ...) as ``options`` say.
    Returns the report; check ``report.verdict``. Bad input raises ``BadInputError`` (nothing is written)."""
    tolerance = options.effective_tolerance
    tflite_variants = parse_tflite_variants(options.tflite)
    if options.dataset is not None:
        check_dataset_paths(options.dataset, options.labels)
    converter_plugins.load(options.plugins)
    stages = _Stages(progress)
    with atomic_output(out_dir, options.force, _files_read(source, options)) as work:
        user_names: dict[str, str] = {}
        try:
            report = _convert_into(source, work, options, stages, tflite_variants, tolerance, user_names)
        except Paddle2TFError as exc:  # one line naming the user's files, never the unfinished OUT_DIR's
            raise _naming_user_files(exc, user_names, work, out_dir) from exc
    return report


def _naming_user_files(exc: Paddle2TFError, user_names: dict[str, str], work: str, out_dir: str) -> Paddle2TFError:
    """``exc`` with its working paths replaced: known files by the user's names for them, anything else under
    ``work`` by the same path under ``out_dir``."""
    message = str(exc)
    for path in sorted(user_names, key=len, reverse=True):
        message = message.replace(path, user_names[path])
    message = message.replace(work, os.path.normpath(out_dir))
    return exc if message == str(exc) else type(exc)(message)


def _convert_into(source, work: str, options: ConvertOptions, stages: _Stages, tflite_variants: list[str],
                  tolerance: Tolerance, user_names: dict[str, str]) -> ConversionReport:
    """``convert``'s stages, writing into the unfinished OUT_DIR ``work``; ``user_names`` gets each working file's
    name as the user knows it, as soon as it exists."""
    log_file = os.path.join(work, LOG_FILE)
    specs_given = apply_to_specs(options.input_specs, options.static_shapes)
    if isinstance(source, str | os.PathLike):
        resolved = resolve_source(os.fspath(source), specs_given)
    else:
        resolved = _save_layer_object(source, specs_given, work)
    paddle_model = None
    notes: list[str] = []
    fixes = []
    onnx_path = os.path.join(work, ONNX_FILE)
    if resolved.is_paddle:
        with stages.stage("export", f"{resolved.describe()} → ONNX opset {options.opset}"):
            exported = export_paddle(resolved, work, options.opset, options.seed, log_file, options.fixes)
            paddle_model, notes, fixes = exported.paddle_model, exported.notes, exported.fixes
        if resolved.kind != "python":  # a copy beside the output: `verify` re-runs Paddle on it later
            paddle_model = copy_paddle_model(paddle_model, os.path.join(work, PADDLE_DIR))
        shutil.rmtree(os.path.join(work, "layer"), ignore_errors=True)
    else:
        copy_onnx_model(resolved.model_file, onnx_path)  # with its external data, if any
        if metadata := find_metadata(resolved.model_file):  # kept beside model.onnx for the dataset check
            shutil.copyfile(metadata, os.path.join(work, os.path.basename(metadata)))
            user_names[os.path.join(work, os.path.basename(metadata))] = metadata
    if options.paddle_reference is not None:
        paddle_model = _paddle_reference(options.paddle_reference, resolved, os.path.join(work, PADDLE_DIR))
    # Errors name the user's file, never our working copy: an ONNX source by its path, a Paddle model's export
    # as what it was exported from.
    user_onnx = None if resolved.is_paddle else resolved.model_file
    display_name = user_onnx or f"{resolved.describe()} (as exported to ONNX)"
    user_names.update({onnx_path: display_name, os.path.join(work, SAVED_MODEL_DIR): "the converted SavedModel"})
    if paddle_model is not None:  # the copy inside the unfinished OUT_DIR
        user_names[paddle_model.model_file] = options.paddle_reference or resolved.describe()
        if (copied := find_metadata(paddle_model.model_file)) and (metadata := _metadata_file(
                resolved, options.paddle_reference)):
            user_names[copied] = metadata
    if options.fixes:
        with stages.stage("repair", "known exporter defects in the ONNX graph"):
            repairs = repair_model(model := load_model(onnx_path, display_name))
            if repairs:
                save_onnx_model(model, onnx_path)
                if user_onnx:  # the user's own file: model.onnx is not a copy of it
                    notes.append(f"{os.path.basename(user_onnx)} was repaired before conversion "
                                 f"({len(repairs)} change(s), see fixes); --no-fixes converts it as given")
            fixes += repairs
    if options.static_shapes:  # before the check, whose shape inference then propagates the fixed dims
        fix_onnx_file(onnx_path, options.static_shapes, display_name)
    preprocess = options.preprocess
    with stages.stage("check", "onnx.checker + shape inference"):
        model = load_checked(onnx_path, display_name)
        model_specs = model_input_specs(model)
        check_specs_against_model(options.input_specs, model_specs, display_name)
        specs = _feed_specs(model_specs, options.input_specs)
        outputs = [value.name for value in model.graph.output]
        if unknown := sorted(set(options.per_output) - set(outputs)):
            raise BadInputError(f"--tolerance {unknown[0]}: the model has no output of that name "
                                f"(outputs: {', '.join(outputs)})")
        if preprocess is not None:
            preprocess = resolve_preprocess(preprocess, {s.name: (s.dtype, s.shape) for s in specs})
        if options.feeds:  # before the conversion's work: a wrong file fails in seconds
            check_feeds_file(options.feeds, specs, preprocess, options.io_layout)
    with stages.stage("convert", f"{len(model.graph.node)} ONNX nodes → TensorFlow SavedModel"):
        converter_plugins.check_supported(model)  # an unknown custom op: the error says how to write its plugin
        skip_onnxruntime = converter_plugins.onnxruntime_skip_reason(model)
        if options.verify:  # before the conversion's work
            check_verifiable(paddle_model is not None, skip_onnxruntime)
        summary, opset_used = model_summary(model), model_opset(model)  # of the model as exported
        # The model is handed over: the passes rewrite it in place (one copy of the weights, not two).
        converted = ConvertedModule(model, precision=options.precision, reduced_io=options.precision_io,
                                    preprocess=preprocess, in_place=True, io_layout=options.io_layout)
        converted.save(os.path.join(work, SAVED_MODEL_DIR))
        signature, precision_record, rewrites = converted.signature, converted.precision, converted.rewrites
        del model, converted
    report = ConversionReport(source={"kind": resolved.kind, "path": resolved.describe()},
                              opset=opset_used, signature=signature.to_dict(), notes=notes,
                              fixes=[asdict(fix) for fix in fixes], model_summary=summary,
                              plugins=converter_plugins.record_dicts())
    report.signature["precision"] = {**precision_record.to_dict(), "default_tolerance": asdict(
        default_tolerance(options.precision))}
    report.model_summary["rewrites"] = rewrites  # graph passes: {pass: rewrites made}
    if preprocess is not None:
        report.signature["preprocess"] = preprocess.to_dict()
    hints = {} if options.feeds else shape_hints(_metadata_file(resolved, options.paddle_reference), specs)
    if hints:  # the sizes the model's own metadata states (inference.yml), for its dynamic dims
        report.source["shape_hints"] = {name: {"shape": list(h.shape), "origin": h.origin}
                                        for name, h in hints.items()}
    serving_feeds, origin = _serving_feeds(options.feeds, apply_hints(specs, hints), options.seed, preprocess,
                                           signature)
    if hints:
        origin += "; " + "; ".join(f"{name} shape from {h.origin}" for name, h in hints.items())
    np.savez(os.path.join(work, FEEDS_FILE), **serving_feeds)
    # what Paddle, ONNX Runtime and locate are given
    feeds = model_feeds(preprocess, from_signature_layout(serving_feeds, signature.inputs))
    if options.verify:
        with stages.stage("verify", "Paddle / ONNX Runtime / SavedModel") as say:
            try:
                report.verification = verify(onnx_path, os.path.join(work, SAVED_MODEL_DIR), signature, feeds,
                                             origin, paddle_model, tolerance, options.per_output, log_file,
                                             progress=say, skip_onnxruntime=skip_onnxruntime,
                                             serving_feeds=serving_feeds, source_name=resolved.describe(),
                                             allow_empty=options.dataset is not None)
                report.notes += _judged_on_the_dataset(report.verification, options.dataset)
            except RunnerError as exc:  # on generated inputs: say which shape and how to choose one
                if options.feeds or hints:
                    raise
                raise RunnerError(explain_failure(str(exc), specs, feeds)) from exc
        if options.locate and report.verdict == FAIL:
            if options.precision == "fp16" and _has_infinite_error(report.verification):
                report.notes.append("float16 overflow: an output is inf/NaN where the reference is finite "
                                    "(float16 holds values up to 65504); --precision bf16 has float32's range")
            _locate_stage(report, stages, onnx_path, feeds, origin, tolerance, options.per_output, paddle_model,
                          log_file, precision=options.precision)
    if tflite_variants:
        with stages.stage("tflite", ", ".join(tflite_variants)) as say:
            reference = TfliteReference([t.onnx_name for t in signature.outputs], paddle_model, onnx_path,
                                        skip_onnxruntime, log_file)
            model_scales = None
            if "int8" in tflite_variants and not options.calibration and summary.get("quantized"):
                say("int8 from the model's own scales (QuantizeLinear / DequantizeLinear as fake-quant ops)")
                model_scales = os.path.join(work, ".tflite_model_scales")
                ConvertedModule(load_model(onnx_path), precision=options.precision, io_layout=options.io_layout,
                                fake_quant=True).save(model_scales)
            try:
                report.tflite = run_tflite(work, os.path.join(work, SAVED_MODEL_DIR), signature, tflite_variants,
                                           reference=reference, feeds=feeds if options.verify else None,
                                           seed=options.seed, calibration=options.calibration,
                                           tolerance=tolerance, per_output=options.per_output,
                                           min_top1=options.tflite_min_top1, model_scales=model_scales,
                                           progress=say)
            finally:
                if model_scales:
                    shutil.rmtree(model_scales, ignore_errors=True)
    if options.dataset is not None:
        request = options.dataset_request
        dataset = _open_dataset(request, onnx_path, report.to_dict(), paddle_model,
                                find_metadata(resolved.model_file) if resolved.is_paddle else None)
        _dataset_stage(report, stages, dataset, request, onnx_path, os.path.join(work, SAVED_MODEL_DIR),
                       signature, work, paddle_model, skip_onnxruntime, tolerance, options.per_output, log_file)
    report.stages = stages.timings
    if options.static_shapes:
        report.source["static_shapes"] = [str(item) for item in options.static_shapes]
    if paddle_model is not None:
        report.source["paddle_model"] = os.path.relpath(paddle_model.model_file, work)
    write_report(report, work)
    return report


def _metadata_file(resolved: Source, paddle_reference: str | None) -> str | None:
    """The inference.yml (or infer_cfg.yml) beside the model file, or beside the --paddle-reference model."""
    candidates = [resolved.model_file] if resolved.model_file else []
    if paddle_reference:
        candidates.append(os.path.join(paddle_reference, "model") if os.path.isdir(paddle_reference)
                          else paddle_reference)
    return next((found for candidate in candidates if (found := find_metadata(candidate))), None)


_EMPTY_NOTE = "empty on the verification inputs"


def _judged_on_the_dataset(verification: Verification, dataset: str | None) -> list[str]:
    """Outputs empty on the verification inputs (a detector finding nothing in random images): compared on
    ``dataset`` only (the dataset check refuses one empty there too)."""
    return [f"output {out.name}: {_EMPTY_NOTE} ({out.shape}); judged on the dataset {dataset} only"
            for out in verification.outputs if 0 in out.shape] if dataset else []


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


def _locate_stage(report: ConversionReport, stages: _Stages, onnx_path: str, feeds, origin: str,
                  tolerance: Tolerance, per_output, paddle_model, log_file: str | None,
                  recorded_plugins: Sequence[dict] = (), precision: str = "fp32") -> None:
    """Run locate after a failed verification; a locate failure is noted, never fatal to the conversion.
    ``recorded_plugins`` (report.json's) are loaded first: locate converts the model again."""
    if precision != "fp32":
        report.notes.append(f"locate skipped: it converts at float32; re-convert without --precision {precision} "
                            "to look for a conversion error")
        return
    skipped = report.verification.skipped.get("onnxruntime")
    if skipped:  # ONNX Runtime is locate's reference for every hop and every node
        report.notes.append(f"locate skipped: {skipped}")
        return
    with stages.stage("locate", "which hop, which ONNX node diverges") as say:
        try:
            converter_plugins.load_recorded(list(recorded_plugins), progress=say)
            report.locate = run_locate(onnx_path, feeds, origin, tolerance=tolerance, per_output=per_output,
                                       verification=report.verification, paddle_model=paddle_model,
                                       log_file=log_file, progress=say)
        except Exception as exc:  # diagnosis must not turn a parity failure into a crash
            report.notes.append(f"locate failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _open_dataset(request: DatasetRequest, onnx_path: str, report: dict, paddle_model: PaddleModel | None,
                  source_yml: str | None = None) -> Dataset:
    """The dataset opened against the model (names, array headers and labels read: bad input fails here). Images
    get the preprocessing compiled into the signature, else ``request.preprocess``, else the model's inference.yml
    (kept in OUT_DIR/paddle/ or beside OUT_DIR/model.onnx, or ``source_yml``)."""
    inference_yml = ((find_metadata(paddle_model.model_file) if paddle_model else None) or find_metadata(onnx_path)
                     or source_yml)
    return open_dataset(request.path, ModelIO.from_report(onnx_path, report), preprocess=request.preprocess,
                        labels=request.labels, limit=request.limit, inference_yml=inference_yml)


def _dataset_stage(report: ConversionReport, stages: _Stages, dataset: Dataset, request: DatasetRequest,
                   onnx_path: str, saved_model: str, signature: SignatureInfo, out_dir: str,
                   paddle_model: PaddleModel | None, skip_onnxruntime: str, tolerance: Tolerance,
                   per_output: Mapping[str, Tolerance] | None, log_file: str | None) -> None:
    """The dataset check (verify.dataset) on the SavedModel and the TFLite files of ``report``: ``report.dataset``.
    Quantised TFLite files are judged by their agreement with ``--tflite-min-top1`` only."""
    extra = []
    for item in report.tflite:
        item = item if isinstance(item, dict) else asdict(item)
        if item["converted"] and item["path"]:
            quantised = item["variant"] != "fp32"
            extra.append(ExtraRunner(f"tflite-{item['variant']}", serve_args(os.path.join(out_dir, item["path"])),
                                     judged=not quantised, min_agreement=item.get("min_top1") if quantised else None))
    model = Model(onnx_path, saved_model, signature, paddle_model, skip_onnxruntime, tuple(extra))
    with stages.stage("dataset", dataset.describe()) as say:
        report.dataset = verify_dataset(model, dataset, request.options(tolerance, per_output or {}), progress=say,
                                        log_file=log_file)


def _feeds(feeds_file: str | None, specs: list[InputSpec], seed: int) -> tuple[dict[str, np.ndarray], str]:
    if feeds_file:
        return load_feeds(feeds_file, specs), f"from {os.path.basename(feeds_file)}"
    return make_feeds(specs, seed), describe_generated(specs, seed)


def _serving_feeds(feeds_file: str | None, specs: list[InputSpec], seed: int, preprocess: Preprocess | None,
                   signature: SignatureInfo) -> tuple[dict[str, np.ndarray], str]:
    """The feeds as the serving signature takes them: raw images for a ``preprocess`` input (seeded uint8 pixels
    over 0..255 when generated), channels-last for ``io_layout`` nhwc. A feeds file holds them so too."""
    if preprocess is None and not any(t.channels_last for t in signature.inputs):
        return _feeds(feeds_file, specs, seed)
    if feeds_file:
        return _feeds(feeds_file, [InputSpec(t.onnx_name, t.dtype, tuple(t.shape)) for t in signature.inputs], seed)
    feeds, origin = _feeds(None, specs, seed)
    if preprocess is not None:
        feeds[preprocess.input] = raw_feed(preprocess, feeds[preprocess.input].shape, seed)
        origin += f"; {preprocess.input}: raw images, pixels uniform in [0, 255]"
    return to_signature_layout(feeds, signature.inputs), origin


def verify_output(out_dir: str, options: VerifyOptions | None = None, *,
                  progress: Progress = to_stderr) -> ConversionReport:
    """Re-run the three-way check on an existing output directory and rewrite its report.json and report.html
    (with the locate stage when the check fails, unless ``options.locate`` is False). The SavedModel runs
    without any plugin; the locate stage loads ``options.plugins`` and those report.json records.
    ``options.dataset``: the dataset check too (report.json ``dataset``; without it, a previous dataset section is
    kept: same SavedModel)."""
    options = options or VerifyOptions()
    feeds_file, per_output, dataset = options.feeds, options.per_output, options.dataset
    converter_plugins.load(options.plugins)
    output = Output.open(out_dir)
    data = output.report
    paddle_model = output.paddle_model()
    tolerance = options.tolerance or default_tolerance(recorded_precision(data))
    signature, serving_feeds, feeds, origin = output.inputs(feeds_file)
    opened = _open_dataset(dataset, output.onnx_path, data, paddle_model) if dataset is not None else None
    stages = _Stages(progress)
    skip_onnxruntime = converter_plugins.onnxruntime_skip_reason(onnx.load(output.onnx_path,
                                                                           load_external_data=False))
    with stages.stage("verify", "Paddle / ONNX Runtime / SavedModel") as say:
        verification = verify(output.onnx_path, output.saved_model, signature, feeds, origin, paddle_model, tolerance,
                              per_output, progress=say, skip_onnxruntime=skip_onnxruntime, serving_feeds=serving_feeds,
                              allow_empty=dataset is not None)
    summary = data.get("model_summary") or model_summary(load_model(output.onnx_path))
    report = ConversionReport(source=data["source"], opset=data["opset"], signature=data["signature"],
                              stages=[StageTiming(**s) for s in data.get("stages", [])
                                      if s["stage"] not in ("verify", "locate", "tflite-verify")
                                      and (dataset is None or s["stage"] != "dataset")],
                              verification=verification,
                              notes=[n for n in data.get("notes", [])
                                     if not n.startswith(("locate failed:", "locate skipped:", _EMPTY_NOTE))]
                              + _judged_on_the_dataset(verification, dataset and dataset.path),
                              fixes=data.get("fixes", []), model_summary=summary, plugins=data.get("plugins", []),
                              deploy_check=data.get("deploy_check"),  # same SavedModel: still valid
                              dataset=data.get("dataset") if dataset is None else None)
    if options.locate and report.verdict == FAIL:
        _locate_stage(report, stages, output.onnx_path, feeds, origin, tolerance, per_output, paddle_model,
                      output.log_file, data.get("plugins", []), recorded_precision(data))
    if data.get("tflite"):  # the TFLite files of the conversion, verified again (not re-converted)
        with stages.stage("tflite-verify", "the TFLite files") as say:
            reference = TfliteReference([t.onnx_name for t in signature.outputs], paddle_model, output.onnx_path,
                                        skip_onnxruntime, output.log_file)
            report.tflite = run_tflite(out_dir, output.saved_model, signature, (), reference=reference, feeds=feeds,
                                       tolerance=tolerance, per_output=per_output, existing=data["tflite"],
                                       progress=say)
    if opened is not None:
        _dataset_stage(report, stages, opened, dataset, output.onnx_path, output.saved_model, signature, out_dir,
                       paddle_model, skip_onnxruntime, tolerance, per_output, output.log_file)
    report.stages.extend(stages.timings)
    write_report(report, out_dir)
    return report


def locate_output(out_dir: str, options: LocateOptions | None = None, *,
                  progress: Progress = to_stderr) -> LocateReport:
    """Locate the divergence of a paddle2tf output directory (model.onnx, report.json, the stored inputs).

    The Paddle → ONNX hop is judged by running Paddle (when the directory holds the Paddle model) and ONNX
    Runtime, the ONNX → TensorFlow hop by running the SavedModel, then node by node. ``options.feeds`` holds the
    serving signature's inputs (raw images for a ``--preprocess`` input). The converter plugins report.json records
    and ``options.plugins`` are loaded first (the model is converted again). With ``options.update_report`` the
    result is stored in report.json (``locate``) and report.html is re-rendered."""
    options = options or LocateOptions()
    output = Output.open(out_dir)
    model = load_model(output.onnx_path)
    skipped = converter_plugins.onnxruntime_skip_reason(model)
    if skipped:
        raise BadInputError(f"{out_dir}: locate compares against ONNX Runtime, and {skipped}")
    say = messages(progress, "locate")
    converter_plugins.load(options.plugins)
    converter_plugins.load_recorded(output.report.get("plugins", []), say)
    signature, serving_feeds, feeds, origin = output.inputs(options.feeds)

    def run_saved_model() -> dict[str, np.ndarray]:
        return run_signature(output.saved_model, signature, serving_feeds, output.log_file)

    result = run_locate(output.onnx_path, feeds, origin, tolerance=options.tolerance, per_output=options.per_output,
                        paddle_model=output.paddle_model(), nodewise=options.nodewise,
                        **({"chunk_size": options.chunk_size} if options.chunk_size else {}),
                        log_file=output.log_file, run_saved_model=run_saved_model, progress=say)
    if options.update_report:
        output.update(locate=result.to_dict())
    return result


def deploy_check_output(out_dir: str, options: DeployCheckOptions | None = None, *,
                        progress: Progress = to_stderr) -> DeployCheck:
    """Deploy-check OUT_DIR's SavedModel (targets.deploy_check) on the conversion's inputs; with
    ``options.update_report`` the result is stored in report.json (``deploy_check``) and report.html is re-rendered."""
    options = options or DeployCheckOptions()
    require = parse_requirements(list(options.require))  # a bad --require is reported before the folder is read
    output = Output.open(out_dir, need_onnx=False, need_saved_model=True)
    signature = output.report["signature"]
    specs = [InputSpec(t["onnx_name"], t["dtype"], tuple(t["shape"])) for t in signature["inputs"]]
    if os.path.isfile(output.file(FEEDS_FILE)):
        feeds, origin = load_feeds(output.file(FEEDS_FILE), specs), f"from {FEEDS_FILE} (the inputs of the conversion)"
    else:
        feeds, origin = make_feeds(specs), describe_generated(specs, 0)
    result = deploy_check(output.saved_model, signature, feeds, origin, require=require, tolerance=options.tolerance,
                          timing_runs=options.timing_runs, log_file=output.log_file,
                          progress=messages(progress, "deploy-check"))
    if result.load_error and "Op type not registered" not in result.load_error:
        # An op plain TensorFlow lacks is a finding about the model (the --require lines say so); any other load
        # failure means the folder's SavedModel is damaged: bad input, not a deploy property.
        raise BadInputError(f"{output.saved_model}: the SavedModel does not load in TensorFlow: {result.load_error}")
    if options.update_report:
        output.update(deploy_check=result.to_dict())
    return result
