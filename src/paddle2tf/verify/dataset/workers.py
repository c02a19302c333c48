"""Long-lived runner processes of the dataset check: Paddle, ONNX Runtime and the SavedModel, each in its own
process, each loading the model once and then running batch after batch (``paddle2tf.common.serve_loop``).

Batches travel as .npz files in a private temporary folder, deleted once read: memory and disk hold a few
batches whatever the dataset's size. The three run side by side (one request to each, then the replies).
The children are started in a session of their own, so a Ctrl-C at the terminal reaches only the parent,
which then stops them in order (``close``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

import numpy as np

from paddle2tf.common.serve_loop import REPLY_PREFIX
from paddle2tf.common.subprocesses import child_env, explain_failure
from paddle2tf.verify.runners import TF_RUN_SCRIPT, RunnerError

_CLOSE_TIMEOUT = 30.0


class Worker:
    """One runner process. ``submit`` a batch, then ``result`` it (outputs in the model's output order)."""

    def __init__(self, name: str, args: Sequence[str], what: str, folder: str, log_file: str | None = None):
        self.name, self.what, self.folder, self.log_file = name, what, folder, log_file
        self._stderr = tempfile.TemporaryFile(mode="w+", dir=folder)
        self._count = 0
        self._pending: tuple[list[str], str] | None = None
        self.proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=child_env(), start_new_session=True)
        self.args = list(args)

    def submit(self, parts: Sequence[dict[str, np.ndarray]]) -> None:
        """Send one batch: one or more feeds dicts run in turn, their outputs concatenated along axis 0."""
        self._count += 1
        files = []
        for i, feeds in enumerate(parts):
            files.append(os.path.join(self.folder, f"{self.name}-{self._count}-{i}.npz"))
            np.savez(files[-1], **feeds)
        out = os.path.join(self.folder, f"{self.name}-{self._count}-out.npz")
        self._pending = (files, out)
        try:
            self.proc.stdin.write(json.dumps({"feeds": files, "out": out}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died()

    def result(self) -> tuple[list[np.ndarray], float]:
        """The outputs of the batch submitted last, and the runner's compute time for it."""
        files, out = self._pending
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self._died()
            if line.startswith(REPLY_PREFIX):
                break
        seconds = json.loads(line[len(REPLY_PREFIX):])["seconds"]
        with np.load(out, allow_pickle=False) as data:
            outputs = [data[f"out_{i}"] for i in range(len(data.files))]
        for path in (*files, out):
            os.remove(path)
        self._pending = None
        return outputs, seconds

    def _died(self):
        returncode = self.proc.wait()
        raise RunnerError(f"{self.what}: {explain_failure(returncode, self._log_text())}")

    def _log_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def close(self) -> None:
        """End of stdin ends the request loop (after the batch in flight, if any); killed if it lingers."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=_CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.log_file:
            with open(self.log_file, "a") as handle:
                handle.write(f"$ {' '.join(self.args)}\n{self._log_text()}\n")
        self._stderr.close()


def paddle_worker(model_file: str, params_file: str, folder: str, log_file: str | None = None) -> Worker:
    return Worker("paddle", ["-m", "paddle2tf.frontend.paddle_worker", "serve", model_file, params_file],
                  f"{model_file}: Paddle could not run the model", folder, log_file)


def onnxruntime_worker(onnx_path: str, folder: str, log_file: str | None = None) -> Worker:
    return Worker("onnxruntime", ["-m", "paddle2tf.verify.dataset.serve_onnxruntime", onnx_path],
                  f"{onnx_path}: ONNX Runtime could not run the model", folder, log_file)


def signature_worker(name: str, args: Sequence[str], what: str, input_map: dict[str, str],
                     output_map: dict[str, str], folder: str, log_file: str | None = None) -> Worker:
    """A runner of the serving signature (the SavedModel, a TFLite file): ``python ARGS MAPPING.json``, where
    MAPPING.json maps ONNX names to the signature's: {"inputs": {...}, "outputs": {...}}."""
    mapping = os.path.join(folder, f"{name}-mapping.json")
    with open(mapping, "w") as handle:
        json.dump({"inputs": input_map, "outputs": output_map}, handle)
    return Worker(name, [*args, mapping], what, folder, log_file)


def savedmodel_worker(saved_model: str, input_map: dict[str, str], output_map: dict[str, str], folder: str,
                      log_file: str | None = None) -> Worker:
    """The SavedModel in a fresh process that imports only TensorFlow (``savedmodel_child.py --serve``)."""
    return signature_worker("tensorflow", [TF_RUN_SCRIPT, "--serve", saved_model],
                            f"{saved_model}: TensorFlow could not run the SavedModel", input_map, output_map, folder,
                            log_file)
