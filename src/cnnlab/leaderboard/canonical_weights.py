"""A model's weights in a canonical form, so that two files compare by their weights whatever
a copier changed that leaves the function alone: names, opset, Identity, Dropout or add-zero
nodes, batch norm folded into its convolution or not, two linear layers merged into one or
not, each hidden unit's scale (a ReLU network computes the same when a unit's incoming
weights are multiplied by a > 0 and its outgoing ones divided by it), and the order of the
hidden units (channels permuted consistently through the network).

The form covers networks that are one chain of layers, which is what a course's networks
are: convolutions and linear layers (Conv, Gemm, MatMul) with channel-wise operations
between them (activations, pooling, batch norm, dropout) and one flatten. A network with
branches (a residual connection, a concatenation, a flip average) or grouped convolutions
has no canonical form here (None): its near copies are found by their predictions alone.

The order is settled pairwise (`weight_distance`): each hidden layer's units of the later
model are matched to the earlier model's by their incoming weights, after the previous
layer's matching has reordered those weights' input channels. The matching is greedy (the
most similar pair first): a copy's units each have an unmistakable partner, and for two
honest models a matching worse than the best possible only makes them look farther apart,
never closer."""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass

import numpy as np

# Layers of more parameters than this are not kept (a course's networks have far fewer; a
# large network is compared by its predictions alone)
MAX_PARAMETERS = 4_000_000

# The file the evaluating child writes them to, beside the model, for the worker to store
WEIGHTS_FILE = "weights.npz"

# Operations that keep each channel to itself, and what each does to a unit's scale
NO_OPS = {"Identity", "Dropout", "Cast"}
FLATTENING = {"Flatten", "Reshape", "Squeeze", "Unsqueeze"}
POSITIVELY_HOMOGENEOUS = {"Relu", "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool",
                          "GlobalMaxPool", "LpPool"}
CHANNEL_WISE = {"Sigmoid", "Tanh", "Elu", "Selu", "Celu", "Gelu", "HardSigmoid", "HardSwish",
                "Softplus", "Softsign", "Mish", "Clip", "ThresholdedRelu", "Softmax",
                "LogSoftmax", "Erf", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal"}
AFFINE = {"Conv", "Gemm", "MatMul"}

# What lies between two layers, from most to least freedom: only linear operations (the two
# could be one layer), positively homogeneous ones (a unit's scale passes through), others
LINEAR, HOMOGENEOUS, OTHER = 0, 1, 2


@dataclass
class Layer:
    weight: np.ndarray  # (units, inputs, ...): a convolution's kernel or a linear layer's matrix
    bias: np.ndarray  # (units,)
    kind: str  # "conv" or "dense"
    before: int = LINEAR  # what lies between the previous layer and this one


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _attribute(node, name: str, default):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


class _NoForm(Exception):
    """The graph is not one chain of layers this module can put in canonical form."""


def _chain(data: bytes) -> list[Layer]:
    import onnx

    graph = onnx.load_from_string(data).graph
    constants = _constants(graph)
    if sum(value.size for value in constants.values()) > MAX_PARAMETERS:
        raise _NoForm("more weights than are kept")
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise _NoForm("not one input and one output")
    users: dict[str, list] = {}
    for node in graph.node:
        if node.op_type != "Constant":
            for name in {i for i in node.input if i and i not in constants}:
                users.setdefault(name, []).append(node)
    layers: list[Layer] = []
    between = LINEAR
    tensor, end = inputs[0], graph.output[0].name
    while tensor != end:
        following = users.get(tensor, [])
        if len(following) != 1:
            raise _NoForm(f"{tensor!r} is used by {len(following)} nodes")
        node = following[0]
        if len(node.output) < 1 or sum(1 for i in node.input if i == tensor) != 1 or any(
                i and i != tensor and i not in constants for i in node.input):
            raise _NoForm(f"{node.op_type} joins branches")
        between = _step(node, tensor, constants, layers, between)
        tensor = node.output[0]
    if not layers:
        raise _NoForm("no convolution or linear layer")
    return layers


def _step(node, tensor: str, constants: dict, layers: list[Layer], between: int) -> int:
    """Take one node into `layers`; what now lies after the last layer."""
    op = node.op_type
    others = [constants[i] for i in node.input if i and i != tensor]
    if op in AFFINE:
        layer = _affine(node, tensor, constants)
        layer.before = between
        if layers and between == LINEAR and layer.kind == layers[-1].kind == "dense":
            previous = layers.pop()  # two linear layers with nothing between are one
            layer = Layer(layer.weight @ previous.weight,
                          layer.weight @ previous.bias + layer.bias, "dense", previous.before)
        layers.append(layer)
        return LINEAR
    if op == "BatchNormalization":
        if not layers or between != LINEAR:
            raise _NoForm("a batch norm that follows no layer")
        scale, shift, mean, variance = (np.asarray(v, np.float64) for v in others[:4])
        factor = scale / np.sqrt(variance + _attribute(node, "epsilon", 1e-5))
        last = layers[-1]
        last.weight = last.weight * factor.reshape(-1, *[1] * (last.weight.ndim - 1))
        last.bias = (last.bias - mean) * factor + shift
        return LINEAR
    if op in ("Add", "Sub", "Mul", "Div") and others:
        return _constant_arithmetic(op, others[0], layers, between)
    if op in NO_OPS or op in FLATTENING:
        return between
    if op in POSITIVELY_HOMOGENEOUS:
        return max(between, HOMOGENEOUS)
    if op in CHANNEL_WISE:
        return OTHER
    raise _NoForm(f"{op} is not a layer, nor channel-wise")


def _constant_arithmetic(op: str, value: np.ndarray, layers: list[Layer], between: int) -> int:
    value = np.asarray(value, np.float64)
    if not layers:  # the preprocessing contract ahead of the first layer: the same for all
        return between
    last = layers[-1]
    units = len(last.bias)
    if value.size not in (1, units):
        raise _NoForm(f"{op} by a constant of {value.size} values after {units} units")
    per_unit = np.broadcast_to(value.ravel(), (units,))
    if op in ("Add", "Sub"):
        if not np.any(per_unit):
            return between  # an add-zero node
        if between != LINEAR:
            raise _NoForm(f"{op} of a constant after a nonlinearity")
        last.bias = last.bias + (per_unit if op == "Add" else -per_unit)
        return between
    factor = per_unit if op == "Mul" else 1.0 / per_unit
    if np.all(factor == 1.0):
        return between
    if not (between == LINEAR or (between == HOMOGENEOUS and np.all(factor > 0))):
        raise _NoForm(f"{op} by a constant after a nonlinearity")
    shape = (-1, *[1] * (last.weight.ndim - 1))
    last.weight, last.bias = last.weight * factor.reshape(shape), last.bias * factor
    return between


def _affine(node, tensor: str, constants: dict) -> Layer:
    op = node.op_type
    if op == "Conv":
        if node.input[0] != tensor or _attribute(node, "group", 1) != 1:
            raise _NoForm("a grouped convolution")
        weight = np.asarray(constants[node.input[1]], np.float64)
        bias = (np.asarray(constants[node.input[2]], np.float64) if len(node.input) > 2
                and node.input[2] else np.zeros(weight.shape[0]))
        return Layer(weight, bias, "conv")
    if node.input[0] != tensor:
        raise _NoForm(f"{op} with the weights first")
    matrix = np.asarray(constants[node.input[1]], np.float64)
    if matrix.ndim != 2:
        raise _NoForm(f"{op} by a {matrix.ndim}-d weight")
    if op == "MatMul":
        return Layer(matrix.T, np.zeros(matrix.shape[1]), "dense")
    if _attribute(node, "transA", 0):
        raise _NoForm("Gemm with transA")
    weight = (matrix if _attribute(node, "transB", 0) else matrix.T) * _attribute(
        node, "alpha", 1.0)
    bias = np.zeros(weight.shape[0])
    if len(node.input) > 2 and node.input[2]:
        bias = bias + np.broadcast_to(np.asarray(constants[node.input[2]], np.float64).ravel(),
                                      bias.shape) * _attribute(node, "beta", 1.0)
    return Layer(weight, bias, "dense")


def _canonical_scale(layers: list[Layer]) -> None:
    """Each hidden unit's incoming weights and bias to norm 1, its outgoing weights scaled
    to match where what lies between lets a scale through; the output layer to norm 1 as a
    whole (the predicted class does not change)."""
    for layer, following in itertools.pairwise(layers):
        if following.before == OTHER:
            continue
        norms = np.sqrt(np.sum(_rows(layer) ** 2, axis=1))
        norms[norms == 0] = 1.0
        layer.weight = layer.weight / norms.reshape(-1, *[1] * (layer.weight.ndim - 1))
        layer.bias = layer.bias / norms
        following.weight = following.weight * norms.reshape(
            1, -1, *[1] * (following.weight.ndim - 2))
    last = layers[-1]
    norm = np.sqrt(np.sum(_rows(last) ** 2)) or 1.0
    last.weight, last.bias = last.weight / norm, last.bias / norm


def _rows(layer: Layer) -> np.ndarray:
    """A unit per row: its incoming weights, then its bias."""
    return np.concatenate([layer.weight.reshape(len(layer.bias), -1), layer.bias[:, None]], 1)


def canonical_layers(data: bytes) -> list[Layer] | None:
    """The model's layers in canonical scale, each layer's inputs grouped by the previous
    layer's units (a flattened convolution's channels); None when it has no such form."""
    try:
        layers = _chain(data)
    except (_NoForm, KeyError, IndexError, ValueError, TypeError):
        return None  # a file ONNX Runtime runs may still be no chain this module reads
    for previous, layer in itertools.pairwise(layers):
        channels = len(previous.bias)
        if layer.weight.shape[1] % channels:
            return None
        if layer.kind == "dense" and previous.kind == "conv":
            layer.weight = layer.weight.reshape(layer.weight.shape[0], channels, -1)
        elif layer.weight.shape[1] != channels:
            return None
    _canonical_scale(layers)
    return layers


def architecture(layers: list[Layer]) -> str:
    """A digest of the layers' kinds and shapes: two models compare by weights only when
    theirs are equal."""
    shapes = [(layer.kind, layer.weight.shape) for layer in layers]
    return hashlib.sha256(repr(shapes).encode()).hexdigest()


def packed(layers: list[Layer]) -> bytes:
    """The layers as bytes to store (float32 in an .npz: loaded without pickle)."""
    buffer = io.BytesIO()
    arrays = {}
    for number, layer in enumerate(layers):
        arrays[f"weight{number}"] = layer.weight.astype(np.float32)
        arrays[f"bias{number}"] = layer.bias.astype(np.float32)
        arrays[f"kind{number}"] = np.array([layer.kind == "conv", layer.before], np.int8)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def unpacked(blob: bytes) -> list[Layer]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        return [Layer(arrays[f"weight{n}"].astype(np.float64),
                      arrays[f"bias{n}"].astype(np.float64),
                      "conv" if arrays[f"kind{n}"][0] else "dense", int(arrays[f"kind{n}"][1]))
                for n in range(len(arrays.files) // 3)]


def _matching(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """For each of the earlier model's units (rows), the later model's unit matched to it:
    the closest pairs first (greedy; ties go to the first pair in row-major order)."""
    cost = (np.sum(earlier ** 2, axis=1)[:, None] + np.sum(later ** 2, axis=1)[None, :]
            - 2 * earlier @ later.T)
    # A pair that comes first both in its row and in its column among the free units (by
    # cost, then row-major: argmin's order) is one the greedy takes; taking all of them at
    # once, round after round, is the greedy's matching in a few numpy passes instead of a
    # Python loop over the sorted pairs (30 ms a LeNet-5 pair; 200 students: 20,000 pairs).
    match = np.full(len(earlier), -1)
    free_rows, free_columns = np.ones(len(earlier), bool), np.ones(len(later), bool)
    while free_rows.any() and free_columns.any():
        open_ = np.where(free_rows[:, None] & free_columns[None, :], cost, np.inf)
        best_column, best_row = open_.argmin(axis=1), open_.argmin(axis=0)
        rows = np.flatnonzero(free_rows)
        taken = rows[best_row[best_column[rows]] == rows]
        match[taken] = best_column[taken]
        free_rows[taken], free_columns[best_column[taken]] = False, False
    return match


def weight_distance(earlier: list[Layer], later: list[Layer]) -> float | None:
    """How far the later model's weights are from the earlier's, relative to their size,
    with the later's hidden units matched to the earlier's (0: the same network; honest
    models of one architecture are near 1). None for two architectures."""
    if [(a.kind, a.weight.shape) for a in earlier] != [(b.kind, b.weight.shape) for b in later]:
        return None
    difference = size = 0.0
    match = None  # for each of the earlier's units of the previous layer, the later's unit
    for number, (ours, theirs) in enumerate(zip(earlier, later, strict=True)):
        weight = theirs.weight if match is None else theirs.weight[:, match]
        aligned = Layer(weight, theirs.bias, theirs.kind)
        if number < len(earlier) - 1:  # the output layer's units are the classes: not moved
            match = _matching(_rows(ours), _rows(aligned))
            aligned = Layer(weight[match], theirs.bias[match], theirs.kind)
        difference += float(np.sum((_rows(aligned) - _rows(ours)) ** 2))
        size += float(np.sum(_rows(ours) ** 2))
    return float(np.sqrt(difference / size)) if size else None
