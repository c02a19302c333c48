"""The Paddle ops paddle2onnx 2.1.0 cannot convert, or converts wrongly: found in the program before export.

Without this scan such a program makes paddle2onnx abort ("Due to the unsupported operators, the conversion is
aborted", no op named) or write an ONNX graph that computes something else. The export child (it alone may
import paddle2onnx, which imports Paddle) runs ``refusals`` on the sanitised PIR program (JSON) with the mapper
names paddle2onnx itself lists (``get_all_supported_operators_pir``) right before exporting; a refusal names
the Paddle op (``pd_op.xxx``), the layer when the program records it, and a way out.

Two kinds:
- an op without a paddle2onnx mapper (after the sanitise passes, which fold or rewrite some of them first) and
  not exported by paddle2tf's own Paddle-op exporter (``fixes.paddle_ops``);
- a variant paddle2onnx maps wrongly (``WRONG_VARIANTS``): measured against Paddle, docs/known-exporter-defects.md.
This module imports neither Paddle nor paddle2onnx: the caller passes the mapper names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from paddle2tf.frontend.fixes.paddle_ops import registered
from paddle2tf.frontend.fixes.sanitise import op_attr, program_ops, value_shapes

# paddle2onnx 2.1.0 finds a PIR op's mapper under its legacy name: ``convert_pir_op_name`` in
# paddle2onnx/mapper/exporter.h strips "pd_op." and renames these (read from the 2.1.0 sources and the strings
# of its installed extension module).
PADDLE2ONNX_RENAMES = {
    "matmul": "matmul_v2",
    "batch_norm_": "batch_norm",
    "topk": "top_k_v2",
    "repeat_interleave_with_tensor_index": "repeat_interleave",
    "expand": "expand_v2",
    "assign_value_": "assign_value",
    "flatten": "flatten_contiguous_range",
    "unsqueeze": "unsqueeze2",
    "arange": "range",
    "argmax": "arg_max",
    "argmin": "arg_min",
    "floor_divide": "elementwise_floordiv",
    "subtract": "elementwise_sub",
    "multiply": "elementwise_mul",
    "divide": "elementwise_div",
    "remainder": "elementwise_mod",
    "minimum": "elementwise_min",
    "maximum": "elementwise_max",
    "min": "reduce_min",
    "max": "reduce_max",
    "mean": "reduce_mean",
    "sum": "reduce_sum",
    "prod": "reduce_prod",
    "any": "reduce_any",
    "all": "reduce_all",
    "numel": "size",
    "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid",
    "add": "elementwise_add",
    "add_n": "sum",
    "grid_sample": "grid_sampler",
    "nonzero": "where_index",
}
# Exported by paddle2onnx's exporter itself (graph inputs and outputs, If / Loop), without a mapper.
EXPORTER_OPS = frozenset({"data", "feed", "fetch", "if", "while"})
REFUSED_SUFFIX = ".refused"  # beside the ONNX path the export child would write: its refusal line
PADDLE_DIALECT = "1"  # the PIR JSON tags an op "<dialect>.<name>"; 1 is pd_op (0 builtin, whose ops all map)

# Ways out for ops without a mapper that detection models hold (the generic one otherwise).
WAYS_OUT = {
    "prior_box": "export with static H and W (InputSpec without None there): paddle2tf then computes the priors "
    "as constants (sanitise fold_static_prior_box)",
    "box_coder": "decode the boxes outside the model (post-processing), or write the decoding with elementwise ops",
    "matrix_nms": "export the model without its NMS (PaddleDetection: export.nms=False / exclude_nms) and run "
    "NMS after the TF model",
    "nms": "export the model without its NMS and run NMS after the TF model",
    "multiclass_nms3": "export the model without its NMS and run NMS after the TF model",
    "distribute_fpn_proposals": "export the two stages apart (RPN, then the RoI head fed the proposals) and "
    "distribute the proposals outside the model",
    "generate_proposals": "export the RPN head without proposal generation and generate proposals outside the model",
}
GENERIC_WAY_OUT = "replace the op in the model, or run it outside the exported model"


@dataclass(frozen=True)
class Refusal:
    op: str  # "pd_op.matrix_nms"
    layer: str  # the layer that holds it, when the program records it ('' otherwise)
    reason: str
    way_out: str

    def line(self) -> str:
        where = f" (in {self.layer})" if self.layer else ""
        return f"{self.op}{where}: {self.reason}; way out: {self.way_out}"


def _bool(op: dict, name: str) -> bool:
    return op_attr(op, name) is True


def _yolo_box_iou_aware(op: dict, shapes: dict, opset: int) -> str:
    if _bool(op, "iou_aware"):
        # its yolo_box mapper keeps channels [0, anchors) (the IoU channels) where Paddle decodes the rest; the
        # graph it writes fails in ONNX Runtime (a Mul that cannot broadcast)
        return "iou_aware=True: paddle2onnx 2.1.0 decodes the head from the IoU channels (a wrong graph)"
    return ""


def _roi_align_variant(op: dict, shapes: dict, opset: int) -> str:
    batch = (shapes.get(op["I"][0].get("%")) or [None])[0]
    if batch != 1:
        return (
            f"boxes from {'several images' if batch and batch > 1 else 'a batch of unknown size'}: "
            "paddle2onnx 2.1.0 ignores boxes_num and takes every box from image 0 (silently wrong)"
        )
    if op_attr(op, "sampling_ratio") is not None and op_attr(op, "sampling_ratio") <= 0:
        return (
            "sampling_ratio <= 0 (adaptive sampling, a sample count per box set by the data): paddle2tf's RoiAlign "
            "converter has a static sampling grid only"
        )
    # paddle2onnx writes no coordinate_transformation_mode: RoiAlign-10 samples as aligned=False does, RoiAlign-16
    # defaults to half_pixel (aligned=True)
    if _bool(op, "aligned") != (opset >= 16):
        return (
            f"aligned={_bool(op, 'aligned')} at opset {opset}: paddle2onnx 2.1.0 writes no "
            "coordinate_transformation_mode, and RoiAlign's default there is "
            f"{'half_pixel (aligned=True)' if opset >= 16 else 'output_half_pixel (aligned=False)'} (silently wrong)"
        )
    return ""


def _deformable_conv_variant(op: dict, shapes: dict, opset: int) -> str:
    operands = op.get("I", [])
    if len(operands) < 4 or not operands[3].get("%"):  # value id 0: the optional mask operand is absent
        return "no mask (deform conv v1): paddle2onnx 2.1.0 aborts on it ('impl_ pointer is null')"
    return ""


# Paddle op name -> a predicate giving why this variant is mapped wrongly ('' when it is not)
WRONG_VARIANTS: dict[str, Callable[[dict, dict, int], str]] = {
    "yolo_box": _yolo_box_iou_aware,
    "roi_align": _roi_align_variant,
    "deformable_conv": _deformable_conv_variant,
}
WRONG_VARIANT_WAYS_OUT = {
    "yolo_box": "export the model with iou_aware=False, or decode the head outside the model",
    "roi_align": "export with a batch of 1 (InputSpec [1, ...]), a positive sampling_ratio, and --opset 16 or "
    "later for aligned=True, below 16 for aligned=False",
    "deformable_conv": "pass a mask (a mask of ones computes what deform conv v1 does)",
}


def mapper_name(paddle_op: str) -> str:
    """The name paddle2onnx 2.1.0 looks its mapper up by, for a pd_op name without the prefix."""
    return PADDLE2ONNX_RENAMES.get(paddle_op, paddle_op)


def refusals(program: dict, mappers: Iterable[str], opset: int) -> list[Refusal]:
    """Every op of the PIR ``program`` (JSON form, nested blocks too) that paddle2onnx, given its ``mappers``
    (``get_all_supported_operators_pir()``), cannot convert or converts wrongly at ``opset``; one per op name
    and reason, in program order."""
    mappers = frozenset(mappers)
    shapes = value_shapes(program)
    found: dict[tuple[str, str], Refusal] = {}
    for op in program_ops(program):
        dialect, name = op["#"].split(".", 1)
        if dialect != PADDLE_DIALECT or name in EXPORTER_OPS:
            continue
        attrs = {a.get("N"): a.get("AT", {}).get("D") for a in op.get("A", [])}
        layer = str(attrs.get("struct_name") or "").strip("/")
        if mapper_name(name) not in mappers:
            if registered(f"pd_op.{name}", attrs) is not None:
                continue  # exported by paddle2tf right after paddle2onnx (fixes.paddle_ops)
            refusal = Refusal(
                f"pd_op.{name}",
                layer,
                "paddle2onnx 2.1.0 has no conversion for it",
                WAYS_OUT.get(name, GENERIC_WAY_OUT),
            )
        elif name in WRONG_VARIANTS and (reason := WRONG_VARIANTS[name](op, shapes, opset)):
            refusal = Refusal(f"pd_op.{name}", layer, reason, WRONG_VARIANT_WAYS_OUT[name])
        else:
            continue
        found.setdefault((refusal.op, refusal.reason), refusal)
    return list(found.values())


def refusal_line(found: list[Refusal]) -> str:
    """One line for the user: the first refusal in full, the other ops named."""
    others = sorted({r.op for r in found[1:]} - {found[0].op})
    return found[0].line() + (f" (also: {', '.join(others)})" if others else "")
