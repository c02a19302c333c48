"""Convert a SavedModel to one TFLite variant and/or run a .tflite file on feeds, with plain TensorFlow only.

Executed as a script in a fresh process (``python tflite_child.py JOB.json``); like ``savedmodel_child.py``
it imports neither paddle2tf nor Paddle (TensorFlow imported before Paddle in one process segfaults). JOB.json:

    {"saved_model": path | null,      # null: run the existing tflite_file only
     "variant": "fp32" | "fp16" | "int8-dynamic" | "int8",
     "tflite_file": path,             # written (via a .partial file, renamed once complete) or read
     "calibration": path | null,      # int8: npz with keys "<sample>:<input>" (representative dataset)
     "model_scales": bool,            # int8: the SavedModel's fake-quant ops give the ranges (no calibration)
     "mapping": {"inputs": {onnx_name: signature_name}, "outputs": {onnx_name: signature_name}},
     "runs": [{"feeds": npz, "out": npz}],  # feeds keys "<chunk>:<onnx input>", out keys "<chunk>:out_<i>"
     "threads": int, "result": path}

result (JSON): {"converted", "reason", "size_bytes", "seconds", "run_error"}. A conversion the converter
rejects is a result (``converted`` false, a one-line ``reason``), not a failure of this process.

Files: the protocol of paddle2tf/common/childio.py (spelled out here: this script imports nothing of paddle2tf).
"""

import json
import os
import re
import sys
import time
import warnings

import numpy as np
import tensorflow as tf

SIGNATURE = "serving_default"
MAX_SCALE = 1e20  # an int8 step beyond this: the calibrated range was unbounded (a float32 tensor spans < 3.4e38)


def _one_line(exc: Exception) -> str:
    """The converter's errors are pages of MLIR locations: keep what names the problem."""
    text = str(exc)
    flex = re.search(r"TF Select ops: ([^\n]+)", text)
    if flex:
        # SELECT_TF_OPS would embed these as Flex ops: the file then needs the Flex delegate on the device, and
        # TensorFlow's own tf.lite.Interpreter (pip) has none, so it could not be verified here either.
        return (f"ops with no TFLite builtin kernel: {flex.group(1).strip()} (would need SELECT_TF_OPS and the "
                "Flex delegate, which plain TFLite runtimes lack; not written)")
    unsupported = re.search(r"'(tf\.\w+)' op is neither a custom op nor a flex op", text)
    if unsupported:
        return f"{type(exc).__name__}: {unsupported.group(0)}"[:300]
    found = re.search(r"error: ([^\n]+)", text)
    if found:  # MLIR prefixes each error with its location: loc(callsite(fused[...] at ...)): ...
        message = re.sub(r"^.*\)\)+: ", "", found.group(1)).strip()
        return f"{type(exc).__name__}: {message}"[:300]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


def _representative(path: str, names: dict[str, str]):
    """Calibration samples, one dict per sample keyed by signature input name."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    samples = sorted({int(key.split(":", 1)[0]) for key in arrays})

    def generate():
        for index in samples:
            yield {tf_name: arrays[f"{index}:{onnx_name}"] for onnx_name, tf_name in names.items()}

    return generate


def _broken_quantisation(content: bytes) -> str:
    """Calibration records each tensor's float range; a range reaching +-inf or the float32 limit (e.g. a MaxPool
    padded with -inf) gives a scale so large that every value of that tensor rounds to one level: the file would
    run (or crash the runtime: XNNPACK refuses it, the reference kernels abort) but its results mean nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content)
    tensors = interpreter.get_tensor_details()
    for tensor in tensors:
        scales = tensor["quantization_parameters"]["scales"]
        if scales.size and not (np.isfinite(scales).all() and scales.max() < MAX_SCALE):
            return (f"calibration gave tensor '{tensor['name']}' the int8 scale {scales.max():.1e} (its float range "
                    "reaches +-inf, e.g. -inf padding): its int8 values would be meaningless; not written")
    if not any(tensor["dtype"] in (np.int8, np.uint8) for tensor in tensors):
        # (measured: calibration samples that are all NaN give no ranges, and TFLite then keeps every op float)
        return "TFLite wrote no int8 tensor (every op stayed float): the file would not be an int8 model; not written"
    return ""


def convert(job: dict) -> dict:
    converter = tf.lite.TFLiteConverter.from_saved_model(job["saved_model"], signature_keys=[SIGNATURE])
    variant = job["variant"]
    if variant == "fp16":  # weights stored as float16, computed in float32 on CPU
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8-dynamic":  # int8 weights, activations quantised on the fly
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8" and job.get("model_scales"):
        # The ranges of the model's fake-quant ops (quantization-aware form): int8 where the model quantizes, float
        # where it does not. Calibrating the rest as well would be worse: the converter then quantizes biases with
        # the calibrated range of their input instead of its fake-quant range (measured: top-1 0.73 on an MLP).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":  # full integer: every op int8 (none left in float), float32 model inputs/outputs
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(job["calibration"], job["mapping"]["inputs"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    start = time.perf_counter()
    try:
        content = converter.convert()
    except Exception as exc:
        return {"converted": False, "reason": _one_line(exc), "size_bytes": 0,
                "seconds": round(time.perf_counter() - start, 3)}
    broken = _broken_quantisation(content) if variant == "int8" else ""
    if broken:
        return {"converted": False, "reason": broken, "size_bytes": 0, "seconds": round(time.perf_counter() - start, 3)}
    partial = job["tflite_file"] + ".partial"
    with open(partial, "wb") as handle:
        handle.write(content)
    os.replace(partial, job["tflite_file"])  # never a half-written .tflite under its final name
    return {"converted": True, "reason": "", "size_bytes": len(content),
            "seconds": round(time.perf_counter() - start, 3)}


def run(job: dict) -> None:
    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice (LiteRT): noise in the log
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=job["tflite_file"], num_threads=job.get("threads") or None)
    runner = interpreter.get_signature_runner(SIGNATURE)  # resizes dynamic inputs to each call's arrays
    inputs, outputs = job["mapping"]["inputs"], job["mapping"]["outputs"]
    for item in job["runs"]:
        results = {}
        with np.load(item["feeds"]) as data:
            chunks = sorted({int(key.split(":", 1)[0]) for key in data.files})
            for chunk in chunks:
                got = runner(**{tf_name: data[f"{chunk}:{onnx_name}"] for onnx_name, tf_name in inputs.items()})
                results.update({f"{chunk}:out_{i}": got[tf_name] for i, tf_name in enumerate(outputs.values())})
        np.savez(item["out"], **results)


def serve(tflite_file: str, mapping_file: str) -> None:
    """Run the batches requested on stdin (the dataset check): ``common/serve_loop.py``, imported as a file."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
    from serve_loop import protocol_stream
    from serve_loop import serve as serve_requests

    replies = protocol_stream()
    with open(mapping_file) as handle:
        mapping = json.load(handle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=tflite_file)
    runner = interpreter.get_signature_runner(SIGNATURE)

    def run_batch(feeds) -> list[np.ndarray]:
        got = runner(**{tf_name: feeds[onnx_name] for onnx_name, tf_name in mapping["inputs"].items()})
        return [got[tf_name] for tf_name in mapping["outputs"].values()]

    serve_requests(run_batch, replies)


def main(job_file: str) -> None:
    with open(job_file) as handle:
        job = json.load(handle)
    if job["saved_model"]:
        result = convert(job)
    else:
        result = {"converted": True, "reason": "", "size_bytes": os.path.getsize(job["tflite_file"]), "seconds": 0.0}
    result["run_error"] = ""
    if result["converted"] and job["runs"]:
        try:
            run(job)
        except Exception as exc:  # the file exists but TFLite cannot run it: recorded, the conversion goes on
            result["run_error"] = _one_line(exc)
    with open(job["result"], "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":  # python tflite_child.py --serve MODEL.tflite MAPPING.json
        serve(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1])
