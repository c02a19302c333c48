"""One paddle2tf output folder (OUT_DIR): its layout, its atomic creation, reading and writing its report.

Layout (docs/report-schema.md)::

    OUT_DIR/model.onnx                  the ONNX model converted (model.onnx.data beside it when it is > 2 GB
                                        or the source kept its weights outside)
    OUT_DIR/saved_model/                the TensorFlow SavedModel (serving_default)
    OUT_DIR/report.json, report.html    the report, and the same rendered
    OUT_DIR/verification_inputs.npz     the inputs of the three-way check, as the serving signature takes them
    OUT_DIR/conversion.log              what the child processes printed
    OUT_DIR/paddle/                     the Paddle inference model (a Paddle source's), re-run by ``verify``
    OUT_DIR/tflite/                     TFLite files (targets.tflite.TFLITE_DIR)
    .OUT_DIR.lock (beside it)           serialises writers of the same OUT_DIR (fcntl.flock)

Every stage takes paths and data; only this module and ``app`` know the layout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from paddle2tf.common.files import make_shared_dir
from paddle2tf.common.paths import folder_problem
from paddle2tf.converter.module import SignatureInfo, TensorInfo, from_signature_layout
from paddle2tf.converter.precision import feed_dtype
from paddle2tf.converter.preprocess import Preprocess, model_feeds
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import PaddleModel
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.report.html import write_html
from paddle2tf.report.model import ConversionReport, json_default
from paddle2tf.verify.feeds import load_feeds

ONNX_FILE = "model.onnx"
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "report.json"
HTML_FILE = "report.html"
FEEDS_FILE = "verification_inputs.npz"
LOG_FILE = "conversion.log"
PADDLE_DIR = "paddle"
PADDLE_PARAMS = "model.pdiparams"

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)-")


@contextlib.contextmanager
def _locked(parent: str, name: str):
    """Serialise the exists-check and the swap of writers to the same OUT_DIR (``.NAME.lock`` beside it)."""
    with open(os.path.join(parent, f".{name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale(parent: str, name: str) -> None:
    """Partial / old folders of ``name`` whose writer is gone (killed by SIGKILL, a power cut)."""
    for entry in os.listdir(parent):
        match = _LEFTOVER.match(entry)
        if match and match["name"] == name and not _pid_alive(int(match["pid"])):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _replace_problem(out_dir: str, reads: Iterable[str]) -> str | None:
    """Why ``--force`` must not replace the existing ``out_dir``: it removes the whole folder, so it replaces only
    a folder paddle2tf wrote (or an empty one) that holds neither the run's own input files nor the current
    folder."""
    if not os.path.isdir(out_dir):
        return "is a file, not a folder"
    if _inside(os.getcwd(), out_dir):
        return "is the current folder or holds it"
    held = next((path for path in reads if _inside(path, out_dir)), None)
    if held is not None:
        return f"holds {held}, which this run reads"
    if os.listdir(out_dir) and not os.path.isfile(os.path.join(out_dir, REPORT_FILE)):
        return f"is not a paddle2tf output (no {REPORT_FILE})"
    return None


@contextlib.contextmanager
def atomic_output(out_dir: str, force: bool, reads: Iterable[str] = ()):
    """Build in a temporary sibling; move into place only when complete; remove it on any failure.

    Two writers of one OUT_DIR are serialised at the check and the swap (``--force``: the last one wins, nothing
    is left behind); leftovers of killed writers are removed first. ``reads``: the files the run reads (source,
    inputs, dataset...); ``--force`` never replaces a folder holding one of them, nor one paddle2tf did not
    write."""
    if not out_dir:
        raise BadInputError("-o/--output: empty; give the folder to write")
    out_dir = os.path.abspath(out_dir)
    parent, name = os.path.dirname(out_dir), os.path.basename(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"[Errno 13] Permission denied: '{parent}'")
        with _locked(parent, name):
            if os.path.exists(out_dir) and not force:
                raise BadInputError(f"{out_dir}: already exists (use --force to replace it)")
            problem = _replace_problem(out_dir, reads) if os.path.exists(out_dir) else None
            if problem:
                raise BadInputError(f"{out_dir}: not replaced: it {problem}; --force replaces only an earlier "
                                    "paddle2tf output (choose another -o/--output)")
            _remove_stale(parent, name)
            work = make_shared_dir(parent, f".{name}.partial-{os.getpid()}-")
    except OSError as exc:
        raise BadInputError(f"{out_dir}: cannot write the output there: {folder_problem(parent, exc)}") from None
    try:
        yield work
        with _locked(parent, name):
            if os.path.exists(out_dir):
                if not force:
                    raise BadInputError(f"{out_dir}: already exists (created while converting; use --force)")
                problem = _replace_problem(out_dir, reads)
                if problem:
                    raise BadInputError(f"{out_dir}: not replaced: it {problem} (created while converting)")
                trash = make_shared_dir(parent, f".{name}.old-{os.getpid()}-")
                os.rename(out_dir, os.path.join(trash, "old"))
                os.rename(work, out_dir)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.rename(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def write_report(report: ConversionReport | dict, folder: str) -> None:
    """report.json and the self-contained report.html rendered from the same data."""
    data = report.to_dict() if isinstance(report, ConversionReport) else report
    text = json.dumps(data, indent=2, default=json_default) + "\n"
    with open(os.path.join(folder, REPORT_FILE), "w") as handle:
        handle.write(text)
    write_html(json.loads(text), os.path.join(folder, HTML_FILE))


@dataclass
class Output:
    """An existing paddle2tf output folder and its report.json (read once, checked once)."""

    path: str
    report: dict

    @classmethod
    def open(cls, out_dir: str, *, need_onnx: bool = True, need_saved_model: bool = False) -> Output:
        """The output at ``out_dir``; BadInputError naming the missing part when it is not a paddle2tf output."""
        report_path = os.path.join(out_dir, REPORT_FILE)
        if not os.path.isfile(report_path):
            raise BadInputError(f"{out_dir}: not a paddle2tf output (no {REPORT_FILE})")
        if need_onnx and not os.path.isfile(os.path.join(out_dir, ONNX_FILE)):
            raise BadInputError(f"{out_dir}: not a paddle2tf output (no {ONNX_FILE})")
        if need_saved_model and not os.path.isfile(os.path.join(out_dir, SAVED_MODEL_DIR, "saved_model.pb")):
            raise BadInputError(f"{out_dir}: no SavedModel ({SAVED_MODEL_DIR}/saved_model.pb)")
        try:
            with open(report_path) as handle:
                report = json.load(handle)
            report["signature"]["inputs"], report["source"]  # noqa: B018  (the keys every reader needs)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"{report_path}: not a paddle2tf report ({type(exc).__name__}: {exc})") from None
        return cls(out_dir, report)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def onnx_path(self) -> str:
        return self.file(ONNX_FILE)

    @property
    def saved_model(self) -> str:
        return self.file(SAVED_MODEL_DIR)

    @property
    def log_file(self) -> str:
        return self.file(LOG_FILE)

    @property
    def signature(self) -> SignatureInfo:
        return SignatureInfo([TensorInfo(**t) for t in self.report["signature"]["inputs"]],
                             [TensorInfo(**t) for t in self.report["signature"]["outputs"]])

    def paddle_model(self) -> PaddleModel | None:
        """The Paddle model the output keeps (report.json's ``source.paddle_model``), if any."""
        if not self.report["source"].get("paddle_model"):
            return None
        model_file = self.file(self.report["source"]["paddle_model"])
        return PaddleModel(model_file, os.path.join(os.path.dirname(model_file), PADDLE_PARAMS))

    def inputs(self, feeds_file: str | None = None
               ) -> tuple[SignatureInfo, dict[str, np.ndarray], dict[str, np.ndarray], str]:
        """The signature, its inputs as the signature takes them (``feeds_file``, else the conversion's), the same
        as the model's feeds (preprocessed, ONNX layout), and where they came from."""
        signature = self.signature
        specs = [InputSpec(t.onnx_name, feed_dtype(t.dtype, self.report), tuple(t.shape)) for t in signature.inputs]
        if feeds_file:
            serving_feeds, origin = load_feeds(feeds_file, specs), f"from {os.path.basename(feeds_file)}"
        else:
            serving_feeds = load_feeds(self.file(FEEDS_FILE), specs)
            origin = f"from {FEEDS_FILE} (the inputs of the conversion)"
        recorded = self.report["signature"].get("preprocess")
        preprocess = Preprocess.from_dict(recorded) if recorded else None
        feeds = model_feeds(preprocess, from_signature_layout(serving_feeds, signature.inputs))
        return signature, serving_feeds, feeds, origin

    def update(self, **sections) -> None:
        """Store sections (``locate=...``, ``deploy_check=...``) in report.json and re-render report.html."""
        self.report.update(sections)
        write_report(self.report, self.path)
