"""Check stage: the ONNX model must pass onnx.checker (full) and shape inference before conversion."""

from __future__ import annotations

import os
import tempfile

import onnx
from onnx.external_data_helper import load_external_data_for_model

from paddle2tf.errors import BadInputError
from paddle2tf.onnxutil.external_data import check_external_data, external_files


def load_model(path: str, display_name: str | None = None) -> onnx.ModelProto:
    """Load an ONNX file; errors name ``display_name`` (the user's file) when given."""
    name = display_name or path
    if not os.path.isfile(path):
        raise BadInputError(f"{name}: no such ONNX file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise BadInputError(f"{name}: not a readable ONNX model ({_first_line(exc)})") from exc
    if not model.graph.node and not model.graph.output:
        raise BadInputError(f"{name}: not a readable ONNX model (empty graph)")
    _load_external_data(model, path, display_name)
    return model


def _load_external_data(model: onnx.ModelProto, path: str, display_name: str | None) -> None:
    """The tensors stored in external data files, read from beside ``path``; a missing file names the user's."""
    if external_files(model):
        check_external_data(model, path, display_name)
        load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))


def load_checked(path: str, display_name: str | None = None) -> onnx.ModelProto:
    """Load ``path``, run the full checker and strict shape inference; one-line error on any failure.

    Both run on the file, not on a loaded model: given a ModelProto, each serialises it and parses the copy (the
    inference returning a third), so checking a model in memory peaked at 5 x its weights (BERT-large: 6.4 GB for
    1.3 GB of weights). On the file the peak is about one copy plus the result."""
    name = display_name or path
    load_model(path, display_name)  # readable and not empty: the clear errors; the model itself is not kept
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:
        raise BadInputError(f"{name}: fails onnx.checker: {_first_line(exc)}") from exc
    with tempfile.TemporaryDirectory(prefix="paddle2tf-check-") as tmp:
        inferred = os.path.join(tmp, "inferred.onnx")
        try:
            onnx.shape_inference.infer_shapes_path(path, inferred, check_type=True, strict_mode=True)
        except Exception as exc:
            raise BadInputError(f"{name}: fails ONNX shape inference: {_first_line(exc)}") from exc
        model = onnx.load(inferred, load_external_data=False)  # its external data is still beside ``path``
    _load_external_data(model, path, display_name)
    return model


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2])[:400] if lines else type(exc).__name__
