"""Failure alerts: POSTed as JSON to webhooks, appended to a JSON-lines file, piped to a command.

Delivery never raises: an unreachable webhook or a failing command is logged and the pipeline goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from paddle2tf.pipeline.config import AlertConfig

WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_ATTEMPTS = 3
BACKOFF_S = 0.5  # 0.5 s, then 1 s between attempts

Log = Callable[[str], None]


def build_alert(model: str, stage: str, error: str, report_path: str | None, pipeline: str) -> dict:
    """The alert for a failed model, with the verdict table and the locate result when report.json has them."""
    alert = {"event": "paddle2tf.pipeline.failure", "pipeline": pipeline, "model": model, "stage": stage,
             "error": error, "report": report_path, "verdict": None, "verdict_table": [], "hop": None,
             "culprit": None, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if report_path and os.path.isfile(report_path):
        try:
            with open(report_path) as handle:
                report = json.load(handle)
        except (OSError, ValueError):
            return alert
        alert["verdict"] = report.get("verdict")
        for out in (report.get("verification") or {}).get("outputs", []):
            alert["verdict_table"].append({"output": out["name"], "verdict": out["verdict"],
                                           **{pair: m.get("max_rel") for pair, m in out["pairs"].items()}})
        locate = report.get("locate") or {}
        alert["hop"] = locate.get("diverging_hop")
        if locate.get("summary"):
            alert["locate_summary"] = locate["summary"]
        culprit = (locate.get("nodewise") or {}).get("culprit")
        if culprit:
            alert["culprit"] = {k: culprit.get(k) for k in ("index", "name", "op_type", "domain")}
        dataset = report.get("dataset")
        if dataset:  # an agreement / accuracy failure on the dataset is alerted like a parity failure
            alert["dataset"] = {"path": dataset["path"], "verdict": dataset["verdict"],
                                "failures": dataset_failures(dataset)}
    return alert


def dataset_failures(dataset: dict) -> list[str]:
    """One line per failed agreement or accuracy drop of a report's dataset section."""
    lines = [f"{a['output']} {a['metric']} agreement {a['pair']} {100 * a['value']:.2f}% < "
             f"{100 * dataset['min_agreement']:g}%" for a in dataset["agreements"] if a["verdict"] == "fail"]
    lines += [f"{a['output']} accuracy {a['framework']} {100 * a['accuracy']:.2f}% (drop {a['drop_pp']:.2f} pp > "
              f"{dataset['max_accuracy_drop']:g} pp)" for a in dataset["accuracy"] if a["verdict"] == "fail"]
    return lines


def post_json(url: str, payload: dict, log: Log, attempts: int = WEBHOOK_ATTEMPTS,
              timeout: float = WEBHOOK_TIMEOUT_S) -> bool:
    data = json.dumps(payload).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "paddle2tf-pipeline"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = str(getattr(exc, "reason", exc))
        log(f"alert webhook {url}: attempt {attempt}/{attempts} failed: {problem}")
        if attempt < attempts:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
    return False


def send_alert(config: AlertConfig, alert: dict, log: Log) -> None:
    for url in config.webhooks:
        if post_json(url, alert, log):
            log(f"alert for {alert['model']} sent to {url}")
        else:
            log(f"alert for {alert['model']} NOT delivered to {url} (unreachable); continuing")
    if config.alerts_file:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(config.alerts_file)), exist_ok=True)
            with open(config.alerts_file, "a") as handle:
                handle.write(json.dumps(alert) + "\n")
        except OSError as exc:
            log(f"alert file {config.alerts_file}: {exc}")
    if config.command:
        try:
            proc = subprocess.run(config.command, shell=True, input=json.dumps(alert), text=True,
                                  capture_output=True, timeout=60)
            if proc.returncode:
                log(f"alert command exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            log(f"alert command failed: {exc}")
