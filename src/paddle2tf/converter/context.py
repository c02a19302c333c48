"""What a converter sees of the graph: its inputs as TF tensors and, where known, as constants."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx


class ChannelsLast:
    """A converter result already in channels-last layout (N, spatial..., C) for an NC... ONNX value.

    The runner keeps it in that layout and transposes back to the ONNX layout only for a consumer that
    needs it, so chains of conv/pool/elementwise ops pay for the layout change once, not per op.
    """

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class NodeInputs(Sequence):
    """The node's inputs as TF tensors, materialised on first access (absent optional inputs are None).

    With ``channels_last_rank`` set (elementwise ops only), every input is given in the channels-last
    layout of that rank: full-rank inputs transposed, lower-rank ones aligned numpy-style first.
    """

    def __init__(self, runner, names: Sequence[str], channels_last_rank: int | None = None):
        # runner: the converter.runner.GraphRunner converting the graph (which imports this module)
        self._runner = runner
        self._names = list(names)
        self._channels_last_rank = channels_last_rank

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self):
        # Explicit: __getitem__ returns None past the end (omitted optional inputs), so the default
        # Sequence iteration, which stops on IndexError, would never end.
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if index >= len(self._names):
            return None  # trailing optional inputs may be omitted from the node entirely
        name = self._names[index]
        if name == "":
            return None
        if self._channels_last_rank is not None:
            return self._runner.channels_last_operand(name, self._channels_last_rank)
        return self._runner.tensor(name)


class NodeContext:
    """Per-node services for converters: opset, constant values of inputs, weights, subgraphs."""

    def __init__(self, runner, node: onnx.NodeProto):  # runner: converter.runner.GraphRunner
        self._runner = runner
        self.node = node

    def opset(self, domain: str = "") -> int:
        return self._runner.opset(domain)

    @property
    def folding(self) -> bool:
        """True while the node is evaluated eagerly at conversion time (all its inputs are constant)."""
        return self._runner.folding

    def has_input(self, index: int) -> bool:
        return index < len(self.node.input) and self.node.input[index] != ""

    def static(self, index: int) -> np.ndarray | None:
        """The input's value when it is known at conversion time (initializer, Constant, folded), else None."""
        if not self.has_input(index):
            return None
        return self._runner.static_value(self.node.input[index])

    def has_channels_last(self, index: int) -> bool:
        """True when input ``index`` already exists in channels-last layout (no transpose needed)."""
        return self.has_input(index) and self._runner.has_channels_last(self.node.input[index])

    def channels_last(self, index: int):
        """Input ``index`` (rank >= 3, NC...) in channels-last layout N...C, transposed at most once."""
        return self._runner.channels_last_tensor(self.node.input[index])

    def weight(self, index: int, transform: Callable[[np.ndarray], np.ndarray] | None = None,
               tag: str = "") -> object:
        """Input ``index`` as a TF tensor, pre-transformed in numpy when the input is constant.

        Lets a converter store a weight directly in the layout it needs (e.g. a conv kernel in HWIO)
        instead of transposing it on every call. When the input is not constant, ``transform`` is not
        applied and the caller must transform the tensor itself: check ``static(index)`` first.
        """
        value = self.static(index)
        if value is None or transform is None:
            return self._runner.tensor(self.node.input[index])
        key = f"{self.node.input[index]}::{tag or getattr(transform, '__name__', 'transformed')}"
        return self._runner.constant_tensor(key, lambda: np.ascontiguousarray(transform(value)))

    def constant(self, value: np.ndarray, key: str | None = None) -> object:
        """A numpy array as a TF tensor (a variable when large), cached by ``key`` when given."""
        array = np.asarray(value)
        if key is None:
            return self._runner.make_constant(array)
        return self._runner.constant_tensor(f"{self.node.name}::{key}", lambda: array)

    def run_subgraph(self, graph: onnx.GraphProto, inputs: Sequence[object]) -> list:
        """Run an ONNX subgraph (If branch, Loop/Scan body) with these TF tensors bound to its inputs."""
        return self._runner.run_subgraph(graph, inputs)
