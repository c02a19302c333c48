"""Input sizes a model's own metadata states, for the verification inputs of its dynamic dimensions.

PaddleX / PaddleOCR 3 / PaddleClas write ``inference.yml`` beside an exported inference model, PaddleDetection
``infer_cfg.yml``. Two parts say what size the model runs at:

- ``Hpi.backend_configs.paddle_infer.trt_dynamic_shapes`` (also ``tensorrt.dynamic_shapes``): per input name,
  ``[min, opt, max]`` shapes; the ``opt`` one is used;
- the preprocessing's resize (``PreProcess.transform_ops`` in PaddleX/OCR/Clas, ``Preprocess`` in
  PaddleDetection): ``image_shape`` ([C, H, W] or [H, W]: ``RecResizeImg``, ``ClsResizeImg``, ``DetResizeForTest``),
  ``target_size`` ([H, W]: PaddleDetection ``Resize``), ``size`` / ``crop_size`` (an int, or [W, H] as PaddleClas'
  ``ResizeImage``/``CropImage`` take it), ``resize_long`` (a square bound: ``DetResizeForTest``); the last op
  naming a size wins (a crop after a resize). It sizes the H and W of the model's one 4-D image input.

The batch stays ``feeds.DYNAMIC_BATCH`` (2: catches batch-mixing bugs) unless the metadata's max batch is 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from paddle2tf.frontend.sources import InputSpec

METADATA_FILES = ("inference.yml", "inference.yaml", "infer_cfg.yml")
DYNAMIC_BATCH = 2  # verify.feeds.DYNAMIC_BATCH (the frontend does not import verify)
_SIZE_KEYS = ("image_shape", "target_size", "size", "crop_size", "resize_long")


@dataclass(frozen=True)
class ShapeHint:
    shape: tuple[int, ...]  # the full shape the generated feed takes
    origin: str  # e.g. "inference.yml Hpi.backend_configs.paddle_infer.trt_dynamic_shapes opt [1, 3, 48, 320]"


def find_metadata(model_file: str) -> str | None:
    """The metadata file beside a model file (the first of METADATA_FILES there), or None."""
    folder = os.path.dirname(os.path.abspath(model_file))
    return next((os.path.join(folder, name) for name in METADATA_FILES
                 if os.path.isfile(os.path.join(folder, name))), None)


def _load(path: str):
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return None  # metadata that cannot be read is no metadata: the defaults apply
    return data if isinstance(data, dict) else None


def _trt_shapes(data: dict) -> tuple[str, dict] | None:
    configs = (data.get("Hpi") or {}).get("backend_configs") or {}
    for backend, key in (("paddle_infer", "trt_dynamic_shapes"), ("tensorrt", "dynamic_shapes"),
                         ("paddle_tensorrt", "dynamic_shapes")):
        shapes = (configs.get(backend) or {}).get(key)
        if isinstance(shapes, dict) and shapes:
            return f"Hpi.backend_configs.{backend}.{key}", shapes
    return None


def _int_list(value) -> list[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value):
        return list(value)
    return None


def _resize_ops(data: dict) -> list[tuple[str, dict]]:
    """(op name, arguments) of the preprocessing, in order, in the PaddleX and PaddleDetection layouts."""
    ops = []
    pre = data.get("PreProcess")
    if isinstance(pre, dict) and isinstance(pre.get("transform_ops"), list):  # [{OpName: {args}}]
        for item in pre["transform_ops"]:
            if isinstance(item, dict) and len(item) == 1:
                name, args = next(iter(item.items()))
                ops.append((str(name), args if isinstance(args, dict) else {}))
    if isinstance(data.get("Preprocess"), list):  # PaddleDetection: [{type: Resize, target_size: [h, w]}]
        ops += [(str(item.get("type")), item) for item in data["Preprocess"] if isinstance(item, dict)]
    return ops


def _resize_hw(data: dict) -> tuple[str, tuple[int, int]] | None:
    found = None
    for name, args in _resize_ops(data):
        for key in _SIZE_KEYS:
            values = _int_list(args.get(key))
            if values is None:
                continue
            if key == "image_shape" and len(values) in (2, 3):
                hw = tuple(values[-2:])
            elif key == "target_size" and len(values) == 2:
                hw = tuple(values)
            elif key in ("size", "crop_size") and len(values) in (1, 2):
                hw = (values[0], values[0]) if len(values) == 1 else (values[1], values[0])  # [w, h]
            elif key == "resize_long" and len(values) == 1:
                hw = (values[0], values[0])
            else:
                continue
            if all(v > 0 for v in hw):
                found = (f"PreProcess {name}.{key} {list(values)}", hw)
            break
    return found


def _batch(dim: int | None, opt: int, max_batch: int | None) -> int:
    if dim is not None:
        return dim
    return opt if max_batch is not None and max_batch < DYNAMIC_BATCH else DYNAMIC_BATCH


def shape_hints(metadata_file: str | None, specs: list[InputSpec]) -> dict[str, ShapeHint]:
    """Feed shapes for the inputs whose dynamic dims the metadata sizes (``specs``: the model's inputs with the
    user's fixed dims already in). Fixed dims are kept; a resize that contradicts them is ignored."""
    data = _load(metadata_file) if metadata_file else None
    if not data:
        return {}
    name = os.path.basename(metadata_file)
    hints: dict[str, ShapeHint] = {}
    trt = _trt_shapes(data)
    if trt is not None:
        where, shapes = trt
        for spec in specs:
            triple = shapes.get(spec.name)
            if not (isinstance(triple, list) and len(triple) == 3 and all(_int_list(s) for s in triple)):
                continue
            opt, top = _int_list(triple[1]), _int_list(triple[2])
            if len(opt) != len(spec.shape) or len(top) != len(spec.shape) or None not in spec.shape:
                continue
            shape = (_batch(spec.shape[0], opt[0], top[0]),
                     *(o if d is None else d for d, o in zip(spec.shape[1:], opt[1:], strict=True)))
            hints[spec.name] = ShapeHint(shape, f"{name} {where} opt {opt}")
    images = [s for s in specs if len(s.shape) == 4 and s.name not in hints and None in s.shape[2:]]
    resize = _resize_hw(data) if len(images) == 1 else None
    if resize is not None:
        where, (height, width) = resize
        spec = images[0]
        if all(d is None or d == v for d, v in zip(spec.shape[2:], (height, width), strict=True)):
            channels = spec.shape[1] if spec.shape[1] is not None else 3
            shape = (_batch(spec.shape[0], 1, None), channels, height, width)
            hints[spec.name] = ShapeHint(shape, f"{name} {where}")
    return hints


def apply_hints(specs: list[InputSpec], hints: dict[str, ShapeHint]) -> list[InputSpec]:
    """The specs with every dim a hint sizes fixed (what the generated feeds then take)."""
    return [InputSpec(s.name, s.dtype, hints[s.name].shape) if s.name in hints else s for s in specs]
