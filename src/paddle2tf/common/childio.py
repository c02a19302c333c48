"""The file protocol between paddle2tf and its child processes (Paddle worker, TensorFlow-only scripts).

A child reads its inputs from an ``.npz`` keyed by the ONNX input name and, when the signature names differ, a
``mapping.json`` ``{"inputs": {onnx_name: signature_name}, "outputs": {onnx_name: signature_name}}``; it writes
its outputs to an ``.npz`` keyed ``out_<i>`` in output order (``<chunk>:out_<i>`` for several batches). The
TensorFlow-only children spell these keys themselves: they import nothing of paddle2tf, the proof that the
SavedModel stands on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

MAPPING_FILE = "mapping.json"
FEEDS_FILE = "feeds.npz"


def output_key(index: int, chunk: int | None = None) -> str:
    return f"out_{index}" if chunk is None else f"{chunk}:out_{index}"


def write_job(folder: str, feeds: Mapping[str, np.ndarray], inputs: Mapping[str, str] | None = None,
              outputs: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Write the feeds (and the name mapping) for a child into ``folder``; their paths."""
    feeds_file, mapping_file = os.path.join(folder, FEEDS_FILE), os.path.join(folder, MAPPING_FILE)
    np.savez(feeds_file, **feeds)
    with open(mapping_file, "w") as handle:
        json.dump({"inputs": dict(inputs or {}), "outputs": dict(outputs or {})}, handle)
    return feeds_file, mapping_file


def write_outputs(path: str, results: Sequence[np.ndarray]) -> None:
    """A child's outputs, in output order (the Paddle worker's side)."""
    np.savez(path, **{output_key(i): np.asarray(result) for i, result in enumerate(results)})


def read_outputs(path: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A child's outputs by name (``names`` in output order); a count that differs is a ValueError."""
    with np.load(path) as data:
        if len(data.files) != len(names):
            raise ValueError(f"{len(data.files)} outputs, the model has {len(names)}")
        return {name: data[output_key(i)] for i, name in enumerate(names)}


def read_chunked_outputs(path: str, names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Outputs of several batches (``<chunk>:out_<i>`` keys), one dict per batch in order."""
    with np.load(path) as data:
        count = len({key.split(":", 1)[0] for key in data.files})
        return [{name: data[output_key(j, i)] for j, name in enumerate(names)} for i in range(count)]
