"""One capture of the computation (`models.capture`), on both engines, with networks written
as students write them: PyTorch's tutorial network (`F.relu` after each convolution, one
`self.pool` called twice, `torch.flatten`) and one with batch norm, an in-place functional
ReLU, a residual sum and dropout. Every call site is a row of `shapes`, a stage of the
feature maps and a choice of Grad-CAM, with values equal to the network computed directly."""

import numpy as np
import pytest
import torch

from cnnlab.models.capture import record
from cnnlab.models.engines import get_engine
from cnnlab.models.summary import summarize
from cnnlab.viz.attribution import attribute, spatial_layers
from cnnlab.viz.layers import conv_layers, trace_stages
from tests.scratch.test_tutorials import TUTORIAL

TORCH_IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F"
SCRATCH_IMPORTS = ("import cnnlab.scratch as torch\nimport cnnlab.scratch.nn as nn\n"
                   "import cnnlab.scratch.nn.functional as F")

# The tutorial's network brought to Fashion-MNIST: one channel, 16 * 4 * 4 on 28x28 images
TUTORIAL_NET = TUTORIAL.split("\n\nnet = Net()")[0].replace(
    "nn.Conv2d(3, 6, 5)", "nn.Conv2d(1, 6, 5)").replace(
    "import torch.optim as optim\n", "").replace("16 * 5 * 5", "16 * 4 * 4")

BATCH_NORM_NET = TORCH_IMPORTS + '''


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        x = x + F.relu(self.bn2(self.conv2(x)))
        x = self.drop(torch.flatten(self.pool(x), 1))
        return self.fc(x)
'''

TUTORIAL_CALLS = ["conv1", "F.relu", "pool", "conv2", "F.relu (2nd call)", "pool (2nd call)",
                  "flatten", "fc1", "F.relu (3rd call)", "fc2", "F.relu (4th call)", "fc3"]
BATCH_NORM_CALLS = ["conv1", "bn1", "F.relu", "pool", "conv2", "bn2", "F.relu (2nd call)",
                    "add", "pool (2nd call)", "flatten", "drop", "fc"]


def _build(source: str, engine: str):
    if engine == "scratch":
        source = source.replace(TORCH_IMPORTS, SCRATCH_IMPORTS)
    namespace: dict = {}
    exec(compile(source, f"<{engine} net>", "exec"), namespace)
    return namespace["Net"]()


def _pair(source: str):
    """The network on torch (batch-norm statistics made non-trivial) and its scratch twin."""
    model = _build(source, "torch")
    generator = torch.Generator().manual_seed(0)
    for name, buffer in model.named_buffers():
        if "running" in name:
            buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)
    twin = _build(source, "scratch")
    get_engine("scratch").load_weights(twin, get_engine("torch").weights(model))
    return model.eval(), twin.eval()


IMAGE = np.random.default_rng(0).standard_normal((1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("source, calls", [(TUTORIAL_NET, TUTORIAL_CALLS),
                                           (BATCH_NORM_NET, BATCH_NORM_CALLS)])
def test_every_call_site_is_one_row_named_after_its_call_on_both_engines(source, calls):
    for model in _pair(source):
        assert [call.name for call in record(model, IMAGE)] == calls
        table = summarize(model, (1, 28, 28))
        assert [layer.name for layer in table.layers] == calls


def test_the_tutorial_network_s_rows_and_maps_are_its_own_values():
    model, twin = _pair(TUTORIAL_NET)
    x = torch.from_numpy(IMAGE[None])
    with torch.no_grad():
        conv1 = model.conv1(x)
        pool1 = model.pool(torch.relu(conv1))
        conv2 = model.conv2(pool1)
        pool2 = model.pool(torch.relu(conv2))
    expected = {"conv1": conv1, "F.relu": torch.relu(conv1), "pool": pool1, "conv2": conv2,
                "F.relu (2nd call)": torch.relu(conv2), "pool (2nd call)": pool2}
    for network in (model, twin):
        stages = trace_stages(network, IMAGE, None)
        assert [(s.label, s.module, s.kind) for s in stages] == [
            ("CONV1", "conv1", "conv"), ("RELU1", "F.relu", "relu"), ("POOL1", "pool", "pool"),
            ("CONV2", "conv2", "conv"), ("RELU2", "F.relu (2nd call)", "relu"),
            ("POOL2", "pool (2nd call)", "pool")]
        for stage in stages:
            np.testing.assert_allclose(stage.output, expected[stage.module][0].numpy(),
                                       atol=1e-5)
        relu2 = stages[4]
        np.testing.assert_allclose(relu2.before, conv2[0].numpy(), atol=1e-5)
        assert [stage.module for stage in trace_stages(network, IMAGE, 1)] == \
            ["conv1", "F.relu", "pool"]
        assert [conv.module for conv in conv_layers(network, (1, 28, 28))] == ["conv1", "conv2"]
    table = summarize(model, (1, 28, 28), "tutorial")
    rows = {layer.name: layer for layer in table.layers}
    assert rows["pool"].output_shape == (6, 12, 12)
    assert rows["pool (2nd call)"].output_shape == (16, 4, 4)
    assert rows["flatten"].output_shape == (256,) and rows["flatten"].label == "FLATTEN"
    assert (rows["F.relu (2nd call)"].kind, rows["F.relu (2nd call)"].label) == \
        ("activation", "RELU")
    assert str(rows["pool (2nd call)"].receptive_field[0]) == \
        str(rows["pool (2nd call)"].receptive_field[1])
    assert rows["pool (2nd call)"].receptive_field[0].pixels == 16  # 5 + 1 + 4*2 + 1*2


def test_batch_norm_an_in_place_relu_and_a_residual_sum_are_seen_as_they_compute():
    model, twin = _pair(BATCH_NORM_NET)
    x = torch.from_numpy(IMAGE[None])
    with torch.no_grad():
        bn1 = model.bn1(model.conv1(x))
        pool1 = model.pool(torch.relu(bn1))
        total = pool1 + torch.relu(model.bn2(model.conv2(pool1)))
    for network in (model, twin):
        stages = {stage.module: stage for stage in trace_stages(network, IMAGE, None)}
        assert [(s.label, s.kind) for s in stages.values()] == [
            ("CONV1", "conv"), ("NORM1", "norm"), ("RELU1", "relu"), ("POOL1", "pool"),
            ("CONV2", "conv"), ("NORM2", "norm"), ("RELU2", "relu"), ("ADD1", "add"),
            ("POOL2", "pool")]
        np.testing.assert_allclose(stages["bn1"].output, bn1[0].numpy(), atol=1e-5)
        # the in-place ReLU overwrote its input: the stage still shows what it was
        np.testing.assert_allclose(stages["F.relu"].before, bn1[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(stages["F.relu"].output, torch.relu(bn1)[0].numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(stages["add"].output, total[0].numpy(), atol=1e-5)
    table = summarize(model, (1, 28, 28))
    rows = {layer.name: layer for layer in table.layers}
    assert (rows["add"].kind, rows["add"].label) == ("merge", "ADD")
    assert rows["bn1"].params == 16 and rows["drop"].description == "dropout p=0.25"
    # the sum's field is the wider of its two inputs': the branch's two 3x3 convolutions
    assert rows["add"].receptive_field[0].pixels == rows["bn2"].receptive_field[0].pixels == 8


def test_grad_cam_weighs_any_call_site_the_first_pooling_included_on_both_engines():
    model, twin = _pair(TUTORIAL_NET)
    assert spatial_layers(model, (1, 28, 28)) == spatial_layers(twin, (1, 28, 28)) == [
        "conv1", "F.relu", "pool", "conv2", "F.relu (2nd call)", "pool (2nd call)"]
    x = torch.from_numpy(IMAGE[None])
    pool1 = model.pool(torch.relu(model.conv1(x)))
    rest = model.pool(torch.relu(model.conv2(pool1)))
    logits = model.fc3(torch.relu(model.fc2(torch.relu(model.fc1(torch.flatten(rest, 1))))))
    gradient, = torch.autograd.grad(logits[0, 3], [pool1])
    weights = gradient[0].mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * pool1[0]).sum(0)).detach().numpy()
    for network in (model, twin):
        found = attribute(network, IMAGE, 3, "pool")
        assert found.layer == "pool" and found.cam.shape == (12, 12)
        np.testing.assert_allclose(found.cam, cam, atol=1e-5)
        assert attribute(network, IMAGE, 3).layer == "pool (2nd call)"
    with pytest.raises(ValueError, match=r"Grad-CAM takes one of conv1, F\.relu, pool, conv2"):
        attribute(model, IMAGE, 3, "fc1")
    assert all(p.grad is None for p in model.parameters())


def test_the_scratch_engine_s_methods_are_plain_unless_a_capture_watches():
    """Announcing every Tensor method made a LeNet-5 training step 6% slower: they are
    announced only while a capture observes, and plain again after it."""
    from cnnlab.scratch.tensor import Tensor, observe_ops

    plain = Tensor.__add__
    assert not hasattr(plain, "__wrapped__")
    with observe_ops(lambda *args: None):
        assert Tensor.__add__.__wrapped__ is plain
        with observe_ops(lambda *args: None):  # a capture inside another
            assert Tensor.__add__.__wrapped__ is plain
        assert Tensor.__add__.__wrapped__ is plain
    assert Tensor.__add__ is plain
