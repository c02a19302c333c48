"""``--static-shape NAME:DIMS``: fix an input's dynamic dimensions for deployment targets that need static shapes.

The dims are written into the ONNX graph inputs before the check stage, so ONNX shape inference, ONNX Runtime,
the converter (its serving signature and the folding of shape arithmetic to constants) and the verification feeds
all see the same static shape. A ``module:attr`` Layer is also saved by Paddle with the static shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.onnxutil.checker import load_model
from paddle2tf.onnxutil.external_data import save_model

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class StaticShape:
    """One input's fully static shape."""

    name: str
    shape: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name}:{'x'.join(map(str, self.shape))}"


def parse_static_shape(text: str) -> StaticShape:
    """Parse ``NAME:DIMS`` with DIMS like ``1x3x224x224`` (positive integers; empty for a scalar)."""
    name, sep, dims = text.rpartition(":")
    parts = [d for d in dims.split("x") if d] if dims else []
    if not sep or not name or not all(re.fullmatch(r"[1-9]\d*", d) for d in parts):
        raise BadInputError(f"--static-shape '{text}': expected NAME:DIMS with positive dims, e.g. x:1x3x224x224")
    return StaticShape(name, tuple(int(d) for d in parts))


def _by_name(static: Sequence[StaticShape]) -> dict[str, StaticShape]:
    result: dict[str, StaticShape] = {}
    for item in static:
        if item.name in result:
            raise BadInputError(f"--static-shape {item}: input '{item.name}' given twice")
        result[item.name] = item
    return result


def _check(item: StaticShape, dims: Sequence[int | None], where: str) -> None:
    if len(dims) != len(item.shape):
        raise BadInputError(f"--static-shape {item}: {where} input '{item.name}' has rank {len(dims)}")
    for want, have in zip(item.shape, dims, strict=True):
        if have is not None and have != want:
            shown = "x".join("?" if d is None else str(d) for d in dims)
            raise BadInputError(f"--static-shape {item}: {where} input '{item.name}' has shape {shown}")


def apply_to_specs(specs: Sequence[InputSpec], static: Sequence[StaticShape]) -> tuple[InputSpec, ...]:
    """Input specs with the static shapes substituted (a Layer source is then saved with static shapes)."""
    by_name = _by_name(static)
    result = []
    for spec in specs:
        item = by_name.get(spec.name)
        if item is not None:
            _check(item, spec.shape, "the --input-spec")
            spec = InputSpec(spec.name, spec.dtype, item.shape)
        result.append(spec)
    return tuple(result)


def fix_onnx_inputs(model: onnx.ModelProto, static: Sequence[StaticShape], where: str) -> None:
    """Write the static dims into the graph inputs (in place) and drop the inferred shapes of every other value,
    which still carry the dynamic dims, so that shape inference recomputes them from the fixed inputs."""
    by_name = _by_name(static)
    initializers = {init.name for init in model.graph.initializer}
    inputs = {vi.name: vi for vi in model.graph.input if vi.name not in initializers}
    unknown = sorted(set(by_name) - set(inputs))
    if unknown:
        raise BadInputError(f"--static-shape {by_name[unknown[0]]}: {where} has no input '{unknown[0]}' "
                            f"(inputs: {', '.join(inputs) or 'none'})")
    for name, item in by_name.items():
        tensor_type = inputs[name].type.tensor_type
        if tensor_type.HasField("shape"):  # without one the rank is unknown too: any static shape fits
            _check(item, [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                          for d in tensor_type.shape.dim], where)
        tensor_type.shape.SetInParent()  # a scalar's shape is present with no dims
        tensor_type.shape.ClearField("dim")
        for size in item.shape:
            tensor_type.shape.dim.add(dim_value=size)
    del model.graph.value_info[:]
    for output in model.graph.output:  # symbolic output dims shared with an input would stay symbolic
        for dim in output.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.Clear()


def fix_onnx_file(path: str, static: Sequence[StaticShape], display_name: str | None = None) -> None:
    """``fix_onnx_inputs`` on an ONNX file, rewritten in place."""

    model = load_model(path, display_name)
    fix_onnx_inputs(model, static, display_name or "the exported model")
    save_model(model, path)
