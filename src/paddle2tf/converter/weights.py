"""The tf.Variables and cached constants of one conversion."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paddle2tf.onnxutil.graph import sanitise_name


class WeightStore:
    """Owns every tf.Variable and cached constant of a conversion, across tf.function traces."""

    def __init__(self):
        self.variables: dict[str, object] = {}

    def get(self, key: str, make: Callable[[], np.ndarray]):
        import tensorflow as tf

        if key not in self.variables:
            # Created eagerly (init_scope) and not reported to tf.function's variable-creation scope
            # (no lifting): a function whose first trace creates variables is traced a second time,
            # doubling conversion time. The store owns the variables; the trace captures them.
            with tf.init_scope():
                self.variables[key] = tf.Variable(make(), trainable=False, name=sanitise_name(key, "w")[:200],
                                                  experimental_enable_variable_lifting=False)
        return self.variables[key]
