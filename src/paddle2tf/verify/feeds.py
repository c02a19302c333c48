"""Deterministic verification inputs: generated from the input specs (seeded) or read from an .npz."""

from __future__ import annotations

import os

import numpy as np

from paddle2tf.converter.layout import channels_last_perm
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import InputSpec

FLOAT_RANGE = (-1.0, 1.0)  # uniform; covers normalised images and embeddings alike
INT_RANGE = (0, 10)  # [low, high): safe as token ids or class indices for any vocabulary >= 10
DYNAMIC_BATCH = 2  # a dynamic first dimension; 2 catches batch-mixing bugs that 1 hides
DYNAMIC_OTHER = 32  # any other dynamic dimension (sequence length, spatial size)


# PaddleDetection's deploy models take, beside the image, ``im_shape`` (the resized image's H, W) and
# ``scale_factor`` (resized / original size per axis), both float [N, 2]. Uniform values in [-1, 1] there invert
# or collapse every box, which no preprocessing produces (and which NMS then ranks differently in each framework):
# generated, they are those of an image fed at its own size.
DETECTION_SIZE_INPUTS = ("im_shape", "scale_factor")


def concrete_shape(spec: InputSpec) -> tuple[int, ...]:
    return tuple(d if d is not None else (DYNAMIC_BATCH if i == 0 else DYNAMIC_OTHER)
                 for i, d in enumerate(spec.shape))


def _spec_template(spec: InputSpec) -> str:
    """``--input-spec`` text for ``spec`` with its generated dims as placeholders (H, W for an image)."""
    names = ["H", "W"] if len(spec.shape) == 4 and spec.shape[1] is not None else []
    dims, free = [], iter(names)
    for i, d in enumerate(spec.shape):
        if d is not None:
            dims.append(str(d))
        elif i == 0:
            dims.append("-1")
        else:
            dims.append(next(free, f"D{i}"))
    return f"{spec.name}:{spec.dtype}:{'x'.join(dims)}"


def explain_failure(message: str, specs: list[InputSpec], feeds: dict[str, np.ndarray]) -> str:
    """A framework failed on generated inputs: say what was generated and how to give the model its own size."""
    generated = [s for s in specs if s.name in feeds and any(d is None for d in s.shape[1:])]
    if not generated:
        return message
    shapes = ", ".join(f"{s.name} {feeds[s.name].dtype}[{'x'.join(map(str, feeds[s.name].shape))}]" for s in specs
                       if s.name in feeds)
    templates = " ".join(f"--input-spec {_spec_template(s)}" for s in generated)
    return (f"{message} -- on generated inputs {shapes} (a dynamic batch set to {DYNAMIC_BATCH}, other dynamic "
            f"dimensions to {DYNAMIC_OTHER}, and no inference.yml beside the model to size them), which may not be "
            f"a size this model runs at. Give the size it runs at (e.g. its training size) with {templates}, or "
            "your own inputs with --inputs feeds.npz")


GENERATED_MAX_BYTES = 4 * 2**30  # generated values (drawn as float64) beyond this are a typo, not a size to run


def make_feeds(specs: list[InputSpec], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    for spec in specs:
        shape = concrete_shape(spec)
        if int(np.prod(shape, dtype=np.float64)) * 8 > GENERATED_MAX_BYTES:
            raise BadInputError(f"input '{spec.name}': generated values of shape [{'x'.join(map(str, shape))}] "
                                f"would take {np.prod(shape, dtype=np.float64) * 8 / 2**30:.3g} GiB; give a smaller "
                                "--input-spec or your own inputs with --inputs feeds.npz")
    feeds = {}
    for spec in specs:
        shape = concrete_shape(spec)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feeds[spec.name] = rng.uniform(*FLOAT_RANGE, size=shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[spec.name] = rng.integers(*INT_RANGE, size=shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise BadInputError(f"input '{spec.name}': cannot generate values of dtype {spec.dtype}")
    image = next((feeds[s.name] for s in specs if feeds[s.name].ndim == 4 and feeds[s.name].dtype.kind == "f"), None)
    for name in detection_size_inputs(specs):  # [N, 2] also where the model leaves the 2 dynamic
        value = 1.0 if name == "scale_factor" else image.shape[2:4]
        feeds[name] = np.broadcast_to(np.asarray(value, feeds[name].dtype), (len(feeds[name]), 2)).copy()
    return feeds


def detection_size_inputs(specs: list[InputSpec]) -> list[str]:
    """The DETECTION_SIZE_INPUTS among ``specs`` (float [N, 2]; ``im_shape`` only beside a 4-D image input)."""
    has_image = any(len(s.shape) == 4 and np.dtype(s.dtype).kind == "f" for s in specs)
    return [s.name for s in specs if s.name in DETECTION_SIZE_INPUTS and np.dtype(s.dtype).kind == "f"
            and len(s.shape) == 2 and s.shape[1] in (2, None) and (has_image or s.name == "scale_factor")]


def describe_generated(specs: list[InputSpec], seed: int) -> str:
    """How ``make_feeds(specs, seed)`` made its values, for the report."""
    text = f"generated: seed {seed}, floats uniform{list(FLOAT_RANGE)}, ints in [{INT_RANGE[0]}, {INT_RANGE[1]})"
    sized = detection_size_inputs(specs)
    if sized:
        values = {"scale_factor": "1", "im_shape": "the image's H, W"}
        text += "; " + ", ".join(f"{name} = {values[name]}" for name in sized) + " (PaddleDetection's inputs)"
    return text


def read_npz(path: str, what: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz at ``path`` by name; ``what`` names the file in errors (e.g. '--calibration X')."""
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise BadInputError(f"{what}: not a readable .npz file ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):  # an .npy holds one unnamed array
        raise BadInputError(f"{what}: one unnamed array (.npy); give an .npz holding one array per model input, by "
                            "input name (numpy.savez(path, x=...))")
    with data:
        return {name: data[name] for name in data.files}


def load_feeds(path: str, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    """Feeds from an .npz; names, dtypes, ranks and fixed dimensions must match the model's inputs."""
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such feeds file")
    feeds = read_npz(path, path)
    expected = {spec.name for spec in specs}
    extra = sorted(set(feeds) - expected)
    missing = sorted(expected - set(feeds))
    if missing or extra:
        raise BadInputError(f"{path}: feeds do not match the model inputs"
                            f"{' (missing: ' + ', '.join(missing) + ')' if missing else ''}"
                            f"{' (unexpected: ' + ', '.join(extra) + ')' if extra else ''}")
    for spec in specs:
        array = feeds[spec.name]
        if array.dtype != np.dtype(spec.dtype):
            raise BadInputError(f"{path}: input '{spec.name}' is {array.dtype}, the model expects {spec.dtype}")
        if array.ndim != len(spec.shape) or any(d is not None and d != a for d, a in zip(spec.shape, array.shape,
                                                                                          strict=True)):
            raise BadInputError(f"{path}: input '{spec.name}' has shape {list(array.shape)}, the model expects "
                                f"{['?' if d is None else d for d in spec.shape]}")
    return feeds


def check_feeds_file(path: str, specs: list[InputSpec], preprocess=None, io_layout: str = "onnx") -> None:
    """A feeds file checked before the conversion, as the serving signature will take it (a ``preprocess``
    input: raw images; ``io_layout`` nhwc: inputs of rank 3 or more channels-last), so a wrong file fails in
    seconds rather than after the conversion."""
    expected = []
    for spec in specs:
        if preprocess is not None and spec.name == preprocess.input:
            expected.append(InputSpec(spec.name, preprocess.dtype, tuple(preprocess.raw_shape(spec.shape))))
        elif io_layout == "nhwc" and len(spec.shape) >= 3:
            expected.append(InputSpec(spec.name, spec.dtype,
                                      tuple(spec.shape[i] for i in channels_last_perm(len(spec.shape)))))
        else:
            expected.append(spec)
    load_feeds(path, expected)
