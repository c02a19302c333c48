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

from paddle2tf.errors import BadInputError

DATA_SUFFIX = ".data"  # paddle2tf's own external data file: model.onnx.data beside model.onnx
# One protobuf message holds at most 2 GiB; the graph itself needs some room besides the tensors.
INLINE_MAX_BYTES = 2**31 - 64 * 2**20
# Where each copied data file starts in model.onnx.data: the page size, as ONNX recommends for memory-mapped reads.
DATA_ALIGNMENT = 4096
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
    _check_data_sizes(model, path, display_name)


# Types whose stored size is not elements x numpy itemsize (strings; 4-bit types, two per byte).
_NOT_WHOLE_BYTES = {getattr(onnx.TensorProto, name) for name in ("STRING", "INT4", "UINT4", "FLOAT4E2M1")
                    if hasattr(onnx.TensorProto, name)}


def _check_data_sizes(model: onnx.ModelProto, path: str, display_name: str | None) -> None:
    """Each external tensor's bytes lie inside its file (a truncated copy or download otherwise surfaces later as
    numpy's "cannot reshape array", naming neither file nor tensor)."""
    folder = os.path.dirname(os.path.abspath(path))
    for tensor in iter_tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL or tensor.data_type in _NOT_WHOLE_BYTES:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        size = os.path.getsize(os.path.join(folder, entries["location"]))
        offset = int(entries.get("offset") or 0)
        needed = int(entries.get("length") or _tensor_size(tensor))
        if offset + needed > size:
            raise BadInputError(f"{display_name or path}: external data file '{entries['location']}' ends at byte "
                                f"{size}, but tensor '{tensor.name}' is stored at bytes {offset}-{offset + needed}: "
                                "the file is truncated or belongs to another model")


def _tensor_size(tensor: onnx.TensorProto) -> int:
    """A tensor's size in bytes, from its dims and type."""
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize if tensor.data_type else 0
    return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize


def tensor_bytes(model: onnx.ModelProto) -> int:
    """The size of the model's tensors (from their dims and types: inline or external alike)."""
    return sum(_tensor_size(tensor) for tensor in iter_tensors(model.graph))


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
    """Copy the user's ONNX file. One with external data (a missing data file is a ``BadInputError`` naming it) is
    copied as paddle2tf writes its own: its data files streamed one after the other into ``destination +
    DATA_SUFFIX`` and the tensors' locations and offsets rewritten, so no weight is held in memory."""
    try:
        header = onnx.load(source, load_external_data=False)
    except Exception:  # not readable: the check stage says so, naming the user's file
        header = None
    if header is None or not external_files(header):
        shutil.copyfile(source, destination)
        return
    check_external_data(header, source)
    folder = os.path.dirname(os.path.abspath(source))
    data_file = destination + DATA_SUFFIX
    starts: dict[str, int] = {}  # where each source data file begins in data_file
    with open(data_file, "wb") as out:
        for location in external_files(header):
            out.write(b"\0" * (-out.tell() % DATA_ALIGNMENT))
            starts[location] = out.tell()
            with open(os.path.join(folder, location), "rb") as data:
                shutil.copyfileobj(data, out, 16 * 2**20)
    for tensor in iter_tensors(header.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        offset = int(entries.get("offset") or 0)
        length = entries.get("length") or str(os.path.getsize(os.path.join(folder, entries["location"])) - offset)
        del tensor.external_data[:]
        for key, value in (("location", os.path.basename(data_file)),
                           ("offset", str(starts[entries["location"]] + offset)), ("length", length)):
            tensor.external_data.add(key=key, value=value)
    onnx.save(header, destination)
