"""TfIdfVectorizer over integer tokens."""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter

MODES = ("TF", "IDF", "TFIDF")


def _check(node, attrs):
    """pool_strings (string tokens); mode other than TF/IDF/TFIDF."""
    if "pool_strings" in attrs:
        return "pool_strings (string tokens)"
    mode = attrs.get("mode")
    return None if mode in MODES else f"mode={mode!r}"


def _pool(attrs):
    """[(n, grams [G, n], output columns [G])] for every n-gram length present in the pool."""
    pool = np.asarray(attrs.get("pool_int64s", []), np.int64)
    starts = list(attrs["ngram_counts"])
    indexes = list(attrs["ngram_indexes"])
    groups, ordinal = [], 0
    for n, start in enumerate(starts, start=1):
        end = starts[n] if n < len(starts) else len(pool)
        grams = pool[start:end].reshape(-1, n)
        groups.append((n, grams, indexes[ordinal:ordinal + len(grams)]))
        ordinal += len(grams)
    return groups, max(indexes) + 1 if indexes else 0


@converter("TfIdfVectorizer", since=9, unsupported=_check)
def tf_idf_vectorizer(node, inputs, attrs, ctx):
    """Counts of the pool's n-grams (min..max length; n > 1 also with 1..max_skip_count skipped tokens
    between items) per row, at the columns ngram_indexes; IDF: weight if present, TFIDF: count * weight."""
    import tensorflow as tf

    x = tf.cast(inputs[0], tf.int64)
    one_d = x.shape.rank == 1
    if one_d:
        x = x[None, :]
    groups, width = _pool(attrs)
    low, high = attrs.get("min_gram_length", 1), attrs.get("max_gram_length", 1)
    mode, weights = attrs["mode"], attrs.get("weights")
    counts = tf.zeros(tf.stack([tf.shape(x)[0], width]), tf.float32)
    ordinal = 0
    for n, grams, columns in groups:
        first, ordinal = ordinal, ordinal + len(grams)
        if not low <= n <= high or not len(grams):
            continue
        found = tf.zeros(tf.stack([tf.shape(x)[0], len(grams)]), tf.float32)  # [B, G]
        for skip in range(attrs.get("max_skip_count", 0) + 1 if n > 1 else 1):
            gap = skip + 1
            items = [x[:, k * gap: (-(n - 1 - k) * gap) or None] for k in range(n)]  # [B, P] each
            candidates = tf.stack(items, axis=-1)  # [B, P, n]
            match = tf.reduce_all(tf.equal(candidates[:, :, None, :], tf.constant(grams)[None, None]), axis=-1)
            found += tf.reduce_sum(tf.cast(match, tf.float32), axis=1)
        if mode == "IDF":
            found = tf.cast(found > 0, tf.float32)
        if mode != "TF" and weights is not None:  # weights[i]: the i-th n-gram of the pool
            found *= tf.constant(np.asarray(weights[first:ordinal], np.float32))[None, :]
        placement = np.zeros((len(grams), width), np.float32)
        placement[np.arange(len(grams)), columns] = 1.0
        counts += tf.matmul(found, tf.constant(placement))
    return counts[0] if one_d else counts
