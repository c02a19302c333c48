"""NonMaxSuppression."""

from __future__ import annotations

from paddle2tf.converter.registry import converter


def _scalar(tensor, dtype, default):
    import tensorflow as tf

    if tensor is None:
        return tf.constant(default, dtype)
    return tf.cast(tf.reshape(tensor, []), dtype)


@converter("NonMaxSuppression", since=10, unsupported=lambda node, attrs: None if attrs.get(
    "center_point_box", 0) in (0, 1) else f"center_point_box={attrs['center_point_box']}")
def non_max_suppression(node, inputs, attrs, ctx):
    """selected_indices [K, 3] = (batch, class, box), batch-major, then class, then descending score.

    Per (batch, class) TF's NonMaxSuppressionV4 has the ONNX semantics: candidates have score >
    score_threshold, a box is suppressed when its IoU with a selected one is > iou_threshold, equal
    scores keep the lower box index first, and any diagonal corner pair is accepted.
    """
    import tensorflow as tf

    boxes, scores = inputs[0], inputs[1]
    if attrs.get("center_point_box", 0):  # [x_centre, y_centre, width, height] -> [y1, x1, y2, x2]
        xc, yc, w, h = tf.unstack(boxes, axis=-1)
        boxes = tf.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
    boxes, scores = tf.cast(boxes, tf.float32), tf.cast(scores, tf.float32)
    num_boxes = tf.shape(boxes)[1]
    max_per_class = tf.minimum(_scalar(inputs[2], tf.int64, 0), tf.cast(num_boxes, tf.int64))
    max_per_class = tf.cast(max_per_class, tf.int32)
    iou_threshold = _scalar(inputs[3], tf.float32, 0.0)
    score_threshold = _scalar(inputs[4], tf.float32, float("-inf"))
    num_classes = tf.shape(scores)[1]
    pairs = tf.range(tf.shape(scores)[0] * num_classes)

    def select(pair):
        batch, cls = pair // num_classes, pair % num_classes
        result = tf.raw_ops.NonMaxSuppressionV4(
            boxes=boxes[batch], scores=scores[batch, cls], max_output_size=max_per_class,
            iou_threshold=iou_threshold, score_threshold=score_threshold, pad_to_max_output_size=True)
        return result.selected_indices, result.valid_outputs

    selected, valid = tf.map_fn(select, pairs, fn_output_signature=(
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)))
    keep = tf.range(max_per_class)[None, :] < valid[:, None]
    rows = tf.broadcast_to(pairs[:, None], tf.shape(selected))
    triples = tf.stack([rows // num_classes, rows % num_classes, selected], axis=-1)
    return tf.cast(tf.boolean_mask(triples, keep), tf.int64)
