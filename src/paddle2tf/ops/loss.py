"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (inference forms of the training losses)."""

from __future__ import annotations

from paddle2tf.converter.registry import converter

REDUCTIONS = ("none", "sum", "mean")


def _check_reduction(node, attrs):
    """reduction other than none/sum/mean."""
    reduction = attrs.get("reduction", "mean")
    return None if reduction in REDUCTIONS else f"reduction={reduction!r}"


def nll_loss(log_prob, target, weight, reduction: str, ignore_index):
    """-log_prob[n, target[n, d...], d...] * weight[target], reduced.

    ``log_prob`` is (N, C, d...), ``target`` (N, d...). Ignored targets contribute 0 to the loss and to
    the 'mean' divisor, which is the sum of the weights of the counted targets (their count without
    ``weight``).
    """
    import tensorflow as tf

    rank = log_prob.shape.rank
    classes_last = tf.transpose(log_prob, [0, *range(2, rank), 1]) if rank > 2 else log_prob
    target = tf.cast(target, tf.int64)
    if ignore_index is not None:
        counted = tf.not_equal(target, tf.constant(ignore_index, tf.int64))
        target = tf.where(counted, target, tf.zeros_like(target))  # any valid index: masked below
    picked = tf.gather(classes_last, target[..., None], batch_dims=rank - 1)[..., 0]
    w = tf.gather(weight, target) if weight is not None else tf.ones_like(picked)
    if ignore_index is not None:
        w = tf.where(counted, w, tf.zeros_like(w))
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return tf.reduce_sum(loss)
    return tf.reduce_sum(loss) / tf.reduce_sum(w)


@converter("NegativeLogLikelihoodLoss", since=12, unsupported=_check_reduction)
def negative_log_likelihood_loss(node, inputs, attrs, ctx):
    """Opset 13 only adds types; one converter."""
    return nll_loss(inputs[0], inputs[1], inputs[2], attrs.get("reduction", "mean"), attrs.get("ignore_index"))


@converter("SoftmaxCrossEntropyLoss", since=12, unsupported=_check_reduction)
def softmax_cross_entropy_loss(node, inputs, attrs, ctx):
    """NLL of log_softmax over axis 1; the optional second output is that log_softmax."""
    import tensorflow as tf

    log_prob = tf.nn.log_softmax(inputs[0], axis=1)
    loss = nll_loss(log_prob, inputs[1], inputs[2], attrs.get("reduction", "mean"), attrs.get("ignore_index"))
    return [loss, log_prob]
