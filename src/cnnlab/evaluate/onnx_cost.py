"""What an ONNX file costs, read from the file alone (it is never run here): its learned
parameters and its multiply-adds per image, counted as `cnnlab shapes` counts them for the
torch model, so a leaderboard row and the layer table agree."""

from __future__ import annotations

from math import prod

_WEIGHT_INPUTS = {"Conv": None, "ConvTranspose": None, "Gemm": None, "MatMul": None,
                  "PRelu": None, "BatchNormalization": (1, 2)}  # None: every input


def _load(data: bytes):
    import onnx

    return onnx.load_from_string(data)


def parameter_count(data: bytes) -> int:
    """Learned parameters: the weights and biases of convolutions, fully connected layers and
    batch norms (not their running statistics, nor constants such as the normalisation
    folded into the graph); a bias exported as an Add after a MatMul counts too. An exporter
    that folds batch norm into the convolution before it leaves one bias where torch counted
    a scale and a shift, so such a file counts out_channels fewer per folded norm."""
    graph = _load(data).graph
    sizes = {t.name: prod(t.dims) for t in graph.initializer}
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    counted: set[str] = set()
    for node in graph.node:
        if node.op_type in _WEIGHT_INPUTS:
            positions = _WEIGHT_INPUTS[node.op_type] or range(len(node.input))
            counted.update(node.input[i] for i in positions
                           if i < len(node.input) and node.input[i] in sizes)
        elif node.op_type == "Add" and any(made_by.get(i) == "MatMul" for i in node.input):
            counted.update(i for i in node.input if i in sizes)
    return int(sum(sizes[name] for name in counted))


def _shapes(model) -> dict[str, tuple]:
    """Every tensor's shape after ONNX shape inference, the batch dimension taken as 1."""
    import onnx

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
