"""What an ONNX file costs, read from the file alone (it is never run here): its learned
parameters and its multiply-adds per image, counted as `cnnlab shapes` counts them for the
torch model, so a leaderboard row and the layer table agree."""

from __future__ import annotations

from math import prod

_WEIGHT_INPUTS = {"Conv": None, "ConvTranspose": None, "Gemm": None, "MatMul": None,
                  "Einsum": None, "PRelu": None, "BatchNormalization": (1, 2),
                  "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2)}  # None: all
_NOT_LEARNED = {"BatchNormalization": (3, 4)}  # running statistics, not parameters
# A constant of this many values or fewer, outside a weight input, is not a parameter (the
# normalisation folded in front: a mean and a std per channel); a larger one is, whatever op
# uses it, so no arithmetic hides a weight.
_SMALL_CONSTANT = 64
_INDEX_TYPES = {6, 7}  # INT32, INT64: shapes, axes and indices, not learned values


def _load(data: bytes):
    import onnx

    return onnx.load_from_string(data)


def _nodes(graph):
    """Every node, those in subgraphs (If, Loop, Scan) too."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else []
            for subgraph in [*subgraphs, *attribute.graphs]:
                yield from _nodes(subgraph)


def _constants(graph) -> dict:
    """name -> (values, data type) of every initializer and Constant node's value."""
    constants = {t.name: (prod(t.dims), t.data_type) for t in graph.initializer}
    for node in _nodes(graph):
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    constants[node.output[0]] = (prod(attribute.t.dims), attribute.t.data_type)
    return constants


def _ancestors(names, made_by: dict) -> set[str]:
    """`names` and every value they are computed from."""
    seen, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = made_by.get(name)
        if node is not None:
            stack.extend(i for i in node.input if i)
    return seen


def parameter_count(data: bytes) -> int:
    """Learned parameters: every constant that reaches a weight input of a convolution, a
    fully connected layer or a norm, whatever ops it passes through on the way (an Identity
    or a Mul in front of a Gemm hides nothing), and every larger constant that reaches the
    output by any path. Not counted: batch norms' running statistics, shapes and indices,
    and the per-channel normalisation folded into the graph. A bias exported as an Add
    after a MatMul counts too. An exporter that folds batch norm into the convolution before
    it leaves one bias where torch counted a scale and a shift, so such a file counts
    out_channels fewer per folded norm."""
    graph = _load(data).graph
    constants = _constants(graph)
    nodes = list(_nodes(graph))
    made_by = {output: node for node in nodes for output in node.output
               if node.op_type != "Constant"}
    weights: list[str] = []
    not_learned: set[str] = set()
    for node in nodes:
        if node.op_type in _WEIGHT_INPUTS:
            positions = _WEIGHT_INPUTS[node.op_type] or range(len(node.input))
            weights.extend(node.input[i] for i in positions if i < len(node.input))
        elif node.op_type == "Add" and any(
                getattr(made_by.get(i), "op_type", None) == "MatMul" for i in node.input):
            weights.extend(node.input)
        not_learned.update(node.input[i] for i in _NOT_LEARNED.get(node.op_type, ())
                           if i < len(node.input))
    # An input computed from the pixels is an activation (the Conv's X, or a MatMul's either
    # side); only a weight input computed from constants alone leads to parameters.
    from_pixels = {i.name for i in graph.input} - constants.keys()
    for node in nodes:  # nodes come in topological order
        if any(i in from_pixels for i in node.input):
            from_pixels.update(node.output)
    weights = [name for name in weights if name and name not in from_pixels]
    counted = {name for name in _ancestors(weights, made_by) if name in constants}
    # Subgraphs read outer values by name, not through their node's inputs: every node's
    # inputs (in any graph) are what reaches the output.
    used = {i for node in nodes for i in node.input} | {o.name for o in graph.output}
    counted |= {name for name in used & constants.keys()
                if constants[name][0] > _SMALL_CONSTANT and name not in not_learned}
    return int(sum(constants[name][0] for name in counted
                   if constants[name][1] not in _INDEX_TYPES))


def _shapes(model) -> dict[str, tuple]:
    """Every tensor's shape after ONNX shape inference from the input alone, the batch
    dimension taken as 1. The file's own value_info is dropped first: it is a claim (one
    file claimed 2^80 multiply-adds through it), not something the model computes."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.graph.ClearField("value_info")
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    graph = inferred.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(tensor.dims)
    return shapes


def multiply_adds(data: bytes) -> int | None:
    """Multiply-accumulates of one image through the convolutions, transposed convolutions
    and matrix products; None when shape inference cannot size one of them."""
    model = _load(data)
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        try:
            if node.op_type == "Conv":
                weight = shapes[node.input[1]]
                # every output value: in_channels/groups x kernel taps
                total += prod(shapes[node.output[0]]) * prod(weight[1:])
            elif node.op_type == "ConvTranspose":
                # every input value is spread over out_channels/groups x kernel taps
                total += prod(shapes[node.input[0]]) * prod(shapes[node.input[1]][1:])
            else:  # every output value: one dot product over the inner dimension
                left = shapes[node.input[0]]
                trans_a = any(a.name == "transA" and a.i for a in node.attribute)
                total += prod(shapes[node.output[0]]) * (left[-2] if trans_a else left[-1])
        except (KeyError, IndexError):
            return None
    return int(total)
