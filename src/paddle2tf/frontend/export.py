"""Export stage: a Paddle model (Layer reference, PIR JSON or legacy .pdmodel) -> ONNX, in child processes."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from paddle2tf.common.subprocesses import run_child
from paddle2tf.errors import ExportError, UnsupportedModelError
from paddle2tf.frontend.fixes import Fix
from paddle2tf.frontend.fixes.paddle_ops import may_need_export
from paddle2tf.frontend.fixes.sanitise import sanitise_program
from paddle2tf.frontend.shape_hints import find_metadata
from paddle2tf.frontend.sources import Source
from paddle2tf.frontend.unsupported_ops import REFUSED_SUFFIX

WORKER = "paddle2tf.frontend.paddle_worker"
DEFAULT_OPSET = 13
MIN_OPSET = 11  # paddle2onnx's lowest opset for Paddle 3 programs
EXPORT_TIMEOUT_S = 1800


@dataclass
class PaddleModel:
    """An inference model on disk as Paddle itself runs it (the verification reference). ``params_file`` is '' for
    a user's program without parameters; paddle2tf's own copies always have one (empty for such a program)."""

    model_file: str
    params_file: str


def with_parameters_file(model: PaddleModel, folder: str) -> PaddleModel:
    """The model with a parameters file beside it: a program without parameters is copied into ``folder`` with an
    empty model.pdiparams (paddle2onnx aborts without a parameters file; Paddle reads an empty one as none)."""
    if model.params_file:
        return model
    return copy_paddle_model(model, folder)


@dataclass
class ExportResult:
    onnx_path: str
    paddle_model: PaddleModel
    notes: list[str] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)


def save_python_layer(source: Source, workdir: str, seed: int, log_file: str | None = None) -> PaddleModel:
    specs = [spec.to_dict() for spec in source.input_specs]
    prefix = os.path.join(workdir, "model")
    run_child(["-m", WORKER, "save-layer", source.reference, json.dumps(specs), prefix, "--seed", str(seed)],
              f"{source.reference}: cannot build and save the Paddle Layer", ExportError, log_file)
    return PaddleModel(prefix + ".json", prefix + ".pdiparams")


def copy_paddle_model(source: PaddleModel, workdir: str) -> PaddleModel:
    """Keep the user's Paddle model beside the output, so ``verify`` can re-run Paddle later."""
    os.makedirs(workdir, exist_ok=True)
    suffix = os.path.splitext(source.model_file)[1]
    model_file = os.path.join(workdir, "model" + suffix)
    params_file = os.path.join(workdir, "model.pdiparams")
    shutil.copyfile(source.model_file, model_file)
    if source.params_file:
        shutil.copyfile(source.params_file, params_file)
    else:  # a program without parameters: Paddle saved no file; an empty one lets every reader treat it alike
        open(params_file, "wb").close()
    # PaddleX / PaddleClas / PaddleDetection exports describe their input sizes and image preprocessing here
    # (the dataset check reads it from the copy)
    metadata = find_metadata(source.model_file)
    if metadata:
        shutil.copyfile(metadata, os.path.join(workdir, os.path.basename(metadata)))
    return PaddleModel(model_file, params_file)


def translate_legacy(model: PaddleModel, workdir: str, log_file: str | None = None,
                     display_name: str | None = None) -> PaddleModel:
    """Legacy .pdmodel -> PIR JSON (done by paddle2tf, so one exporter path serves both formats). Errors name
    ``display_name`` (the user's model) when given."""
    prefix = os.path.join(workdir, "translated")
    run_child(["-m", WORKER, "translate", model.model_file, model.params_file, prefix],
              f"{display_name or model.model_file}: cannot load the legacy Paddle model", ExportError, log_file)
    return with_parameters_file(PaddleModel(prefix + ".json", prefix + ".pdiparams"
                                            if os.path.isfile(prefix + ".pdiparams") else ""),
                                os.path.join(workdir, "translated_with_params"))


def export_to_onnx(model: PaddleModel, onnx_path: str, opset: int = DEFAULT_OPSET,
                   log_file: str | None = None, paddle_ops: bool = False, display_name: str | None = None,
                   restore_quantized: bool = False) -> list[Fix]:
    """paddle2onnx in a child process; with ``restore_quantized`` int8 quantize ops go through stand-ins
    (paddle2tf.frontend.fixes.quantize_ops), with ``paddle_ops`` the same child then exports the Paddle ops
    paddle2onnx dropped (paddle2tf.frontend.fixes.paddle_ops). Returns the fixes. Errors name
    ``display_name`` (the user's model) when given, not the working copy exported."""
    name = display_name or model.model_file
    fixes_file = onnx_path + ".fixes.json"
    extra = (["--paddle-ops"] if paddle_ops else []) + (["--restore-quantized"] if restore_quantized else [])
    run_child(["-m", WORKER, "export", model.model_file, model.params_file, str(opset), onnx_path,
               "--fixes-out", fixes_file, *extra],
              f"{name}: paddle2onnx could not export the model", ExportError, log_file,
              timeout=EXPORT_TIMEOUT_S)
    refused = onnx_path + REFUSED_SUFFIX
    if os.path.isfile(refused):
        with open(refused) as handle:
            line = handle.read().strip()
        os.remove(refused)
        raise UnsupportedModelError(f"{name}: {line}")
    if not os.path.isfile(onnx_path):
        raise ExportError(f"{name}: paddle2onnx wrote no ONNX file")
    with open(fixes_file) as handle:
        fixes = [Fix(**fix) for fix in json.load(handle)]
    os.remove(fixes_file)
    return fixes


def export_paddle(source: Source, workdir: str, opset: int = DEFAULT_OPSET, seed: int = 0,
                  log_file: str | None = None, apply_fixes: bool = True) -> ExportResult:
    """Export a Paddle source to ``workdir/model.onnx``. A ``module:attr`` Layer is first saved as an inference
    model in ``workdir/paddle``; a model file is exported from where it is (``ExportResult.paddle_model``
    then names the user's files: keep a copy with ``copy_paddle_model`` if they are needed later).

    With ``apply_fixes`` the PIR program is sanitised first (paddle2tf.frontend.fixes.sanitise) and the Paddle ops
    paddle2onnx drops are exported by paddle2tf (paddle2tf.frontend.fixes.paddle_ops)."""
    scratch = os.path.join(workdir, ".export")
    os.makedirs(scratch, exist_ok=True)
    if source.kind == "python":
        paddle_dir = os.path.join(workdir, "paddle")
        os.makedirs(paddle_dir, exist_ok=True)
        paddle_model = save_python_layer(source, paddle_dir, seed, log_file)
    else:
        paddle_model = PaddleModel(source.model_file, source.params_file)
    exportable = with_parameters_file(paddle_model, os.path.join(scratch, "source"))
    notes = []
    if paddle_model.model_file.endswith(".pdmodel"):
        exportable = translate_legacy(exportable, scratch, log_file, display_name=source.model_file)
        notes.append("legacy .pdmodel translated to PIR JSON by paddle2tf")
    fixes: list[Fix] = []
    needs_paddle_ops = False
    if apply_fixes:
        sanitised = os.path.join(scratch, "sanitised.json")
        fixes = sanitise_program(exportable.model_file, sanitised)
        exportable = PaddleModel(sanitised, exportable.params_file)
        with open(sanitised) as handle:  # the child then imports the Paddle-op exporter only when needed
            needs_paddle_ops = may_need_export(handle.read())
    onnx_path = os.path.join(workdir, "model.onnx")
    fixes += export_to_onnx(exportable, onnx_path, opset, log_file, paddle_ops=needs_paddle_ops,
                            display_name=source.describe(), restore_quantized=apply_fixes)
    shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(onnx_path, paddle_model, notes, fixes)
