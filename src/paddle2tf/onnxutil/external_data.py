"""ONNX models whose tensors live in external data files beside the model file.

A user's model may come so (``onnx.save(..., save_as_external_data=True)``; any model over protobuf's 2 GB limit
must). The data is read from beside the user's file. paddle2tf writes its own ``model.onnx`` with external data, in
``model.onnx.data`` beside it, when the source had external data or the model's tensors exceed 2 GB; else as one
self-contained file.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
from onnx import helper
from onnx.external_data_helper import load_external_data_for_model

from paddle2tf.errors import BadInputError

DATA_SUFFIX = ".data"  # paddle2tf's own external data file: model.onnx.data beside model.onnx
# One protobuf message holds at most 2 GiB; the graph itself needs some room besides the tensors.
INLINE_MAX_BYTES = 2**31 - 64 * 2**20
# Tensors smaller than this stay inside model.onnx (shapes, axes: what shape inference reads).
INLINE_TENSOR_MAX_BYTES = 1024


def iter_tensors(graph: onnx.GraphProto):
    """Every tensor of the graph and of its subgraphs: initializers and tensor attributes (Constant values)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_tensors(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from iter_tensors(sub)


def external_files(model: onnx.ModelProto) -> dict[str, str]:
    """External data file (its ``location``, relative to the model's folder) -> the first tensor stored there."""
    files: dict[str, str] = {}
    for tensor in iter_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
            files.setdefault(location, tensor.name)
    return files


def external_data_paths(path: str) -> list[str]:
    """The existing external data files the ONNX file at ``path`` reads, as paths (none for a self-contained or
    unreadable file: reading the model reports those)."""
    try:
        header = onnx.load(path, load_external_data=False)
    except Exception:
        return []
    folder = os.path.dirname(os.path.abspath(path))
    paths = [os.path.join(folder, location) for location in external_files(header)]
    return [p for p in paths if os.path.isfile(p)]


def check_external_data(model: onnx.ModelProto, path: str, display_name: str | None = None) -> None:
    """Each external data file ``model`` (loaded from ``path`` without its data) reads exists beside ``path``;
    the error names the user's file (``display_name``) and the folder the data was looked for in."""
    folder = os.path.dirname(os.path.abspath(display_name or path))
    for location, tensor in external_files(model).items():
        if not location or os.path.isabs(location) or os.path.normpath(location).startswith(".."):
            raise BadInputError(f"{display_name or path}: tensor '{tensor}' has external data at '{location}', "
                                "which is not a file beside the model")
        if not os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(path)), location)):
            raise BadInputError(f"{display_name or path}: external data file '{location}' (tensor '{tensor}') "
                                f"not found in {folder}")


def tensor_bytes(model: onnx.ModelProto) -> int:
    """The size of the model's tensors (from their dims and types: inline or external alike)."""
    total = 0
    for tensor in iter_tensors(model.graph):
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize if tensor.data_type else 0
        total += int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
    return total


def save_model(model: onnx.ModelProto, path: str, external: bool = False) -> None:
    """Write ``model`` to ``path``: with its tensors in ``path + DATA_SUFFIX`` when ``external``, when the file being
    replaced had them there, or when they exceed what one protobuf file holds. Writing external data moves the
    tensors' bytes out of ``model`` (onnx's own behaviour): it is not to be used afterwards."""
    data_file = path + DATA_SUFFIX
    if external or os.path.isfile(data_file) or tensor_bytes(model) > INLINE_MAX_BYTES:
        if os.path.isfile(data_file):
            os.remove(data_file)  # onnx appends to an existing data file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(data_file), size_threshold=INLINE_TENSOR_MAX_BYTES)
    else:
        onnx.save(model, path)


def copy_model(source: str, destination: str) -> None:
    """Copy the user's ONNX file; one with external data is read from beside it (a missing data file is a
    ``BadInputError`` naming it) and written with paddle2tf's (``destination + DATA_SUFFIX``)."""
    try:
        header = onnx.load(source, load_external_data=False)
    except Exception:  # not readable: the check stage says so, naming the user's file
        header = None
    if header is None or not external_files(header):
        shutil.copyfile(source, destination)
        return
    check_external_data(header, source)
    load_external_data_for_model(header, os.path.dirname(os.path.abspath(source)))
    save_model(header, destination, external=True)
