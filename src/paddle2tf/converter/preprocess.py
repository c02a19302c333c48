"""Image preprocessing compiled into the serving signature (``convert --preprocess``).

TF clients then send raw images (e.g. uint8 NHWC, BGR, any size) and the signature does what the training
pipeline did before the model: cast, resize, channel order, scale, mean/std, layout. The verification feeds the
SavedModel the raw images and Paddle / ONNX Runtime the same images preprocessed by ``apply_reference`` (numpy,
float64, written independently of the TensorFlow version), so a preprocessing mismatch fails the check like any
other divergence.

Order of operations (both implementations): cast to float → resize (bilinear, half-pixel centres, no
antialiasing: ``tf.image.resize``'s default) → channel order → ``* scale`` → ``(x - mean) / std`` → the model's
layout (NCHW for a Paddle vision model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from paddle2tf.errors import BadInputError

LAYOUTS = ("nhwc", "nchw")
RAW_DTYPES = ("uint8", "float32")
CHANNEL_ORDERS = ("rgb", "bgr")
SYNTAX = ("[NAME:]key=value,... with keys layout=nhwc|nchw, dtype=uint8|float32, resize=HxW, scale=S (e.g. 1/255), "
          "mean=M1/M2/M3, std=S1/S2/S3, input_channels=rgb|bgr, model_channels=rgb|bgr")


@dataclass(frozen=True)
class Preprocess:
    """How the raw input ``input`` becomes the model's input (NCHW float32, 3 channels)."""

    input: str  # ONNX input name; "" until resolved against the model
    layout: str = "nhwc"  # of the raw input
    dtype: str = "uint8"  # of the raw input
    resize: tuple[int, int] | None = None  # model's H, W: raw images of any size are resized to it
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)  # in the model's channel order, after scaling
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    input_channels: str = "rgb"  # what clients send
    model_channels: str = "rgb"  # what the model was trained on

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> Preprocess:
        return Preprocess(**{**data, "resize": tuple(data["resize"]) if data.get("resize") else None,
                             "mean": tuple(data["mean"]), "std": tuple(data["std"])})

    def raw_shape(self, model_shape: list[int | None] | tuple) -> tuple[int | None, ...]:
        """The serving input's shape for the model input's NCHW shape: resizable inputs have dynamic H, W."""
        batch, _, height, width = model_shape
        if self.resize:
            height = width = None
        return (batch, height, width, 3) if self.layout == "nhwc" else (batch, 3, height, width)


def _floats(key: str, text: str, count: int | None = None) -> tuple[float, ...]:
    try:
        values = tuple(_number(part) for part in text.split("/")) if count != 1 else (_number(text),)
    except ValueError:
        raise BadInputError(f"--preprocess {key}={text}: expected numbers separated by '/'") from None
    except ZeroDivisionError:
        raise BadInputError(f"--preprocess {key}={text}: a division by 0") from None
    if not all(math.isfinite(value) for value in values):
        raise BadInputError(f"--preprocess {key}={text}: not a finite number")
    if count and len(values) != count:
        raise BadInputError(f"--preprocess {key}={text}: expected {count} values separated by '/'")
    return values


def _number(text: str) -> float:
    numerator, slash, denominator = text.partition("/")
    return float(numerator) / float(denominator) if slash else float(text)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value.lower() not in choices:
        raise BadInputError(f"--preprocess {key}={value}: expected one of {', '.join(choices)}")
    return value.lower()


def parse_preprocess(text: str) -> Preprocess:
    """``[NAME:]key=value,...`` → Preprocess (NAME resolved later when absent)."""
    name, colon, body = text.partition(":")
    if not colon or "=" in name:
        name, body = "", text
    fields: dict = {"input": name}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not value:
            raise BadInputError(f"--preprocess '{text}': '{item}' is not key=value; syntax: {SYNTAX}")
        if key == "layout":
            fields[key] = _choice(key, value, LAYOUTS)
        elif key == "dtype":
            fields[key] = _choice(key, value, RAW_DTYPES)
        elif key in ("input_channels", "model_channels"):
            fields[key] = _choice(key, value, CHANNEL_ORDERS)
        elif key == "resize":
            height, x, width = value.lower().partition("x")
            if not (x and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
                raise BadInputError(f"--preprocess resize={value}: expected HxW, e.g. 224x224")
            fields[key] = (int(height), int(width))
        elif key == "scale":
            fields[key] = _floats(key, value, 1)[0]
        elif key in ("mean", "std"):
            fields[key] = _floats(key, value, 3)
        else:
            raise BadInputError(f"--preprocess '{text}': unknown key '{key}'; syntax: {SYNTAX}")
    if any(s == 0 for s in fields.get("std", ())):
        raise BadInputError(f"--preprocess '{text}': std must not be 0")
    return Preprocess(**fields)


def resolve(spec: Preprocess, inputs: dict[str, tuple[str, tuple]]) -> Preprocess:
    """Name the input (the only 4-D float input when not given) and check it is an NCHW, 3-channel float input
    of the resize size. ``inputs``: ONNX input name -> (dtype, shape)."""
    from dataclasses import replace

    name = spec.input
    if not name:
        images = [n for n, (dtype, shape) in inputs.items() if dtype.startswith("float") and len(shape) == 4]
        if len(images) != 1:
            raise BadInputError(f"--preprocess: name the image input (NAME:...); the model's 4-D float inputs are "
                                f"{', '.join(images) or 'none'}")
        name = images[0]
    if name not in inputs:
        raise BadInputError(f"--preprocess {name}: the model has no input '{name}' (inputs: {', '.join(inputs)})")
    dtype, shape = inputs[name]
    if not dtype.startswith("float") or len(shape) != 4 or shape[1] != 3:
        raise BadInputError(f"--preprocess {name}: expected a float NCHW input with 3 channels, the model's is "
                            f"{dtype}{list(shape)}")
    if spec.resize and any(m is not None and m != r for m, r in zip(shape[2:], spec.resize, strict=True)):
        raise BadInputError(f"--preprocess resize={spec.resize[0]}x{spec.resize[1]}: input {name} is "
                            f"{shape[2]}x{shape[3]}")
    return replace(spec, input=name)


# -- the reference (numpy, float64): what verification feeds Paddle and ONNX Runtime ------------------------
def _resize_axis(length_in: int, length_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear source indices and weights along one axis, half-pixel centres, edges clamped."""
    position = (np.arange(length_out) + 0.5) * (length_in / length_out) - 0.5
    position = np.clip(position, 0, length_in - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, length_in - 1)
    return low, high, position - low


def resize_nhwc(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of [N, H, W, C] to ``size`` (half-pixel centres, no antialiasing), float64."""
    if images.shape[1:3] == tuple(size):
        return images
    (y0, y1, wy), (x0, x1, wx) = (_resize_axis(images.shape[1], size[0]), _resize_axis(images.shape[2], size[1]))
    rows = images[:, y0] * (1 - wy)[None, :, None, None] + images[:, y1] * wy[None, :, None, None]
    return rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]


def apply_reference(spec: Preprocess, raw: np.ndarray) -> np.ndarray:
    """Raw images → the model's NCHW float32 input, in float64 numpy."""
    images = np.asarray(raw, np.float64)
    if spec.layout == "nchw":
        images = images.transpose(0, 2, 3, 1)
    if spec.resize:
        images = resize_nhwc(images, spec.resize)
    if spec.input_channels != spec.model_channels:
        images = images[..., ::-1]
    images = (images * spec.scale - np.array(spec.mean)) / np.array(spec.std)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32)


def raw_feed(spec: Preprocess, model_shape: tuple, seed: int) -> np.ndarray:
    """Seeded raw images for the verification: uint8 over the full 0..255 range (float raw inputs too); a
    resizing signature gets images 8/7 of the model's size (224 → 256), so the resize is exercised."""
    batch, _, height, width = model_shape
    if spec.resize:
        height, width = (round(side * 8 / 7) for side in spec.resize)
    shape = (batch, height, width, 3) if spec.layout == "nhwc" else (batch, 3, height, width)
    images = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return images.astype(spec.dtype)


def model_feeds(spec: Preprocess | None, serving_feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's feeds (for Paddle, ONNX Runtime, locate) from the serving signature's."""
    if spec is None:
        return serving_feeds
    return {name: apply_reference(spec, array) if name == spec.input else array
            for name, array in serving_feeds.items()}


# -- the TensorFlow version, traced into the serving function -----------------------------------------------
def apply_tf(spec: Preprocess, raw):
    """Raw image tensor → the model's NCHW float32 input, in TF ops."""
    import tensorflow as tf

    images = tf.cast(raw, tf.float32)
    if spec.layout == "nchw":
        images = tf.transpose(images, [0, 2, 3, 1])
    if spec.resize:
        images = tf.image.resize(images, spec.resize, method="bilinear", antialias=False)
    if spec.input_channels != spec.model_channels:
        images = tf.reverse(images, axis=[-1])
    # one multiply-add: x * (scale / std) + (-mean / std), folded in float64 then rounded once
    std = np.array(spec.std)
    images = images * tf.constant(spec.scale / std, tf.float32) + tf.constant(-np.array(spec.mean) / std, tf.float32)
    return tf.transpose(images, [0, 3, 1, 2])
