"""Paddle-side work, run in a child process (``python -m paddle2tf.frontend.paddle_worker CMD ...``).

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
import re
import sys

import numpy as np

from paddle2tf.common.childio import write_outputs
from paddle2tf.common.serve_loop import protocol_stream
from paddle2tf.common.serve_loop import serve as serve_requests
from paddle2tf.frontend import unsupported_ops
from paddle2tf.frontend.fixes import paddle_ops, quantize_ops
from paddle2tf.frontend.fixes.paddle_ops import PaddleOp, registered
from paddle2tf.onnxutil.external_data import INLINE_MAX_BYTES

ERROR_PREFIX = "paddle2tf-error: "
SUBLAYERS_SUFFIX = ".sublayers.json"  # beside a saved Layer: parameter name -> structured name (layer1.0.conv1.weight)
_NOT_VALUES = ("builtin.parameter", "pd_op.data", "pd_op.feed", "pd_op.fetch", "builtin.shadow_output")


def _fail(message: str) -> None:
    print(ERROR_PREFIX + message, file=sys.stderr, flush=True)
    sys.exit(3)


_PADDLE_ERROR = re.compile(r"^\s*(\w+Error): (.*)$")
_PADDLE_SOURCE = re.compile(r"\s*\(at /paddle/[^)]*\)")


def _error_text(exc: BaseException) -> str:
    """One line for the parent to show. Paddle's errors span lines: "In user code:", the Python frames (this
    worker's own paths), then its error type, message and hints; the frames are dropped."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    start = next((i for i in range(len(lines) - 1, -1, -1) if _PADDLE_ERROR.match(lines[i])), None)
    if "In user code:" in lines[:1] and start is not None:
        return _PADDLE_SOURCE.sub("", " ".join(lines[start:]))[:400]
    return f"{type(exc).__name__}: {_PADDLE_SOURCE.sub('', ' '.join(lines))[:400]}"


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
    input_spec = [
        paddle.static.InputSpec([-1 if d is None else d for d in s["shape"]], s["dtype"], s["name"]) for s in specs
    ]
    paddle.jit.save(layer, prefix, input_spec=input_spec)
    # The saved program names parameters by their unique names (conv2d_3.w_0); locate reports the sublayer.
    with open(prefix + SUBLAYERS_SUFFIX, "w") as handle:
        json.dump({param.name: name for name, param in layer.named_parameters()}, handle)


def translate_pdmodel(model_file: str, params_file: str, prefix: str) -> None:
    """Legacy ProgramDesc (.pdmodel) -> PIR JSON, so one exporter path serves both formats."""
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    stem = os.path.splitext(model_file)[0]
    with paddle.pir_utils.OldIrGuard():
        if os.path.getsize(params_file) == 0:  # the user gave none: only a program without parameters may do
            _require_no_parameters(model_file)
        program, _, _ = _load(stem, model_file, params_file, exe)
    pir_program = paddle.pir.translate_to_pir(program.desc)
    with paddle.pir_utils.IrGuard():
        _load_pir_parameters(pir_program, exe)
        feeds = [r for op in pir_program.global_block().ops if op.name() == "pd_op.feed" for r in op.results()]
        fetches = [
            v
            for op in pir_program.global_block().ops
            if op.name() in ("pd_op.fetch", "builtin.shadow_output")
            for v in op.operands_source()
        ]
        paddle.static.save_inference_model(prefix, feeds, fetches, exe, program=pir_program)


def _require_no_parameters(model_file: str) -> None:
    """Fail with a clear line when the legacy program reads parameters (persistable variables other than feed/fetch)."""
    import paddle

    with open(model_file, "rb") as handle:
        program = paddle.static.Program.parse_from_string(handle.read())
    names = sorted(
        v.name
        for v in program.list_vars()
        if v.persistable
        and v.type
        not in (paddle.framework.core.VarDesc.VarType.FEED_MINIBATCH, paddle.framework.core.VarDesc.VarType.FETCH_LIST)
    )
    if names:
        _fail(
            # (no file name: MODEL_FILE is the working copy; the caller's line names the user's model)
            f"no .pdiparams parameters file beside it (the program reads {len(names)} parameter(s), "
            f"e.g. {names[0]})"
        )


def _load(stem: str, model_file: str, params_file: str, exe):
    """load_inference_model finds files by prefix: the params file must sit beside the model file."""
    import paddle

    if os.path.splitext(params_file)[0] != stem:
        _fail(f"{params_file}: the parameters file must be named {os.path.basename(stem)}.pdiparams")
    try:
        return paddle.static.load_inference_model(stem, exe)
    except Exception as exc:
        _fail_on_foreign_parameters(exc)
        raise


# Paddle's words when a parameters file does not fit the program: more data than it reads, or less
_PARAMETER_READ_ERRORS = ("load_combine", "Cannot read tensor", "loading model parameters")


def _fail_on_foreign_parameters(exc: Exception) -> None:
    """Paddle's error on reading a parameters file of another model, or one cut short, as one clear line."""
    if any(marker in str(exc) for marker in _PARAMETER_READ_ERRORS):
        # (no file name: these are working copies; the caller's line names the user's model)
        _fail(f"its parameters file (.pdiparams) does not hold this program's parameters (it belongs to another "
              f"model, or is cut short): {_error_text(exc)}")


def _load_pir_parameters(program, exe) -> None:
    import paddle

    persistable = [
        v
        for v in program.list_vars()
        if v.persistable and (v.is_parameter or v.get_defining_op().name() in ("builtin.parameter", "pd_op.data"))
    ]
    paddle.base.libpaddle.pir.create_loaded_parameter(persistable, paddle.static.global_scope(), exe._default_executor)


def export(model_file: str, params_file: str, opset: int, out: str, fixes_out: str | None = None,
           paddle_ops: bool = False, restore_quantized: bool = False) -> None:
    """paddle2onnx (with ``restore_quantized``, int8 quantize ops through stand-ins,
    paddle2tf.frontend.fixes.quantize_ops), then (with
    ``paddle_ops``) the Paddle-op exporter for the ops paddle2onnx dropped or mis-exports
    (paddle2tf.frontend.fixes.paddle_ops); the fixes are written to ``fixes_out`` as JSON. A PIR program holding
    ops paddle2onnx cannot convert or converts wrongly (paddle2tf.frontend.unsupported_ops) is not exported: the
    refusal line is written to OUT + unsupported_ops.REFUSED_SUFFIX instead."""
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"  # paddle2onnx must never pip-install at run time
    from paddle2onnx.paddle2onnx_cpp2py_export import get_all_supported_operators_pir

    program = None
    if model_file.endswith(".json"):  # (a legacy .pdmodel is translated to PIR JSON before export)
        with open(model_file) as handle:
            text = handle.read()
        program = json.loads(text)
        found = unsupported_ops.refusals(program, get_all_supported_operators_pir(), opset)
        if found:
            with open(out + unsupported_ops.REFUSED_SUFFIX, "w") as handle:
                handle.write(unsupported_ops.refusal_line(found))
            return
        _require_matching_parameters(model_file, params_file)
    if program is not None and restore_quantized and quantize_ops.mentions_quantize_ops(text):
        onnx_bytes, fixes = _export_quantized(model_file, params_file, program, opset)
    else:
        onnx_bytes, fixes = _paddle2onnx(model_file, params_file, opset), []
    if not onnx_bytes:
        weights = os.path.getsize(params_file)
        if weights > INLINE_MAX_BYTES:  # measured: its external_file argument is not used, serialising fails
            _fail(
                f"paddle2onnx produced no model: the weights ({weights / 2**30:.2f} GiB) exceed the 2 GB one "
                "protobuf holds and paddle2onnx 2.1.0 writes no external data; convert an ONNX file with external "
                "data instead"
            )
        _fail("paddle2onnx produced no model")
    if paddle_ops:
        onnx_bytes, dropped_op_fixes = export_paddle_ops(model_file, params_file, onnx_bytes)
        fixes += dropped_op_fixes
    with open(out, "wb") as handle:
        handle.write(onnx_bytes)
    if fixes_out is not None:
        from dataclasses import asdict

        with open(fixes_out, "w") as handle:
            json.dump([asdict(fix) for fix in fixes], handle)


def _require_matching_parameters(model_file: str, params_file: str) -> None:
    """Paddle loads the parameters before paddle2onnx does: given another model's .pdiparams it writes no model,
    given one cut short it writes a graph missing the unread weights. Loaded into a scope of their own, which is
    dropped before paddle2onnx loads them again (the peak stays one copy)."""
    if not os.path.getsize(params_file):
        return  # a program without parameters (Paddle saved no file); one that needs some fails with its name
    import paddle

    paddle.enable_static()
    with paddle.static.scope_guard(paddle.static.Scope()), paddle.pir_utils.IrGuard():
        try:
            paddle.static.load_inference_model(os.path.dirname(os.path.abspath(model_file)),
                                               paddle.static.Executor(paddle.CPUPlace()),
                                               model_filename=os.path.abspath(model_file),
                                               params_filename=os.path.abspath(params_file))
        except Exception as exc:
            _fail_on_foreign_parameters(exc)
            raise


def _paddle2onnx(model_file: str, params_file: str, opset: int) -> bytes:
    import paddle2onnx

    return paddle2onnx.export(model_file, params_file, None, opset_version=opset, auto_upgrade_opset=True,
                              enable_onnx_checker=True, enable_optimize=True, optimize_tool="none")


def _export_quantized(model_file: str, params_file: str, program: dict, opset: int) -> tuple[bytes, list]:
    """paddle2onnx aborts on int8 quantize ops: export a stand-in of ``program`` (MODEL_FILE's PIR JSON, edited in
    place), then restore them (paddle2tf.frontend.fixes.quantize_ops)."""
    import onnx

    ops = read_paddle_ops(model_file, params_file, quantize_ops.is_quantize_op, "paddle2onnx 2.1.0 aborts on it")
    try:
        placeholder = quantize_ops.stand_in(program)
    except quantize_ops.PaddleOpError as exc:
        _fail(str(exc))
    stand_in_file = os.path.join(os.path.dirname(os.path.abspath(model_file)), "quantize_stand_in.json")
    with open(stand_in_file, "w") as handle:
        handle.write(json.dumps(program, separators=(",", ":")))
    try:
        onnx_bytes = _paddle2onnx(stand_in_file, params_file, opset)
    finally:
        os.remove(stand_in_file)
    if not onnx_bytes:
        return onnx_bytes, []
    model = onnx.load_from_string(onnx_bytes)
    try:
        fixes = quantize_ops.restore(model, placeholder, ops)
    except quantize_ops.PaddleOpError as exc:
        _fail(f"{exc} (paddle2onnx 2.1.0 aborts on int8 quantize ops; see docs/known-exporter-defects.md)")
    return model.SerializeToString(), fixes


def export_paddle_ops(model_file: str, params_file: str, onnx_bytes: bytes) -> tuple[bytes, list]:
    """Export the ops paddle2onnx dropped (a registered op whose outputs the graph reads but nothing
    produces) or mis-exports (a registration that ``replaces`` its nodes). The parent asks for this only
    when the program text names a registered op (``paddle_ops.may_need_export``), so other exports import
    nothing more than paddle2onnx."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    try:
        fixes = paddle_ops.export_paddle_ops(model, read_paddle_ops(model_file, params_file))
    except paddle_ops.PaddleOpError as exc:
        _fail(f"{exc} (paddle2onnx 2.1.0 drops or mis-exports this op; see docs/known-exporter-defects.md)")
    return (model.SerializeToString(), fixes) if fixes else (onnx_bytes, [])


def read_paddle_ops(model_file: str, params_file: str, selected=None, why: str = "paddle2onnx 2.1.0 drops it") -> list:
    """The ops of the program ``selected(name, attrs)`` picks (by default the registered ones,
    paddle2tf.frontend.fixes.paddle_ops.EXPORTERS) as ``PaddleOp``s: attributes, ONNX names of operands and results
    as paddle2onnx gives them, operand shapes, parameter values from the Paddle scope. ``why`` says why one in a
    control-flow block cannot be handled."""
    selected = selected or (lambda name, attrs: registered(name, attrs) is not None)
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    with paddle.pir_utils.IrGuard():
        program, _, _ = paddle.static.load_inference_model(
            os.path.dirname(os.path.abspath(model_file)),
            exe,
            model_filename=os.path.abspath(model_file),
            params_filename=os.path.abspath(params_file),
        )
        ops = list(program.global_block().ops)
        names = onnx_value_names(ops)
        nested = [op.name() for op in ops for block in op.blocks() for inner in _block_ops(block)
                  if selected(inner.name(), inner.attrs())]
        if nested:
            _fail(f"{nested[0]} inside a control-flow block: {why} and paddle2tf exports it only in the main block")
        scope = paddle.static.global_scope()
        found = []
        for op in ops:
            attrs = op.attrs()
            if not selected(op.name(), attrs):
                continue
            inputs, params, shapes = [], {}, []
            for value in op.operands_source():
                elements = _elements(value, names)
                inputs.append([name for name, _ in elements])
                shapes.append(list(value.shape) if value.initialized() and value.is_dense_tensor_type() else [])
                for name, source in elements:
                    producer = source.get_defining_op() if source is not None else None
                    if producer is not None and producer.name() == "builtin.parameter":
                        var = scope.find_var(producer.attrs()["parameter_name"])
                        if var is not None:
                            params[name] = np.array(var.get_tensor())
            outputs = [
                [names[r.id]]
                if not r.type().as_vec_type()
                else [f"{names[r.id]}_{j}" for j in range(len(r.type().as_vec_type().as_list()))]
                for r in op.results()
            ]
            found.append(
                PaddleOp(
                    op.name(), {k: v for k, v in attrs.items() if k != "stop_gradient"}, inputs, outputs, params, shapes
                )
            )
        return found


def _block_ops(block):
    for op in block.ops:
        yield op
        for inner in op.blocks():
            yield from _block_ops(inner)


def onnx_value_names(ops) -> dict:
    """Value id -> the ONNX name paddle2onnx 2.1.0 gives it (its PIR parser's scheme): a parameter by its
    name, a feed by its name, a fetched value by the fetch name, any other result ``p2o.OP.K.I`` with K
    counting the ops of that name in the main block (vector elements get ``_J`` appended by the consumer)."""
    names, counter = {}, {}
    for op in ops:
        name = op.name()
        if name == "builtin.parameter":
            names[op.result(0).id] = op.attrs()["parameter_name"]
        elif name in ("pd_op.data", "pd_op.feed"):
            names[op.result(0).id] = op.attrs()["name"]
        elif name == "pd_op.fetch":
            names[op.operands_source()[0].id] = op.attrs()["name"]
        else:
            index = counter[name] = counter.get(name, -1) + 1
            for i, result in enumerate(op.results()):
                names[result.id] = f"p2o.{name}.{index}.{i}"
    return names


def _elements(value, names: dict) -> list:
    """(ONNX name, source value) per element of an operand: one for a tensor, one per combined value for a
    builtin.combine result, none for an absent optional operand."""
    if not value.initialized():
        return []
    producer = value.get_defining_op()
    if producer is not None and producer.name() == "builtin.combine":
        return [(f"{names[value.id]}_{j}", source) for j, source in enumerate(producer.operands_source())]
    return [(names.get(value.id, ""), value)]


def _runner(model_file: str, params_file: str):
    """Load the inference model once; returns ``run(feeds) -> outputs in fetch order``, to call inside the
    returned IR guard (PIR for model.json, the legacy IR for .pdmodel)."""
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    stem = os.path.splitext(model_file)[0]
    guard = paddle.pir_utils.OldIrGuard() if model_file.endswith(".pdmodel") else paddle.pir_utils.IrGuard()
    with guard:
        program, feed_names, fetch_targets = _load(stem, model_file, params_file, exe)

    def run(feeds: dict) -> list[np.ndarray]:
        missing = [name for name in feed_names if name not in feeds]
        if missing:
            _fail(f"{model_file}: no feed for input(s) {', '.join(missing)}")
        results = exe.run(program, feed={name: feeds[name] for name in feed_names}, fetch_list=fetch_targets)
        return [np.asarray(r) for r in results]

    return run, guard


def run(model_file: str, params_file: str, feeds_file: str, out: str) -> None:
    """Run the inference model with Paddle itself; outputs saved in fetch order as out_0, out_1, ..."""
    runner, guard = _runner(model_file, params_file)
    with guard:
        results = runner(dict(np.load(feeds_file)))
    write_outputs(out, results)


def serve(model_file: str, params_file: str) -> None:
    """Load the model once and run the batches requested on stdin (``paddle2tf.common.serve_loop``)."""
    replies = protocol_stream()
    runner, guard = _runner(model_file, params_file)
    with guard:
        serve_requests(runner, replies)


def dump_values(
    model_file: str, params_file: str, feeds_file: str, names_file: str, out_dir: str, chunk_size: int
) -> None:
    """Paddle's value of each name in NAMES_FILE (ONNX value names, paddle2onnx's naming of Paddle results) as
    OUT_DIR/N.npy, fetched ``chunk_size`` at a time, and OUT_DIR/index.json: the main block's ops in program order
    (op, operand and result names, parameters read) and the file of each value dumped."""
    import paddle

    with open(names_file) as handle:
        wanted = set(json.load(handle))
    if model_file.endswith(".pdmodel"):  # paddle2tf exported the PIR translation: name its values the same way
        prefix = os.path.join(out_dir, "translated")
        translate_pdmodel(model_file, params_file, prefix)
        model_file, params_file = prefix + ".json", prefix + ".pdiparams"
    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    feeds = dict(np.load(feeds_file))
    with paddle.pir_utils.IrGuard():
        program, feed_names, _ = _load(os.path.splitext(model_file)[0], model_file, params_file, exe)
        ops = list(program.global_block().ops)
        names = onnx_value_names(ops)
        index, fetched = [], []
        for op in ops:
            if op.name() in _NOT_VALUES:
                continue
            operands = [names.get(v.id, "") if v.initialized() else "" for v in op.operands_source()]
            params = [
                names[v.id]
                for v in op.operands_source()
                if v.initialized()
                and v.get_defining_op() is not None
                and v.get_defining_op().name() == "builtin.parameter"
            ]
            results = [names.get(r.id, "") for r in op.results()]
            index.append({"op": op.name(), "operands": operands, "results": results, "params": params})
            fetched += [
                (names[r.id], r) for r in op.results() if names.get(r.id) in wanted and r.is_dense_tensor_type()
            ]
        for op in ops:  # the program's own fetch ops hold fetch slots our fetch list would collide with
            if op.name() == "pd_op.fetch":
                program.global_block().remove_op(op)
        files = {}
        for start in range(0, len(fetched), chunk_size):
            chunk = fetched[start : start + chunk_size]
            values = exe.run(
                program, feed={name: feeds[name] for name in feed_names}, fetch_list=[value for _, value in chunk]
            )
            for (name, _), value in zip(chunk, values, strict=True):
                files[name] = f"{len(files)}.npy"
                np.save(os.path.join(out_dir, files[name]), np.asarray(value))
            del values
    with open(os.path.join(out_dir, "index.json"), "w") as handle:
        json.dump({"ops": index, "files": files}, handle)


def main() -> None:
    parser = argparse.ArgumentParser(prog="paddle2tf.frontend.paddle_worker")
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
    p.add_argument("--fixes-out", help="write the fixes (JSON) here")
    p.add_argument("--paddle-ops", action="store_true", help="export the ops paddle2onnx drops")
    p.add_argument("--restore-quantized", action="store_true", help="int8 quantize ops through stand-ins")
    p = sub.add_parser("run")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p.add_argument("feeds")
    p.add_argument("out")
    p = sub.add_parser("serve")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p = sub.add_parser("values")
    p.add_argument("model_file")
    p.add_argument("params_file")
    p.add_argument("feeds")
    p.add_argument("names")
    p.add_argument("out_dir")
    p.add_argument("--chunk-size", type=int, default=200)
    args = parser.parse_args()
    if args.command == "save-layer":
        save_layer(args.reference, json.loads(args.specs), args.prefix, args.seed)
    elif args.command == "translate":
        translate_pdmodel(args.model_file, args.params_file, args.prefix)
    elif args.command == "export":
        export(args.model_file, args.params_file, args.opset, args.out, args.fixes_out, args.paddle_ops,
               args.restore_quantized)
    elif args.command == "run":
        run(args.model_file, args.params_file, args.feeds, args.out)
    elif args.command == "serve":
        serve(args.model_file, args.params_file)
    elif args.command == "values":
        dump_values(args.model_file, args.params_file, args.feeds, args.names, args.out_dir, args.chunk_size)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as exc:  # the parent shows this one line; the traceback goes to the log
        import traceback

        traceback.print_exc()
        _fail(_error_text(exc))
