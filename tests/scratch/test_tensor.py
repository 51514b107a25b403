"""Tensor arithmetic and autograd mechanics against torch."""

import numpy as np
import pytest
import torch

import cnnlab.scratch as scratch
from cnnlab.scratch import Tensor, no_grad
from tests.scratch.helpers import check_op, randn

BINARY = [
    (lambda a, b: a + b, (3, 4), (4,)),
    (lambda a, b: a - b, (2, 1, 4), (3, 1)),
    (lambda a, b: a * b, (3, 4), (3, 1)),
    (lambda a, b: a / b, (3, 4), (1, 4)),
    (lambda a, b: a @ b, (3, 4), (4, 5)),
    (lambda a, b: a @ b, (2, 3, 4), (4, 2)),
    (lambda a, b: a @ b, (5, 2, 3, 4), (2, 4, 3)),
    (lambda a, b: a @ b, (4,), (4, 3)),
    (lambda a, b: a @ b, (3, 4), (4,)),
]


@pytest.mark.parametrize("fn, a_shape, b_shape", BINARY)
def test_binary_ops_with_broadcasting(fn, a_shape, b_shape):
    a = randn(*a_shape)
    b = np.abs(randn(*b_shape, seed=1)) + 0.5  # away from zero, for the division
    check_op(fn, fn, a, b)


UNARY = [
    (lambda a: a.sum(), lambda a: a.sum()),
    (lambda a: a.sum(dim=1), lambda a: a.sum(dim=1)),
    (lambda a: a.sum(dim=(0, 2), keepdim=True), lambda a: a.sum(dim=(0, 2), keepdim=True)),
    (lambda a: a.mean(dim=-1), lambda a: a.mean(dim=-1)),
    (lambda a: a.mean(), lambda a: a.mean()),
    (lambda a: a.exp(), lambda a: a.exp()),
    (lambda a: (a * a + 1).log(), lambda a: (a * a + 1).log()),
    (lambda a: a.tanh(), lambda a: a.tanh()),
    (lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    (lambda a: a.relu(), lambda a: a.relu()),
    (lambda a: a.clamp(min=-0.5, max=0.7), lambda a: a.clamp(min=-0.5, max=0.7)),
    (lambda a: a**3, lambda a: a**3),
    (lambda a: 2.0 - a / 3.0, lambda a: 2.0 - a / 3.0),
    (lambda a: -a, lambda a: -a),
    (lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6)),
    (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2)),
    (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1)),
    (lambda a: a.flip(2), lambda a: a.flip(2)),
    (lambda a: a.flip(0, -1), lambda a: a.flip(0, -1)),
    (lambda a: scratch.flip(a, (1, 2)) * a, lambda a: torch.flip(a, (1, 2)) * a),
    (lambda a: a.flatten(1), lambda a: a.flatten(1)),
    (lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1)),
    (lambda a: a[1:, ::2], lambda a: a[1:, ::2]),
    (lambda a: a[:, [0, 2, 0]], lambda a: a[:, [0, 2, 0]]),  # repeated index accumulates
    (lambda a: a.double().float(), lambda a: a.double().float()),
    (lambda a: a.sin() * a.cos(), lambda a: a.sin() * a.cos()),
    (lambda a: scratch.sin(a) + scratch.cos(a), lambda a: torch.sin(a) + torch.cos(a)),
    (lambda a: scratch.flatten(a, 1), lambda a: torch.flatten(a, 1)),
    # a tensor exponent, broadcast (the tutorial's x.unsqueeze(-1).pow(torch.tensor([1, 2, 3])))
    (lambda a: a.unsqueeze(-1).pow(scratch.tensor([1, 2, 3])),
     lambda a: a.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))),
]


@pytest.mark.parametrize("ours, theirs", UNARY)
def test_unary_ops(ours, theirs):
    check_op(ours, theirs, randn(2, 3, 4))


def test_cat_and_stack():
    check_op(lambda a, b: scratch.cat([a, b, a], dim=1),
             lambda a, b: torch.cat([a, b, a], dim=1), randn(2, 3), randn(2, 5, seed=1))
    check_op(lambda a, b: scratch.stack([a, b], dim=1),
             lambda a, b: torch.stack([a, b], dim=1), randn(2, 3), randn(2, 3, seed=1))


def test_a_tensor_used_twice_accumulates_both_gradients():
    check_op(lambda a: a * a + a, lambda a: a * a + a, randn(3, 3))


def test_float32_is_the_default_and_float64_is_kept():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert scratch.randn(2).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2)).sum().dtype == np.float64  # reductions keep float64
    assert (Tensor(np.zeros(2, np.float32)) * 2.5).dtype == np.float32


def test_no_grad_records_nothing():
    w = Tensor(randn(3), requires_grad=True)
    with no_grad():
        y = w * 2
    assert not y.requires_grad
    assert scratch.is_grad_enabled()


def test_leaf_gradients_accumulate_across_backward_calls():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad, [6.0, 6.0])


def test_backward_twice_through_a_freed_graph_raises():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(w.grad, [4.0, 8.0])


def test_intermediate_gradients_are_kept_only_on_request():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    hidden = w * 2
    hidden.retain_grad()
    other = w * 3
    (hidden * other).sum().backward()
    np.testing.assert_array_equal(hidden.grad, [3.0, 6.0])
    assert other.grad is None


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = Tensor(randn(3), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()


def test_deep_graphs_do_not_hit_the_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1, 2], requires_grad=True)


def test_truth_value_follows_numpy():
    assert Tensor([2.0]) == Tensor([2.0])
    assert Tensor([1.0]) != Tensor([2.0])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]) == Tensor([1.0, 2.0]))


def test_a_tensor_exponent_gets_its_gradient_too():
    check_op(lambda a, e: a.abs().pow(e), lambda a, e: a.abs().pow(e), randn(2, 3), randn(3))


def test_linspace_and_index_are_torchs():
    np.testing.assert_allclose(scratch.linspace(-3.0, 3.0, 7).data,
                               torch.linspace(-3.0, 3.0, 7).numpy())
    assert scratch.linspace(0, 1, 5).dtype == np.float32
    classes = ("plane", "car", "bird")
    assert classes[scratch.tensor([2, 0])[0]] == "bird"  # a 0-d integer tensor indexes
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        classes[scratch.tensor(1.0)]


def test_a_function_of_ones_own_gives_torchs_gradients():
    """torch.autograd.Function as the tutorial writes it (its LegendrePolynomial3, run from
    the tutorial's own text on each engine)."""
    from tests.scratch.test_learning_pytorch import FUNCTION

    definition = FUNCTION.split("\n\n\ndtype")[0].replace("import torch\n", "")

    def legendre(lib):
        scope = {"torch": lib}
        exec(definition, scope)  # the class as published
        return lambda x, w: (scope["LegendrePolynomial3"].apply(x * w) * w).sum()

    check_op(legendre(scratch), legendre(torch), randn(4, 3), randn(3))
