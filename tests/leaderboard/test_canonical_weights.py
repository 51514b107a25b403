"""Weights in canonical form (issue 35, point 1): every disguise that leaves a trained
LeNet-5's function alone leaves its canonical weights alone too (a distance of zero, to float
rounding), while a model trained honestly from another seed lies far beyond the threshold;
and what has no canonical form says so instead of guessing."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from cnnlab.data import datasets
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.leaderboard.canonical_weights import (
    _matching,
    architecture,
    canonical_layers,
    packed,
    unpacked,
    weight_distance,
)
from cnnlab.leaderboard.near_copies import NEAR_WEIGHT_DISTANCE
from tests.onnx_models import (
    minimal_classifier,
    noised,
    one_weight,
    other_opset,
    padded_graph,
    permuted,
    rescaled,
    split_linear,
    unfolded_batch_norm,
)

DISGUISES = {"permuted": permuted, "padded": padded_graph, "other opset": other_opset,
             "rescaled": rescaled, "unfolded batch norm": unfolded_batch_norm,
             "split linear": split_linear, "one weight 1e-6": lambda d: one_weight(d, 1e-6)}


@pytest.fixture(scope="module")
def original(trained_onnx):
    return trained_onnx.read_bytes()


@pytest.mark.parametrize("disguise", DISGUISES)
def test_a_disguise_that_keeps_the_function_keeps_the_canonical_weights(original, disguise):
    copy = DISGUISES[disguise](original)
    assert copy != original
    images = datasets.load(datasets.FASHION_MNIST, allow_download=False)["test"][0][:500]
    pixels = images.astype(np.float32) / 255.0
    logits = [predict_all(OnnxPredictor(data, 1), pixels) for data in (original, copy)]
    assert np.array_equal(logits[0].argmax(1), logits[1].argmax(1))  # the same function
    ours, theirs = canonical_layers(original), canonical_layers(copy)
    assert architecture(ours) == architecture(theirs)
    assert weight_distance(ours, theirs) < 1e-5


def test_noise_moves_the_weights_by_its_size_and_honest_models_lie_far_apart(
        original, second_trained_onnx):
    ours = canonical_layers(original)
    near = weight_distance(ours, canonical_layers(noised(original, 1e-3)))
    far = weight_distance(ours, canonical_layers(noised(original, 3e-2)))
    assert 1e-3 < near < 0.05 < far
    honest = weight_distance(ours, canonical_layers(second_trained_onnx.read_bytes()))
    assert honest > 2 * NEAR_WEIGHT_DISTANCE


def test_the_matching_undoes_a_permutation_of_every_hidden_layer(original):
    """Not only the first convolution: each hidden layer's units reordered, the next layer's
    inputs with them (a flattened convolution's channels in blocks)."""
    model = onnx.load_from_string(original)
    init = {t.name: t for t in model.graph.initializer}
    layers = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    rng = np.random.default_rng(5)
    previous = None  # the previous layer's new order
    for number, node in enumerate(layers):
        weight = numpy_helper.to_array(init[node.input[1]]).copy()
        bias = numpy_helper.to_array(init[node.input[2]]).copy()
        if previous is not None:
            if weight.ndim == 2 and weight.shape[1] != len(previous):  # after the flatten
                blocks = weight.reshape(len(weight), len(previous), -1)[:, previous]
                weight = blocks.reshape(len(weight), -1)
            else:
                weight = weight[:, previous]
        previous = None
        if number < len(layers) - 1:
            previous = rng.permutation(len(bias))
            weight, bias = weight[previous], bias[previous]
        for name, values in ((node.input[1], weight), (node.input[2], bias)):
            init[name].CopyFrom(numpy_helper.from_array(values, name))
    shuffled = model.SerializeToString()
    assert weight_distance(canonical_layers(original), canonical_layers(shuffled)) < 1e-5


def _greedy(cost: np.ndarray) -> np.ndarray:
    """The greedy matching as its definition says: pairs in order of cost (ties in row-major
    order), each taken when both its units are free."""
    match, taken = np.full(cost.shape[0], -1), set()
    for flat in np.argsort(cost, axis=None, kind="stable"):
        unit, partner = divmod(int(flat), cost.shape[1])
        if match[unit] < 0 and partner not in taken:
            match[unit] = partner
            taken.add(partner)
    return match


@pytest.mark.parametrize("shape", [(120, 120), (84, 84), (16, 16), (6, 9), (30, 20)])
def test_the_matching_is_the_greedy_one_ties_included(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(40):
        earlier, later = rng.normal(size=(shape[0], 4)), rng.normal(size=(shape[1], 4))
        if trial % 2:  # few distinct values: many pairs tie
            earlier, later = np.round(earlier), np.round(later)
        cost = (np.sum(earlier ** 2, axis=1)[:, None] + np.sum(later ** 2, axis=1)[None, :]
                - 2 * earlier @ later.T)
        assert (_matching(earlier, later) == _greedy(cost)).all(), (shape, trial)


def test_packing_keeps_the_layers(original):
    layers = canonical_layers(original)
    again = unpacked(packed(layers))
    assert [(a.kind, a.weight.shape, a.before) for a in again] == \
           [(b.kind, b.weight.shape, b.before) for b in layers]
    assert weight_distance(layers, again) < 1e-6


def test_two_architectures_do_not_compare(original):
    linear = canonical_layers(minimal_classifier(
        weight=np.random.default_rng(0).normal(size=(784, 10))).SerializeToString())
    assert [layer.kind for layer in linear] == ["dense"]
    assert architecture(linear) != architecture(canonical_layers(original))
    assert weight_distance(canonical_layers(original), linear) is None


def _branching(op: str) -> bytes:
    """Flatten, then two linear layers whose outputs meet (Add or Concat feeding a third)."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
               for name, shape in (("a", (784, 10)), ("b", (784, 10)), ("c", (20, 10)))]
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"]),
             helper.make_node("Gemm", ["flat", "a"], ["left"]),
             helper.make_node("Gemm", ["flat", "b"], ["right"])]
    if op == "Add":
        nodes.append(helper.make_node("Add", ["left", "right"], ["logits"]))
    else:
        nodes += [helper.make_node("Concat", ["left", "right"], ["both"], axis=1),
                  helper.make_node("Gemm", ["both", "c"], ["logits"])]
    return minimal_classifier(nodes=nodes, initializers=weights).SerializeToString()


@pytest.mark.parametrize("op", ["Add", "Concat"])
def test_a_network_with_branches_has_no_canonical_form(op):
    assert canonical_layers(_branching(op)) is None


def test_a_grouped_convolution_has_no_canonical_form():
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "k"),
               numpy_helper.from_array(rng.normal(size=(4 * 26 * 26, 10)).astype(np.float32),
                                       "w")]
    nodes = [helper.make_node("Conv", ["pixels", "k"], ["maps"], group=2),
             helper.make_node("Flatten", ["maps"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w"], ["logits"])]
    model = minimal_classifier(input_shape=("batch", 2, 28, 28), nodes=nodes,
                               initializers=weights).SerializeToString()
    assert canonical_layers(model) is None


def test_a_network_beyond_the_kept_size_is_compared_by_predictions_alone():
    from cnnlab.leaderboard.canonical_weights import MAX_PARAMETERS

    classes = MAX_PARAMETERS // 784 + 1
    large = minimal_classifier(classes=classes, weight=np.ones((784, classes), np.float32))
    assert canonical_layers(large.SerializeToString()) is None
    small = minimal_classifier(classes=classes // 8,
                               weight=np.ones((784, classes // 8), np.float32))
    assert canonical_layers(small.SerializeToString()) is not None
