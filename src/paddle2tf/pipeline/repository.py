"""A TF Serving model repository: REPO/<name>/<version>/ (saved_model.pb, variables/, assets.extra/).

Publishing is atomic and serialised: under an exclusive ``fcntl.flock`` on REPO/.lock the version is staged in
REPO/.staging-<random>/, renamed to REPO/<name>/<N> (N = latest + 1) and REPO/models.config is rewritten
(write + ``os.replace``). Any .staging-* directory seen while holding the lock is left over from a crashed
publisher and is removed. Publishing is idempotent: when the latest version has the same source hash, ONNX
hash and settings, nothing is published ("unchanged").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from paddle2tf.common.files import make_shared_dir, share_file
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import resolve_source
from paddle2tf.onnxutil.external_data import DATA_SUFFIX, external_data_paths
from paddle2tf.report.outdir import HTML_FILE, ONNX_FILE, REPORT_FILE, SAVED_MODEL_DIR

LOCK_FILE = ".lock"
CONFIG_FILE = "models.config"
EXTRA_DIR = "assets.extra"
MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".staging-"
# Test-only hook: seconds to sleep with the lock held, after staging and before the rename (crash tests).
PUBLISH_DELAY_ENV = "PADDLE2TF_TEST_PUBLISH_DELAY"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_files(paths: list[str]) -> str:
    """One sha256 over several files (model.onnx and its external data): the one file's own hash for one file."""
    if len(paths) == 1:
        return sha256_file(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def source_hash(source: str, input_specs) -> str:
    """sha256 of the source files (ONNX file and its external data, or Paddle model + params); for a ``module:attr``
    reference, of the reference string and the input specs."""

    resolved = resolve_source(source, tuple(input_specs))
    digest = hashlib.sha256()
    if resolved.kind == "python":
        digest.update(f"python:{resolved.reference}\n".encode())
        for spec in input_specs:
            digest.update(f"{spec}\n".encode())
    else:
        data_files = external_data_paths(resolved.model_file) if resolved.kind == "onnx" else []
        for path in filter(None, (resolved.model_file, resolved.params_file, *data_files)):
            digest.update(f"{os.path.basename(path)}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


@dataclass
class PublishResult:
    name: str
    version: int
    unchanged: bool
    path: str


class Repository:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    # -- reading ------------------------------------------------------------------------------------
    def models(self) -> list[str]:
        if not os.path.isdir(self.root):
            return []
        return sorted(n for n in os.listdir(self.root)
                      if not n.startswith(".") and os.path.isdir(os.path.join(self.root, n)) and self.versions(n))

    def versions(self, name: str) -> list[int]:
        folder = os.path.join(self.root, name)
        if not os.path.isdir(folder):
            return []
        return sorted(int(n) for n in os.listdir(folder) if n.isdigit() and os.path.isdir(os.path.join(folder, n)))

    def version_dir(self, name: str, version: int) -> str:
        return os.path.join(self.root, name, str(version))

    def manifest(self, name: str, version: int) -> dict:
        path = os.path.join(self.version_dir(name, version), EXTRA_DIR, MANIFEST_FILE)
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def latest_manifest(self, name: str) -> dict | None:
        versions = self.versions(name)
        return self.manifest(name, versions[-1]) if versions else None

    # -- writing ------------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock on REPO/.lock; stale staging directories (a crashed publisher's) are removed."""
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, LOCK_FILE), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self.clean_staging()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def clean_staging(self) -> list[str]:
        """Remove .staging-* directories. Only call with the lock held (then none is in use)."""
        removed = []
        for entry in os.listdir(self.root):
            if entry.startswith(STAGING_PREFIX):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
                removed.append(entry)
        return removed

    def publish(self, name: str, out_dir: str, manifest: dict, progress=lambda _m: None) -> PublishResult:
        """Publish a conversion OUT_DIR (saved_model/, model.onnx, report.json, report.html) as the next version
        of ``name``, unless the latest version has the same source hash, ONNX hash and settings."""
        saved_model = os.path.join(out_dir, SAVED_MODEL_DIR)
        if not os.path.isfile(os.path.join(saved_model, "saved_model.pb")):
            raise BadInputError(f"{out_dir}: no saved_model/saved_model.pb to publish")
        with self.locked():
            versions = self.versions(name)
            if versions:
                latest = self.manifest(name, versions[-1])
                if all(latest.get(k) == manifest.get(k) for k in ("source_sha256", "onnx_sha256", "settings")):
                    self._write_config()
                    return PublishResult(name, versions[-1], True, self.version_dir(name, versions[-1]))
            version = (versions[-1] if versions else 0) + 1
            staging = make_shared_dir(self.root, STAGING_PREFIX)
            target = os.path.join(staging, "version")
            shutil.copytree(saved_model, target)
            extra = os.path.join(target, EXTRA_DIR)
            os.makedirs(extra, exist_ok=True)
            for file in (REPORT_FILE, HTML_FILE, ONNX_FILE, ONNX_FILE + DATA_SUFFIX):
                if os.path.isfile(os.path.join(out_dir, file)):
                    shutil.copyfile(os.path.join(out_dir, file), os.path.join(extra, file))
            manifest = {**manifest, "name": name, "version": version,
                        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            with open(os.path.join(extra, MANIFEST_FILE), "w") as handle:
                json.dump(manifest, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            delay = float(os.environ.get(PUBLISH_DELAY_ENV, "0") or 0)
            if delay:
                progress(f"staged {name} version {version} in {staging} (test delay {delay:g} s)")
                time.sleep(delay)
            os.makedirs(os.path.join(self.root, name), exist_ok=True)
            final = self.version_dir(name, version)
            os.rename(target, final)
            shutil.rmtree(staging, ignore_errors=True)
            self._write_config()
        return PublishResult(name, version, False, final)

    def _write_config(self) -> None:
        """REPO/models.config: TF Serving's ModelServerConfig (model_config_list) text proto, every model."""
        lines = ["# Written by paddle2tf pipeline; TF Serving: --model_config_file=models.config",
                 "model_config_list {"]
        for name in self.models():
            lines += ["  config {", f"    name: {json.dumps(name)}",
                      f"    base_path: {json.dumps(os.path.join(self.root, name))}",
                      '    model_platform: "tensorflow"', "  }"]
        lines.append("}")
        fd, tmp = tempfile.mkstemp(prefix=".models.config-", dir=self.root)
        share_file(tmp)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, os.path.join(self.root, CONFIG_FILE))


def metrics_of(report: dict) -> dict:
    """Per output: verdict and, per framework pair, max_abs / max_rel (from a report.json)."""
    verification = report.get("verification") or {}
    result = {"verdict": report.get("verdict"), "outputs": {}}
    for out in verification.get("outputs", []):
        result["outputs"][out["name"]] = {
            "verdict": out["verdict"], "shape": out["shape"],
            "pairs": {k: {"max_abs": v.get("max_abs"), "max_rel": v.get("max_rel")} for k, v in out["pairs"].items()}}
    dataset = report.get("dataset")
    if dataset:  # the dataset check: agreements and accuracy (convert --dataset / the pipeline's dataset:)
        result["dataset"] = {
            "path": dataset["path"], "samples": dataset["samples"], "complete": dataset["complete"],
            "verdict": dataset["verdict"],
            "agreement": [{k: a[k] for k in ("output", "metric", "pair", "value", "verdict")}
                          for a in dataset["agreements"]],
            "accuracy": [{k: a[k] for k in ("output", "framework", "accuracy", "drop_pp", "verdict")}
                         for a in dataset["accuracy"]]}
    return result


def render_list(repo: Repository) -> str:
    if not os.path.isdir(repo.root):  # a mistyped path is not an empty repository
        raise BadInputError(f"{repo.root}: no such model repository folder")
    names = repo.models()
    if not names:
        return f"{repo.root}: no published models"
    rows = [["model", "versions", "latest", "verdict", "published", "source"]]
    for name in names:
        versions = repo.versions(name)
        manifest = repo.manifest(name, versions[-1])
        rows.append([name, ",".join(map(str, versions)), str(versions[-1]),
                     str((manifest.get("metrics") or {}).get("verdict", "?")), manifest.get("published_at", "?"),
                     (manifest.get("source") or {}).get("text", "?")])
    return _table(rows)


def render_show(repo: Repository, name: str, version: int | None) -> str:
    versions = repo.versions(name)
    if not versions:
        raise BadInputError(f"{repo.root}: no published model '{name}' (models: {', '.join(repo.models()) or 'none'})")
    version = versions[-1] if version is None else version
    if version not in versions:
        raise BadInputError(f"{name}: no version {version} (versions: {', '.join(map(str, versions))})")
    m = repo.manifest(name, version)
    lines = [f"{name} version {version}: {repo.version_dir(name, version)}",
             f"  published   {m.get('published_at', '?')}",
             f"  source      {(m.get('source') or {}).get('text', '?')} ({(m.get('source') or {}).get('kind', '?')})",
             f"  source hash {m.get('source_sha256', '?')}",
             f"  onnx hash   {m.get('onnx_sha256', '?')}",
             f"  settings    {json.dumps(m.get('settings', {}), sort_keys=True)}",
             f"  tool        {', '.join(f'{k} {v}' for k, v in (m.get('tool') or {}).items())}"]
    metrics = m.get("metrics") or {}
    lines.append(f"  verdict     {str(metrics.get('verdict', '?')).upper()}")
    rows = [["output", "shape", "pair", "max_abs", "max_rel", "verdict"]]
    for out_name, out in (metrics.get("outputs") or {}).items():
        for pair, values in out["pairs"].items():
            rows.append([out_name, "x".join(map(str, out["shape"])) or "scalar", pair, _fmt(values["max_abs"]),
                         _fmt(values["max_rel"]), out["verdict"].upper()])
    if len(rows) > 1:
        lines += ["  " + line for line in _table(rows).splitlines()]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2e}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
