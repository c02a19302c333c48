"""What the user gives us: a model source and input specs, parsed and validated."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paddle2tf.errors import BadInputError
from paddle2tf.onnxutil.graph import graph_inputs, value_type

SUPPORTED_DTYPES = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool")


@dataclass(frozen=True)
class InputSpec:
    """One model input: name, numpy dtype name, shape with None for a dynamic dimension."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def to_dict(self) -> dict:
        """The JSON form the Paddle worker takes (None for a dynamic dimension)."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def __str__(self) -> str:
        dims = "x".join("-1" if d is None else str(d) for d in self.shape)
        return f"{self.name}:{self.dtype}:{dims}"


def parse_input_spec(text: str) -> InputSpec:
    """Parse ``NAME:DTYPE:SHAPE`` with SHAPE like ``-1x3x224x224`` (-1 or ? = dynamic, empty = scalar)."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[0]:
        raise BadInputError(f"--input-spec '{text}': expected NAME:DTYPE:SHAPE, e.g. x:float32:-1x3x224x224")
    name, dtype, dims = parts
    if dtype not in SUPPORTED_DTYPES:
        raise BadInputError(f"--input-spec '{text}': unknown dtype '{dtype}' (one of {', '.join(SUPPORTED_DTYPES)})")
    shape: list[int | None] = []
    for dim in dims.split("x") if dims else []:
        if dim in ("-1", "?"):
            shape.append(None)
        elif re.fullmatch(r"\d+", dim) and int(dim) > 0:
            shape.append(int(dim))
        else:
            raise BadInputError(f"--input-spec '{text}': bad dimension '{dim}' (a positive integer or -1)")
    return InputSpec(name, dtype, tuple(shape))


@dataclass(frozen=True)
class Source:
    """A resolved model source.

    kind: ``onnx`` | ``paddle_json`` | ``paddle_pdmodel`` | ``python`` (a ``module:attr`` reference).
    ``params_file`` is '' for a Paddle program without parameters (Paddle saves no .pdiparams for it).
    """

    kind: str
    model_file: str = ""
    params_file: str = ""
    reference: str = ""
    input_specs: tuple[InputSpec, ...] = field(default_factory=tuple)

    @property
    def is_paddle(self) -> bool:
        return self.kind != "onnx"

    def describe(self) -> str:
        return self.reference or self.model_file


_PYTHON_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_python_reference(text: str) -> bool:
    """Whether ``text`` reads as a ``package.module:attr`` reference (a Layer or a factory)."""
    return bool(_PYTHON_REFERENCE.match(text))


def _paddle_candidates(path: Path) -> list[Path]:
    """Model files a path may name: the file, a prefix, the params file, or a folder holding one model (a program
    without parameters has no params file: then the folder's .pdmodel files and PIR programs)."""
    if path.suffix in (".json", ".pdmodel"):
        return [path]
    if path.is_dir():
        with_params = sorted(p.with_suffix(suffix) for p in path.glob("*.pdiparams")
                             for suffix in (".json", ".pdmodel"))
        return with_params or sorted([*path.glob("*.pdmodel"), *filter(_looks_like_pir_program, path.glob("*.json"))])
    stem = path.with_suffix("") if path.suffix == ".pdiparams" else path
    return [Path(f"{stem}.json"), Path(f"{stem}.pdmodel")]


def _looks_like_pir_program(path: Path) -> bool:
    """Paddle writes a PIR program's header first: {"base_code":{"magic":"pir",...}."""
    with open(path, "rb") as handle:
        head = handle.read(256)
    return b'"base_code"' in head and b'"pir"' in head


def read_pir_program(model_file: Path) -> dict:
    """The PIR program of a Paddle 3 ``model.json``; a ``BadInputError`` naming the file when it is not one."""
    try:
        with open(model_file, encoding="utf-8") as handle:
            program = json.load(handle)
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{model_file}: not a Paddle PIR program (not UTF-8 text: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{model_file}: not a Paddle PIR program (invalid JSON: {exc.msg.removesuffix(' at')} at "
                            f"line {exc.lineno}, column {exc.colno})") from None
    base = program.get("base_code") if isinstance(program, dict) else None
    if not isinstance(base, dict) or base.get("magic") != "pir" or not isinstance(program.get("program"), dict):
        raise BadInputError(f"{model_file}: not a Paddle PIR program (JSON without the 'base_code' magic 'pir' and "
                            "the 'program' a Paddle 3 model.json holds)")
    return program


def pir_parameter_count(program: dict) -> int:
    """How many parameters the program reads (its ``builtin.parameter`` ops, serialised as op "p")."""
    def count(node) -> int:
        if isinstance(node, dict):
            return int(node.get("#") == "p") + sum(count(value) for value in node.values())
        if isinstance(node, list):
            return sum(count(value) for value in node)
        return 0

    return count(program["program"])


def _params_file(model_file: Path) -> str:
    """The parameters file beside the model; '' for a program without parameters (Paddle then saves none). A PIR
    program is checked here; a legacy .pdmodel is checked by Paddle when it is translated."""
    params = model_file.with_suffix(".pdiparams")
    if params.is_file():
        if model_file.suffix == ".json":
            read_pir_program(model_file)
        return str(params.resolve())
    if model_file.suffix == ".json":
        count = pir_parameter_count(read_pir_program(model_file))
        if count:
            raise BadInputError(f"{model_file}: no parameters file {params.name} beside it (the program reads "
                                f"{count} parameter(s))")
    return ""


def resolve_source(text: str, input_specs: tuple[InputSpec, ...] = ()) -> Source:
    """Decide what ``text`` names: an ONNX file, a Paddle inference model (file or prefix) or a Layer."""
    path = Path(text)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise BadInputError(f"{text}: no such ONNX file")
        return Source("onnx", model_file=str(path.resolve()), input_specs=input_specs)
    for model_file in _paddle_candidates(path):
        if model_file.is_file():
            kind = "paddle_json" if model_file.suffix == ".json" else "paddle_pdmodel"
            return Source(kind, model_file=str(model_file.resolve()), params_file=_params_file(model_file),
                          input_specs=input_specs)
    if path.suffix in (".json", ".pdmodel", ".pdiparams"):
        raise BadInputError(f"{text}: no such Paddle model file")
    if _PYTHON_REFERENCE.match(text) and not os.path.exists(text):
        if not input_specs:
            raise BadInputError(f"{text}: a Python Layer source needs --input-spec NAME:DTYPE:SHAPE")
        return Source("python", reference=text, input_specs=input_specs)
    if path.name == "__model__" or (path / "__model__").is_file():
        raise BadInputError(f"{text}: a Paddle 1.x inference model (__model__ with one file per parameter), which "
                            "paddle2tf does not read: load it in Paddle 2.x and save it again with "
                            "paddle.static.save_inference_model (a .pdmodel with one .pdiparams)")
    problem = "not a model paddle2tf reads" if path.exists() else "not found"
    raise BadInputError(
        f"{text}: {problem} (expected model.onnx, a Paddle model.json/model.pdmodel with model.pdiparams, "
        "or a Python reference package.module:attr)")


def check_specs_against_model(specs: tuple[InputSpec, ...], model_inputs: list[InputSpec], where: str) -> None:
    """User-given specs must agree with the model's own inputs (names, dtypes, ranks, fixed dims)."""
    by_name = {spec.name: spec for spec in model_inputs}
    for spec in specs:
        actual = by_name.get(spec.name)
        if actual is None:
            raise BadInputError(f"--input-spec {spec}: {where} has no input '{spec.name}' "
                                f"(inputs: {', '.join(by_name) or 'none'})")
        if np.dtype(spec.dtype) != np.dtype(actual.dtype):
            raise BadInputError(f"--input-spec {spec}: {where} input '{spec.name}' is {actual.dtype}")
        declared = "[" + ", ".join("?" if d is None else str(d) for d in actual.shape) + "]"
        if len(spec.shape) != len(actual.shape):
            raise BadInputError(f"--input-spec {spec}: {where} input '{spec.name}' has rank {len(actual.shape)} "
                                f"(shape {declared})")
        for want, have in zip(spec.shape, actual.shape, strict=True):
            if want is not None and have is not None and want != have:
                raise BadInputError(f"--input-spec {spec}: {where} input '{spec.name}' has shape {declared}")


def model_input_specs(model) -> list[InputSpec]:
    """The inputs an ONNX model must be fed, as InputSpecs (None for a dim without a static size)."""
    specs = []
    for value in graph_inputs(model):
        dtype, shape = value_type(value)
        specs.append(InputSpec(value.name, dtype.name, tuple(d if d else None for d in shape)))
    return specs
