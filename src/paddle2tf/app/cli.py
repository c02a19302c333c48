"""The ``paddle2tf`` command: a thin layer over ``paddle2tf.app.api``.

Exit codes: 0 every output passed (warn allowed), 1 parity failure, 2 bad input / usage / unsupported model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from paddle2tf import __version__
from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions, DeployCheckOptions, LocateOptions, VerifyOptions, parse_tolerance_spec
from paddle2tf.common import events
from paddle2tf.converter import plugins as converter_plugins
from paddle2tf.converter.plugins import how_to_hint
from paddle2tf.converter.precision import recorded_precision
from paddle2tf.converter.preprocess import parse_preprocess
from paddle2tf.converter.prescan import describe_unsupported, find_unsupported
from paddle2tf.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PARITY,
    BadInputError,
    Paddle2TFError,
    UnsupportedModelError,
)
from paddle2tf.frontend import doctor
from paddle2tf.frontend.export import DEFAULT_OPSET, MIN_OPSET
from paddle2tf.frontend.sources import parse_input_spec
from paddle2tf.frontend.static_shape import parse_static_shape
from paddle2tf.onnxutil.checker import load_checked
from paddle2tf.onnxutil.graph import graph_opsets, iter_nodes
from paddle2tf.report.model import json_default, library_versions
from paddle2tf.report.outdir import LOG_FILE, REPORT_FILE
from paddle2tf.report.terminal import render_deploy_check, render_locate, render_summary
from paddle2tf.tools.operators_doc import support_table
from paddle2tf.verify.metrics import FAIL, Tolerance, default_tolerance


@dataclass(frozen=True)
class CommandGroup:
    """Subcommands a layer above the app adds to the ``paddle2tf`` command."""

    commands: tuple[str, ...]
    add_parsers: Callable[[argparse._SubParsersAction], None]
    run: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2 (argparse's default code too)
        print(f"paddle2tf: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _add_tolerance_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rtol", type=float, help="relative tolerance (default 1e-5; precision fp16 1e-2, bf16 5e-2)")
    parser.add_argument("--atol", type=float, help="absolute tolerance (default 1e-5; precision fp16 1e-2, bf16 5e-2)")
    parser.add_argument("--unscaled-atol", action="store_true",
                        help="apply atol as is, not in units of each output's magnitude max(1, max|a|)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="OUTPUT:RTOL:ATOL",
                        help="per-output tolerance override (repeatable)")
    parser.add_argument("--inputs", metavar="FEEDS.npz", help="verification inputs (default: seeded random)")


def _add_plugin_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                        help="load converter plugins (repeatable; docs/writing-converters.md, Plugins)")


def _add_dataset_args(parser: argparse.ArgumentParser, preprocess_flag: str) -> None:
    parser.add_argument("--dataset", metavar="PATH",
                        help="also judge the SavedModel on a dataset: a folder of images (.jpg/.png/.bmp), an .npz "
                             "(one array per input, samples first) or an .npy")
    parser.add_argument("--labels", metavar="FILE", help="labels of the dataset: CSV file,label or one per line")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N samples of the dataset")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N", help="dataset batch size (default 16)")
    parser.add_argument("--task", choices=["classification", "detection", "sequence", "dense"],
                        help="the outputs' task (default: from each output's form)")
    parser.add_argument("--min-agreement", type=float, default=0.999, metavar="SHARE",
                        help="fail when a task agreement on the dataset is below this (default 0.999)")
    parser.add_argument("--max-accuracy-drop", type=float, default=0.1, metavar="PP",
                        help="with --labels: fail when top-1 accuracy drops by more percentage points (default 0.1)")
    parser.add_argument(preprocess_flag, dest="dataset_preprocess", metavar="SPEC",
                        help="how the dataset's images become the model input (--preprocess syntax); default: the "
                             "preprocessing compiled into the signature, else the model's inference.yml")


def _dataset_fields(args) -> dict:
    """The dataset options of ``convert``/``verify`` as ConvertOptions fields."""
    return {"dataset": args.dataset, "labels": args.labels, "limit": args.limit, "batch_size": args.batch_size,
            "task": args.task, "min_agreement": args.min_agreement, "max_accuracy_drop": args.max_accuracy_drop,
            "dataset_preprocess": parse_preprocess(args.dataset_preprocess) if args.dataset_preprocess else None}


def build_parser(extensions: Sequence[CommandGroup] = ()) -> argparse.ArgumentParser:
    parser = _Parser(prog="paddle2tf", description="PaddlePaddle/ONNX → verified TensorFlow SavedModel")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (accepted anywhere)")
    parser.add_argument("--version", action="store_true", help="print paddle2tf's and the stack's versions")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    conv = sub.add_parser("convert", help="convert a model and verify it three ways")
    conv.add_argument("source", help="model.onnx | Paddle model.json/.pdmodel (+ .pdiparams) | package.module:attr")
    conv.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    conv.add_argument("--input-spec", action="append", default=[], metavar="NAME:DTYPE:SHAPE",
                      help="e.g. x:float32:-1x3x224x224 (-1 = dynamic); repeat per input")
    conv.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                      help=f"ONNX opset for the Paddle export (>= {MIN_OPSET}, default {DEFAULT_OPSET})")
    conv.add_argument("--no-verify", action="store_true", help="skip the three-way check")
    conv.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    conv.add_argument("--no-fixes", action="store_true",
                      help="turn off the workarounds for known paddle2onnx defects (for diagnosis)")
    conv.add_argument("--seed", type=int, default=0, help="seed for generated inputs and Layer factories")
    conv.add_argument("--no-locate", action="store_true", help="do not run the locate stage when verification fails")
    conv.add_argument("--paddle-reference", metavar="PADDLE_MODEL",
                      help="for an ONNX source: the Paddle model.json/.pdmodel it was exported from, run by verify")
    conv.add_argument("--static-shape", action="append", default=[], metavar="NAME:DIMS",
                      help="fix an input's shape, e.g. x:1x3x224x224, for static-shape targets (repeatable)")
    conv.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                      help="compute (and store weights) in float16 or bfloat16; the signature stays float32")
    conv.add_argument("--precision-io", action="store_true",
                      help="with --precision: the signature's float inputs/outputs in the reduced type too")
    conv.add_argument("--io-layout", choices=["onnx", "nhwc"], default="onnx",
                      help="nhwc: the signature's inputs/outputs of rank >= 3 channels-last (default: as in ONNX)")
    conv.add_argument("--preprocess", metavar="SPEC",
                      help="image preprocessing in the signature, e.g. 'x:layout=nhwc,dtype=uint8,resize=224x224,"
                           "scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,input_channels=bgr' (README)")
    conv.add_argument("--tflite", action="append", default=[], metavar="LIST",
                      help="also write verified TFLite files, comma-separated: fp32, fp16, int8-dynamic, int8")
    conv.add_argument("--calibration", metavar="FEEDS.npz",
                      help="representative inputs for --tflite int8 (rows = samples; default: seeded random)")
    conv.add_argument("--tflite-min-top1", type=float, metavar="RATE",
                      help="fail when a quantised TFLite variant's top-1 agreement with the reference is below RATE")
    _add_dataset_args(conv, "--dataset-preprocess")
    _add_tolerance_args(conv)
    _add_plugin_arg(conv)

    ver = sub.add_parser("verify", help="re-run the three-way check on an existing OUT_DIR")
    ver.add_argument("out_dir")
    ver.add_argument("--no-locate", action="store_true", help="do not run the locate stage when verification fails")
    _add_dataset_args(ver, "--preprocess")
    _add_tolerance_args(ver)
    _add_plugin_arg(ver)
    loc = sub.add_parser("locate", help="find the hop and the first ONNX node where an existing OUT_DIR diverges")
    loc.add_argument("out_dir")
    loc.add_argument("--chunk-size", type=int, default=200, metavar="N",
                     help="ONNX values compared per ONNX Runtime run / TensorFlow call (memory bound, default 200)")
    _add_tolerance_args(loc)
    _add_plugin_arg(loc)
    doc = sub.add_parser("doctor", help="list the known exporter defects a Paddle model triggers and the fixes")
    doc.add_argument("source", help="Paddle model.json/.pdmodel (+ .pdiparams) | package.module:attr")
    doc.add_argument("--input-spec", action="append", default=[], metavar="NAME:DTYPE:SHAPE")
    doc.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    _add_plugin_arg(sub.add_parser("ops", help="print the operator support table (registry + ONNX node-suite "
                                              "results), plugin converters marked"))
    dep = sub.add_parser("deploy-check", help="ops, dtypes, dynamic dims, control flow and XLA compilation of an "
                                              "OUT_DIR's SavedModel; exit 1 when a --require is not met")
    dep.add_argument("out_dir")
    dep.add_argument("--require", action="append", default=[], metavar="LIST",
                     help="comma-separated: static, xla, no-control-flow, standard-ops")
    dep.add_argument("--json", action="store_true", help="print the result as JSON")
    dep.add_argument("--time", type=int, default=0, metavar="N",
                     help="also measure the median latency of N runs, without and with XLA")
    dep.add_argument("--rtol", type=float, default=1e-5, help="XLA vs non-XLA relative tolerance (default 1e-5)")
    dep.add_argument("--atol", type=float, default=1e-5,
                     help="XLA vs non-XLA absolute tolerance, in units of max(1, max|output|) (default 1e-5)")
    chk = sub.add_parser("check", help="tell, without converting, whether every node of an ONNX model is supported")
    chk.add_argument("model", help="model.onnx")
    _add_plugin_arg(chk)
    for extension in extensions:  # the pipeline's `pipeline run|validate` and `repo list|show`
        extension.add_parsers(sub)
    return parser


def _check_model(path: str) -> int:
    model = load_checked(path)
    counts = Counter(node.op_type for node in iter_nodes(model.graph))
    opsets = ", ".join(f"{domain or 'ai.onnx'} {version}" for domain, version in sorted(graph_opsets(model).items()))
    print(f"{path}: {sum(counts.values())} nodes, {len(counts)} op types (opset {opsets})")
    print("  " + ", ".join(f"{op} x{n}" for op, n in counts.most_common()))
    problems = find_unsupported(model)
    if not problems:
        print("supported: every node can be converted")
        return EXIT_OK
    for op, nodes in sorted(problems.items()):
        print(f"unsupported: {op}: {', '.join(nodes)}")
    hint = how_to_hint(model)
    raise UnsupportedModelError(f"{path}: {len(problems)} unsupported op(s): {describe_unsupported(problems)}"
                                f"{'; ' + hint if hint else ''}")


def _per_output(specs: list[str], scale_atol: bool) -> dict[str, Tolerance]:
    result = {}
    for text in specs:
        name, tolerance = parse_tolerance_spec(text)
        if name in result:
            raise BadInputError(f"--tolerance {name}: given more than once")
        result[name] = Tolerance(tolerance.rtol, tolerance.atol, scale_atol)
    return result


def convert_options(args, tolerance: Tolerance | None, per_output: dict[str, Tolerance]) -> ConvertOptions:
    """The ConvertOptions of ``paddle2tf convert``'s arguments."""
    return ConvertOptions(
        input_specs=tuple(parse_input_spec(text) for text in args.input_spec), opset=args.opset, feeds=args.inputs,
        seed=args.seed, verify=not args.no_verify, locate=not args.no_locate, fixes=not args.no_fixes,
        force=args.force, tolerance=tolerance, per_output=per_output,
        static_shapes=tuple(parse_static_shape(text) for text in args.static_shape), plugins=tuple(args.plugin),
        paddle_reference=args.paddle_reference, precision=args.precision, precision_io=args.precision_io,
        io_layout=args.io_layout, preprocess=parse_preprocess(args.preprocess) if args.preprocess else None,
        tflite=tuple(args.tflite), calibration=args.calibration, tflite_min_top1=args.tflite_min_top1,
        **_dataset_fields(args))


def _run(args, extensions: Sequence[CommandGroup] = ()) -> int:
    if args.command in ("check", "ops"):
        converter_plugins.load(args.plugin)
    if args.command == "check":
        return _check_model(args.model)
    if args.command == "doctor":
        specs = [parse_input_spec(text) for text in args.input_spec]
        print(doctor.render(args.source, doctor.diagnose(args.source, specs, args.opset)))
        if broken := converter_plugins.render_broken_converters():
            print(broken)
        return EXIT_OK
    if args.command == "ops":
        print(support_table())
        return EXIT_OK
    for extension in extensions:
        if args.command in extension.commands:
            return extension.run(args)
    if args.command == "deploy-check":
        return _deploy_check(args)

    tolerance = _tolerance(args)
    per_output = _per_output(args.tolerance, tolerance.scale_atol if tolerance else True)
    if args.command == "locate":
        return _locate(args, tolerance, per_output)
    if args.command == "convert":
        report = api.convert(args.source, args.output, convert_options(args, tolerance, per_output))
        where = args.output
    else:
        # the dataset options checked like convert's (ConvertOptions' validation)
        dataset = ConvertOptions(tolerance=tolerance, per_output=per_output, **_dataset_fields(args)).dataset_request
        report = api.verify_output(args.out_dir, VerifyOptions(args.inputs, tolerance, per_output, not args.no_locate,
                                                               tuple(args.plugin), dataset))
        where = args.out_dir
    print(render_summary(report))
    if report.locate is not None:
        print(render_locate(report.locate))
    print(f"output: {where} (report.json, report.html, model.onnx, saved_model/)")
    if args.dataset and not report.dataset.complete:  # Ctrl-C: the partial result is written
        events.terminal().write("paddle2tf: interrupted (the dataset check's partial result is in report.json)\n")
        return 128 + signal.SIGINT
    return EXIT_PARITY if report.verdict == FAIL else EXIT_OK


def _tolerance(args) -> Tolerance | None:
    """--rtol/--atol; None when neither is given (the precision's default applies). One given alone takes the
    other from the default of the precision (convert --precision, or the one OUT_DIR records)."""
    if args.rtol is None and args.atol is None and not args.unscaled_atol:
        return None
    precision = getattr(args, "precision", None)
    if precision is None:
        try:
            with open(os.path.join(args.out_dir, REPORT_FILE)) as handle:
                precision = recorded_precision(json.load(handle))
        except (OSError, ValueError):
            precision = "fp32"  # the command reports the missing or broken OUT_DIR itself
    default = default_tolerance(precision)
    return Tolerance(rtol=default.rtol if args.rtol is None else args.rtol,
                     atol=default.atol if args.atol is None else args.atol, scale_atol=not args.unscaled_atol)


def _locate(args, tolerance: Tolerance | None, per_output: dict[str, Tolerance]) -> int:
    """Exit 1 when a hop diverges (the divergence is located), 0 when everything is within tolerance."""
    result = api.locate_output(args.out_dir, LocateOptions(args.inputs, tolerance or Tolerance(), per_output,
                                                           chunk_size=args.chunk_size, plugins=tuple(args.plugin)))
    print(render_locate(result))
    print(f"output: {args.out_dir} (report.json 'locate', report.html)")
    return EXIT_OK if result.diverging_hop is None else EXIT_PARITY


def _deploy_check(args) -> int:
    """Exit 1 when a required property is not met (one line per failure, naming the blocking node)."""
    options = DeployCheckOptions(tuple(args.require), Tolerance(rtol=args.rtol, atol=args.atol), args.time)
    result = api.deploy_check_output(args.out_dir, options)
    print(json.dumps(result.to_dict(), indent=2, default=json_default) if args.json else render_deploy_check(result))
    return EXIT_OK if result.ok else EXIT_PARITY


def _version() -> str:
    stack = ", ".join(f"{name} {version}" for name, version in library_versions().items())
    return f"paddle2tf {__version__} ({stack})"


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what CI runners and ``timeout`` send), unwound like Ctrl-C: children killed, nothing half-written."""


def _terminate(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None, extensions: Sequence[CommandGroup] = ()) -> int:
    """The command line; ``extensions``: command groups of the layers above the app (the pipeline's)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides our summary
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere before a "--" (argparse would take it only before the subcommand)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < end)]
    if argv[:1] == ["--version"]:
        print(_version())
        sys.exit(EXIT_OK)
    args = build_parser(extensions).parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.ExitStack() as stack:
        if not debug:  # TensorFlow's lines go to OUT_DIR/conversion.log; --debug shows them
            stack.callback(_keep_library_output, args, stack.enter_context(events.capture_stderr()))
        code = _code(args, debug, extensions)
    sys.exit(code)


def _keep_library_output(args, captured: str) -> None:
    """Append what libraries printed to the output folder's conversion.log (if the command made or read one)."""
    out_dir = getattr(args, "output", None) or getattr(args, "out_dir", None)
    if not out_dir or not os.path.isdir(out_dir) or not os.path.getsize(captured):
        return
    with open(captured, errors="replace") as source, open(os.path.join(out_dir, LOG_FILE), "a") as log:
        log.write("$ (this process's stderr)\n")
        shutil.copyfileobj(source, log)


def _code(args, debug: bool, extensions: Sequence[CommandGroup]) -> int:
    """Run the command; the exit code of its outcome (errors as one line on the terminal)."""
    try:
        return _run(args, extensions)
    except Paddle2TFError as exc:
        if debug:
            traceback.print_exc()
        events.terminal().write(f"paddle2tf: error: {exc}\n")
        return exc.exit_code
    except Exception as exc:  # outside any stage (stages raise InternalError): still one line, never exit 1
        if debug:
            traceback.print_exc()
        events.terminal().write(f"paddle2tf: error: unexpected {type(exc).__name__}: {exc} "
                                "(--debug shows the traceback)\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        events.terminal().write(f"paddle2tf: {'terminated' if terminated else 'interrupted'}\n")
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


if __name__ == "__main__":
    main()
