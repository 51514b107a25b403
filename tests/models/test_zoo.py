"""Every zoo model, on both engines: one definition, the same logits and the same gradients."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.models.zoo import create_model, list_models, model_info

PUBLISHED_PARAMS = {  # (model, input size, classes): parameters
    ("lenet5", 32, 10): 61_706,
    ("alexnet", 227, 1000): 62_378_344,
    ("vgg16", 224, 1000): 138_357_544,
    ("resnet18", 224, 1000): 11_689_512,
    ("googlenet", 224, 1000): 6_624_904,
    ("resnet20", 32, 10): 269_722,
    ("resnet56", 32, 10): 853_018,
}
TORCHVISION_KEYS = json.loads(
    (Path(__file__).parent / "torchvision_state_dict_keys.json").read_text())["models"]


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, size, classes", list(PUBLISHED_PARAMS))
def test_published_parameter_counts(name, size, classes):
    with torch.device("meta"):  # shapes only: VGG-16's 138M weights are never allocated
        model = create_model(name, num_classes=classes, input_size=size)
    assert _count(model) == PUBLISHED_PARAMS[name, size, classes]


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_imagenet_models_have_torchvisions_state_dict_keys_and_shapes(name):
    with torch.device("meta"):
        model = create_model(name)
    ours = [[key, list(value.shape)] for key, value in model.state_dict().items()]
    assert ours == TORCHVISION_KEYS[name]["keys"]
    assert _count(model) == TORCHVISION_KEYS[name]["params"]


def _small_input(name):
    """The CIFAR-size variant (28x28 grey for LeNet-5)."""
    return (1, 28, 28) if name == "lenet5" else (3, 32, 32)


def _no_dropout(model):
    for module in model.modules():
        if type(module).__name__ == "Dropout":
            module.p = 0.0
    return model


def _twins(name, shape, num_classes=7):
    torch.manual_seed(0)
    theirs = _no_dropout(create_model(name, "torch", num_classes=num_classes,
                                      in_channels=shape[0], input_size=shape[1:]))
    ours = _no_dropout(create_model(name, "scratch", num_classes=num_classes,
                                    in_channels=shape[0], input_size=shape[1:]))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _assert_same_logits_and_gradients(name, shape, batch=2):
    """Logits in float32 to 1e-4 (what a user sees); gradients in float64 to a relative 1e-7,
    so that batch norm's amplification of float32 rounding cannot hide a wrong formula."""
    import cnnlab.scratch as scratch

    theirs, ours = _twins(name, shape)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *shape))
    upstream = rng.standard_normal((batch, 7))

    their_logits = theirs(torch.from_numpy(x.astype(np.float32)))
    our_logits = ours(scratch.tensor(x.astype(np.float32)))
    assert our_logits.shape == tuple(their_logits.shape) == (batch, 7)
    assert np.isfinite(our_logits.numpy()).all()
    assert np.abs(our_logits.numpy() - their_logits.detach().numpy()).max() <= 1e-4

    theirs.double().zero_grad()
    ours.double().zero_grad()
    (theirs(torch.from_numpy(x)) * torch.from_numpy(upstream)).sum().backward()
    (ours(scratch.tensor(x)) * scratch.tensor(upstream)).sum().backward()
    their_grads = dict(theirs.named_parameters())
    for key, parameter in ours.named_parameters():
        assert parameter.grad is not None, f"{name}: {key} got no gradient"
        expected = their_grads[key].grad.numpy()
        scale = max(1e-3, float(np.abs(expected).max()))
        difference = float(np.abs(parameter.grad - expected).max())
        assert difference <= 1e-7 * scale, f"{name}: {key} gradient differs by {difference}"


@pytest.mark.parametrize("name", list_models())
def test_both_engines_agree_on_the_small_variant(name):
    """Training mode (batch norm on batch statistics), dropout off so both draw nothing."""
    _assert_same_logits_and_gradients(name, _small_input(name))


@pytest.mark.parametrize("name", ["lenet5", "alexnet"])
def test_both_engines_agree_at_the_published_size(name):
    info = model_info(name)
    _assert_same_logits_and_gradients(
        name, (info.in_channels, info.input_size, info.input_size), batch=1 if name ==
        "alexnet" else 2)


@pytest.mark.parametrize("name", [n for n in list_models() if n != "lenet5"])
def test_fashion_mnist_variant_takes_28x28_grey_images(name):
    model = create_model(name, num_classes=10, in_channels=1, input_size=28).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 1, 28, 28))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_unknown_names_and_options_say_what_exists():
    with pytest.raises(ValueError, match="did you mean resnet18"):
        create_model("resnet81")
    with pytest.raises(ValueError, match="lenet5 does not take the option"):
        create_model("lenet5", width=3)
    with pytest.raises(ValueError, match="unknown engine 'jax'"):
        create_model("lenet5", engine="jax")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        create_model("vgg11", num_classes=0)
    assert create_model("alexnet", input_size=32, dropout=0.1).classifier[0].p == 0.1


def test_list_models_filters_with_a_pattern():
    assert list_models("resnet*") == ["resnet18", "resnet20", "resnet34", "resnet50",
                                      "resnet56"]
    assert list_models("vgg1[19]_bn") == ["vgg11_bn", "vgg19_bn"]
    assert {"lenet5", "alexnet", "googlenet", "vgg16"} <= set(list_models())
