"""Graph optimisation passes: ONNX model -> equivalent ONNX model that converts to faster TF.

Each pass is a module with two functions: ``find(model) -> bool`` (read-only: is there anything to rewrite?)
and ``rewrite(model) -> int`` (in place; returns how many rewrites it made). The model is copied only when
some pass finds work, so a model no pass changes costs no second copy of its weights. A pass keeps the name of
every value it does not remove (a fused node produces the name of the pattern's last output and keeps the name
of the pattern's first node), so verification and locate still match values by name; values fused away simply
have no TensorFlow counterpart. A fused op the model's opset has no standard op for is emitted in the internal
domain ``paddle2tf`` (``onnxutil.graph.INTERNAL_DOMAIN``, declared in the rewritten model's opset imports), converted by
paddle2tf's own converters; the rewritten model exists only inside ``ConvertedModule`` (ONNX Runtime, verification
and locate read the original).

Passes run in ``PASSES`` order before conversion (``optimize``). Add a pass: a module here with ``find`` and
``rewrite``, listed in ``PASSES``, and a test in ``tests/converter/test_passes.py`` that checks the rewritten
model against the original in ONNX Runtime (an internal-domain result: its conversion against ONNX Runtime on
the original).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import onnx

from paddle2tf.converter.passes import fold_batch_norm, fold_conv_bias, fuse_gelu, fuse_layer_norm, fuse_matmul_bias

# fold_conv_bias before fold_batch_norm (a Conv's bias Add may stand between it and a BatchNormalization);
# fuse_gelu before fuse_matmul_bias, which absorbs the Gelu nodes it makes.
PASSES: dict[str, ModuleType] = {
    "fold_conv_bias": fold_conv_bias,
    "fold_batch_norm": fold_batch_norm,
    "fuse_layer_norm": fuse_layer_norm,
    "fuse_gelu": fuse_gelu,
    "fuse_matmul_bias": fuse_matmul_bias,
}


@dataclass
class Optimized:
    model: onnx.ModelProto
    rewrites: dict[str, int] = field(default_factory=dict)  # pass name -> rewrites made


def optimize(model: onnx.ModelProto, passes: dict[str, ModuleType] | None = None,
             in_place: bool = False) -> Optimized:
    """The model after every pass. The caller's model is not changed (rewrites happen on a copy) unless
    ``in_place``: then it is rewritten itself, and no second copy of its weights is made."""
    result = Optimized(model)
    for name, module in (PASSES if passes is None else passes).items():
        if not module.find(result.model):
            result.rewrites[name] = 0
            continue
        if result.model is model and not in_place:
            result.model = onnx.ModelProto()
            result.model.CopyFrom(model)
        result.rewrites[name] = module.rewrite(result.model)
    return result
