"""A small Transformer text encoder for examples/pipeline.yaml (``text_encoder:build_text_encoder``).

Run the pipeline with examples/ on PYTHONPATH so paddle2tf's export worker can import it.
"""


def build_text_encoder(vocab: int = 8000, hidden: int = 256, layers: int = 2, heads: int = 4, max_len: int = 128):
    import paddle

    class TextEncoder(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.embed = paddle.nn.Embedding(vocab, hidden)
            self.position = paddle.nn.Embedding(max_len, hidden)
            layer = paddle.nn.TransformerEncoderLayer(hidden, heads, hidden * 4, dropout=0.0)
            self.encoder = paddle.nn.TransformerEncoder(layer, layers)
            self.norm = paddle.nn.LayerNorm(hidden)

        def forward(self, input_ids):
            positions = paddle.arange(paddle.shape(input_ids)[1], dtype="int64").unsqueeze(0)
            hidden_states = self.encoder(self.embed(input_ids) + self.position(positions))
            return self.norm(hidden_states.mean(axis=1))  # one embedding per sequence

    paddle.seed(0)
    model = TextEncoder()
    model.eval()
    return model
