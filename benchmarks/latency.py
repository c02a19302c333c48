"""Inference latency of paddle2tf's SavedModel against Paddle, ONNX Runtime and native Keras (a benchmark, not a test).

For each model (seeded random weights, tests/helpers/paddle_models.py) and batch size, the latency of one forward pass
on the CPU of:

(a) ``paddle``: Paddle inference (``paddle.inference.Config`` on the saved inference model, oneDNN/MKLDNN on when
    Paddle is built with it, ``switch_ir_optim(True)``);
(b) ``onnxruntime``: ONNX Runtime on the ``model.onnx`` paddle2tf exported (graph optimisations: all);
(c) ``paddle2tf``: the converted SavedModel, ``tf.saved_model.load(...).signatures['serving_default']``;
(d) ``keras``: the native TensorFlow equivalent: ``tf.keras.applications`` with ``weights=None`` and the same input
    size in NHWC (channels last, as Keras expects), or for ``bert_like`` a Keras encoder of identical shape
    (12 layers, hidden 768, 12 heads, FFN 3072, GELU, post-LayerNorm, token + position embeddings, tanh pooler),
    each called through a ``tf.function``.

Every candidate lives in its own long-lived worker process (Paddle and TensorFlow never share a process; Paddle's
``OMP_NUM_THREADS=1`` never reaches a TF worker). The parent asks the workers of one model in turn for one timed
run each (a, b, c, d, a, b, ...) so drift in machine load hits all alike, after a warm-up per batch size, and
pauses ``--gap`` seconds between requests so an idle worker's spinning threads (OpenMP block time, ORT spinning)
do not eat into the next one's run. A timed run is: feed the numpy inputs, run, fetch every output as numpy.
Thread settings (``--threads``, default the CPU count): Paddle ``set_cpu_math_library_num_threads``, ORT
``intra_op_num_threads`` (sequential execution), TF ``intra_op`` and ``inter_op`` parallelism.

The model is converted with ``python -m paddle2tf convert MODEL -o OUT --no-verify``: conversion time is the
``convert`` stage (ONNX -> SavedModel) of report.json; peak RSS is ``ru_maxrss`` of that command from ``wait4``,
i.e. the largest resident set of any process of the conversion (the CLI process itself or its export child).
The paddle2tf worker also counts the op types of the serving function's graph (nested functions included).

    python benchmarks/latency.py [--models resnet50 mobilenet_v3_small bert_like] [--batches 1 8] [--runs 30]
                                 [--warmup 5] [--threads N] [--gap 0.2] [--work-dir DIR] [--json latency.json]

Prints a markdown table; writes the JSON file (every sample included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(os.path.dirname(HERE), "tests", "helpers")  # paddle_models.py, paddle_fixtures.py

ALL_MODELS = ["resnet50", "mobilenet_v2", "mobilenet_v3_small", "vgg16", "densenet121", "inception_v3", "bert_like"]
KERAS_APPS = {"resnet50": "ResNet50", "mobilenet_v2": "MobileNetV2", "mobilenet_v3_small": "MobileNetV3Small",
              "vgg16": "VGG16", "densenet121": "DenseNet121", "inception_v3": "InceptionV3"}
CANDIDATES = ["paddle", "onnxruntime", "paddle2tf", "keras"]
SEQ_LEN = 128
VOCAB = 1000  # build_bert_like's default vocabulary


def child_env() -> dict[str, str]:
    return {**os.environ, "POLYGRAPHY_AUTOINSTALL_DEPS": "0", "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": os.pathsep.join(p for p in (HELPERS, os.environ.get("PYTHONPATH")) if p)}


# --------------------------------------------------------------------------------------------------- conversion


def convert(name: str, work: str) -> dict:
    """Save NAME with seeded weights and convert it with the CLI; cached in WORK/NAME/conversion.json."""
    folder = os.path.join(work, name)
    record_path = os.path.join(folder, "conversion.json")
    if os.path.isfile(record_path):
        with open(record_path) as handle:
            return json.load(handle)
    sys.path.insert(0, HELPERS)
    from paddle_fixtures import save_paddle_model

    model_file = save_paddle_model(name, os.path.join(folder, "paddle"))
    out = os.path.join(folder, "out")
    cmd = [sys.executable, "-m", "paddle2tf", "convert", model_file, "-o", out, "--no-verify", "--force"]
    start = time.perf_counter()
    with open(os.path.join(folder, "convert.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(), stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name}: paddle2tf convert failed ({proc.returncode}); see {folder}/convert.log")
    with open(os.path.join(out, "report.json")) as handle:
        report = json.load(handle)
    stages = {s["stage"]: s["seconds"] for s in report["stages"]}
    record = {"model_file": model_file, "out": out, "wall_seconds": wall, "stages": stages,
              "peak_rss_mb": usage.ru_maxrss / 1024, "signature": report["signature"]}
    with open(record_path, "w") as handle:
        json.dump(record, handle, indent=2)
    return record


# ------------------------------------------------------------------------------------------------------ workers


def make_inputs(name: str, batch: int) -> list:
    import numpy as np

    rng = np.random.default_rng(batch)
    if name == "bert_like":
        return [rng.integers(0, VOCAB, size=(batch, SEQ_LEN), dtype=np.int64)]
    size = 299 if name == "inception_v3" else 224
    return [rng.uniform(-1, 1, size=(batch, 3, size, size)).astype(np.float32)]


def op_histogram(graph_def) -> dict[str, int]:
    counts: dict[str, int] = {}
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    for node in nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def runner_paddle(name: str, conv: dict, threads: int):
    import paddle.inference as pi

    model_file = conv["model_file"]
    config = pi.Config(model_file, os.path.splitext(model_file)[0] + ".pdiparams")
    config.disable_gpu()
    import paddle

    onednn = bool(paddle.base.core.is_compiled_with_mkldnn())
    if onednn:
        config.enable_mkldnn()
    config.switch_ir_optim(True)
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    predictor = pi.create_predictor(config)
    in_handles = [predictor.get_input_handle(n) for n in predictor.get_input_names()]
    out_handles = [predictor.get_output_handle(n) for n in predictor.get_output_names()]

    def run(feeds):
        for handle, value in zip(in_handles, feeds, strict=True):
            handle.reshape(value.shape)
            handle.copy_from_cpu(value)
        predictor.run()
        return [h.copy_to_cpu() for h in out_handles]

    return run, {"onednn": onednn, "ir_optim": True, "cpu_math_library_num_threads": threads}


def runner_onnxruntime(name: str, conv: dict, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(os.path.join(conv["out"], "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(feeds):
        return session.run(None, dict(zip(names, feeds, strict=True)))

    return run, {"intra_op_num_threads": threads, "inter_op_num_threads": 1, "version": ort.__version__}


def tf_threads(threads: int) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return {"intra_op": threads, "inter_op": threads, "version": tf.__version__}


def runner_paddle2tf(name: str, conv: dict, threads: int):
    info = tf_threads(threads)
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(conv["out"], "saved_model"))
    fn = loaded.signatures["serving_default"]
    names = [i["tf_name"] for i in conv["signature"]["inputs"]]

    def run(feeds):
        outputs = fn(**{n: tf.constant(v) for n, v in zip(names, feeds, strict=True)})
        return [t.numpy() for t in outputs.values()]

    info["ops"] = op_histogram(fn.graph.as_graph_def())
    return run, info


def keras_encoder(layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072, max_len: int = 512):
    """The Keras twin of build_bert_like: post-norm TransformerEncoder layers (Paddle's normalize_before=False)."""
    import keras

    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.attention = keras.layers.MultiHeadAttention(heads, hidden // heads)
            self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5)
            self.up = keras.layers.Dense(ffn, activation="gelu")
            self.down = keras.layers.Dense(hidden)
            self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5)

        def call(self, h):
            h = self.norm1(h + self.attention(h, h))
            return self.norm2(h + self.down(self.up(h)))

    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.tokens = keras.layers.Embedding(VOCAB, hidden)
            self.positions = keras.layers.Embedding(max_len, hidden)
            self.norm = keras.layers.LayerNormalization(epsilon=1e-5)
            self.blocks = [Block() for _ in range(layers)]
            self.pooler = keras.layers.Dense(hidden, activation="tanh")

        def call(self, ids):
            positions = keras.ops.arange(keras.ops.shape(ids)[1])[None, :]
            h = self.norm(self.tokens(ids) + self.positions(positions))
            for block in self.blocks:
                h = block(h)
            return h, self.pooler(h[:, 0])

    return Encoder()


def runner_keras(name: str, conv: dict, threads: int):
    info = tf_threads(threads)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    if name == "bert_like":
        model = keras_encoder()
        model(tf.zeros([1, SEQ_LEN], tf.int64))
        spec = tf.TensorSpec([None, None], tf.int64)
    else:
        size = 299 if name == "inception_v3" else 224
        model = getattr(keras.applications, KERAS_APPS[name])(weights=None, input_shape=(size, size, 3))
        spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    nhwc = name != "bert_like"

    def run(feeds):
        x = feeds[0].transpose(0, 2, 3, 1) if nhwc else feeds[0]  # Keras gets channels-last data, as it expects
        outputs = fn(tf.constant(x))
        return [t.numpy() for t in tf.nest.flatten(outputs)]

    info["ops"] = op_histogram(fn.get_concrete_function().graph.as_graph_def())
    info["parameters"] = int(model.count_params())
    return run, info


def worker(kind: str, name: str, conv_path: str, threads: int) -> None:
    """Long-lived worker: 'warm B N' (N untimed runs at batch B), 'run B' (one timed run), 'quit'."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library chatter goes to stderr, the protocol keeps its own descriptor
    with open(conv_path) as handle:
        conv = json.load(handle)
    run, info = globals()[f"runner_{kind}"](name, conv, threads)
    feeds = {}
    proto.write(json.dumps({"ready": True, "info": info}) + "\n")
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        batch = int(words[1])
        if batch not in feeds:
            feeds[batch] = make_inputs(name, batch)
        if words[0] == "warm":
            for _ in range(int(words[2])):
                run(feeds[batch])
            proto.write(json.dumps({"ok": True}) + "\n")
        else:
            start = time.perf_counter()
            run(feeds[batch])
            proto.write(json.dumps({"seconds": time.perf_counter() - start}) + "\n")


class Worker:
    def __init__(self, kind: str, name: str, conv_path: str, threads: int, log):
        self.kind = kind
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", kind, name, conv_path,
                                      str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     text=True, env=child_env())
        self.info = self.read()["info"]

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"{self.kind} worker died (exit {self.proc.wait()}); see the worker log")
        return json.loads(line)

    def ask(self, request: str) -> dict:
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


# ------------------------------------------------------------------------------------------------------- parent


def measure(name: str, conv_path: str, args, log) -> dict:
    workers = []
    try:
        for kind in CANDIDATES:  # one at a time: start-up is not measured, and loading does not overlap
            workers.append(Worker(kind, name, conv_path, args.threads, log))
            print(f"  {kind} worker ready", file=sys.stderr, flush=True)
        samples: dict[str, dict[int, list[float]]] = {w.kind: {} for w in workers}
        for batch in args.batches:
            for w in workers:
                w.ask(f"warm {batch} {args.warmup}")
            for _ in range(args.runs):
                for w in workers:
                    time.sleep(args.gap)
                    samples[w.kind].setdefault(batch, []).append(w.ask(f"run {batch}")["seconds"])
            meds = {k: statistics.median(v[batch]) * 1e3 for k, v in samples.items()}
            print(f"  batch {batch}: " + ", ".join(f"{k} {m:.1f} ms" for k, m in meds.items()),
                  file=sys.stderr, flush=True)
        return {"samples": samples, "info": {w.kind: w.info for w in workers}}
    finally:
        for w in workers:
            w.close()


def summarise(name: str, conv: dict, measured: dict, batches: list[int]) -> list[dict]:
    rows = []
    for batch in batches:
        med = {k: statistics.median(v[batch]) * 1e3 for k, v in measured["samples"].items()}
        low = {k: min(v[batch]) * 1e3 for k, v in measured["samples"].items()}
        ops = measured["info"]["paddle2tf"]["ops"]
        rows.append({"model": name, "batch": batch, "median_ms": med, "min_ms": low,
                     "ours_over_keras": med["paddle2tf"] / med["keras"],
                     "ours_over_onnxruntime": med["paddle2tf"] / med["onnxruntime"],
                     "ours_over_paddle": med["paddle2tf"] / med["paddle"],
                     "convert_seconds": conv["stages"].get("convert"), "export_seconds": conv["stages"].get("export"),
                     "conversion_peak_rss_mb": conv["peak_rss_mb"],
                     "ours_transposes": ops.get("Transpose", 0),
                     "keras_transposes": measured["info"]["keras"]["ops"].get("Transpose", 0)})
    return rows


def print_table(rows: list[dict], args, infos: dict) -> None:
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads per framework "
          f"{args.threads}; median of {args.runs} interleaved runs after {args.warmup} warm-up runs, "
          f"{args.gap:g} s gap between requests\n")
    print("| model | batch | Paddle (ms) | ORT (ms) | paddle2tf (ms) | Keras (ms) | ours/Keras | ours/ORT | "
          "ours/Paddle | convert (s) | conv. peak RSS (MB) | Transpose ops ours / Keras |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m = r["median_ms"]
        print(f"| {r['model']} | {r['batch']} | {m['paddle']:.1f} | {m['onnxruntime']:.1f} | {m['paddle2tf']:.1f} | "
              f"{m['keras']:.1f} | {r['ours_over_keras']:.2f} | {r['ours_over_onnxruntime']:.2f} | "
              f"{r['ours_over_paddle']:.2f} | {r['convert_seconds']:.1f} | {r['conversion_peak_rss_mb']:.0f} | "
              f"{r['ours_transposes']} / {r['keras_transposes']} |")
    if rows:
        geo = {}
        for key in ("ours_over_keras", "ours_over_onnxruntime", "ours_over_paddle"):
            values = [r[key] for r in rows]
            geo[key] = statistics.geometric_mean(values)
        print(f"\ngeometric means: ours/Keras {geo['ours_over_keras']:.2f}, ours/ORT {geo['ours_over_onnxruntime']:.2f}"
              f", ours/Paddle {geo['ours_over_paddle']:.2f}")
    for name, info in infos.items():
        print(f"\n{name}: paddle {json.dumps(info['paddle'])}; onnxruntime {json.dumps(info['onnxruntime'])}; "
              f"tf {info['paddle2tf']['version']} intra/inter {info['paddle2tf']['intra_op']}/"
              f"{info['paddle2tf']['inter_op']}; paddle2tf top ops "
              + ", ".join(f"{k} {v}" for k, v in list(info["paddle2tf"]["ops"].items())[:8]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=ALL_MODELS, choices=ALL_MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per candidate and batch (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per candidate and batch (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per framework (default: CPUs)")
    parser.add_argument("--gap", type=float, default=0.2, help="pause before each request, seconds (default 0.2)")
    parser.add_argument("--work-dir", help="keep models and conversions here (reused when already there)")
    parser.add_argument("--json", default="latency.json", help="output JSON file (default latency.json)")
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="paddle2tf-latency-")
    os.makedirs(work, exist_ok=True)
    rows, infos, samples = [], {}, {}
    with open(os.path.join(work, "workers.log"), "a") as log:
        for name in args.models:
            print(f"{name}: converting ...", file=sys.stderr, flush=True)
            conv = convert(name, work)
            print(f"  convert stage {conv['stages'].get('convert', 0):.1f} s, peak RSS {conv['peak_rss_mb']:.0f} MB",
                  file=sys.stderr, flush=True)
            measured = measure(name, os.path.join(work, name, "conversion.json"), args, log)
            rows += summarise(name, conv, measured, args.batches)
            infos[name] = measured["info"]
            samples[name] = {"conversion": conv, "samples_seconds": measured["samples"]}
    print_table(rows, args, infos)
    with open(args.json, "w") as handle:
        json.dump({"settings": {**vars(args), "cpus": os.cpu_count(), "work_dir": work,
                                "openblas": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}},
                   "rows": rows, "workers": infos, "raw": samples}, handle, indent=2)
    print(f"\nwrote {args.json} (work dir {work})", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
