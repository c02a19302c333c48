"""Run a pipeline: each model through ``paddle2tf convert`` in its own worker process (``--jobs`` at a time),
with a per-model timeout (the worker's whole process group is killed); passing models are published to the
repository, failing ones alerted. One model's failure, crash or timeout never stops the others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from paddle2tf.common.events import ERROR, MESSAGE, STAGE_DONE, STAGE_START, Event
from paddle2tf.common.files import make_shared_dir
from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARITY, BadInputError, Paddle2TFError
from paddle2tf.onnxutil.external_data import DATA_SUFFIX
from paddle2tf.pipeline.alerts import build_alert, dataset_failures, send_alert
from paddle2tf.pipeline.config import ModelEntry, Pipeline
from paddle2tf.pipeline.repository import Repository, metrics_of, sha256_file, sha256_files, source_hash
from paddle2tf.report.outdir import ONNX_FILE, REPORT_FILE


@dataclass
class ModelResult:
    name: str
    status: str  # published | unchanged | failed | timeout | crashed
    stage: str = ""  # the stage that failed (or the last one run)
    verdict: str = ""
    seconds: float = 0.0
    version: int | None = None
    error: str = ""
    report: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("published", "unchanged")


class _Printer:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self.lock:
            print(message, file=self.stream, flush=True)


def _worker_command(entry: ModelEntry, out_dir: str, job_file: str) -> list[str]:
    with open(job_file, "w") as handle:
        json.dump({"name": entry.name, "source": entry.source, "out_dir": out_dir, "options": entry.options.to_dict()},
                  handle)
    return [sys.executable, "-m", "paddle2tf.pipeline.worker", job_file]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_model(entry: ModelEntry, pipeline: Pipeline, repo: Repository, say, run_dir: str) -> ModelResult:
    """Convert one model in a worker (its output, log and job file in ``run_dir``: this run's own folder, so two
    runs of one pipeline never share them), then publish it or report why not."""
    start = time.monotonic()
    result = ModelResult(entry.name, "failed")
    options = entry.options
    out_dir = os.path.join(run_dir, entry.name)
    try:
        src_hash = source_hash(entry.source, options.input_specs)
    except Paddle2TFError as exc:
        result.stage, result.error = "source", str(exc)
        result.seconds = time.monotonic() - start
        return result
    log_path = os.path.join(run_dir, f"{entry.name}.log")
    say(f"[{entry.name}] start: {entry.source} (timeout {entry.timeout_s:g} s, log {log_path})")
    state = {"stage": "start", "error": ""}
    job_file = os.path.join(run_dir, f"{entry.name}.job.json")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(_worker_command(entry, out_dir, job_file), stdout=subprocess.PIPE, stderr=log,
                                text=True, errors="replace", start_new_session=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})

    def read_events():
        for line in proc.stdout:
            event = Event.from_json(line)
            if event is None:
                continue
            if event.kind == ERROR:
                state["error"] = event.text
                state["stage"] = event.stage or state["stage"]
            elif event.kind == MESSAGE and event.stage == "warmup":
                say(f"[{entry.name}] {event.text}")
            elif event.kind == STAGE_DONE:
                say(f"[{entry.name}] {event.stage} done in {event.seconds:.1f} s")
            elif event.kind == STAGE_START:
                state["stage"] = event.stage
                say(f"[{entry.name}] {event.stage} ...")

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=entry.timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        reader.join(timeout=5)
        result.status, result.stage = "timeout", state["stage"]
        result.error = f"timed out after {entry.timeout_s:g} s in stage '{state['stage']}' (worker killed)"
        result.seconds = time.monotonic() - start
        return result
    _kill_group(proc)  # stray grandchildren of a finished worker
    reader.join(timeout=30)
    result.stage = state["stage"]
    report_path = os.path.join(out_dir, REPORT_FILE)
    if code in (EXIT_OK, EXIT_PARITY) and os.path.isfile(report_path):
        result.report = report_path
        with open(report_path) as handle:
            report = json.load(handle)
        result.verdict = report.get("verdict", "")
    if code == EXIT_PARITY:
        result.stage = "verify"
        result.error = f"parity failure: verdict {result.verdict.upper() or 'FAIL'}"
        if result.report:
            locate = report.get("locate") or {}
            if locate.get("summary"):
                result.error += f"; {locate['summary'].split(':')[0]}"
            culprit = (locate.get("nodewise") or {}).get("culprit")
            if culprit:
                result.error += f" '{culprit['name']}' ({culprit['op_type']})"
            failures = dataset_failures(report["dataset"]) if report.get("dataset") else []
            if failures:
                result.stage = "dataset"
                more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
                result.error += f"; dataset: {failures[0]}{more}"
    elif code == EXIT_BAD_INPUT:
        result.error = state["error"] or "conversion failed (exit 2)"
    elif code != EXIT_OK or result.report is None:
        result.status = "crashed"
        result.error = (f"worker died with signal {-code}" if code < 0 else f"worker exited {code}") + (
            f": {state['error']}" if state["error"] else "")
    else:
        result.stage = "publish"
        say(f"[{entry.name}] publish ...")
        try:
            onnx_files = [os.path.join(out_dir, name) for name in (ONNX_FILE, ONNX_FILE + DATA_SUFFIX)
                          if os.path.isfile(os.path.join(out_dir, name))]  # with its external data
            manifest = {"source": {"text": entry.source, "kind": report["source"].get("kind")},
                        "source_sha256": src_hash, "onnx_sha256": sha256_files(onnx_files),
                        "settings": {**entry.settings(),
                                     "feeds_sha256": sha256_file(options.feeds) if options.feeds else None,
                                     # a changed plugin builds another SavedModel from the same ONNX
                                     **({"plugins_sha256": [sha256_file(p) for p in options.plugins
                                                            if os.path.isfile(p)]} if options.plugins else {})},
                        "options": options.to_dict(),
                        "tool": report.get("tool", {}), "metrics": metrics_of(report),
                        "stages": report.get("stages", []), "pipeline": pipeline.path}
            published = repo.publish(entry.name, out_dir, manifest, progress=lambda m: say(f"[{entry.name}] {m}"))
        except (OSError, ValueError, KeyError, BadInputError) as exc:
            result.error = f"publish failed: {type(exc).__name__}: {exc}"
        else:
            result.version = published.version
            result.status = "unchanged" if published.unchanged else "published"
            say(f"[{entry.name}] " + (f"unchanged: version {published.version} has the same source, ONNX and "
                                      f"settings" if published.unchanged else
                                      f"published version {published.version}: {published.path}"))
            shutil.rmtree(out_dir, ignore_errors=True)
    result.seconds = time.monotonic() - start
    return result


def run_pipeline(pipeline: Pipeline, jobs: int = 1, only: list[str] | None = None, stream=None) -> int:
    """Run the pipeline; returns the exit code: 0 every model passed, 1 any failed."""
    say = _Printer(stream)
    if jobs < 1:
        raise BadInputError(f"--jobs {jobs}: must be at least 1")
    names = [m.name for m in pipeline.models]
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise BadInputError(f"--only {' '.join(unknown)}: not in {pipeline.path} (models: {', '.join(names)})")
    entries = [m for m in pipeline.models if not only or m.name in only]
    repo = Repository(pipeline.repository)
    with repo.locked():  # also removes what a crashed publisher left behind
        pass
    os.makedirs(pipeline.work_dir, exist_ok=True)
    run_dir = make_shared_dir(pipeline.work_dir, f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-")
    say(f"pipeline {pipeline.path}: {len(entries)} model(s), {jobs} job(s), repository {repo.root}, "
        f"work folder {run_dir}")

    def one(entry: ModelEntry) -> ModelResult:
        try:
            result = run_model(entry, pipeline, repo, say, run_dir)
        except Exception as exc:  # a bug in one model's handling must not stop the others
            result = ModelResult(entry.name, "crashed", "pipeline", error=f"{type(exc).__name__}: {exc}")
        if result.ok:
            say(f"[{entry.name}] OK ({result.status}, {result.seconds:.1f} s)")
        else:
            say(f"[{entry.name}] FAILED in stage {result.stage}: {result.error}")
            alert = build_alert(entry.name, result.stage, result.error, result.report, pipeline.path)
            send_alert(pipeline.alerts, alert, lambda m: say(f"[{entry.name}] {m}"))
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, entries))
    say(render_results(results))
    if all(r.ok for r in results):  # else kept: the failed models' reports and logs are in it
        shutil.rmtree(run_dir, ignore_errors=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_PARITY


def render_results(results: list[ModelResult]) -> str:
    rows = [["model", "result", "version", "stage", "verdict", "seconds", "detail"]]
    for r in results:
        rows.append([r.name, r.status.upper() if not r.ok else r.status, str(r.version or "-"),
                     r.stage if not r.ok else "-", r.verdict or "-", f"{r.seconds:.1f}",
                     r.error if not r.ok else ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    failed = sum(not r.ok for r in results)
    lines.append(f"summary: {len(results) - failed} passed, {failed} failed")
    return "\n".join(["", *lines])
