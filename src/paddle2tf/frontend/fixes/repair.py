"""Repair passes on the exported ONNX model, run before the check stage."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes import Fix
from paddle2tf.onnxutil.graph import (
    constant_tensors,
    declared_dims,
    iter_graphs,
    iter_nodes,
    model_opset,
    node_input_names,
    node_subgraphs,
    without_weights,
)


def _inferred_leniently(model: onnx.ModelProto) -> onnx.ModelProto:
    """A weightless copy of the model with what ONNX shape inference (lenient) can tell; the declarations alone
    when inference fails (a model this broken still gets the shapes and types its graphs declare)."""
    light = without_weights(model)
    try:
        return onnx.shape_inference.infer_shapes(light)
    except Exception:
        return light


def _static_dims(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Dims of every value ONNX shape inference (lenient) or a constant can tell; None for a dim without a static
    size."""
    inferred = _inferred_leniently(model)
    dims: dict[str, list[int | None]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if value.type.tensor_type.HasField("shape"):
            dims[value.name] = declared_dims(value.type.tensor_type)
    dims.update((name, list(tensor.dims)) for name, tensor in constant_tensors(model.graph).items())
    return dims


def _topological_order(graph: onnx.GraphProto) -> list[int] | None:
    """Node positions in an order where each node follows the producers of what it reads (the original order
    where it already does); None when the graph is already sorted or has a cycle."""
    produced_by = {name: position for position, node in enumerate(graph.node) for name in node.output if name}
    needs = [{produced_by[name] for name in node_input_names(node) if name in produced_by} - {position}
             for position, node in enumerate(graph.node)]
    if all(max(need, default=-1) < position for position, need in enumerate(needs)):
        return None
    waiting = [len(need) for need in needs]
    readers: dict[int, list[int]] = {}
    for position, need in enumerate(needs):
        for producer in need:
            readers.setdefault(producer, []).append(position)
    ready = [position for position, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)  # the lowest original position first: the order changes only where it must
    order: list[int] = []
    while ready:
        position = heapq.heappop(ready)
        order.append(position)
        for reader in readers.get(position, []):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) < len(needs):
        return None  # a cycle: left for the checker to refuse
    return order


def sort_nodes_topologically(model: onnx.ModelProto) -> list[Fix]:
    """Nodes listed before the producers of their inputs: ONNX requires topological order (the checker refuses
    the file), ONNX Runtime sorts the graph itself. Seen in a shipped int8 ONNX (rapid-table-det's
    obj_det_quantized.onnx, edited after export). The nodes are reordered; nothing else changes."""
    fixes = []
    for graph in iter_graphs(model.graph):
        order = _topological_order(graph)
        if order is None:
            continue
        nodes = [onnx.NodeProto() for _ in order]
        for node, position in zip(nodes, order, strict=True):
            node.CopyFrom(graph.node[position])
        del graph.node[:]
        graph.node.extend(nodes)
        moved = sum(1 for new, old in enumerate(order) if new != old)
        fixes.append(Fix("repair", "sort_nodes_topologically", graph.name or "graph",
                         f"{moved} of {len(order)} nodes moved after the producers of their inputs",
                         "ONNX nodes must be in topological order; the file lists some before their inputs"))
    return fixes


def negative_dims_as_unknown(model: onnx.ModelProto) -> list[Fix]:
    """Old paddle2onnx exports (opset 10 OCR recognisers) declare dynamic dims as the number -1 rather than a name.
    ONNX Runtime reads -1 as unknown; ONNX shape inference takes it literally and carries it into Reshape targets
    ("Invalid Target shape product of 0"), so the checker refuses a model that runs. Each becomes an unknown dim,
    which is what it meant."""
    fixes: list[Fix] = []
    for graph in iter_graphs(model.graph):
        for value in [*graph.input, *graph.output, *graph.value_info]:
            if not value.type.HasField("tensor_type"):
                continue
            negative = [i for i, dim in enumerate(value.type.tensor_type.shape.dim)
                        if dim.HasField("dim_value") and dim.dim_value < 0]
            for i in negative:
                value.type.tensor_type.shape.dim[i].ClearField("dim_value")
            if negative:
                fixes.append(Fix("repair", "negative_dims_as_unknown", value.name,
                                 f"dim(s) {', '.join(map(str, negative))} declared -1 made unknown",
                                 "a dynamic dim must be named or left unknown; shape inference reads -1 literally"))
    return fixes


def unsqueeze_scalar_concat_inputs(model: onnx.ModelProto) -> list[Fix]:
    """Concat joining rank-0 pieces, alone or with rank-1 ones (reshape targets built from sliced shapes, resize
    sizes from 0-d tensors) is invalid ONNX.

    Legacy Paddle 2.x programs and 0-d size tensors export such Concats; onnxruntime refuses to load the model.
    Each rank-0 input is unsqueezed to shape [1], which is what the program meant.
    """
    ranks = {name: len(dims) for name, dims in _static_dims(model).items()}
    fixes: list[Fix] = []
    new_nodes: list[onnx.NodeProto] = []
    axes_name = None
    for node in model.graph.node:
        if node.op_type == "Concat":
            input_ranks = [ranks.get(name) for name in node.input]
            # (all rank 0 too: a Concat of Paddle's 0-d sizes, e.g. bilinear_interp's out size, is the same slop)
            if 0 in input_ranks and set(input_ranks) <= {0, 1}:
                for i, (name, rank) in enumerate(zip(node.input, input_ranks, strict=True)):
                    if rank != 0:
                        continue
                    unsqueezed = f"{name}__unsqueezed_for_{node.name or 'concat'}_{i}"
                    if model_opset(model) >= 13:
                        if axes_name is None:
                            axes_name = "paddle2tf_repair_axes_0"
                            model.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64),
                                                                                   axes_name))
                        new_nodes.append(helper.make_node("Unsqueeze", [name, axes_name], [unsqueezed],
                                                          name=f"{unsqueezed}_node"))
                    else:
                        new_nodes.append(helper.make_node("Unsqueeze", [name], [unsqueezed], axes=[0],
                                                          name=f"{unsqueezed}_node"))
                    node.input[i] = unsqueezed
                    fixes.append(Fix("repair", "unsqueeze_scalar_concat_inputs", node.name or "Concat",
                                     f"input {i} '{name}' unsqueezed from rank 0 to [1]",
                                     "Concat inputs must have rank >= 1 and share it; paddle2onnx gave rank-0 ones"))
        new_nodes.append(node)
    if fixes:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return fixes


RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_PASS_THROUGH = ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Cast")


def _num_directions(node: onnx.NodeProto) -> int:
    direction = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "direction"), b"forward")
    return 2 if direction == b"bidirectional" else 1


def _declared_dim0(value: onnx.ValueInfoProto) -> int | None:
    dims = value.type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else None


def _recurrent_chain(last: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The stacked layers ending at ``last``: follow X back through layout ops to the previous layer's Y."""
    chain = [last]
    while True:
        node = producers.get(chain[0].input[0])
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producers.get(node.input[0])
        if node is None or node.op_type != last.op_type:
            return chain
        chain.insert(0, node)


def concat_stacked_rnn_final_states(model: onnx.ModelProto) -> list[Fix]:
    """Stacked LSTM/GRU final states: Paddle returns [layers*directions, N, H]; paddle2onnx 2.1.0 wires the
    graph output to the last layer's Y_h/Y_c alone ([directions, N, H]) while declaring the full shape.

    The output is rewired to Concat(axis 0) of every layer's state, in layer order, which is Paddle's
    layout (layer-major, direction-minor) and the declared shape.
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output if out}
    fixes: list[Fix] = []
    for output in graph.output:
        declared = _declared_dim0(output)
        node, via = producers.get(output.name), []
        while node is not None and node.op_type == "Identity":
            via.append(node)
            node = producers.get(node.input[0])
        if node is None or node.op_type not in RECURRENT_OPS or declared is None:
            continue
        index = list(node.output).index(via[-1].input[0] if via else output.name)
        if index not in (1, 2):
            continue
        chain = _recurrent_chain(node, producers)
        if len(chain) < 2 or declared != sum(_num_directions(n) for n in chain) or declared == _num_directions(node):
            continue
        states = []
        for layer, rnn in enumerate(chain):
            while len(rnn.output) <= index:
                rnn.output.append("")
            if not rnn.output[index]:
                rnn.output[index] = f"{rnn.name or rnn.op_type}_state{index}_layer{layer}"
            states.append(rnn.output[index])
        joined = f"{output.name}__all_layers"
        concat = helper.make_node("Concat", states, [joined], axis=0, name=f"{joined}_concat")
        consumer = via[-1] if via else None
        if consumer is not None:
            consumer.input[0] = joined
        else:
            graph.node.append(helper.make_node("Identity", [joined], [output.name]))
            node.output[index] = states[-1] = f"{output.name}__last_layer"
            concat.input[-1] = states[-1]
        graph.node.insert(list(graph.node).index(chain[-1]) + 1, concat)
        fixes.append(Fix("repair", "concat_stacked_rnn_final_states", output.name,
                         f"output now joins the final states of {len(chain)} {node.op_type} layers "
                         f"({', '.join(n.name for n in chain)})",
                         f"paddle2onnx wired only the last layer's state; Paddle returns all {declared}"))
    return fixes


# -- declared shapes that contradict inference -------------------------------------------------------

_SHAPE_REASON = ("declared shape contradicts what ONNX shape inference computes from the graph (onnx.checker "
                 "refuses the file; ONNX Runtime ignores the declaration)")


def _dims(value: onnx.ValueInfoProto) -> list[int | str | None] | None:
    """A tensor value's declared dims (int, symbolic name, or None), or None when it declares no shape."""
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor_type.shape.dim]


def _elem_type(value: onnx.ValueInfoProto) -> int:
    """A tensor value's element type (0: not stated)."""
    return value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0


def _contradicts(declared: list | None, inferred: list | None) -> bool:
    """Declared and inferred shapes differ in rank, or in a dimension both state as a number."""
    if declared is None or inferred is None:
        return False
    if len(declared) != len(inferred):
        return True
    return any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(declared, inferred, strict=True))


def _type_name(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type).lower()


def _show(dims: list | None) -> str:
    return "unknown" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _set_dims(value: onnx.ValueInfoProto, dims: list | None) -> None:
    tensor_type = value.type.tensor_type
    tensor_type.ClearField("shape")
    if dims is None:
        return
    tensor_type.shape.SetInParent()  # rank 0 is an empty shape, not a missing one
    for d in dims:
        dim = tensor_type.shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        elif d and not d.startswith("unk__"):  # a name ONNX inference made up is no information
            dim.dim_param = d


def _is_loop_state(index: int, owner: onnx.NodeProto | None) -> bool:
    """Input ``index`` of a subgraph of ``owner`` is a Loop body's loop-carried value (after the iteration
    number and the condition)."""
    return owner is not None and owner.op_type == "Loop" and index >= 2


def _inferred_from_scratch(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """The model's shapes as ONNX inference computes them from the graph alone: a weightless copy without the
    derived annotations (value_info, subgraph inputs and outputs, graph outputs' shapes), inferred leniently.
    The main graph's inputs keep their declarations (the model's contract), and so do a Loop body's state inputs
    (inference cannot tell their shape across iterations: they are checked against their initial values)."""
    light = without_weights(model)
    for graph in iter_graphs(light.graph):
        del graph.value_info[:]
        for output in graph.output:
            output.type.tensor_type.ClearField("shape")
    for node in iter_nodes(light.graph):
        for sub in node_subgraphs(node):
            for index, value in enumerate(sub.input):
                if not _is_loop_state(index, node):
                    value.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(light)
    except Exception:  # inference itself fails: a genuine error, left for the check stage to report
        return None


def _single_element(dims: list) -> bool:
    return all(d == 1 for d in dims)


def _reshape_output_to_declared(graph: onnx.GraphProto, output: onnx.ValueInfoProto, declared: list) -> None:
    """Rename the computed value (everywhere it is read, subgraphs included) and add Reshape(value, declared)
    under the output's name."""
    computed = f"{output.name}__computed"
    for node in iter_nodes(graph):
        node.output[:] = [computed if name == output.name else name for name in node.output]
        node.input[:] = [computed if name == output.name else name for name in node.input]
    target = f"{output.name}__declared_shape"
    graph.initializer.append(numpy_helper.from_array(np.array(declared, np.int64), target))
    graph.node.append(helper.make_node("Reshape", [computed, target], [output.name],
                                       name=f"{output.name}__as_declared"))


_SHAPE_ROUNDS = 3


class _ShapeRepair:
    """Walks the model and its inferred twin (same nodes, same order) graph by graph."""

    def __init__(self):
        self.fixes: list[Fix] = []
        self.reshapes: list[tuple[onnx.ValueInfoProto, list]] = []  # graph outputs, added after the walk

    def fix(self, target: str, change: str) -> None:
        self.fixes.append(Fix("repair", "drop_contradicting_shapes", target, change, _SHAPE_REASON))

    def graph(self, graph: onnx.GraphProto, known: onnx.GraphProto, outer: dict, owner: onnx.NodeProto | None):
        facts = {**outer, **{v.name: _dims(v) for v in [*known.input, *known.value_info, *known.output]}}
        elem_types = {v.name: _elem_type(v) for v in known.value_info}
        scope = "graph" if owner is None else f"{owner.op_type} '{owner.name}' subgraph"
        if owner is not None:
            self.subgraph_inputs(graph, known, outer, owner, scope)
        keep = []
        for value in graph.value_info:
            declared, computed = _dims(value), facts.get(value.name)
            stated, inferred = _elem_type(value), elem_types.get(value.name, 0)
            if _contradicts(declared, computed):
                self.fix(value.name, f"{scope} value_info {_show(declared)} removed (inferred {_show(computed)})")
            elif stated and inferred and stated != inferred:  # an annotation only: the node's type is computed
                self.fix(value.name, f"{scope} value_info of type {_type_name(stated)} removed (its node computes "
                                     f"{_type_name(inferred)})")
            else:
                keep.append(value)
        if len(keep) != len(graph.value_info):
            del graph.value_info[:]
            graph.value_info.extend(keep)
        for output in graph.output:
            declared, computed = _dims(output), facts.get(output.name)
            if _contradicts(declared, computed):
                self.output(graph, output, declared, computed, scope, owner)
            elif owner is None and declared == [] and computed is None:
                # Paddle's 0-d result, computed with a shape inference cannot tell (a Loop's state): paddle2onnx
                # computes 0-d values as [1], which ONNX Runtime returns. The Reshape fails loudly on more.
                self.reshapes.append((output, declared))
                self.fix(output.name, "output declared [] (Paddle's 0-d result), computed with a shape inference "
                                      "cannot tell: reshaped to []")
        for node, twin in zip(graph.node, known.node, strict=True):
            for sub, sub_twin in zip(node_subgraphs(node), node_subgraphs(twin), strict=True):
                self.graph(sub, sub_twin, facts, node)

    def subgraph_inputs(self, graph, known, outer, owner, scope) -> None:
        """A body's inputs are what the node running it passes. A Loop state input may change shape from one
        iteration to the next: its declaration must at least hold for the initial value."""
        for index, (value, twin) in enumerate(zip(graph.input, known.input, strict=True)):
            declared = _dims(value)
            if _is_loop_state(index, owner):
                initial = outer.get(owner.input[index]) if len(owner.input) > index else None
                if _contradicts(declared, initial):
                    _set_dims(value, [None] * len(initial))
                    self.fix(value.name, f"{scope} state input declared {_show(declared)}, its initial value is "
                                         f"{_show(initial)}: now {_show([None] * len(initial))}")
            elif _contradicts(declared, computed := _dims(twin)):
                _set_dims(value, computed)
                self.fix(value.name, f"{scope} input declared {_show(declared)} now {_show(computed)} as inferred")

    def output(self, graph, output, declared, computed, scope, owner) -> None:
        if owner is not None:  # what the body computes is what its node sees
            _set_dims(output, computed)
            self.fix(output.name, f"{scope} output declared {_show(declared)} now {_show(computed)} as inferred")
        elif len(declared) != len(computed) and _single_element(declared) and _single_element(computed):
            self.reshapes.append((output, declared))  # [] vs [1]: the declared one is Paddle's
            self.fix(output.name, f"output computed {_show(computed)} reshaped to its declared {_show(declared)}")
        else:
            merged = computed if len(declared) != len(computed) else [
                None if isinstance(d, int) and isinstance(c, int) and d != c else d
                for d, c in zip(declared, computed, strict=True)]
            _set_dims(output, merged)
            self.fix(output.name, f"output declared {_show(declared)} now {_show(merged)} (inferred "
                                  f"{_show(computed)})")


def drop_contradicting_shapes(model: onnx.ModelProto) -> list[Fix]:
    """paddle2onnx writes shape annotations its own graph does not compute: a value declared rank 0 computed
    rank 1 (Paddle's 0-d results of reductions, `all`, `dist`, `p_norm`, `logsumexp`, `dot`, the condition and
    state of a `while` carried by a Loop body) or the reverse, dims that contradict inference. ONNX Runtime
    runs such files; the full checker refuses them ("Inferred shape and existing shape differ in rank").

    Every annotation that contradicts what inference computes from the graph alone is removed (value_info) or
    replaced by the inferred shape (subgraph inputs and outputs), so the check's inference recomputes it. A
    graph output is the model's contract: a rank-only difference of one element ([] vs [1]) gets a Reshape to
    the declared shape (the shape Paddle returns); other contradicting dims become the inferred ones. An
    intermediate value_info stating another element type than its node computes (a Constant of float64 declared
    float) is an annotation only, removed too; element types of inputs, outputs and nodes are never changed: a
    type error between nodes, or an output of another type than declared, stays an error. The three-way
    verification judges the result.
    """
    fixes: list[Fix] = []
    for _ in range(_SHAPE_ROUNDS):  # a repaired Loop state input lets the next round see through the body
        inferred = _inferred_from_scratch(model)
        if inferred is None:
            break
        walker = _ShapeRepair()
        walker.graph(model.graph, inferred.graph, {}, None)
        for output, declared in walker.reshapes:
            _reshape_output_to_declared(model.graph, output, declared)
        fixes += walker.fixes
        if not walker.fixes:
            break
    return fixes


_SHAPE_KEEPING = ("Cast", "Identity")


def _is_one_shape_element(name: str, producers: dict[str, onnx.NodeProto],
                           constants: dict[str, onnx.TensorProto]) -> bool:
    """``name`` is one element of a Shape result, shape [1]: an output of size 1 of a Split of a Shape (through
    Cast / Identity), the split sizes constant."""
    node = producers.get(name)
    while node is not None and node.op_type in _SHAPE_KEEPING:
        name = node.input[0]
        node = producers.get(name)
    if node is None or node.op_type != "Split" or getattr(producers.get(node.input[0]), "op_type", "") != "Shape":
        return False
    split = next((list(a.ints) for a in node.attribute if a.name == "split"), None)
    if split is None and len(node.input) > 1 and node.input[1] in constants:
        split = numpy_helper.to_array(constants[node.input[1]]).tolist()
    return split is not None and len(split) == len(node.output) and split[list(node.output).index(name)] == 1


def squeeze_shape_elements_on_axis_0(model: onnx.ModelProto) -> list[Fix]:
    """paddle2onnx's yolo_box mapper turns the feature map's H and W into scalars with a Squeeze without axes of
    one element of the map's Shape (Split of the Shape, then Cast). Without axes the result's rank depends on the
    run-time dims (the converter needs a static rank), and ONNX shape inference does not follow the Constant split
    sizes; the input is shape [1] by construction, so the Squeeze gets its meaning stated: axes [0]."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    constants = constant_tensors(graph)
    fixes: list[Fix] = []
    axes_name = "paddle2tf_repair_squeeze_axes_0"
    for node in graph.node:
        has_axes = any(a.name == "axes" for a in node.attribute) or (len(node.input) > 1 and node.input[1])
        if node.op_type != "Squeeze" or has_axes or not _is_one_shape_element(node.input[0], producers, constants):
            continue
        if model_opset(model) >= 13:
            if not fixes:
                graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), axes_name))
            node.input.append(axes_name)
        else:
            node.attribute.append(helper.make_attribute("axes", [0]))
        fixes.append(Fix("repair", "squeeze_shape_elements_on_axis_0", node.name or "Squeeze",
                         f"axes [0] stated for '{node.input[0]}' (one element of a Shape, shape [1])",
                         "paddle2onnx 2.1.0 (yolo_box) squeezes a shape element without axes: the result's rank "
                         "is then only known at run time"))
    return fixes


def deform_conv_offset_group(model: onnx.ModelProto) -> list[Fix]:
    """paddle2onnx 2.1.0 writes DeformConv without ``offset_group`` (Paddle's ``deformable_groups``): with more
    than one group ONNX Runtime refuses the node ("Offset channel count must be offset_group * 2 * kH * kW").
    The offset's channel count states it: offset_group = channels / (2 * kH * kW), kH and kW from the weight."""
    fixes: list[Fix] = []
    nodes = [n for n in model.graph.node if n.op_type == "DeformConv"
             and not any(a.name == "offset_group" for a in n.attribute)]
    if not nodes:
        return fixes
    dims = _static_dims(model)
    for node in nodes:
        weight, offset = dims.get(node.input[1]), dims.get(node.input[2])
        if not weight or not offset or len(weight) != 4 or len(offset) != 4 or None in (*weight[2:], offset[1]):
            continue
        groups, remainder = divmod(offset[1], 2 * weight[2] * weight[3])
        if remainder or groups <= 1:
            continue
        node.attribute.append(helper.make_attribute("offset_group", groups))
        fixes.append(Fix("repair", "deform_conv_offset_group", node.name or "DeformConv",
                         f"offset_group={groups} set (offset channels {offset[1]} = {groups} * 2 * "
                         f"{weight[2]} * {weight[3]})",
                         "paddle2onnx 2.1.0 drops deformable_groups (offset_group) from DeformConv"))
    return fixes


def _element_types(model: onnx.ModelProto) -> dict[str, int]:
    """The element type of every value ONNX inference (lenient) can tell, in every graph and subgraph."""
    types: dict[str, int] = {}
    for graph in iter_graphs(_inferred_leniently(model).graph):
        for value in [*graph.input, *graph.value_info, *graph.output]:
            if _elem_type(value):
                types[value.name] = _elem_type(value)
        types.update((name, tensor.data_type) for name, tensor in constant_tensors(graph).items())
    return types


def bool_where_as_logic(model: onnx.ModelProto) -> list[Fix]:
    """A Where choosing between bool tensors is valid ONNX, but ONNX Runtime has no kernel for it ("Could not
    find an implementation for Where"), so the reference run cannot load the model. paddle2onnx writes one for a
    legacy ``select_input`` of bool values (SLANet-plus's decoder loop). It is rewritten as
    Or(And(c, x), And(Not(c), y)): the same value for every element, with the same broadcasting."""
    types = _element_types(model)
    fixes: list[Fix] = []
    for graph in iter_graphs(model.graph):
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if node.op_type != "Where" or node.domain not in ("", "ai.onnx") or onnx.TensorProto.BOOL not in (
                    types.get(node.input[1]), types.get(node.input[2])):
                nodes.append(node)
                continue
            cond, x, y = node.input
            base = f"{node.name or node.output[0]}__bool_where"
            nodes += [helper.make_node("And", [cond, x], [f"{base}_then"], name=f"{base}_then"),
                      helper.make_node("Not", [cond], [f"{base}_not"], name=f"{base}_not"),
                      helper.make_node("And", [f"{base}_not", y], [f"{base}_else"], name=f"{base}_else"),
                      helper.make_node("Or", [f"{base}_then", f"{base}_else"], [node.output[0]],
                                       name=node.name or f"{base}_or")]
            fixes.append(Fix("repair", "bool_where_as_logic", node.name or "Where",
                             "Where on bool values rewritten as Or(And(c, x), And(Not(c), y))",
                             "ONNX Runtime has no bool Where kernel; the logical form is the same function"))
        if len(nodes) != len(graph.node):
            del graph.node[:]
            graph.node.extend(nodes)
    return fixes


PASSES: list[Callable[[onnx.ModelProto], list[Fix]]] = [sort_nodes_topologically,  # (the others read in order)
                                                        negative_dims_as_unknown,
                                                        unsqueeze_scalar_concat_inputs,
                                                        concat_stacked_rnn_final_states,
                                                        squeeze_shape_elements_on_axis_0,
                                                        deform_conv_offset_group,
                                                        bool_where_as_logic,
                                                        drop_contradicting_shapes]


def repair_model(model: onnx.ModelProto) -> list[Fix]:
    """Apply every repair pass to ``model`` in place; returns what was changed."""
    return [fix for run_pass in PASSES for fix in run_pass(model)]
