"""Reading a dataset for the dataset check, batch by batch.

A dataset is
- a folder of images (``.jpg``/``.jpeg``/``.png``/``.bmp``, found recursively, sorted by relative path), each made
  into the model's image input by a preprocessing: ``--preprocess`` (``converter.preprocess``), the one compiled into
  the signature (then the SavedModel gets the raw images and Paddle / ONNX Runtime the numpy reference's output), or
  the model's ``inference.yml`` (PaddleClas / PaddleDetection export format) found beside the Paddle model;
- an ``.npz`` with one array per model input (leading sample axis), or an ``.npy`` for a one-input model, in the
  form the serving signature takes (like ``--inputs``). Uncompressed members are memory-mapped.

Only the batch being read is in memory. Labels: a CSV ``file,label`` (file: the image's path relative to the
folder or its base name; for arrays the sample index) or one label per line in sample order; integer class
indices. Every problem with the user's files is a ``BadInputError`` naming the file.
"""

from __future__ import annotations

import base64
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from paddle2tf.converter.module import TensorInfo, from_signature_layout, to_signature_layout
from paddle2tf.converter.precision import feed_dtype
from paddle2tf.converter.preprocess import Preprocess, apply_reference, model_feeds, resize_nhwc
from paddle2tf.converter.preprocess import resolve as resolve_preprocess
from paddle2tf.errors import BadInputError
from paddle2tf.frontend.shape_hints import shape_hints
from paddle2tf.frontend.sources import InputSpec, model_input_specs
from paddle2tf.verify.feeds import detection_size_inputs

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
THUMBNAIL_SIZE = 64


@dataclass(frozen=True)
class ModelIO:
    """What a dataset must fit: the model's inputs (ONNX names, dtypes, NCHW shapes: Paddle's and ONNX Runtime's
    feeds), the signature's inputs (layout) and the feeds it takes (dtype, shape), the preprocessing compiled into
    it (``convert --preprocess``)."""

    model_specs: tuple[InputSpec, ...]
    signature_inputs: tuple[TensorInfo, ...]
    serving_specs: tuple[InputSpec, ...]
    compiled: Preprocess | None = None

    @staticmethod
    def from_report(onnx_path: str, report: dict) -> ModelIO:
        """For a paddle2tf output: its model.onnx and report.json (signature, precision, compiled preprocessing)."""
        import onnx

        model_specs = model_input_specs(onnx.load(onnx_path, load_external_data=False))
        inputs = tuple(TensorInfo(**t) for t in report["signature"]["inputs"])
        serving = tuple(InputSpec(t.onnx_name, feed_dtype(t.dtype, report), tuple(t.shape)) for t in inputs)
        recorded = report["signature"].get("preprocess")
        return ModelIO(tuple(model_specs), inputs, serving, Preprocess.from_dict(recorded) if recorded else None)

    def batch_dim(self) -> int | None:
        """The model's fixed batch size (e.g. 1 for a detector exported for one image), None when dynamic. Every
        input is sliced along its first axis, so one fixed there (PicoDet's scale_factor [1, 2] beside a dynamic
        image batch) fixes the batch."""
        fixed = {spec.shape[0] for spec in self.model_specs if spec.shape} - {None}
        return fixed.pop() if len(fixed) == 1 else None


@dataclass(frozen=True)
class ImagePreprocess:
    """How an image file becomes the image input: ``resize_short`` (the short side to this length, the aspect kept)
    and a centred ``crop`` (H, W) first when an inference.yml asks for them, then ``spec``."""

    spec: Preprocess
    origin: str  # "--preprocess", "compiled into the signature", "inference.yml: PATH"
    resize_short: int | None = None
    crop: tuple[int, int] | None = None

    def describe(self) -> str:
        steps = [f"resize_short={self.resize_short}"] if self.resize_short else []
        steps += [f"crop={self.crop[0]}x{self.crop[1]}"] if self.crop else []
        spec = self.spec
        steps += [f"resize={spec.resize[0]}x{spec.resize[1]}"] if spec.resize else []
        steps += [f"scale={spec.scale:g}", "mean=" + "/".join(f"{v:g}" for v in spec.mean),
                  "std=" + "/".join(f"{v:g}" for v in spec.std)]
        if spec.input_channels != spec.model_channels:
            steps.append(f"{spec.input_channels}->{spec.model_channels}")
        return f"{','.join(steps)} ({self.origin})"


@dataclass
class Batch:
    start: int  # index of the first sample
    count: int  # real samples; the feeds may hold more (a fixed batch size, padded with the last sample)
    names: list[str]
    feeds: dict[str, np.ndarray]  # the model's feeds (ONNX layout, preprocessed): Paddle, ONNX Runtime
    serving: list[dict[str, np.ndarray]]  # the signature's feeds, in parts (raw images of one size per part)


class Dataset:
    """A dataset opened against a model: ``batches(size)`` reads it in order, ``labels`` when given."""

    def __init__(self, path: str, kind: str, names: list[str], total: int, io_spec: ModelIO,
                 image: ImagePreprocess | None = None, arrays: dict[str, np.ndarray] | None = None,
                 image_sizes: Sequence[str] = ()):
        self.path, self.kind, self.names, self.total, self.io = path, kind, names, total, io_spec
        self.image, self._arrays = image, arrays or {}
        self.image_sizes = list(image_sizes)  # inputs given each image's size (feeds.DETECTION_SIZE_INPUTS)
        self.labels: np.ndarray | None = None
        self.labels_file: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> str:
        what = f"{len(self)} images" if self.kind == "images" else f"{len(self)} samples"
        limited = f" (first {len(self)} of {self.total})" if len(self) < self.total else ""
        sizes = (f"; {', '.join(self.image_sizes)} from each image's resize (PaddleDetection's inputs)"
                 if self.image_sizes else "")
        return f"{self.path}: {what}{limited}{sizes}"

    def read_labels(self, path: str) -> None:
        self.labels = read_labels(path, self._all_names(), len(self))
        self.labels_file = path

    def _all_names(self) -> list[str]:
        if self.kind == "images":
            return _image_files(self.path)
        return [str(i) for i in range(self.total)]

    def batches(self, batch_size: int) -> Iterator[Batch]:
        fixed = self.io.batch_dim()
        size = fixed or batch_size
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            yield self._batch(start, stop, fixed)

    def _batch(self, start: int, stop: int, fixed: int | None) -> Batch:
        indices = list(range(start, stop))
        if fixed and len(indices) < fixed:  # a model exported for a fixed batch size: pad with the last sample
            indices += [indices[-1]] * (fixed - len(indices))
        names = self.names[start:stop]
        if self.kind == "images":
            feeds, serving = self._image_batch(indices)
        else:
            serving_feeds = {name: np.ascontiguousarray(array[indices]) for name, array in self._arrays.items()}

            feeds = model_feeds(self.io.compiled,
                                from_signature_layout(serving_feeds, list(self.io.signature_inputs)))
            serving = [serving_feeds]
        return Batch(start, stop - start, names, feeds, serving)

    def _image_batch(self, indices: list[int]) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
        spec = self.image.spec
        raws = [self._raw(index) for index in indices]
        model_hw = _model_hw(self.io, spec.input)
        images = []
        for index, raw in zip(indices, raws, strict=True):
            if self.image.resize_short or self.image.crop:
                raw = _resize_short_crop(raw, spec, self.image.resize_short, self.image.crop)
            images.append(apply_reference(spec, raw[None])[0])
            if model_hw and images[-1].shape[1:] != model_hw:
                raise BadInputError(f"{self._file(index)}: the image is {images[-1].shape[1]}x{images[-1].shape[2]} "
                                    f"after preprocessing, the model takes {model_hw[0]}x{model_hw[1]} (add "
                                    f"resize={model_hw[0]}x{model_hw[1]} to --preprocess)")
        if not model_hw and len({image.shape for image in images}) > 1:
            raise BadInputError(f"{self._file(indices[0])}: the images of a batch differ in size after "
                                "preprocessing; add resize=HxW to --preprocess")
        feeds = {spec.input: np.stack(images)}
        dtypes = {model_spec.name: model_spec.dtype for model_spec in self.io.model_specs}
        for name in self.image_sizes:  # as PaddleDetection's Resize: the resized H, W and resized / original
            sizes = [(image.shape[1:3], raw.shape[1:3] if spec.layout == "nchw" else raw.shape[:2])
                     for image, raw in zip(images, raws, strict=True)]
            feeds[name] = np.array([resized if name == "im_shape" else np.divide(resized, original)
                                    for resized, original in sizes], dtypes[name])
        if self.io.compiled is not None:  # the SavedModel takes the raw images: one part per run of equal sizes
            parts, run = [], [raws[0]]
            for raw in raws[1:]:
                if raw.shape == run[-1].shape:
                    run.append(raw)
                else:
                    parts.append({spec.input: np.stack(run)})
                    run = [raw]
            parts.append({spec.input: np.stack(run)})
            return feeds, parts
        return feeds, [to_signature_layout(feeds, list(self.io.signature_inputs))]

    def _file(self, index: int) -> str:
        return os.path.join(self.path, self.names[index])

    def _raw(self, index: int) -> np.ndarray:
        """The image as a client sends it (the spec's raw layout, channel order and dtype)."""
        spec = self.image.spec
        rgb = load_image(self._file(index))
        raw = rgb[..., ::-1] if spec.input_channels == "bgr" else rgb
        if spec.layout == "nchw":
            raw = raw.transpose(2, 0, 1)
        return np.ascontiguousarray(raw).astype(spec.dtype)

    def thumbnail(self, index: int) -> str | None:
        """A small PNG of sample ``index`` as a data URI (images only), for the report."""
        if self.kind != "images":
            return None
        from PIL import Image

        try:
            with Image.open(self._file(index)) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
        except OSError:
            return None
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _model_hw(io_spec: ModelIO, name: str) -> tuple[int, int] | None:
    """The image input's fixed height and width (None when dynamic)."""
    shape = next(spec.shape for spec in io_spec.model_specs if spec.name == name)
    return None if shape[2] is None or shape[3] is None else (shape[2], shape[3])


def _resize_short_crop(raw: np.ndarray, spec: Preprocess, short: int | None, crop: tuple[int, int] | None):
    """inference.yml's ResizeImage resize_short then CropImage (centred), on a raw image (HWC in the spec's form),
    with the reference's bilinear resize; the result keeps the raw layout (float64)."""
    image = raw.transpose(1, 2, 0) if spec.layout == "nchw" else raw
    image = image.astype(np.float64)
    if short:
        height, width = image.shape[:2]
        ratio = short / min(height, width)
        image = resize_nhwc(image[None], (round(height * ratio), round(width * ratio)))[0]
    if crop:
        height, width = image.shape[:2]
        top, left = max(0, (height - crop[0]) // 2), max(0, (width - crop[1]) // 2)
        image = image[top:top + crop[0], left:left + crop[1]]
    return image.transpose(2, 0, 1) if spec.layout == "nchw" else image


def load_image(path: str) -> np.ndarray:
    """An image file as uint8 [H, W, 3] RGB (grey and palette images converted, alpha dropped)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInputError(f"{path}: not a readable image ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from exc


def _image_files(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                  for name in files if name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def check_paths(path: str, labels: str | None = None) -> None:
    """The dataset and labels exist (checked before a conversion's work; their content when opened)."""
    if not os.path.exists(path):
        raise BadInputError(f"{path}: no such dataset (a folder of images, an .npz or an .npy)")
    if labels is not None and not os.path.isfile(labels):
        raise BadInputError(f"{labels}: no such labels file")


def open_dataset(path: str, io_spec: ModelIO, *, preprocess: Preprocess | None = None, labels: str | None = None,
                 limit: int | None = None, inference_yml: str | None = None) -> Dataset:
    """Open ``path`` (image folder, .npz, .npy) for the model; nothing but file names and array headers is read.
    ``inference_yml``: the model's preprocessing file, used for images when neither ``preprocess`` is given nor
    one is compiled into the signature."""
    if limit is not None and limit < 1:
        raise BadInputError(f"--limit {limit}: expected a positive number of samples")
    if os.path.isdir(path):
        dataset = _open_images(path, io_spec, preprocess, limit, inference_yml)
    elif path.lower().endswith((".npz", ".npy")):
        if not os.path.isfile(path):
            raise BadInputError(f"{path}: no such dataset file")
        if preprocess is not None:
            raise BadInputError(f"--preprocess with {path}: arrays are given as the signature takes them "
                                "(--preprocess is for a folder of images)")
        dataset = _open_arrays(path, io_spec, limit)
    elif not os.path.exists(path):
        raise BadInputError(f"{path}: no such dataset (a folder of images, an .npz or an .npy)")
    else:
        raise BadInputError(f"{path}: not a dataset (a folder of images, an .npz or an .npy)")
    if labels:
        dataset.read_labels(labels)
    return dataset


def _image_preprocess(path: str, io_spec: ModelIO, preprocess: Preprocess | None,
                      inference_yml: str | None) -> ImagePreprocess:
    inputs = {spec.name: (spec.dtype, spec.shape) for spec in io_spec.model_specs}
    if io_spec.compiled is not None:
        if preprocess is not None and replace(preprocess, input=io_spec.compiled.input) != io_spec.compiled:
            raise BadInputError("--preprocess: the SavedModel has its preprocessing compiled into the signature "
                                "(convert --preprocess); the dataset's images get that one")
        return ImagePreprocess(io_spec.compiled, "compiled into the signature")
    if preprocess is not None:
        return ImagePreprocess(resolve_preprocess(preprocess, inputs), "--preprocess")
    if inference_yml and os.path.isfile(inference_yml):
        return from_inference_yml(inference_yml, inputs)
    raise BadInputError(f"{path}: a folder of images needs their preprocessing: give --dataset-preprocess "
                        "(convert) or --preprocess (verify) (e.g. "
                        "'resize=224x224,scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225') or keep the "
                        "model's inference.yml (or PaddleDetection's infer_cfg.yml) beside it")


def _open_images(path: str, io_spec: ModelIO, preprocess: Preprocess | None, limit: int | None,
                 inference_yml: str | None) -> Dataset:
    image = _image_preprocess(path, io_spec, preprocess, inference_yml)
    # PaddleDetection's im_shape / scale_factor are given per image, as its Resize sets them
    sizes = [] if io_spec.compiled is not None else detection_size_inputs(list(io_spec.model_specs))
    others = [spec.name for spec in io_spec.model_specs if spec.name != image.spec.input and spec.name not in sizes]
    if others:
        raise BadInputError(f"{path}: the model has inputs besides the image ({', '.join(others)}); give the "
                            "dataset as an .npz with one array per input")
    files = _image_files(path)
    if not files:
        raise BadInputError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in the folder")
    names = files[:limit] if limit else files
    return Dataset(path, "images", names, len(files), io_spec, image=image, image_sizes=sizes)


def _open_arrays(path: str, io_spec: ModelIO, limit: int | None) -> Dataset:
    specs = list(io_spec.serving_specs)
    if path.lower().endswith(".npy"):
        if len(specs) != 1:
            raise BadInputError(f"{path}: an .npy holds one input, the model has {len(specs)} "
                                f"({', '.join(s.name for s in specs)}): give an .npz with one array per input")
        try:
            arrays = {specs[0].name: np.load(path, mmap_mode="r", allow_pickle=False)}
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: not a readable .npy file ({exc})") from exc
    else:
        arrays = _npz_arrays(path)
    expected = {spec.name for spec in specs}
    missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    if missing or extra:
        raise BadInputError(f"{path}: arrays do not match the model inputs"
                            f"{' (missing: ' + ', '.join(missing) + ')' if missing else ''}"
                            f"{' (unexpected: ' + ', '.join(extra) + ')' if extra else ''}")
    counts = {name: array.shape[0] if array.ndim else 0 for name, array in arrays.items()}
    for spec in specs:
        array = arrays[spec.name]
        if array.dtype != np.dtype(spec.dtype):
            raise BadInputError(f"{path}: input '{spec.name}' is {array.dtype}, the model expects {spec.dtype}")
        sample = spec.shape[1:]
        if array.ndim != len(spec.shape) or any(d is not None and d != a for d, a in zip(sample, array.shape[1:],
                                                                                          strict=True)):
            raise BadInputError(f"{path}: input '{spec.name}' has shape {list(array.shape)}, the model expects "
                                f"[samples, {', '.join('?' if d is None else str(d) for d in sample)}]")
    if len(set(counts.values())) != 1:
        raise BadInputError(f"{path}: the arrays hold different numbers of samples "
                            f"({', '.join(f'{k}: {v}' for k, v in counts.items())})")
    total = next(iter(counts.values()))
    if total == 0:
        raise BadInputError(f"{path}: no samples")
    count = min(total, limit) if limit else total
    return Dataset(path, "arrays", [str(i) for i in range(count)], total, io_spec, arrays=arrays)


def _npz_arrays(path: str) -> dict[str, np.ndarray]:
    """The members of an .npz; stored (uncompressed, np.savez) members memory-mapped, others read whole."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            for info in archive.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if info.compress_type == zipfile.ZIP_STORED:
                    raw.seek(info.header_offset)
                    header = raw.read(30)
                    offset = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + \
                        int.from_bytes(header[28:30], "little")
                    raw.seek(offset)
                    version = np.lib.format.read_magic(raw)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                                   np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read_header(raw)
                    if dtype.hasobject:
                        raise ValueError(f"member {name} holds Python objects")
                    arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                                             order="F" if fortran else "C")
                else:
                    with archive.open(info) as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BadInputError(f"{path}: not a readable .npz file ({exc})") from exc
    return arrays


def read_labels(path: str, names: Sequence[str], count: int) -> np.ndarray:
    """Integer labels of the first ``count`` of ``names`` (all the dataset's samples, in order)."""
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such labels file")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: not a readable labels file ({exc})") from exc
    if lines and "," in lines[0]:
        rows = [tuple(part.strip() for part in line.rsplit(",", 1)) for line in lines]
        if not _is_int(rows[0][1]):  # a header: file,label
            rows = rows[1:]
        by_name = {}
        for number, (name, label) in enumerate(rows, 1):
            by_name[name] = _label(path, label, number)
        basenames: dict[str, list[str]] = {}
        for name in names:
            basenames.setdefault(os.path.basename(name), []).append(name)
        known = set(names)
        unknown = [name for name in by_name if name not in known and len(basenames.get(name, [])) != 1]
        if unknown:
            raise BadInputError(f"{path}: '{unknown[0]}' is not a sample of the dataset"
                                f"{f' ({len(unknown)} such rows)' if len(unknown) > 1 else ''}")
        labels = []
        for name in names[:count]:
            label = by_name.get(name, by_name.get(os.path.basename(name)))
            if label is None:
                raise BadInputError(f"{path}: no label for '{name}'")
            labels.append(label)
        return np.array(labels, np.int64)
    if len(lines) != len(names):
        raise BadInputError(f"{path}: {len(lines)} labels for {len(names)} samples (one label per line, in the "
                            "dataset's order; or a CSV file,label)")
    return np.array([_label(path, line, number) for number, line in enumerate(lines[:count], 1)], np.int64)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _label(path: str, text: str, number: int) -> int:
    if not _is_int(text):
        raise BadInputError(f"{path}: line {number}: label '{text}' is not an integer class index")
    return int(text)


# -- inference.yml (PaddleClas / PaddleDetection exports) -------------------------------------------------------
def from_inference_yml(path: str, inputs: dict[str, tuple[str, tuple]]) -> ImagePreprocess:
    """The image preprocessing an exported model's inference.yml describes, for the supported steps:
    PaddleClas ``PreProcess.transform_ops`` (ResizeImage size|resize_short, CropImage, NormalizeImage,
    ToCHWImage, DecodeImage) and PaddleDetection ``Preprocess`` (Resize with keep_ratio false, NormalizeImage,
    Permute); label encoders and KeepKeys (training-time steps) are skipped. Any other step: BadInputError
    suggesting a --dataset-preprocess / --preprocess spec from the file's own normalisation and input size."""
    import yaml

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(f"{path}: not a readable YAML file ({str(exc).splitlines()[0]})") from exc
    steps = []
    if isinstance(data.get("PreProcess"), dict):
        for op in data["PreProcess"].get("transform_ops") or []:
            if isinstance(op, dict) and len(op) == 1:
                name, args = next(iter(op.items()))
                steps.append((name, args or {}))
            else:
                steps.append((str(op), {}))
    elif isinstance(data.get("Preprocess"), list):
        steps = [(op.get("type", "?"), op) for op in data["Preprocess"] if isinstance(op, dict)]
    else:
        raise BadInputError(f"{path}: no PreProcess.transform_ops (PaddleClas) or Preprocess (PaddleDetection) list")
    fields: dict = {"input": ""}
    resize_short = crop = unsupported = None

    def size(value) -> tuple[int, int]:
        return (int(value), int(value)) if isinstance(value, int | float) else (int(value[0]), int(value[1]))

    for name, args in steps:
        if name in ("DecodeImage",):
            fields["model_channels"] = "bgr" if str(args.get("img_mode", "RGB")).upper() == "BGR" or \
                args.get("to_rgb") is False else "rgb"
        elif name == "ResizeImage" and "resize_short" in args:
            resize_short = int(args["resize_short"])
        elif name == "ResizeImage" and "size" in args:
            fields["resize"] = size(args["size"])
        elif name == "Resize" and not args.get("keep_ratio", False):
            fields["resize"] = size(args["target_size"])
        elif name == "CropImage":
            crop = size(args["size"])
        elif name == "NormalizeImage":
            scale = args.get("scale", 1 / 255 if args.get("is_scale", True) else 1.0)
            fields["scale"] = _yml_number(path, scale)
            fields["mean"] = tuple(float(v) for v in args.get("mean", (0.0, 0.0, 0.0)))
            fields["std"] = tuple(float(v) for v in args.get("std", (1.0, 1.0, 1.0)))
        elif name in ("ToCHWImage", "Permute", "KeepKeys") or name.endswith("LabelEncode"):
            continue  # layout, or steps on training labels only (PaddleOCR's predictors skip them too)
        elif unsupported is None:
            unsupported = (name, args)  # (the suggestion below takes the normalisation from the steps after it)
    if unsupported is not None:
        name, args = unsupported
        raise BadInputError(f"{path}: preprocessing step {name}{' ' + str(args) if args else ''} is not supported "
                            "for the dataset check (each batch needs one image size); give the images' "
                            "preprocessing with --dataset-preprocess (convert) or --preprocess (verify)"
                            + _suggestion(fields, inputs, path))
    spec = resolve_preprocess(Preprocess(**fields), inputs)
    return ImagePreprocess(spec, f"{os.path.basename(path)}: {path}", resize_short, crop)


def _suggestion(fields: dict, inputs: dict[str, tuple[str, tuple]], path: str) -> str:
    """", e.g. 'resize=HxW,scale=...'": the file's normalisation at the image input's size (its static H, W, else
    the size the same file states for it, e.g. the TensorRT opt shape)."""
    images = [(name, shape) for name, (dtype, shape) in inputs.items() if len(shape) == 4]
    if len(images) != 1:
        return ""
    name, shape = images[0]
    height, width = shape[2:]
    if height is None or width is None:
        hints = shape_hints(path, [InputSpec(name, inputs[name][0], tuple(shape))])
        if name not in hints:
            return ""
        height, width = hints[name].shape[2:]
    scale = fields.get("scale", 1.0)
    spec = [f"resize={height}x{width}", "scale=1/255" if abs(scale - 1 / 255) < 1e-12 else f"scale={scale:g}"]
    spec += [f"{key}={'/'.join(f'{v:g}' for v in fields[key])}" for key in ("mean", "std") if key in fields]
    spec += [f"model_channels={fields['model_channels']}"] if fields.get("model_channels") == "bgr" else []
    return f", e.g. '{','.join(spec)}'"


def _yml_number(path: str, value) -> float:
    if isinstance(value, int | float):
        return float(value)
    numerator, slash, denominator = str(value).partition("/")
    try:
        return float(numerator.rstrip(".") or 0) / float(denominator.rstrip(".")) if slash else float(value)
    except ValueError:
        raise BadInputError(f"{path}: NormalizeImage scale '{value}' is not a number") from None
