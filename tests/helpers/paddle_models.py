"""Seeded random-weight Paddle test models, built in a child process (Paddle never shares a process with TF).

Usage: ``python paddle_models.py NAME PREFIX [--legacy]`` saves NAME as an inference model at PREFIX
(PREFIX.json, or PREFIX.pdmodel with --legacy) and prints its input specs as JSON.
Each ``build_*`` factory is also a ``module:attr`` source for paddle2tf (with tests/ on PYTHONPATH).
Normalisation statistics are randomised: fresh BatchNorm (mean 0, var 1) is nearly the identity and
would hide wrong-axis bugs.
"""

from __future__ import annotations

import json
import os
import sys

SEED = 2024


def _randomise_norms(layer):
    import paddle

    for sub in layer.sublayers(include_self=True):
        for attr in ("_mean", "_variance"):
            if hasattr(sub, attr) and isinstance(getattr(sub, attr), paddle.Tensor):
                t = getattr(sub, attr)
                values = paddle.rand(t.shape) * 0.5 + 0.5 if attr == "_variance" else paddle.randn(t.shape) * 0.3
                t.set_value(values.astype(t.dtype))
        if isinstance(
            sub,
            paddle.nn.layer.norm._BatchNormBase
            | paddle.nn.LayerNorm
            | paddle.nn.GroupNorm
            | paddle.nn.layer.norm._InstanceNormBase,
        ):
            scale_param = getattr(sub, "weight", None)
            if scale_param is None:
                scale_param = getattr(sub, "scale", None)
            for param, scale, shift in ((scale_param, 0.5, 1.0), (getattr(sub, "bias", None), 0.3, 0.0)):
                if isinstance(param, paddle.Tensor):
                    param.set_value((paddle.randn(param.shape) * scale + shift).astype(param.dtype))
    return layer


def _vision(name: str, **kwargs):
    import paddle

    paddle.seed(SEED)
    return _randomise_norms(getattr(paddle.vision.models, name)(**kwargs))


IMAGE = [{"name": "x", "dtype": "float32", "shape": [None, 3, 224, 224]}]
VISION = {
    name: IMAGE
    for name in (
        "resnet18",
        "resnet50",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "vgg16",
        "densenet121",
        "shufflenet_v2_x1_0",
        "squeezenet1_1",
    )
}
VISION["inception_v3"] = [{"name": "x", "dtype": "float32", "shape": [None, 3, 299, 299]}]


def build_mlp():
    import paddle

    paddle.seed(SEED)
    return paddle.nn.Sequential(
        paddle.nn.Linear(64, 128),
        paddle.nn.ReLU(),
        paddle.nn.Linear(128, 128),
        paddle.nn.ReLU(),
        paddle.nn.Linear(128, 10),
        paddle.nn.Softmax(),
    )


def build_norm_zoo():
    """GroupNorm, LayerNorm, InstanceNorm, GELU, Hardswish, Softmax, nearest and bilinear resizing."""
    import paddle
    import paddle.nn.functional as F

    class NormZoo(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 16, 3, padding=1)
            self.group = paddle.nn.GroupNorm(4, 16)
            self.instance = paddle.nn.InstanceNorm2D(16)
            self.layer = paddle.nn.LayerNorm(32)
            self.head = paddle.nn.Conv2D(16, 8, 1)

        def forward(self, x):
            y = F.gelu(self.group(self.conv(x)))
            y = F.hardswish(self.instance(y))
            y = F.interpolate(y, size=[32, 32], mode="nearest")
            y = self.layer(y)
            y = F.interpolate(self.head(y), size=[48, 40], mode="bilinear", align_corners=False)
            return F.softmax(y, axis=1)

    paddle.seed(SEED)
    return _randomise_norms(NormZoo())


def build_bert_like(vocab: int = 1000, hidden: int = 768, layers: int = 12, heads: int = 12, max_len: int = 512):
    """BERT-base-like encoder: token + position embeddings, TransformerEncoder, int64 ids, dynamic batch/seq."""
    import paddle

    class Encoder(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.tokens = paddle.nn.Embedding(vocab, hidden)
            self.positions = paddle.nn.Embedding(max_len, hidden)
            self.norm = paddle.nn.LayerNorm(hidden)
            layer = paddle.nn.TransformerEncoderLayer(hidden, heads, hidden * 4, dropout=0.0, activation="gelu")
            self.encoder = paddle.nn.TransformerEncoder(layer, layers)
            self.pooler = paddle.nn.Linear(hidden, hidden)

        def forward(self, input_ids):
            positions = paddle.arange(paddle.shape(input_ids)[1], dtype="int64").unsqueeze(0)
            h = self.norm(self.tokens(input_ids) + self.positions(positions))
            h = self.encoder(h)
            return h, paddle.tanh(self.pooler(h[:, 0]))

    paddle.seed(SEED)
    return _randomise_norms(Encoder())


def build_bert_small():
    return build_bert_like(hidden=128, layers=2, heads=4)


def build_interpolate_scale(mode: str = "nearest"):
    """F.interpolate with scale_factor: paddle2onnx 2.1.0 aborts on its f64 'scale' attribute (defect 1)."""
    import paddle
    import paddle.nn.functional as F

    class Upsample(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)

        def forward(self, x):
            return F.interpolate(self.conv(x), scale_factor=2.0, mode=mode)

    paddle.seed(SEED)
    return Upsample()


def build_pad1d():
    """F.pad on NCL input: paddle2onnx 2.1.0 reads the f64 pad value as garbage (defect 2, #1646)."""
    import paddle
    import paddle.nn.functional as F

    class Pad1D(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv1D(4, 6, 3)

        def forward(self, x):
            return self.conv(F.pad(x, [2, 0], value=0.5, data_format="NCL"))

    paddle.seed(SEED)
    return Pad1D()


def build_control_flow():
    """Data-dependent `if` and a `while` over a tensor bound (paddle.jit.to_static): defect 3."""
    import paddle

    class ControlFlow(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.fc = paddle.nn.Linear(8, 8)

        def forward(self, x, n):
            h = self.fc(x)
            if paddle.mean(h) > 0:
                h = h * 2.0
            else:
                h = h - 1.0
            i = paddle.zeros([1], dtype="int64")
            while i < n:
                h = paddle.tanh(self.fc(h))
                i = i + 1
            return h

    paddle.seed(SEED)
    return paddle.jit.to_static(ControlFlow())


DECODER_END, DECODER_MAXLEN, DECODER_THRESHOLD = 0, 20, 0.4


def build_greedy_decoder():
    """A greedy decoder: `while i < maxlen and not all(argmax(p) == END)`, its output growing one step per
    iteration (paddle2onnx writes the Loop with a condition declared rank 0, computed rank 1: issue #15).

    The weights make the stopping step depend on the data: h[0] is a clock, h[0] <- tanh(h[0] + 0.05), which
    climbs to ~0.48 from any start, and END wins the argmax once h[0] > 0.4. A sample with x[0] = 0.5 ends
    after 1 iteration, 0.2 after 5, 0 after 9, -1 never (runs to maxlen); the batch stops with its slowest
    sample. The other hidden units and tokens are random, so every sample's probabilities differ."""
    import paddle

    class GreedyDecoder(paddle.nn.Layer):
        def __init__(self, hidden: int = 8, vocab: int = 5):
            super().__init__()
            self.cell = paddle.nn.Linear(hidden, hidden)
            self.out = paddle.nn.Linear(hidden, vocab)
            w = paddle.randn([hidden, hidden]) * 0.5  # [in, out]
            w[0, :] = 0.0
            w[:, 0] = 0.0
            w[0, 0] = 1.0
            b = paddle.randn([hidden]) * 0.1
            b[0] = 0.05
            self.cell.weight.set_value(w)
            self.cell.bias.set_value(b)
            v = paddle.randn([hidden, vocab]) * 0.02
            v[0, :] = 0.0
            v[0, DECODER_END] = 100.0
            c = paddle.to_tensor([-100.0 * DECODER_THRESHOLD, 0.0, -1.0, -1.0, -1.0])
            self.out.weight.set_value(v)
            self.out.bias.set_value(c)

        def forward(self, x):
            i = paddle.full([1], 0, "int64")
            maxlen = paddle.full([1], DECODER_MAXLEN, "int64")
            go = paddle.full([1], True, "bool")
            h = paddle.tanh(self.cell(x))
            p = paddle.nn.functional.softmax(self.out(h))
            outs = p.unsqueeze(1)
            while paddle.logical_and(i < maxlen, go):
                h = paddle.tanh(self.cell(h))
                p = paddle.nn.functional.softmax(self.out(h))
                outs = paddle.concat([outs, p.unsqueeze(1)], 1)
                go = paddle.logical_not(paddle.all(paddle.argmax(p, -1) == DECODER_END))
                i = i + 1
            return outs

    paddle.seed(SEED)
    return paddle.jit.to_static(GreedyDecoder(), full_graph=True)


def build_zero_d_results():
    """Paddle 0-d results paddle2onnx computes as [1] while declaring them rank 0 (issue #15): `dist`,
    `p_norm` over one axis, `logsumexp` over all axes, `dot`, an if/else returning a sum, a while carrying one."""
    import paddle

    class ZeroD(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.fc = paddle.nn.Linear(8, 8)

        def forward(self, x, y, v):
            h = self.fc(x)
            dist = paddle.dist(h, y, p=2)
            p_norm = paddle.linalg.norm(h, p=3, axis=-1)
            lse = paddle.logsumexp(h)
            dot = paddle.dot(v, v * 0.5)
            if paddle.sum(h) > 0:
                branch = paddle.sum(h * 2.0)
            else:
                branch = paddle.sum(h) - paddle.sum(y)
            s = paddle.sum(paddle.abs(y))
            i = paddle.full([1], 0, "int64")
            while s < 40.0:
                s = s + paddle.sum(paddle.abs(h))
                i = i + 1
            return dist, p_norm, lse, dot, branch, s, i

    paddle.seed(SEED)
    return paddle.jit.to_static(ZeroD(), full_graph=True)


def build_frobenius_norm():
    """`paddle.linalg.norm(x)` (no axis) of a rank-3 value: p_norm with asvector=true, which paddle2onnx exports as a
    norm over the last axis only (known defect 8)."""
    import paddle

    class Frobenius(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.fc = paddle.nn.Linear(8, 8)

        def forward(self, x):
            return paddle.linalg.norm(self.fc(x))

    paddle.seed(SEED)
    return Frobenius()


def build_text_direction_cls():
    """A text-line direction classifier shaped like PaddleOCR's (input [-1, 3, -1, -1], trained at 48x192): five
    stride-2 convs, a 2x2 MaxPool, an unpadded 1x3 conv. At 48x192 the pool sees 2x6 and the conv 1x3; at a
    generated 32x32 the pool sees 1x1 (one partial window in Paddle and ONNX Runtime, an error in TF's oneDNN pool)
    and the conv a width of 1, which ONNX Runtime refuses (issue #15 part 2)."""
    import paddle

    layers = []
    for c_in, c_out in ((3, 8), (8, 16), (16, 16), (16, 32), (32, 32)):
        layers += [
            paddle.nn.Conv2D(c_in, c_out, 3, stride=2, padding=1),
            paddle.nn.BatchNorm2D(c_out),
            paddle.nn.ReLU(),
        ]
    paddle.seed(SEED)
    return _randomise_norms(
        paddle.nn.Sequential(
            *layers,
            paddle.nn.MaxPool2D(2, 2),
            paddle.nn.Conv2D(32, 32, (1, 3)),
            paddle.nn.ReLU(),
            paddle.nn.AdaptiveAvgPool2D(1),
            paddle.nn.Flatten(),
            paddle.nn.Linear(32, 2),
            paddle.nn.Softmax(),
        )
    )


def build_gru_simple_rnn():
    """GRU then SimpleRNN: paddle2onnx 2.1.0 drops the SimpleRNN op (defect 4)."""
    import paddle

    class GruSimpleRnn(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.gru = paddle.nn.GRU(16, 32)
            self.rnn = paddle.nn.SimpleRNN(32, 24)

        def forward(self, x):
            y, _ = self.gru(x)
            return self.rnn(y)

    paddle.seed(SEED)
    return GruSimpleRnn()


def build_lstm_stacked_states():
    """2-layer bidirectional LSTM returning its final states (4, N, H): defect 5."""
    import paddle

    class StackedLstm(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.lstm = paddle.nn.LSTM(16, 32, num_layers=2, direction="bidirect")

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return y, h, c

    paddle.seed(SEED)
    return StackedLstm()


IDS = [{"name": "input_ids", "dtype": "int64", "shape": [None, None]}]
MODELS = {
    **{name: (lambda n=name: _vision(n), specs) for name, specs in VISION.items()},
    "mlp": (build_mlp, [{"name": "x", "dtype": "float32", "shape": [None, 64]}]),
    "norm_zoo": (build_norm_zoo, [{"name": "x", "dtype": "float32", "shape": [None, 3, 24, 24]}]),
    "bert_like": (build_bert_like, IDS),
    "bert_small": (build_bert_small, IDS),
    # BERT-large shape (~335M parameters): conversion cost only (benchmarks/conversion_memory.py)
    "bert_large": (lambda: build_bert_like(vocab=30522, hidden=1024, layers=24, heads=16), IDS),
    "control_flow": (
        build_control_flow,
        [{"name": "x", "dtype": "float32", "shape": [None, 8]}, {"name": "n", "dtype": "int64", "shape": [1]}],
    ),
    "greedy_decoder": (build_greedy_decoder, [{"name": "x", "dtype": "float32", "shape": [None, 8]}]),
    "zero_d_results": (
        build_zero_d_results,
        [
            {"name": "x", "dtype": "float32", "shape": [None, 8]},
            {"name": "y", "dtype": "float32", "shape": [None, 8]},
            {"name": "v", "dtype": "float32", "shape": [8]},
        ],
    ),
    "frobenius_norm": (build_frobenius_norm, [{"name": "x", "dtype": "float32", "shape": [None, 4, 8]}]),
    "text_direction_cls": (
        build_text_direction_cls,
        [{"name": "x", "dtype": "float32", "shape": [None, 3, None, None]}],
    ),
    "gru_simple_rnn": (build_gru_simple_rnn, [{"name": "x", "dtype": "float32", "shape": [None, None, 16]}]),
    "lstm_stacked_states": (build_lstm_stacked_states, [{"name": "x", "dtype": "float32", "shape": [None, None, 16]}]),
    "pad1d": (build_pad1d, [{"name": "x", "dtype": "float32", "shape": [None, 4, None]}]),
    "interpolate_scale": (build_interpolate_scale, [{"name": "x", "dtype": "float32", "shape": [None, 3, 8, 8]}]),
    "interpolate_scale_bilinear": (
        lambda: build_interpolate_scale("bilinear"),
        [{"name": "x", "dtype": "float32", "shape": [None, 3, None, None]}],
    ),
}


def build_recurrent(kind: str = "LSTM", **kwargs):
    """One paddle.nn recurrent layer (LSTM / GRU / SimpleRNN), batch-first, returning output and final states."""
    import paddle

    class Recurrent(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(paddle.nn, kind)(input_size=16, hidden_size=32, **kwargs)

        def forward(self, x):
            y, final = self.rnn(x)
            return (y, *final) if isinstance(final, list | tuple) else (y, final)

    paddle.seed(SEED)
    return Recurrent()


def build_gru_then_simple_rnn():
    """GRU feeding a SimpleRNN: paddle2onnx 2.1.0 writes invalid ONNX for this pair."""
    import paddle

    class Stacked(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.gru = paddle.nn.GRU(16, 32)
            self.rnn = paddle.nn.SimpleRNN(32, 32)

        def forward(self, x):
            y, h_gru = self.gru(x)
            y, h_rnn = self.rnn(y)
            return y, h_gru, h_rnn

    paddle.seed(SEED)
    return Stacked()


def build_simple_rnn_with_state():
    """SimpleRNN (2 layers, bidirectional, ReLU) given an initial state and sequence lengths."""
    import paddle

    class WithState(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.rnn = paddle.nn.SimpleRNN(16, 32, num_layers=2, direction="bidirect", activation="relu")

        def forward(self, x, h0, lengths):
            y, h = self.rnn(x, h0, sequence_length=lengths)
            return y, h

    paddle.seed(SEED)
    return WithState()


SEQUENCE = [{"name": "x", "dtype": "float32", "shape": [None, None, 16]}]
MODELS.update(
    {
        "lstm_bidirect_2layers": (lambda: build_recurrent("LSTM", num_layers=2, direction="bidirect"), SEQUENCE),
        "lstm_bidirect": (lambda: build_recurrent("LSTM", direction="bidirect"), SEQUENCE),
        "gru_bidirect": (lambda: build_recurrent("GRU", direction="bidirect"), SEQUENCE),
        "gru_2layers": (lambda: build_recurrent("GRU", num_layers=2), SEQUENCE),
        "simple_rnn": (lambda: build_recurrent("SimpleRNN"), SEQUENCE),
        "gru_then_simple_rnn": (build_gru_then_simple_rnn, SEQUENCE),
        "simple_rnn_bidirect_2layers": (
            lambda: build_recurrent("SimpleRNN", num_layers=2, direction="bidirect"),
            SEQUENCE,
        ),
        "simple_rnn_relu": (lambda: build_recurrent("SimpleRNN", activation="relu"), SEQUENCE),
        "simple_rnn_with_state": (
            build_simple_rnn_with_state,
            [
                {"name": "x", "dtype": "float32", "shape": [None, 12, 16]},
                {"name": "h0", "dtype": "float32", "shape": [4, None, 32]},
                {"name": "lengths", "dtype": "int64", "shape": [None]},
            ],
        ),
    }
)


def build_postprocess():
    """Post-processing without parameters (Paddle saves no .pdiparams): ranking, arithmetic and reshapes of scores."""
    import paddle

    class PostProcess(paddle.nn.Layer):
        def forward(self, scores):
            ranking = paddle.argsort(scores, axis=-1, descending=True)
            pairs = paddle.reshape(scores * 2.0 + 1.0, [-1, 5, 2])
            return ranking, paddle.transpose(pairs, [0, 2, 1]) - paddle.mean(scores)

    return PostProcess()


def build_small_vocab():
    """An embedding of 5 ids: the generated verification ids (0..9) are out of its range."""
    import paddle

    paddle.seed(SEED)
    return paddle.nn.Embedding(5, 4)


MODELS.update(
    {
        "postprocess": (build_postprocess, [{"name": "scores", "dtype": "float32", "shape": [None, 10]}]),
        "small_vocab": (build_small_vocab, [{"name": "ids", "dtype": "int64", "shape": [None, 6]}]),
    }
)


# -- small models for the dataset check (tests/test_dataset.py, 64x64 images) --------------------------------------
def build_image_classifier():
    """Conv, Conv, Conv, global pool, Linear: 10 classes whose logits depend on image content. The biases are
    random (Paddle initialises them to 0, which leaves the network positively homogeneous: a Conv's output scaled
    by 1.03 would scale the logits and never change a prediction)."""
    import paddle
    import paddle.nn.functional as F

    class Classifier(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv1 = paddle.nn.Conv2D(3, 16, 3, stride=2, padding=1)
            self.conv2 = paddle.nn.Conv2D(16, 32, 3, stride=2, padding=1)
            self.conv3 = paddle.nn.Conv2D(32, 32, 3, stride=2, padding=1)
            self.head = paddle.nn.Linear(32, 10)

        def forward(self, x):
            y = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
            return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))

    paddle.seed(SEED)
    layer = Classifier()
    for sub in (layer.conv1, layer.conv2, layer.conv3, layer.head):
        sub.bias.set_value(paddle.randn(sub.bias.shape) * 0.5)
    return layer


def build_image_detector():
    """A single-scale anchor-free head on a 16x16 grid, decoded to boxes and reduced by multiclass_nms3 (what
    PaddleDetection exports): boxes [K, 6] (class, score, x1, y1, x2, y2) and per-image counts [N]. Its batch is
    fixed at 1 (PaddleDetection models exported for paddle2onnx's one-image NMS, defect 10, often are); any batch:
    build_picodet_like, build_ppyoloe_like."""
    import paddle
    import paddle.nn.functional as F

    class Detector(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 16, 3, stride=4, padding=1)
            self.box = paddle.nn.Conv2D(16, 4, 1)
            self.cls = paddle.nn.Conv2D(16, 3, 1)

        def forward(self, x):
            f = F.relu(self.conv(x))
            b = paddle.transpose(self.box(f).flatten(2), [0, 2, 1])
            steps = paddle.arange(16, dtype="float32")
            gy, gx = paddle.meshgrid(steps, steps)
            cx, cy = (gx.flatten() * 4 + 2).unsqueeze(0), (gy.flatten() * 4 + 2).unsqueeze(0)
            w = paddle.exp(b[:, :, 2].clip(-2, 2)) * 8
            h = paddle.exp(b[:, :, 3].clip(-2, 2)) * 8
            x1, y1 = cx + b[:, :, 0] * 4 - w / 2, cy + b[:, :, 1] * 4 - h / 2
            boxes = paddle.stack([x1, y1, x1 + w, y1 + h], axis=-1)
            scores = F.sigmoid(self.cls(f).flatten(2))
            out, _, num = paddle._C_ops.multiclass_nms3(boxes, scores, None, 0.3, 100, 20, 0.5, True, 1.0, -1, True)
            return out, num

    paddle.seed(SEED)
    return Detector()


def build_ctc_recogniser():
    """CTC-style text recogniser: convs over a 32x128 text line, height pooled away, per-column class scores
    [N, T=32, C=12] (softmax); and a one-channel text mask [N, 1, 32, 128] (sigmoid, a dense output)."""
    import paddle
    import paddle.nn.functional as F

    class Recogniser(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv1 = paddle.nn.Conv2D(3, 16, 3, stride=2, padding=1)
            self.conv2 = paddle.nn.Conv2D(16, 32, 3, stride=2, padding=1)
            self.head = paddle.nn.Linear(32, 12)
            self.mask = paddle.nn.Conv2D(3, 1, 3, padding=1)

        def forward(self, x):
            y = F.relu(self.conv2(F.relu(self.conv1(x))))  # N, 32, 8, 32
            y = paddle.transpose(y.mean(axis=2), [0, 2, 1])  # N, T, 32
            return F.softmax(self.head(y), axis=-1), F.sigmoid(self.mask(x))

    paddle.seed(SEED)
    return Recogniser()


MODELS.update(
    {
        "image_classifier": (build_image_classifier, [{"name": "x", "dtype": "float32", "shape": [None, 3, 64, 64]}]),
        "image_detector": (build_image_detector, [{"name": "x", "dtype": "float32", "shape": [1, 3, 64, 64]}]),
        "ctc_recogniser": (build_ctc_recogniser, [{"name": "x", "dtype": "float32", "shape": [None, 3, 32, 128]}]),
    }
)


def _anchor_free_boxes(paddle, distances, size: int, stride: int):
    """ltrb distances [N, A, 4] (in strides) around the centres of a size x size grid -> x1, y1, x2, y2 [N, A, 4]."""
    steps = (paddle.arange(size, dtype="float32") + 0.5) * stride
    gy, gx = paddle.meshgrid(steps, steps)
    centres = paddle.stack([gx.flatten(), gy.flatten()], axis=-1).unsqueeze(0)  # 1, A, 2
    distances = distances * stride
    return paddle.concat([centres - distances[:, :, :2], centres + distances[:, :, 2:]], axis=-1)


def _distribution_integral(paddle, logits, reg_max: int):
    """GFL / DFL regression: per side a softmax over reg_max + 1 bins, its expectation -> [N, A, 4] >= 0."""
    probs = paddle.nn.functional.softmax(logits.reshape([logits.shape[0], -1, 4, reg_max + 1]), axis=-1)
    return (probs * paddle.arange(reg_max + 1, dtype="float32")).sum(-1)


def build_picodet_like():
    """PicoDet-like head (PaddleDetection's deploy export): depthwise-separable backbone over a 64x64 image, two
    levels (strides 8, 16), per level a shared conv giving class scores (sigmoid) and GFL distributions (reg_max 7),
    anchor-free decode, then multiclass_nms3 (score > 0.025, nms_top_k 50, keep_top_k 100, IoU 0.6, pixel boxes:
    normalized False). Outputs: bbox [K, 6] and bbox_num [N]."""
    import paddle
    import paddle.nn.functional as F

    classes, reg_max = 4, 7

    class PicoDetLike(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.stem = paddle.nn.Conv2D(3, 16, 3, stride=4, padding=1)
            self.c8_dw = paddle.nn.Conv2D(16, 16, 3, stride=2, padding=1, groups=16)
            self.c8_pw = paddle.nn.Conv2D(16, 24, 1)
            self.c16 = paddle.nn.Conv2D(24, 24, 3, stride=2, padding=1)
            self.heads = paddle.nn.LayerList([paddle.nn.Conv2D(24, classes + 4 * (reg_max + 1), 1) for _ in range(2)])

        def forward(self, image):
            f8 = F.hardswish(self.c8_pw(self.c8_dw(F.hardswish(self.stem(image)))))
            f16 = F.hardswish(self.c16(f8))
            boxes, scores = [], []
            for feature, head, stride in ((f8, self.heads[0], 8), (f16, self.heads[1], 16)):
                out = head(feature).flatten(2).transpose([0, 2, 1])  # N, A, C + 4 (reg_max + 1)
                scores.append(F.sigmoid(out[:, :, :classes]))
                distances = _distribution_integral(paddle, out[:, :, classes:], reg_max)
                boxes.append(_anchor_free_boxes(paddle, distances, feature.shape[-1], stride))
            scores = paddle.concat(scores, axis=1).transpose([0, 2, 1])  # N, C, A
            bbox, _, bbox_num = paddle._C_ops.multiclass_nms3(
                paddle.concat(boxes, axis=1), scores, None, 0.025, 50, 100, 0.6, False, 1.0, -1
            )
            return bbox, bbox_num

    paddle.seed(SEED)
    return PicoDetLike()


def build_ppyoloe_like():
    """PP-YOLOE-like head (PaddleDetection's deploy export): conv backbone over a 64x64 image, three levels (strides
    8, 16, 32), ET-head style class scores (sigmoid) and DFL distributions (reg_max 16), anchor-free decode, boxes
    divided by the image's scale_factor [N, 2] (scale_y, scale_x) as the deploy model does, then multiclass_nms3
    (score > 0.01, nms_top_k 1000, keep_top_k 30, IoU 0.7, normalized). Outputs: bbox [K, 6] and bbox_num [N]."""
    import paddle
    import paddle.nn.functional as F

    classes, reg_max = 5, 16

    class PPYOLOELike(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.stem = paddle.nn.Conv2D(3, 16, 3, stride=2, padding=1)
            self.stages = paddle.nn.LayerList(
                [
                    paddle.nn.Conv2D(16, 24, 3, stride=4, padding=1),
                    paddle.nn.Conv2D(24, 32, 3, stride=2, padding=1),
                    paddle.nn.Conv2D(32, 32, 3, stride=2, padding=1),
                ]
            )
            self.norms = paddle.nn.LayerList([paddle.nn.BatchNorm2D(c) for c in (24, 32, 32)])
            self.cls = paddle.nn.LayerList([paddle.nn.Conv2D(c, classes, 3, padding=1) for c in (24, 32, 32)])
            self.reg = paddle.nn.LayerList([paddle.nn.Conv2D(c, 4 * (reg_max + 1), 3, padding=1) for c in (24, 32, 32)])

        def forward(self, image, scale_factor):
            feature = F.silu(self.stem(image))
            boxes, scores = [], []
            for level, stride in enumerate((8, 16, 32)):
                feature = F.silu(self.norms[level](self.stages[level](feature)))
                scores.append(F.sigmoid(self.cls[level](feature)).flatten(2))  # N, C, A
                logits = self.reg[level](feature).flatten(2).transpose([0, 2, 1])
                distances = _distribution_integral(paddle, logits, reg_max)
                boxes.append(_anchor_free_boxes(paddle, distances, feature.shape[-1], stride))
            scale_y, scale_x = scale_factor[:, 0:1], scale_factor[:, 1:2]
            boxes = paddle.concat(boxes, axis=1) / paddle.concat([scale_x, scale_y, scale_x, scale_y], -1).unsqueeze(1)
            bbox, _, bbox_num = paddle._C_ops.multiclass_nms3(
                boxes, paddle.concat(scores, axis=-1), None, 0.01, 1000, 30, 0.7, True, 1.0, -1
            )
            return bbox, bbox_num

    paddle.seed(SEED)
    return _randomise_norms(PPYOLOELike())


def build_nms_adaptive_eta():
    """multiclass_nms3 with nms_eta 0.9 (an adaptive threshold, which paddle2tf refuses) on given boxes and scores."""
    import paddle

    class AdaptiveNms(paddle.nn.Layer):
        def forward(self, boxes, scores):
            bbox, _, bbox_num = paddle._C_ops.multiclass_nms3(boxes, scores, None, 0.3, -1, -1, 0.5, True, 0.9, -1)
            return bbox, bbox_num

    return AdaptiveNms()


MODELS.update(
    {
        "nms_adaptive_eta": (
            build_nms_adaptive_eta,
            [
                {"name": "boxes", "dtype": "float32", "shape": [None, 10, 4]},
                {"name": "scores", "dtype": "float32", "shape": [None, 3, 10]},
            ],
        ),
        "picodet_like": (build_picodet_like, [{"name": "image", "dtype": "float32", "shape": [None, 3, 64, 64]}]),
        "ppyoloe_like": (
            build_ppyoloe_like,
            [
                {"name": "image", "dtype": "float32", "shape": [None, 3, 64, 64]},
                {"name": "scale_factor", "dtype": "float32", "shape": [None, 2]},
            ],
        ),
    }
)


# -- deploy-time detection ops (tests/models/test_detection_ops.py) ------------------------------------------------
# One layer per case: a conv makes the op's input depend on the image (and on parameters); boxes, image sizes and
# per-image box counts are constants of the program, so generated feeds are always valid for the op.
def _boxes(count: int, size: float, seed: int):
    """``count`` well-formed boxes (x1 < x2, y1 < y2) inside a ``size`` x ``size`` image, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x1y1 = rng.uniform(0, size * 0.6, (count, 2))
    wh = rng.uniform(size * 0.1, size * 0.4, (count, 2))
    return np.concatenate([x1y1, x1y1 + wh], axis=1).astype("float32")


def build_detection_op(case: str):
    import paddle
    import paddle.vision.ops as ops

    class DetectionOp(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            channels = {
                "yolo_box": 2 * (5 + 3),
                "yolo_box_noclip": 2 * (5 + 3),
                "yolo_box_iou_aware": 2 * (6 + 3),
                "box_coder": 4,
                "generate_proposals": 3,
                "matrix_nms": 4,
            }.get(case, 8)
            self.conv = paddle.nn.Conv2D(3, channels, 3, padding=1)
            # numpy in forward would be traced by to_static: the constant boxes are made here
            self.boxes = {
                "box_coder": _boxes(5, 16.0, 1),
                "matrix_nms": _boxes(16, 16.0, 2),
                "nms": _boxes(16, 16.0, 3),
                "roi_align_multi": _boxes(6, 16.0, 4),
                "distribute_fpn_proposals": _boxes(8, 256.0, 5),
                "generate_proposals": _boxes(16 * 16 * 3, 16.0, 6).reshape([16, 16, 3, 4]),
            }.get(case, _boxes(3, 16.0, 4))
            if case.startswith("deform_conv"):
                groups = 2 if case == "deform_conv_groups" else 1
                deformable = 2 if case == "deform_conv_groups" else 1
                stride, dilation = (2, 2) if case == "deform_conv_stride" else (1, 1)
                padding = dilation
                self.offset = paddle.nn.Conv2D(
                    8, 2 * deformable * 9, 3, stride=stride, padding=padding, dilation=dilation
                )
                self.mask = paddle.nn.Conv2D(8, deformable * 9, 3, stride=stride, padding=padding, dilation=dilation)
                self.deform = ops.DeformConv2D(
                    8,
                    6,
                    3,
                    stride=stride,
                    padding=padding,
                    dilation=dilation,
                    deformable_groups=deformable,
                    groups=groups,
                )

        def forward(self, x):
            f = self.conv(x)
            if case in ("yolo_box", "yolo_box_noclip", "yolo_box_iou_aware"):
                img_size = paddle.to_tensor([[60, 50]], dtype="int32").tile([paddle.shape(x)[0], 1])
                return ops.yolo_box(
                    f,
                    img_size,
                    anchors=[10, 13, 16, 30],
                    class_num=3,
                    conf_thresh=0.01,
                    downsample_ratio=8,
                    clip_bbox=case != "yolo_box_noclip",
                    iou_aware=case == "yolo_box_iou_aware",
                )
            if case == "prior_box_ordered":  # Caffe's order, two sizes, explicit steps and offset, no clipping
                boxes, variances = ops.prior_box(
                    f, x, min_sizes=[4.0, 6.0], max_sizes=[9.0, 12.0], aspect_ratios=[2.0, 3.0], flip=True,
                    steps=[4.0, 3.0], offset=0.3, min_max_aspect_ratios_order=True
                )
                return boxes + f.mean(), variances
            if case.startswith("prior_box"):
                boxes, variances = ops.prior_box(
                    f, x, min_sizes=[4.0], max_sizes=[9.0], aspect_ratios=[2.0], flip=True, clip=True
                )
                return boxes + f.mean(), variances
            if case == "box_coder":
                prior = paddle.to_tensor(self.boxes)
                target = f.flatten(2).transpose([0, 2, 1])[:, :5]  # [N, 5, 4]: deltas, one per prior box
                return ops.box_coder(
                    prior, [0.1, 0.1, 0.2, 0.2], target, code_type="decode_center_size", box_normalized=False
                )
            if case == "matrix_nms":
                boxes = paddle.to_tensor(self.boxes).unsqueeze(0)
                scores = paddle.nn.functional.sigmoid(f[:, :, :4, :4].flatten(2))  # [1, 4 classes, 16]
                return ops.matrix_nms(boxes, scores, 0.1, 0.1, 10, 5, background_label=-1)[0]
            if case == "nms":
                boxes = paddle.to_tensor(self.boxes)
                return ops.nms(boxes, 0.3, scores=f[0, 0, :4, :4].flatten())
            if case.startswith("roi_align"):
                images = 2 if case == "roi_align_multi" else 1
                boxes = paddle.to_tensor(self.boxes)
                boxes_num = paddle.to_tensor([3] * images, dtype="int32")
                return ops.roi_align(
                    f,
                    boxes,
                    boxes_num,
                    4,
                    spatial_scale=1.0,
                    sampling_ratio=-1 if case == "roi_align_adaptive" else 2,
                    aligned=case == "roi_align_aligned",
                )
            if case == "distribute_fpn_proposals":
                rois = paddle.to_tensor(self.boxes) * (1.0 + f.mean())
                rois_num = paddle.to_tensor([8], dtype="int32")
                multi, restore, _ = ops.distribute_fpn_proposals(rois, 2, 5, 4, 224, rois_num=rois_num)
                return restore, *multi
            if case == "generate_proposals":
                anchors = paddle.to_tensor(self.boxes)
                variances = paddle.ones([16, 16, 3, 4]) * 0.5
                deltas = paddle.concat([f, f, f, f], axis=1)
                rois, probs, _ = ops.generate_proposals(
                    f,
                    deltas,
                    paddle.to_tensor([[16.0, 16.0]]),
                    anchors,
                    variances,
                    pre_nms_top_n=50,
                    post_nms_top_n=10,
                    return_rois_num=True,
                )
                return rois, probs
            if case.startswith("deform_conv"):
                without_mask = case in ("deform_conv", "deform_conv_stride")  # deform conv v1
                mask = None if without_mask else paddle.nn.functional.sigmoid(self.mask(f))
                return self.deform(f, self.offset(f), mask=mask)
            raise ValueError(case)

    paddle.seed(SEED)
    return DetectionOp()


DETECTION_CASES = (
    "yolo_box",
    "yolo_box_noclip",
    "yolo_box_iou_aware",
    "prior_box",
    "prior_box_ordered",
    "prior_box_dynamic",
    "box_coder",
    "matrix_nms",
    "nms",
    "roi_align",
    "roi_align_aligned",
    "roi_align_multi",
    "roi_align_adaptive",
    "distribute_fpn_proposals",
    "generate_proposals",
    "deform_conv",
    "deform_conv_mask",
    "deform_conv_groups",
    "deform_conv_stride",
)
_FIXED_BATCH = (
    "matrix_nms",
    "nms",
    "roi_align",
    "roi_align_aligned",
    "roi_align_adaptive",
    "box_coder",
    "distribute_fpn_proposals",
    "generate_proposals",
)
MODELS.update(
    {
        case: (
            lambda case=case: build_detection_op(case),
            [
                {
                    "name": "x",
                    "dtype": "float32",
                    "shape": [
                        2 if case == "roi_align_multi" else 1 if case in _FIXED_BATCH else None,
                        3,
                        *((None, None) if case == "prior_box_dynamic" else (16, 16)),
                    ],
                }
            ],
        )
        for case in DETECTION_CASES
    }
)


# -- post-training-quantized models (paddle.quantization PTQ, abs-max observers: int8 quantize_linear /
#    dequantize_linear ops with the model's own scales); saved with --legacy (the PIR save is wrong in Paddle itself)
def _post_training_quantized(layer, shape: list[int], batches: int = 4):
    """Calibrate ``layer`` with abs-max observers on activations and weights over seeded random batches, then
    convert it (the observers become quantize/dequantize pairs holding the scales found)."""
    import paddle
    from paddle.quantization import PTQ, QuantConfig
    from paddle.quantization.observers import AbsmaxObserver

    layer.eval()
    ptq = PTQ(QuantConfig(activation=AbsmaxObserver(quant_bits=8), weight=AbsmaxObserver(quant_bits=8)))
    observed = ptq.quantize(layer, inplace=True)
    for _ in range(batches):
        observed(paddle.randn(shape))
    return ptq.convert(observed, inplace=True)


def build_quantized_cnn():
    """The image classifier (three Conv2D, a Linear head), post-training quantized."""
    import paddle

    paddle.seed(SEED)
    return _post_training_quantized(build_image_classifier(), [8, 3, 64, 64])


def build_quantized_mlp():
    """Three Linear layers with ReLU, post-training quantized."""
    import paddle

    paddle.seed(SEED)
    mlp = paddle.nn.Sequential(paddle.nn.Linear(64, 128), paddle.nn.ReLU(), paddle.nn.Linear(128, 64),
                               paddle.nn.ReLU(), paddle.nn.Linear(64, 10))
    for sub in (mlp[0], mlp[2], mlp[4]):
        sub.bias.set_value(paddle.randn(sub.bias.shape) * 0.5)
    return _post_training_quantized(mlp, [16, 64])


MODELS.update({
    "quantized_cnn": (build_quantized_cnn, [{"name": "x", "dtype": "float32", "shape": [None, 3, 64, 64]}]),
    "quantized_mlp": (build_quantized_mlp, [{"name": "x", "dtype": "float32", "shape": [None, 64]}]),
})


def save(name: str, prefix: str) -> list[dict]:
    import paddle

    factory, specs = MODELS[name]
    layer = factory()
    layer.eval()
    input_spec = [
        paddle.static.InputSpec([-1 if d is None else d for d in s["shape"]], s["dtype"], s["name"]) for s in specs
    ]
    paddle.jit.save(layer, prefix, input_spec=input_spec)
    return specs


if __name__ == "__main__":
    if "--legacy" in sys.argv[3:] and os.environ.get("FLAGS_enable_pir_api") != "0":
        # The legacy ProgramDesc format needs the flag before Paddle is imported.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "FLAGS_enable_pir_api": "0"})
    specs = save(sys.argv[1], sys.argv[2])
    print(json.dumps(specs))
