"""The pipeline YAML: parsed with PyYAML's node tree so every error names the file and line.

Schema (docs/pipeline.md)::

    repository: PATH                  # required; relative paths are relative to the pipeline file
    work_dir: PATH                    # optional; conversion outputs (failed ones are kept for their reports)
    defaults: {opset: INT, rtol: NUM, atol: NUM, timeout_s: NUM, fixes: BOOL}
    alerts: {webhooks: [URL, ...], alerts_file: PATH, command: STR}
    plugins: [FILE.py | MODULE, ...]  # converter plugins for every model (as --plugin)
    models:                           # required, non-empty
      - name: STR                     # serving name, unique, [A-Za-z0-9_.-]
        source: STR                   # any `paddle2tf convert` SOURCE
        input_specs: [NAME:DTYPE:SHAPE, ...]
        static_shapes: [NAME:DIMS, ...]   # optional, as --static-shape
        feeds: PATH                   # optional .npz
        preprocessing: STR            # optional note, recorded in the manifest
        plugins: [FILE.py | MODULE, ...]  # this model's converter plugins, after the pipeline's
        rtol / atol / opset / timeout_s / fixes   # override the defaults
        # any other conversion option (app.options.ConvertOptions), as on the command line:
        tolerances: [OUTPUT:RTOL:ATOL, ...]   seed: INT   locate: BOOL   paddle_reference: PATH
        precision: fp32|fp16|bf16   precision_io: BOOL   io_layout: onnx|nhwc   preprocess: SPEC
        tflite: [fp32|fp16|int8-dynamic|int8, ...]   calibration: PATH   tflite_min_top1: NUM
        dataset: PATH   labels: PATH   limit: INT   batch_size: INT   task: STR   min_agreement: NUM
        max_accuracy_drop: NUM   dataset_preprocess: SPEC     # the dataset check (as convert --dataset ...)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from paddle2tf.app.options import ConvertOptions, parse_tolerance_spec
from paddle2tf.converter.preprocess import parse_preprocess
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import DEFAULT_OPSET
from paddle2tf.frontend.sources import is_python_reference, parse_input_spec
from paddle2tf.frontend.static_shape import parse_static_shape
from paddle2tf.verify.metrics import Tolerance

DEFAULTS = {"opset": DEFAULT_OPSET, "rtol": None, "atol": None, "timeout_s": 1800.0, "fixes": True}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class PipelineConfigError(BadInputError):
    """A bad pipeline file: the message is ``file:line: problem``."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # as converted: a path made absolute, or a module:attr reference as written
    options: ConvertOptions = field(default_factory=ConvertOptions)  # how it is converted (paths made absolute)
    preprocessing: str = ""
    timeout_s: float = 1800.0
    line: int = 0

    def settings(self) -> dict:
        """What, besides the source, determines the published artifact (compared for idempotence)."""
        options, tolerance = self.options, self.options.effective_tolerance
        settings = {"opset": options.opset, "rtol": tolerance.rtol, "atol": tolerance.atol, "fixes": options.fixes,
                    "input_specs": [str(s) for s in options.input_specs], "preprocessing": self.preprocessing}
        # Other options only when set: versions published before an option existed stay `unchanged`.
        for key, value in options.changed().items():
            if key not in settings and key not in ("tolerance", "feeds", "force"):
                settings[key] = value
        return settings


@dataclass(frozen=True)
class AlertConfig:
    webhooks: tuple[str, ...] = ()
    alerts_file: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class Pipeline:
    path: str
    repository: str
    work_dir: str
    models: tuple[ModelEntry, ...]
    alerts: AlertConfig = field(default_factory=AlertConfig)


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def fail(self, node, message: str):
        line = node.start_mark.line + 1 if node is not None else 1
        raise PipelineConfigError(f"{self.path}:{line}: {message}")

    def mapping(self, node, where: str, allowed: dict[str, str], required: tuple[str, ...] = ()) -> dict:
        """{key: (key node, value node)} after checking the node is a mapping with known, unique keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{where}: expected a mapping, got {self.kind(node)}")
        result: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in allowed:
                self.fail(key_node, f"{where}: unknown key '{key}' (allowed: {', '.join(allowed)})")
            if key in result:
                self.fail(key_node, f"{where}: duplicate key '{key}'")
            result[key] = (key_node, value_node)
        for key in required:
            if key not in result:
                self.fail(node, f"{where}: missing required key '{key}'")
        return result

    @staticmethod
    def kind(node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return f"{node.tag.rsplit(':', 1)[-1]} '{node.value}'"

    def scalar(self, node, where: str, kind: str):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{where}: expected {kind}, got {self.kind(node)}")
        value = self.constructor.construct_object(node)
        if kind == "a string":
            if not isinstance(value, str) or not value:
                self.fail(node, f"{where}: expected a non-empty string, got {self.kind(node)}")
        elif kind == "an integer":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(node, f"{where}: expected an integer, got {self.kind(node)}")
        elif kind == "a number":
            if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
                try:
                    value = float(value)
                except ValueError:
                    self.fail(node, f"{where}: expected a number, got {self.kind(node)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.fail(node, f"{where}: expected a non-negative number, got {self.kind(node)}")
            value = float(value)
        elif kind == "a boolean":
            if not isinstance(value, bool):
                self.fail(node, f"{where}: expected true or false, got {self.kind(node)}")
        return value

    def string_list(self, node, where: str) -> list[tuple]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{where}: expected a list, got {self.kind(node)}")
        return [(item, self.scalar(item, f"{where}[{i}]", "a string")) for i, item in enumerate(node.value)]


_SETTINGS = {"opset": "an integer", "rtol": "a number", "atol": "a number", "timeout_s": "a number",
             "fixes": "a boolean"}
# Conversion options a model may set beyond the defaults' (app.options.ConvertOptions field names).
_OPTIONS = {"seed": "an integer", "locate": "a boolean", "precision": "a string", "precision_io": "a boolean",
            "io_layout": "a string", "preprocess": "a string", "tflite_min_top1": "a number",
            # the dataset check (verify.dataset)
            "limit": "an integer", "batch_size": "an integer", "task": "a string", "min_agreement": "a number",
            "max_accuracy_drop": "a number", "dataset_preprocess": "a string"}
_OPTION_PATHS = ("paddle_reference", "calibration", "dataset", "labels")
_MODEL_KEYS = {"name": "", "source": "", "input_specs": "", "static_shapes": "", "feeds": "", "preprocessing": "",
               "plugins": "", "tolerances": "", "tflite": "", **{k: "" for k in _OPTION_PATHS}, **_SETTINGS,
               **_OPTIONS}


def _resolve_path(text: str, base: str) -> str:
    return text if os.path.isabs(text) else os.path.normpath(os.path.join(base, text))


def _resolve_source(text: str, base: str) -> str:
    """A module:attr reference stays as written; a path is made relative to the pipeline file."""
    if is_python_reference(text) and not os.path.exists(_resolve_path(text, base)):
        return text
    return _resolve_path(text, base)


def _resolve_plugin(text: str, base: str) -> str:
    """A .py file (or any path) relative to the pipeline file; a module name as written."""
    return _resolve_path(text, base) if text.endswith(".py") or "/" in text else text


def _parsed(check, node, where: str, parse, text: str, cli_option: str):
    """One string parsed like the CLI option ``cli_option`` parses it (errors without the option name)."""
    try:
        return parse(text)
    except BadInputError as exc:
        check.fail(node, f"{where}: {str(exc).replace(cli_option, '')}")


def _parsed_list(check, entry, key: str, where: str, parse, cli_option: str) -> list:
    """A list of strings parsed like the CLI option ``cli_option`` parses them (errors without the option name)."""
    parsed = []
    if key in entry:
        for item, text in check.string_list(entry[key][1], f"{where}.{key}"):
            try:
                parsed.append(parse(text))
            except BadInputError as exc:
                check.fail(item, f"{where}.{key}: {str(exc).replace(cli_option, '')}")
    return parsed


def load_pipeline(path: str) -> Pipeline:
    """Parse and validate a pipeline file; any problem raises PipelineConfigError('file:line: message')."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise PipelineConfigError(f"{path}: cannot read the pipeline file ({exc.strerror})") from None
    check = _Checker(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PipelineConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    if root is None:
        raise PipelineConfigError(f"{path}:1: empty pipeline file")
    base = os.path.dirname(os.path.abspath(path))
    top = check.mapping(root, "pipeline", {"version": "", "repository": "", "work_dir": "", "defaults": "",
                                           "alerts": "", "plugins": "", "models": ""},
                        required=("repository", "models"))
    if "version" in top and check.scalar(top["version"][1], "version", "an integer") != 1:
        check.fail(top["version"][1], "version: only version 1 is supported")
    repository = _resolve_path(check.scalar(top["repository"][1], "repository", "a string"), base)
    work_dir = (_resolve_path(check.scalar(top["work_dir"][1], "work_dir", "a string"), base) if "work_dir" in top
                else os.path.join(base, "pipeline-work"))
    defaults = dict(DEFAULTS)
    if "defaults" in top:
        for key, (_, value) in check.mapping(top["defaults"][1], "defaults", _SETTINGS).items():
            defaults[key] = check.scalar(value, f"defaults.{key}", _SETTINGS[key])
    alerts = AlertConfig()
    if "alerts" in top:
        section = check.mapping(top["alerts"][1], "alerts", {"webhooks": "", "alerts_file": "", "command": ""})
        hooks = []
        for node, url in check.string_list(section["webhooks"][1], "alerts.webhooks") if "webhooks" in section else []:
            if not re.match(r"^https?://", url):
                check.fail(node, f"alerts.webhooks: '{url}' is not an http(s) URL")
            hooks.append(url)
        alerts_file = (_resolve_path(check.scalar(section["alerts_file"][1], "alerts.alerts_file", "a string"), base)
                       if "alerts_file" in section else None)
        command = check.scalar(section["command"][1], "alerts.command", "a string") if "command" in section else None
        alerts = AlertConfig(tuple(hooks), alerts_file, command)
    plugins: tuple[str, ...] = ()
    if "plugins" in top:
        plugins = tuple(_resolve_plugin(text, base) for _, text in check.string_list(top["plugins"][1], "plugins"))
    models_node = top["models"][1]
    if not isinstance(models_node, yaml.SequenceNode) or not models_node.value:
        check.fail(models_node, f"models: expected a non-empty list of models, got {check.kind(models_node)}")
    models: list[ModelEntry] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(models_node.value):
        where = f"models[{index}]"
        entry = check.mapping(node, where, _MODEL_KEYS, required=("name", "source"))
        name = check.scalar(entry["name"][1], f"{where}.name", "a string")
        where = f"model '{name}'"
        if not _NAME.match(name):
            check.fail(entry["name"][1], f"{where}: name must match [A-Za-z0-9_][A-Za-z0-9_.-]* (a directory name)")
        if name in seen:
            check.fail(entry["name"][1], f"{where}: duplicate model name (first defined at line {seen[name]})")
        seen[name] = node.start_mark.line + 1
        source = _resolve_source(check.scalar(entry["source"][1], f"{where}.source", "a string"), base)
        specs = _parsed_list(check, entry, "input_specs", where, parse_input_spec, "--input-spec ")
        static_shapes = _parsed_list(check, entry, "static_shapes", where, parse_static_shape, "--static-shape ")
        feeds = (_resolve_path(check.scalar(entry["feeds"][1], f"{where}.feeds", "a string"), base)
                 if "feeds" in entry else None)
        preprocessing = (check.scalar(entry["preprocessing"][1], f"{where}.preprocessing", "a string")
                         if "preprocessing" in entry else "")
        own_plugins: tuple[str, ...] = ()
        if "plugins" in entry:
            own_plugins = tuple(_resolve_plugin(text, base)
                                for _, text in check.string_list(entry["plugins"][1], f"{where}.plugins"))
        settings = dict(defaults)
        for key in _SETTINGS:
            if key in entry:
                settings[key] = check.scalar(entry[key][1], f"{where}.{key}", _SETTINGS[key])
        if settings["opset"] < 11:
            check.fail(entry.get("opset", (None, models_node))[1], f"{where}: opset {settings['opset']} < 11")
        if settings["timeout_s"] <= 0:
            check.fail(entry.get("timeout_s", (None, node))[1], f"{where}: timeout_s must be positive")
        values = {key: check.scalar(entry[key][1], f"{where}.{key}", kind) for key, kind in _OPTIONS.items()
                  if key in entry}
        values.update((key, _resolve_path(check.scalar(entry[key][1], f"{where}.{key}", "a string"), base))
                      for key in _OPTION_PATHS if key in entry)
        for key in ("preprocess", "dataset_preprocess"):
            if key in values:
                values[key] = _parsed(check, entry[key][1], where, parse_preprocess, values[key], "--preprocess ")
        if "tflite" in entry:
            values["tflite"] = tuple(text for _, text in check.string_list(entry["tflite"][1], f"{where}.tflite"))
        if settings["rtol"] is not None or settings["atol"] is not None:
            default = Tolerance()
            values["tolerance"] = Tolerance(default.rtol if settings["rtol"] is None else settings["rtol"],
                                            default.atol if settings["atol"] is None else settings["atol"])
        tolerances = dict(_parsed_list(check, entry, "tolerances", where, parse_tolerance_spec, "--tolerance "))
        try:
            options = ConvertOptions(input_specs=tuple(specs), static_shapes=tuple(static_shapes), feeds=feeds,
                                     opset=settings["opset"], fixes=settings["fixes"], plugins=plugins + own_plugins,
                                     per_output=tolerances, force=True, **values)
        except BadInputError as exc:
            check.fail(node, f"{where}: {exc}")
        models.append(ModelEntry(name=name, source=source, options=options, preprocessing=preprocessing,
                                 timeout_s=settings["timeout_s"], line=node.start_mark.line + 1))
    return Pipeline(path=os.path.abspath(path), repository=repository, work_dir=work_dir, models=tuple(models),
                    alerts=alerts)
