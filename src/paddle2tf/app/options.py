"""Every setting of a command in one object, with its validation.

``ConvertOptions`` (with a JSON form): the CLI builds it from argparse, the pipeline from its YAML (a model's keys
are these field names), and the pipeline's manifest records ``to_dict()``. ``api.convert(source, out_dir, options)``
reads nothing else. The commands on an existing OUT_DIR take ``VerifyOptions``, ``LocateOptions`` and
``DeployCheckOptions`` alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from paddle2tf.converter.module import IO_LAYOUTS
from paddle2tf.converter.precision import PRECISIONS
from paddle2tf.converter.preprocess import Preprocess, parse_preprocess
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.export import DEFAULT_OPSET, MIN_OPSET
from paddle2tf.frontend.sources import InputSpec, parse_input_spec
from paddle2tf.frontend.static_shape import StaticShape, parse_static_shape
from paddle2tf.targets.tflite import check_options as check_tflite_options
from paddle2tf.targets.tflite import parse_variants as parse_tflite_variants
from paddle2tf.verify.dataset.run import DEFAULT_BATCH, DEFAULT_MAX_ACCURACY_DROP, DEFAULT_MIN_AGREEMENT, DatasetOptions
from paddle2tf.verify.metrics import Tolerance, default_tolerance


@dataclass(frozen=True)
class DatasetRequest:
    """The dataset check (``--dataset``) as asked for: ``paddle2tf convert/verify --dataset PATH ...``."""

    path: str  # a folder of images, an .npz or an .npy
    labels: str | None = None  # CSV file,label or one label per line
    limit: int | None = None  # the first N samples
    batch_size: int = DEFAULT_BATCH
    task: str | None = None  # classification | detection | sequence | dense (default: from each output's form)
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP  # percentage points
    preprocess: Preprocess | None = None  # how images become the model input (else compiled / inference.yml)

    def options(self, tolerance: Tolerance, per_output: Mapping[str, Tolerance]) -> DatasetOptions:
        return DatasetOptions(self.batch_size, self.task, self.min_agreement, self.max_accuracy_drop, tolerance,
                              dict(per_output))


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert, verify and what else to write. Defaults are the CLI's."""

    input_specs: tuple[InputSpec, ...] = ()  # --input-spec: names, dtypes, shapes (-1 dynamic)
    opset: int = DEFAULT_OPSET  # the ONNX opset of the Paddle export
    feeds: str | None = None  # --inputs: an .npz of verification inputs (default: seeded random)
    seed: int = 0  # generated inputs and Layer factories
    verify: bool = True  # the three-way check
    locate: bool = True  # the locate stage when verification fails
    fixes: bool = True  # the workarounds for known exporter defects (sanitise, Paddle-op export, repair)
    force: bool = False  # replace OUT_DIR if it exists
    tolerance: Tolerance | None = None  # None: the precision's default (verify.metrics.DEFAULT_TOLERANCES)
    per_output: Mapping[str, Tolerance] = field(default_factory=dict)  # --tolerance OUTPUT:RTOL:ATOL
    static_shapes: tuple[StaticShape, ...] = ()  # --static-shape: inputs whose dynamic dims are fixed
    plugins: tuple[str, ...] = ()  # converter plugins (.py files or module names)
    paddle_reference: str | None = None  # for an ONNX source: the Paddle model it was exported from
    precision: str = "fp32"  # fp16 / bf16: the SavedModel computes in that type
    precision_io: bool = False  # the signature's float inputs/outputs in the reduced type too
    io_layout: str = "onnx"  # nhwc: the signature's values of rank >= 3 channels-last
    preprocess: Preprocess | None = None  # image preprocessing compiled into the signature
    tflite: tuple[str, ...] = ()  # TFLite variants: fp32, fp16, int8-dynamic, int8
    calibration: str | None = None  # representative inputs for TFLite int8
    tflite_min_top1: float | None = None  # fail when a quantised variant's top-1 agreement is below this
    # the dataset check (verify.dataset): the SavedModel (and the TFLite files) judged on real samples
    dataset: str | None = None  # --dataset: a folder of images, an .npz or an .npy
    labels: str | None = None  # --labels: CSV file,label or one label per line
    limit: int | None = None  # --limit: the first N samples
    batch_size: int = DEFAULT_BATCH  # --batch-size
    task: str | None = None  # --task classification|detection|sequence|dense (default: from the outputs' forms)
    min_agreement: float = DEFAULT_MIN_AGREEMENT  # --min-agreement
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP  # --max-accuracy-drop, percentage points
    dataset_preprocess: Preprocess | None = None  # --dataset-preprocess: images → model input (not compiled in)

    def __post_init__(self):
        self.validate()

    @property
    def dataset_request(self) -> DatasetRequest | None:
        if self.dataset is None:
            return None
        return DatasetRequest(self.dataset, self.labels, self.limit, self.batch_size, self.task, self.min_agreement,
                              self.max_accuracy_drop, self.dataset_preprocess)

    @property
    def effective_tolerance(self) -> Tolerance:
        return self.tolerance or default_tolerance(self.precision)

    def validate(self) -> None:
        """Reject contradicting or out-of-range settings with one line naming the option (BadInputError)."""
        if self.opset < MIN_OPSET:
            raise BadInputError(f"--opset {self.opset}: paddle2tf exports with opset {MIN_OPSET} or newer")
        if self.precision not in PRECISIONS:
            raise BadInputError(f"--precision {self.precision}: expected one of {', '.join(PRECISIONS)}")
        if self.precision_io and self.precision == "fp32":
            raise BadInputError("--precision-io: only with --precision fp16 or bf16")
        if self.io_layout not in IO_LAYOUTS:
            raise BadInputError(f"--io-layout {self.io_layout}: expected one of {', '.join(IO_LAYOUTS)}")
        names = [spec.name for spec in self.input_specs]
        if duplicated := sorted({name for name in names if names.count(name) > 1}):
            raise BadInputError(f"--input-spec {duplicated[0]}: given more than once")
        static = [item.name for item in self.static_shapes]
        if duplicated := sorted({name for name in static if static.count(name) > 1}):
            raise BadInputError(f"--static-shape {duplicated[0]}: given more than once")
        check_tolerances(self.tolerance, self.per_output)
        variants = parse_tflite_variants(self.tflite)
        check_tflite_options(variants, self.calibration, self.tflite_min_top1)
        if self.io_layout != "onnx" and (self.preprocess is not None or variants):
            other = "--preprocess" if self.preprocess else "--tflite"
            raise BadInputError(f"--io-layout {self.io_layout} with {other}: not supported (--preprocess has its own "
                                "layout key; the TFLite check generates model inputs)")
        if self.dataset is None:
            given = [flag for flag, value in (("--labels", self.labels), ("--limit", self.limit), ("--task", self.task),
                                              ("--dataset-preprocess", self.dataset_preprocess)) if value is not None]
            if given:
                raise BadInputError(f"{given[0]}: only with --dataset")
        else:
            self.dataset_request.options(self.effective_tolerance, self.per_output).check(self.limit)
        if variants and self.preprocess is not None:
            raise BadInputError("--tflite with --preprocess: not supported (the TFLite check generates model inputs, "
                                "not raw images); convert for TFLite without --preprocess")

    def to_dict(self) -> dict:
        """The JSON form (what the pipeline's manifest records and ``from_dict`` reads back)."""
        data = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in ("input_specs", "static_shapes"):
                value = [str(v) for v in value]
            elif item.name == "tolerance":
                value = None if value is None else dataclasses.asdict(value)
            elif item.name == "per_output":
                value = {name: dataclasses.asdict(tol) for name, tol in value.items()}
            elif item.name in ("preprocess", "dataset_preprocess"):
                value = None if value is None else value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ConvertOptions:
        """Options from their JSON form; strings are read as the CLI reads them (``x:float32:-1x3x224x224``,
        ``x:1x3x224x224``, a --preprocess spec), a tolerance as ``{rtol, atol[, scale_atol]}``."""
        known = {item.name for item in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - known):
            raise BadInputError(f"unknown conversion option '{unknown[0]}' (known: {', '.join(sorted(known))})")
        values = dict(data)
        try:
            if "input_specs" in values:
                values["input_specs"] = tuple(s if isinstance(s, InputSpec) else parse_input_spec(s)
                                              for s in values["input_specs"])
            if "static_shapes" in values:
                values["static_shapes"] = tuple(s if isinstance(s, StaticShape) else parse_static_shape(s)
                                                for s in values["static_shapes"])
            if values.get("tolerance") is not None:
                values["tolerance"] = _tolerance(values["tolerance"])
            if "per_output" in values:
                values["per_output"] = {name: _tolerance(tol) for name, tol in values["per_output"].items()}
            for name in ("preprocess", "dataset_preprocess"):
                if isinstance(values.get(name), str):
                    values[name] = parse_preprocess(values[name])
                elif isinstance(values.get(name), Mapping):
                    values[name] = Preprocess.from_dict(values[name])
            for name in ("plugins", "tflite"):
                if name in values:
                    values[name] = tuple(values[name])
        except (TypeError, ValueError, AttributeError) as exc:
            raise BadInputError(f"conversion options: {exc}") from None
        return cls(**values)

    def changed(self) -> dict:
        """The JSON form of the settings that differ from the defaults."""
        default = ConvertOptions().to_dict()
        return {key: value for key, value in self.to_dict().items() if value != default[key]}


@dataclass(frozen=True)
class VerifyOptions:
    """``paddle2tf verify OUT_DIR``: the three-way check again on an existing output."""

    feeds: str | None = None  # --inputs: the serving signature's inputs (default: those of the conversion)
    tolerance: Tolerance | None = None  # None: the default of the precision OUT_DIR records
    per_output: Mapping[str, Tolerance] = field(default_factory=dict)
    locate: bool = True  # the locate stage when the check fails
    plugins: tuple[str, ...] = ()  # converter plugins for the locate stage
    dataset: DatasetRequest | None = None  # the dataset check too (else a previous result is kept)

    def __post_init__(self):
        check_tolerances(self.tolerance, self.per_output)


@dataclass(frozen=True)
class LocateOptions:
    """``paddle2tf locate OUT_DIR``: where Paddle, ONNX Runtime and the SavedModel start to diverge."""

    feeds: str | None = None
    tolerance: Tolerance = Tolerance()
    per_output: Mapping[str, Tolerance] = field(default_factory=dict)
    nodewise: bool | None = True  # the ONNX → TensorFlow hop node by node
    chunk_size: int | None = None  # ONNX nodes compared per run (None: the locate stage's default)
    update_report: bool = True  # store the result in report.json (``locate``) and re-render report.html
    plugins: tuple[str, ...] = ()

    def __post_init__(self):
        check_tolerances(self.tolerance, self.per_output)
        if self.chunk_size is not None and self.chunk_size < 1:
            raise BadInputError(f"--chunk-size {self.chunk_size}: must be at least 1")


@dataclass(frozen=True)
class DeployCheckOptions:
    """``paddle2tf deploy-check OUT_DIR``: what a serving stack needs of the SavedModel."""

    require: tuple[str, ...] = ()  # --require: properties that must hold (targets.deploy_check)
    tolerance: Tolerance = Tolerance()
    timing_runs: int = 0  # --time: timed runs per batch size (0: none)
    update_report: bool = True  # store the result in report.json (``deploy_check``) and re-render report.html

    def __post_init__(self):
        check_tolerances(self.tolerance, {})
        if self.timing_runs < 0:
            raise BadInputError(f"--time {self.timing_runs}: must be at least 0")


def check_tolerances(tolerance: Tolerance | None, per_output: Mapping[str, Tolerance]) -> None:
    """Every rtol and atol a finite number >= 0 (BadInputError naming the option otherwise)."""
    for where, tol in [("", tolerance), *((f" (--tolerance {k})", t) for k, t in per_output.items())]:
        if tol is None:
            continue
        for name, value in (("rtol", tol.rtol), ("atol", tol.atol)):
            if not (value >= 0 and math.isfinite(value)):
                raise BadInputError(f"--{name} {value}{where}: must be a finite number >= 0")


def parse_tolerance_spec(text: str) -> tuple[str, Tolerance]:
    """``OUTPUT:RTOL:ATOL`` (--tolerance; the output name may itself hold colons)."""
    rest, sep, atol = text.rpartition(":")
    name, sep2, rtol = rest.rpartition(":")
    try:
        tolerance = Tolerance(rtol=float(rtol), atol=float(atol))
    except ValueError:
        raise BadInputError(f"--tolerance '{text}': expected OUTPUT:RTOL:ATOL") from None
    if not (sep and sep2 and name):
        raise BadInputError(f"--tolerance '{text}': expected OUTPUT:RTOL:ATOL")
    return name, tolerance


def _tolerance(value) -> Tolerance:
    if isinstance(value, Tolerance):
        return value
    if not isinstance(value, Mapping) or not {"rtol", "atol"} <= set(value) <= {"rtol", "atol", "scale_atol"}:
        raise ValueError(f"a tolerance is {{rtol, atol[, scale_atol]}}, got {value!r}")
    return Tolerance(float(value["rtol"]), float(value["atol"]), bool(value.get("scale_atol", True)))
