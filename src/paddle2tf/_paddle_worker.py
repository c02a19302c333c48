"""Paddle-side work, run in a child process (``python -m paddle2tf._paddle_worker CMD ...``).

Paddle must never share a process with TensorFlow (importing TF first segfaults; Paddle sets
OMP_NUM_THREADS=1), and paddle2onnx can end its process on a bad model. Each command reads and
writes files only; a failure is reported as one line ``paddle2tf-error: ...`` on stderr and a
non-zero exit, which the parent turns into a clear error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import numpy as np

ERROR_PREFIX = "paddle2tf-error: "


def _fail(message: str) -> None:
    print(ERROR_PREFIX + message, file=sys.stderr, flush=True)
    sys.exit(3)


def save_layer(reference: str, specs: list[dict], prefix: str, seed: int) -> None:
    """Instantiate ``module:attr`` (a Layer or a zero-argument factory) and save it as an inference model."""
    import paddle

    module_name, _, attr_path = reference.partition(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        _fail(f"{reference}: cannot import module '{module_name}' ({exc})")
    for part in attr_path.split("."):
        if not hasattr(target, part):
            _fail(f"{reference}: module '{module_name}' has no attribute '{attr_path}'")
        target = getattr(target, part)
    paddle.seed(seed)
    layer = target if isinstance(target, paddle.nn.Layer) else target()
    if not isinstance(layer, paddle.nn.Layer):
        _fail(f"{reference}: gives a {type(layer).__name__}, not a paddle.nn.Layer")
    save_inference_model(layer, specs, prefix)


def save_inference_model(layer, specs: list[dict], prefix: str) -> None:
    import paddle

    layer.eval()
    input_spec = [paddle.static.InputSpec([-1 if d is None else d for d in s["shape"]], s["dtype"], s["name"])
                  for s in specs]
    paddle.jit.save(layer, prefix, input_spec=input_spec)


def translate_pdmodel(model_file: str, params_file: str, prefix: str) -> None:
    """Legacy ProgramDesc (.pdmodel) -> PIR JSON, so one exporter path serves both formats."""
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    stem = os.path.splitext(model_file)[0]
    with paddle.pir_utils.OldIrGuard():
        program, _, _ = _load(stem, model_file, params_file, exe)
    pir_program = paddle.pir.translate_to_pir(program.desc)
    with paddle.pir_utils.IrGuard():
        _load_pir_parameters(pir_program, exe)
        feeds = [r for op in pir_program.global_block().ops if op.name() == "pd_op.feed" for r in op.results()]
        fetches = [v for op in pir_program.global_block().ops
                   if op.name() in ("pd_op.fetch", "builtin.shadow_output") for v in op.operands_source()]
        paddle.static.save_inference_model(prefix, feeds, fetches, exe, program=pir_program)


def _load(stem: str, model_file: str, params_file: str, exe):
    """load_inference_model finds files by prefix: the params file must sit beside the model file."""
    import paddle

    if os.path.splitext(params_file)[0] != stem:
        _fail(f"{params_file}: the parameters file must be named {os.path.basename(stem)}.pdiparams")
    return paddle.static.load_inference_model(stem, exe)


def _load_pir_parameters(program, exe) -> None:
    import paddle

    persistable = [v for v in program.list_vars()
                   if v.persistable and (v.is_parameter or v.get_defining_op().name() in
                                         ("builtin.parameter", "pd_op.data"))]
    paddle.base.libpaddle.pir.create_loaded_parameter(persistable, paddle.static.global_scope(),
                                                      exe._default_executor)


def export(model_file: str, params_file: str, opset: int, out: str) -> None:
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"  # paddle2onnx must never pip-install at run time
    import paddle2onnx

    onnx_bytes = paddle2onnx.export(model_file, params_file, None, opset_version=opset,
                                    auto_upgrade_opset=True, enable_onnx_checker=True,
                                    enable_optimize=True, optimize_tool="none")
    if not onnx_bytes:
        _fail("paddle2onnx produced no model")
    with open(out, "wb") as handle:
        handle.write(onnx_bytes)


def run(model_file: str, params_file: str, feeds_file: str, out: str) -> None:
    """Run the inference model with Paddle itself; outputs saved in fetch order as out_0, out_1, ..."""
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    stem = os.path.splitext(model_file)[0]
    feeds = dict(np.load(feeds_file))
    guard = paddle.pir_utils.OldIrGuard() if model_file.endswith(".pdmodel") else paddle.pir_utils.IrGuard()
    with guard:
        program, feed_names, fetch_targets = _load(stem, model_file, params_file, exe)
        missing = [name for name in feed_names if name not in feeds]
        if missing:
            _fail(f"{model_file}: no feed for input(s) {', '.join(missing)}")
        results = exe.run(program, feed={name: feeds[name] for name in feed_names}, fetch_list=fetch_targets)
    np.savez(out, **{f"out_{i}": np.asarray(r) for i, r in enumerate(results)})


def main() -> None:
    parser = argparse.ArgumentParser(prog="paddle2tf._paddle_worker")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("save-layer")
    p.add_argument("reference")
    p.add_argument("specs")
    p.add_argument("prefix")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("translate")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p.add_argument("prefix")
    p = sub.add_parser("export")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p.add_argument("opset", type=int)
    p.add_argument("out")
    p = sub.add_parser("run")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p.add_argument("feeds")
    p.add_argument("out")
    args = parser.parse_args()
    if args.command == "save-layer":
        save_layer(args.reference, json.loads(args.specs), args.prefix, args.seed)
    elif args.command == "translate":
        translate_pdmodel(args.model_file, args.params_file, args.prefix)
    elif args.command == "export":
        export(args.model_file, args.params_file, args.opset, args.out)
    elif args.command == "run":
        run(args.model_file, args.params_file, args.feeds, args.out)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as exc:  # the parent shows this one line; the traceback goes to the log
        import traceback

        traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc}")
