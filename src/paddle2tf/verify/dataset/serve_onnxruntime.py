"""ONNX Runtime as a long-lived runner of the dataset check: ``python -m paddle2tf.verify.dataset.serve_onnxruntime
MODEL.onnx`` (request loop: ``paddle2tf.common.serve_loop``). A process of its own, like Paddle's and TensorFlow's:
the three run side by side and a crash of one is reported, not shared."""

from __future__ import annotations

import sys

from paddle2tf.common.serve_loop import fail, protocol_stream, serve
from paddle2tf.errors import Paddle2TFError
from paddle2tf.verify.runners import onnxruntime_session, run_onnxruntime


def main(onnx_path: str) -> None:
    replies = protocol_stream()
    try:
        session = onnxruntime_session(onnx_path)
        serve(lambda feeds: list(run_onnxruntime(onnx_path, feeds, session=session).values()), replies)
    except Paddle2TFError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main(sys.argv[1])
