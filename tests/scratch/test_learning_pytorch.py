# ruff: noqa: E501 - the tutorial's lines, as published
"""PyTorch's "Learning PyTorch with Examples" tutorial, its sine-fitting sections as
published, runs on the scratch engine with only `import torch` changed: tensors
(`torch.linspace`, `torch.sin`, 0-d `randn(())`), a custom `torch.autograd.Function`, the
`nn` package (`pow` with a tensor exponent, `Flatten(0, 1)`, `MSELoss(reduction='sum')`),
`optim.RMSprop`, and a custom `nn.Module` with `nn.Parameter`. Where the tutorial draws with
`torch.randn` the scratch run replays torch's numbers, so the printed losses must agree;
where it initialises a `Linear` (torch's generator, not randn) both must fit the sine as well.
(The last section, the dynamic network, takes 30,000 steps and is left out.)"""

import contextlib
import io
import re

import numpy as np
import pytest
import torch

import cnnlab.scratch

TENSORS = """
import torch
import math

dtype = torch.float
device = torch.device("cpu")

x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.randn((), device=device, dtype=dtype)
b = torch.randn((), device=device, dtype=dtype)
c = torch.randn((), device=device, dtype=dtype)
d = torch.randn((), device=device, dtype=dtype)

learning_rate = 1e-6
for t in range(2000):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3

    loss = (y_pred - y).pow(2).sum().item()
    if t % 100 == 99:
        print(t, loss)

    grad_y_pred = 2.0 * (y_pred - y)
    grad_a = grad_y_pred.sum()
    grad_b = (grad_y_pred * x).sum()
    grad_c = (grad_y_pred * x ** 2).sum()
    grad_d = (grad_y_pred * x ** 3).sum()

    a -= learning_rate * grad_a
    b -= learning_rate * grad_b
    c -= learning_rate * grad_c
    d -= learning_rate * grad_d


print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
"""

FUNCTION = """
import torch
import math


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


dtype = torch.float
device = torch.device("cpu")

x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
for t in range(2000):
    P3 = LegendrePolynomial3.apply

    y_pred = a + b * P3(c + d * x)

    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())

    loss.backward()

    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad

        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f'Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)')
"""

OPTIM = """
import torch
import math

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)
loss_fn = torch.nn.MSELoss(reduction='sum')

learning_rate = 1e-3
optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
for t in range(2000):
    y_pred = model(xx)

    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())

    optimizer.zero_grad()

    loss.backward()

    optimizer.step()


linear_layer = model[0]
print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
"""

MODULE = """
import torch
import math


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3'


x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

model = Polynomial3()

criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
for t in range(2000):
    y_pred = model(x)

    loss = criterion(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f'Result: {model.string()}')
"""


def _printed(source: str) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "tutorial.py", "exec"), {})  # the tutorial, as published
    return out.getvalue().splitlines()


def _losses(lines: list[str]) -> np.ndarray:
    return np.array([float(line.split()[1]) for line in lines if re.fullmatch(r"\d+ \S+",
                                                                              line)])


def _on_both(source: str, monkeypatch) -> tuple[list[str], list[str]]:
    """(torch's printed lines, the scratch engine's), the scratch run replaying every number
    torch.randn drew."""
    draws, randn = [], torch.randn

    def recording(*args, **kwargs):
        out = randn(*args, **kwargs)
        draws.append(out.detach().numpy().copy())
        return out

    with monkeypatch.context() as patch:
        patch.setattr(torch, "randn", recording)
        torch.manual_seed(0)
        theirs = _printed(source)
    replay, scratch_randn = iter(draws), cnnlab.scratch.randn

    def replaying(*shape, dtype=np.float32, device=None, requires_grad=False):
        values = next(replay)
        assert values.shape == scratch_randn(*shape, dtype=dtype, device=device).shape
        return cnnlab.scratch.tensor(values.astype(dtype), requires_grad=requires_grad)

    scratch_source = source.replace("import torch\n", "import cnnlab.scratch as torch\n", 1)
    assert scratch_source.count("torch") == source.count("torch")  # only the import changed
    with monkeypatch.context() as patch:
        patch.setattr(cnnlab.scratch, "randn", replaying)
        ours = _printed(scratch_source)
    return theirs, ours


@pytest.mark.parametrize("section", ["TENSORS", "FUNCTION", "MODULE"])
def test_a_section_prints_torchs_losses(section, monkeypatch):
    theirs, ours = _on_both(globals()[section], monkeypatch)
    assert len(_losses(ours)) == len(_losses(theirs)) == 20
    assert _losses(theirs)[-1] < 20  # the cubic fits the sine: it learns
    np.testing.assert_allclose(_losses(ours), _losses(theirs), rtol=2e-3)
    assert ours[-1].startswith("Result: y = ")


def test_the_nn_and_optim_section_fits_the_sine_as_well(monkeypatch):
    theirs, ours = _on_both(OPTIM, monkeypatch)
    assert ours[-1].startswith("Result: y = ")
    assert _losses(ours)[-1] == pytest.approx(_losses(theirs)[-1], rel=0.05)
    coefficients = [float(n) for n in re.findall(r"-?[\d.]+(?:e-?\d+)?", ours[-1])]
    assert coefficients[1] == pytest.approx(0.857, abs=0.01)  # the x term of the fit
