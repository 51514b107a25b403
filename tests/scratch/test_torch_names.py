"""The names a course uses beyond the layers of a CNN, each compared with torch 2.13 (float64
values and gradients): activations and losses, ModuleList, BatchNorm1d, LocalResponseNorm,
tensor methods, in-place updates, creation functions, save/load, learning-rate schedules,
DataLoader, gradcheck, one-image inputs and padding modes."""

import numpy as np
import pytest
import torch

from cnnlab import scratch
from cnnlab.scratch import Tensor, nn
from cnnlab.scratch.nn import functional as F
from tests.scratch.helpers import check_op, randn


@pytest.mark.parametrize("make", [
    lambda m: m.Tanh(), lambda m: m.Sigmoid(), lambda m: m.LeakyReLU(),
    lambda m: m.LeakyReLU(0.2), lambda m: m.Softmax(dim=1), lambda m: m.LogSoftmax(dim=-1),
    lambda m: m.LocalResponseNorm(5), lambda m: m.LocalResponseNorm(2, 1e-2, 0.6, 2.0),
])
def test_activation_and_normalisation_layers_match_torch(make):
    x = randn(2, 7, 3, 3)
    x[0, 0, 0, 0] = 0.0  # LeakyReLU's kink
    check_op(make(nn), make(torch.nn), x)


def test_local_response_norm_takes_3d_input_and_refuses_2d():
    check_op(nn.LocalResponseNorm(3), torch.nn.LocalResponseNorm(3), randn(2, 6, 5))
    with pytest.raises(ValueError, match=r"3 or more dimensions \(N, C, \.\.\.\), got shape"):
        nn.LocalResponseNorm(3)(Tensor(randn(2, 6)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch_with_gradients_for_both_sides(reduction):
    check_op(nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction),
             randn(4, 3), randn(4, 3, seed=1))
    with pytest.raises(ValueError, match=r"target of shape \(4,\) must match the input \(3,\)"):
        F.mse_loss(Tensor(randn(3)), Tensor(randn(4)))


@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 5)])
def test_batch_norm_1d_trains_and_evaluates_as_torch(shape):
    ours, theirs = nn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    check_op(ours, theirs, randn(*shape))
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    check_op(ours, theirs, randn(*shape, seed=3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D \(N, C\) or 3-D"):
        ours(Tensor(randn(2, 3, 4, 4)))


def _stack_of_linears(engine_nn):
    class Net(engine_nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = engine_nn.ModuleList([engine_nn.Linear(4, 4) for _ in range(2)])
            self.layers.append(engine_nn.Linear(4, 2))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return Net()


def test_module_list_registers_its_layers_with_torchs_keys():
    ours, theirs = _stack_of_linears(nn).double(), _stack_of_linears(torch.nn).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours.layers) == 3 and isinstance(ours.layers[-1], nn.Linear)
    assert len(list(ours.parameters())) == 6
    ours.load_state_dict(theirs.state_dict())
    check_op(ours, theirs, randn(5, 4))
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        ours.layers[3]


def test_tensor_methods_match_torch():
    x = randn(3, 4)
    x[0, 1] = 0.0
    check_op(lambda t: t.abs(), lambda t: t.abs(), x)
    check_op(lambda t: (t * t + 1).sqrt(), lambda t: (t * t + 1).sqrt(), x)
    check_op(lambda t: t.exp().log(), lambda t: t.exp().log(), x)
    check_op(lambda t: t.t(), lambda t: t.t(), x)
    check_op(lambda t: t.clone() * 2, lambda t: t.clone() * 2, x)
    check_op(lambda t: t.max(), lambda t: t.max(), x)
    check_op(lambda t: t.min(), lambda t: t.min(), x)
    check_op(lambda a, b: a.max(b), lambda a, b: a.max(b), x, randn(3, 4, seed=1))
    tied = np.array([1.0, 3.0, 3.0, 2.0])  # the gradient of a tied maximum is shared
    check_op(lambda t: t.max(), lambda t: t.max(), tied)
    check_op(lambda a, b: scratch.maximum(a, b), torch.maximum, tied, tied[::-1].copy())


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_and_min_along_a_dimension_give_torchs_values_indices_and_gradients(name, dim,
                                                                               keepdim):
    x = randn(3, 4)
    check_op(lambda t: getattr(t, name)(dim, keepdim).values,
             lambda t: getattr(t, name)(dim, keepdim).values, x)
    np.testing.assert_array_equal(getattr(Tensor(x), name)(dim, keepdim).indices,
                                  getattr(torch.tensor(x), name)(dim, keepdim).indices.numpy())


def test_the_course_reads_predictions_with_torch_max():
    outputs = randn(5, 10)
    _, ours = scratch.max(Tensor(outputs), 1)
    _, theirs = torch.max(torch.tensor(outputs), 1)
    np.testing.assert_array_equal(ours, theirs.numpy())
    assert (ours == Tensor(theirs.numpy())).sum().item() == 5


def test_in_place_updates_follow_torchs_rules():
    a = Tensor(np.array([1.0, 2.0, 3.0]))
    a.add_(1).mul_(2)
    a.sub_(Tensor(np.ones(3)), alpha=2)
    a /= 2
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    a.zero_()
    np.testing.assert_array_equal(a, [0.0, 0.0, 0.0])
    a[Tensor(np.array([True, False, True]))] = 5
    np.testing.assert_array_equal(a, [5.0, 0.0, 5.0])
    with pytest.raises(RuntimeError, match="output with shape \\[3\\] doesn't match"):
        a += Tensor(np.ones((2, 3)))

    # Inside the graph, an in-place op is recorded: the gradient flows through it.
    for engine in (scratch, torch):
        w = engine.tensor([1.0, -2.0, 3.0], dtype=engine.float64, requires_grad=True)
        h = w * 2
        h.mul_(3)
        h[1] = 0
        h.add_(w)
        h.sum().backward()
        np.testing.assert_array_equal(np.asarray(w.grad), [7.0, 1.0, 7.0])


def test_a_value_changed_after_an_op_used_it_is_refused_at_backward():
    for engine in (scratch, torch):
        w = engine.tensor([1.0, 2.0], dtype=engine.float64, requires_grad=True)
        x = engine.tensor([3.0, 4.0], dtype=engine.float64)
        y = (w * x).sum()
        x.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_grad_is_a_tensor_that_accumulates_and_checks_its_shape():
    w = Tensor(np.ones(3), requires_grad=True)
    (w * 2).sum().backward()
    first = w.grad
    (w * 3).sum().backward()
    assert w.grad is first  # accumulated in the same tensor, as torch's .grad is
    np.testing.assert_array_equal(first, [5.0, 5.0, 5.0])
    w.grad.zero_()
    np.testing.assert_array_equal(w.grad, [0.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match=r"gradient of size \[4\] to a tensor of size \[3\]"):
        w.grad = Tensor(np.zeros(4))


def test_creation_functions_match_torch():
    for args in [(5,), (1, 4), (0, 1, 0.25), (2, 8, 3)]:
        ours, theirs = scratch.arange(*args), torch.arange(*args)
        np.testing.assert_array_equal(ours, theirs.numpy())
        assert ours.dtype == theirs.numpy().dtype
    x = Tensor(randn(2, 3))
    assert scratch.zeros_like(x).shape == (2, 3) and scratch.ones_like(x).data.sum() == 6
    assert scratch.zeros_like(Tensor(np.arange(3))).dtype == np.int64
    array = np.zeros(3)
    shared = scratch.from_numpy(array)
    array[0] = 7
    assert shared[0].item() == 7  # from_numpy shares memory, as in torch
    with pytest.raises(ValueError, match="scratch engine runs on the CPU"):
        scratch.zeros(2, device="cuda")
    assert not scratch.cuda.is_available() and str(scratch.device("cpu")) == "cpu"


def test_save_and_load_round_trip_a_state_dict_through_safetensors(tmp_path):
    from safetensors.torch import load_file

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    scratch.save(model.state_dict(), tmp_path / "net.safetensors")
    copy = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    copy.load_state_dict(scratch.load(tmp_path / "net.safetensors"))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(copy.state_dict()[key], value)
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    reference.load_state_dict(load_file(tmp_path / "net.safetensors"))  # torch reads it too
    with pytest.raises(TypeError, match="saves state_dicts, not whole objects"):
        scratch.save(model, tmp_path / "model.pt")
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(ValueError, match=r"notes\.txt is not a safetensors file"):
        scratch.load(tmp_path / "notes.txt")


def _schedule(engine, make, steps: int, optimizer="sgd"):
    params = [engine.nn.Parameter(engine.zeros(2, dtype=engine.float64))]
    opt = (engine.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd"
           else engine.optim.Adam(params, lr=0.1))
    scheduler = make(engine.optim.lr_scheduler, opt)
    seen = []
    for _ in range(steps):
        group = opt.param_groups[0]
        seen.append((group["lr"], group.get("momentum", group.get("betas", (0,))[0])))
        opt.step()
        scheduler.step()
    assert scheduler.get_last_lr() == [opt.param_groups[0]["lr"]]
    return np.array(seen)


@pytest.mark.parametrize("make, steps, optimizer", [
    (lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), 10, "sgd"),
    (lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 20, "sgd"),
    (lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=25), 25, "sgd"),
    (lambda s, o: s.OneCycleLR(o, max_lr=1.0, epochs=3, steps_per_epoch=4,
                               anneal_strategy="linear", three_phase=True), 12, "adam"),
])
def test_learning_rate_schedules_match_torch(make, steps, optimizer):
    np.testing.assert_allclose(_schedule(scratch, make, steps, optimizer),
                               _schedule(torch, make, steps, optimizer), rtol=1e-12)


def test_data_loader_batches_shuffles_with_a_seed_and_drops_the_last():
    from cnnlab.scratch.utils.data import DataLoader, TensorDataset

    x, y = Tensor(np.arange(10.0)[:, None]), Tensor(np.arange(10))
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 1), (4, 1), (2, 1)]
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), np.arange(10))
    assert len(DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)) == 2

    def order(seed):
        scratch.manual_seed(seed)
        return np.concatenate([b[1].data for b in DataLoader(TensorDataset(x, y), 3,
                                                             shuffle=True)])

    assert sorted(order(0)) == list(range(10)) and list(order(0)) != list(range(10))
    np.testing.assert_array_equal(order(0), order(0))

    class Squares:  # any object with __getitem__ and __len__ is a dataset
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2,), float(i * i)), i

    images, labels = next(iter(DataLoader(Squares(), batch_size=5)))
    assert images.shape == (5, 2) and labels.tolist() == [0, 1, 2, 3, 4]


def test_gradcheck_passes_correct_gradients_and_names_a_wrong_one():
    from cnnlab.scratch.autograd import GradcheckError, gradcheck
    from cnnlab.scratch.tensor import _record

    x = Tensor(randn(2, 1, 5, 5), requires_grad=True)
    w = Tensor(randn(3, 1, 3, 3, seed=1), requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, stride=2, padding=1), (x, w))

    def wrong_square(a):  # the derivative of a^2 written as a, not 2a
        return _record(a.data ** 2, (a,), lambda g: (g * a.data,))

    with pytest.raises(GradcheckError, match=r"input 0 .* analytical .* numerical"):
        gradcheck(wrong_square, (Tensor(randn(3), requires_grad=True),))
    assert not gradcheck(wrong_square, (Tensor(randn(3), requires_grad=True),),
                         raise_exception=False)
    with pytest.raises(TypeError, match="need float64"):
        gradcheck(wrong_square, (Tensor(randn(3).astype(np.float32), requires_grad=True),))


@pytest.mark.parametrize("op", [
    lambda f, x: f.max_pool2d(x, 2), lambda f, x: f.avg_pool2d(x, 2, 1),
    lambda f, x: f.adaptive_avg_pool2d(x, 2),
])
def test_pooling_takes_one_unbatched_image(op):
    check_op(lambda x: op(F, x), lambda x: op(torch.nn.functional, x), randn(3, 6, 6))


def test_convolutions_take_one_unbatched_image():
    check_op(lambda x, w: F.conv2d(x, w, padding=1),
             lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
             randn(2, 5, 5), randn(4, 2, 3, 3, seed=1))
    check_op(lambda x, w: F.conv_transpose2d(x, w, stride=2),
             lambda x, w: torch.nn.functional.conv_transpose2d(x, w, stride=2),
             randn(2, 3, 3), randn(2, 4, 3, 3, seed=1))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv_padding_modes_match_torch(mode, padding):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    ours = nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    ours.load_state_dict(theirs.state_dict())
    check_op(ours, theirs, randn(2, 2, 6, 7))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_match_torch_and_refuse_too_much_padding(mode):
    pads = (2, 1, 0, 3)
    check_op(lambda x: F.pad(x, pads, mode), lambda x: torch.nn.functional.pad(x, pads, mode),
             randn(1, 2, 4, 5))
    check_op(lambda x: F.pad(x, (1, 2), mode),
             lambda x: torch.nn.functional.pad(x, (1, 2), mode), randn(2, 3))
    with pytest.raises(ValueError, match=f"mode='{mode}' the padding of dimension 3 must be"):
        F.pad(Tensor(randn(1, 1, 3, 3)), (4, 4, 0, 0), mode)
