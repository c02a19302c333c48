"""The pipeline's conversion worker: ``python -m paddle2tf.pipeline.worker JOB.json`` converts one model with
``api.convert`` and writes its progress as JSON lines (``common.events.Event``) on file descriptor 1; whatever
libraries print goes to file descriptor 2 (the model's log). JOB.json: ``{name, source, out_dir, options}`` with the
options in ``ConvertOptions.to_dict()`` form. A verified model also gets TF Serving's warm-up requests
(``targets.serving_warmup``), built from its verification inputs.
Exit code: the CLI's (0 verified, 1 parity failure, 2 bad input)."""

from __future__ import annotations

import json
import os
import sys
import traceback

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions
from paddle2tf.common.events import ERROR, MESSAGE, STAGE_START, Event
from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARITY, Paddle2TFError
from paddle2tf.report.outdir import Output
from paddle2tf.targets.serving_warmup import write_warmup
from paddle2tf.verify.metrics import FAIL


def main(job_file: str) -> int:
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a library's print() must not interleave with the events
    stage = {"name": "start"}

    def emit(event: Event) -> None:
        if event.kind == STAGE_START:
            stage["name"] = event.stage
        events.write(event.to_json() + "\n")

    try:
        with open(job_file) as handle:
            job = json.load(handle)
        report = api.convert(job["source"], job["out_dir"], ConvertOptions.from_dict(job["options"]), progress=emit)
        if report.verdict == FAIL:
            return EXIT_PARITY
        output = Output.open(job["out_dir"])
        _, serving_feeds, _, _ = output.inputs()
        emit(Event(MESSAGE, "warmup", write_warmup(output.saved_model, job["name"], output.report["signature"],
                                                   serving_feeds)))
        return EXIT_OK
    except Paddle2TFError as exc:
        emit(Event(ERROR, stage["name"], str(exc), exit_code=exc.exit_code))
        return exc.exit_code
    except Exception as exc:  # a bug: one line for the pipeline, the traceback in the log
        traceback.print_exc()
        emit(Event(ERROR, stage["name"], f"internal error: {type(exc).__name__}: {exc}", exit_code=EXIT_BAD_INPUT))
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
