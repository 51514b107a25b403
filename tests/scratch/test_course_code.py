"""The course's own code runs on the scratch engine with only the import changed.

The two-layer network of "Learning PyTorch with Examples", in its manual-gradient version
(`.t()`, `.clone()`, `grad_h[h < 0] = 0`, `w1 -= ...`) and its autograd version (`w1 -= lr *
w1.grad` under `no_grad()`, `w1.grad.zero_()`), is run as text twice: under `import torch`
and under `import cnnlab.scratch as torch`. Both draw the same random starting values (the
scratch run replays the numbers torch's randn drew), and the losses must agree step by step.
"""

import numpy as np
import pytest
import torch

import cnnlab.scratch

HEADER = """\
import torch

dtype = torch.{dtype}
device = torch.device("cpu")
N, D_in, H, D_out = 64, 1000, 100, 10
"""

MANUAL = HEADER + """
x = torch.randn(N, D_in, device=device, dtype=dtype)
y = torch.randn(N, D_out, device=device, dtype=dtype)
w1 = torch.randn(D_in, H, device=device, dtype=dtype)
w2 = torch.randn(H, D_out, device=device, dtype=dtype)

learning_rate = 1e-6
for t in range(500):
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)

    loss = (y_pred - y).pow(2).sum().item()
    losses.append(loss)

    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h_relu = grad_y_pred.mm(w2.t())
    grad_h = grad_h_relu.clone()
    grad_h[h < 0] = 0
    grad_w1 = x.t().mm(grad_h)

    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * grad_w2
"""

AUTOGRAD = HEADER + """
x = torch.randn(N, D_in, device=device, dtype=dtype)
y = torch.randn(N, D_out, device=device, dtype=dtype)
w1 = torch.randn(D_in, H, device=device, dtype=dtype, requires_grad=True)
w2 = torch.randn(H, D_out, device=device, dtype=dtype, requires_grad=True)

learning_rate = 1e-6
for t in range(500):
    y_pred = x.matmul(w1).clamp(min=0).matmul(w2)

    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())

    loss.backward()

    with torch.no_grad():
        w1 -= learning_rate * w1.grad
        w2 -= learning_rate * w2.grad

        w1.grad.zero_()
        w2.grad.zero_()
"""


def _run(source: str) -> list[float]:
    scope = {"losses": []}
    exec(compile(source, "course.py", "exec"), scope)
    return scope["losses"]


def _torch_losses_and_draws(source: str, monkeypatch) -> tuple[list[float], list[np.ndarray]]:
    draws, randn = [], torch.randn

    def recording_randn(*args, **kwargs):
        out = randn(*args, **kwargs)
        draws.append(out.detach().numpy().copy())
        return out

    with monkeypatch.context() as patch:
        patch.setattr(torch, "randn", recording_randn)
        torch.manual_seed(0)
        return _run(source), draws


def _scratch_losses(source: str, draws: list[np.ndarray], monkeypatch) -> list[float]:
    replay = iter(draws)
    randn = cnnlab.scratch.randn

    def replaying_randn(*shape, dtype=np.float32, device=None, requires_grad=False):
        drawn = randn(*shape, dtype=dtype, device=device)  # shape and argument checks
        values = next(replay)
        assert values.shape == drawn.shape
        return cnnlab.scratch.tensor(values.astype(dtype), requires_grad=requires_grad)

    with monkeypatch.context() as patch:
        patch.setattr(cnnlab.scratch, "randn", replaying_randn)
        scratch_source = source.replace("import torch\n", "import cnnlab.scratch as torch\n", 1)
        assert scratch_source.count("torch") == source.count("torch")  # only the import
        return _run(scratch_source)


# The loss falls from about 3e7 to below 1e-6 (float64) or 1e-2 (float32), where its rounding
# (of the difference y_pred - y) is absolute rather than relative: hence the atol.
@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-9, 1e-12), ("float", 1e-3, 1e-4)])
@pytest.mark.parametrize("version", ["manual", "autograd"])
def test_the_two_layer_network_gives_torchs_losses_step_by_step(version, dtype, rtol, atol,
                                                                monkeypatch):
    source = (MANUAL if version == "manual" else AUTOGRAD).format(dtype=dtype)
    theirs, draws = _torch_losses_and_draws(source, monkeypatch)
    ours = _scratch_losses(source, draws, monkeypatch)
    assert len(ours) == len(theirs) == 500
    assert theirs[-1] < theirs[0] * 1e-3  # it really learns
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def test_the_autograd_version_needs_no_grad_for_its_update():
    w = cnnlab.scratch.randn(3, requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match=r"leaf Variable that requires grad .* in-place"):
        w -= 0.1 * w.grad


def test_the_students_guide_s_two_layer_network_runs_as_printed_on_both_engines():
    """The students' guide's snippet (docs/students.md), exactly as printed, and with
    `import torch`."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "docs" / "students.md").read_text()
    section = readme[readme.index("**3. The two-layer network"):]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start:section.index("\n```", start)]
    assert snippet.startswith("import cnnlab.scratch as torch")
    for source in (snippet, snippet.replace("import cnnlab.scratch as torch", "import torch")):
        scope = {}
        exec(compile(source, "docs/students.md", "exec"), scope)  # our guide's text
        assert scope["loss"].item() < 1e-2  # from about 3e7: it learns
