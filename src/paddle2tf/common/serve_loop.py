"""The request loop of a long-lived model runner (``verify.dataset``): load the model once, run many batches.

Standalone on purpose (numpy only, no paddle2tf import): ``verify/savedmodel_child.py`` imports it as a plain
file, so the TensorFlow child still imports neither paddle2tf nor Paddle; the Paddle and ONNX Runtime runners
import it as ``paddle2tf.common.serve_loop``.

Protocol: one JSON request per stdin line, ``{"feeds": [FEEDS.npz, ...], "out": OUT.npz}``: each feeds file is
run in turn and the outputs concatenated along axis 0 (the parts of one batch, e.g. raw images of different
sizes), written as ``out_0, out_1, ...`` in output order; the reply is one stdout line
``paddle2tf-reply: {"seconds": compute time}``. End of stdin (or ``{"quit": true}``) ends the process. Anything
the libraries print to stdout goes to stderr: stdout carries only replies. A failure is the usual
``paddle2tf-error: ...`` line on stderr and a non-zero exit.
"""

import json
import os
import sys
import time

import numpy as np

REPLY_PREFIX = "paddle2tf-reply: "
ERROR_PREFIX = "paddle2tf-error: "


def protocol_stream():
    """The real stdout for replies; file descriptor 1 then points at stderr (C libraries print there too)."""
    stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def serve(run, replies) -> None:
    """``run(feeds: dict) -> list of arrays`` (outputs in order), called once per feeds file."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("quit"):
            break
        start = time.perf_counter()
        parts = []
        for path in request["feeds"]:
            with np.load(path, allow_pickle=False) as data:
                feeds = {name: data[name] for name in data.files}
            parts.append([np.asarray(value) for value in run(feeds)])
        outputs = parts[0] if len(parts) == 1 else [np.concatenate([part[i] for part in parts])
                                                    for i in range(len(parts[0]))]
        seconds = time.perf_counter() - start
        np.savez(request["out"], **{f"out_{i}": value for i, value in enumerate(outputs)})
        replies.write(REPLY_PREFIX + json.dumps({"seconds": seconds}) + "\n")
        replies.flush()


def fail(message: str) -> None:
    print(ERROR_PREFIX + message, file=sys.stderr, flush=True)
    sys.exit(3)
