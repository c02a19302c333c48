"""TF Serving warm-up records: ``saved_model/assets.extra/tf_serving_warmup_requests``.

TF Serving replays these requests when it loads a version, so the first real request does not pay for graph
optimisation and kernel selection. The file is a TFRecord of ``tensorflow.serving.PredictionLog`` messages; it is
written from the verification inputs (one request, its batch cut until the file is at most 1 MB).

The messages are encoded here (protobuf wire format; the tensors by TensorFlow's own ``TensorProto``): the
``tensorflow-serving-api`` package that defines them requires the full ``tensorflow`` wheel, which conflicts with
``tensorflow-cpu``. The tests parse the file back with that package's protos.
"""

from __future__ import annotations

import os

import numpy as np

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_BYTES = 1 << 20  # TF Serving's documented advice: keep warm-up data small
SIGNATURE = "serving_default"

# Field numbers of tensorflow_serving/apis/{prediction_log,predict,model}.proto
_PREDICTION_LOG_PREDICT_LOG = 6
_PREDICT_LOG_REQUEST = 1
_REQUEST_MODEL_SPEC, _REQUEST_INPUTS = 1, 2
_MODEL_SPEC_NAME, _MODEL_SPEC_SIGNATURE_NAME = 1, 3
_MAP_KEY, _MAP_VALUE = 1, 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings, bytes and embedded messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def prediction_log(model_name: str, inputs: dict[str, bytes]) -> bytes:
    """A serialised PredictionLog holding one PredictRequest; ``inputs``: signature input name → serialised
    TensorProto."""
    spec = _field(_MODEL_SPEC_NAME, model_name.encode()) + _field(_MODEL_SPEC_SIGNATURE_NAME, SIGNATURE.encode())
    request = _field(_REQUEST_MODEL_SPEC, spec)
    for name, tensor in inputs.items():
        request += _field(_REQUEST_INPUTS, _field(_MAP_KEY, name.encode()) + _field(_MAP_VALUE, tensor))
    return _field(_PREDICTION_LOG_PREDICT_LOG, _field(_PREDICT_LOG_REQUEST, request))


def write_warmup(saved_model: str, model_name: str, signature: dict, serving_feeds: dict[str, np.ndarray]) -> str:
    """Write the warm-up file into ``saved_model`` from the serving feeds (by ONNX input name; ``signature``:
    report.json's). Returns a one-line account (what was written, or why nothing was)."""
    import tensorflow as tf  # TensorFlow's TensorProto and TFRecord writer; callers already run TF

    names = {t["onnx_name"]: t["tf_name"] for t in signature["inputs"]}
    batch = min((len(array) for array in serving_feeds.values() if array.ndim), default=1)
    while True:
        feeds = {name: array[:batch] if array.ndim else array for name, array in serving_feeds.items()}
        record = prediction_log(model_name, {names[name]: tf.make_tensor_proto(array).SerializeToString()
                                             for name, array in feeds.items()})
        if len(record) <= MAX_BYTES or batch <= 1:
            break
        batch //= 2
    if len(record) > MAX_BYTES:
        return f"no TF Serving warm-up request: one sample is {len(record) / 1e6:.1f} MB (> 1 MB)"
    path = os.path.join(saved_model, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(record)
    return f"TF Serving warm-up: 1 request of batch {batch} ({len(record):,} B) in {WARMUP_FILE}"
