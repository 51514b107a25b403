"""Weight files: torchvision-style state dicts load into either engine; bad files are refused
before anything is copied."""

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import cnnlab.scratch as scratch
from cnnlab.models.zoo import create_model


@pytest.fixture(scope="module")
def resnet20_file(tmp_path_factory):
    torch.manual_seed(3)
    model = create_model("resnet20").eval()
    path = tmp_path_factory.mktemp("weights") / "resnet20.pth"
    torch.save(model.state_dict(), path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        return path, x, model(x).numpy()


@pytest.mark.parametrize("engine", ["torch", "scratch"])
def test_a_pth_file_loads_into_both_engines(resnet20_file, engine):
    path, x, expected = resnet20_file
    model = create_model("resnet20", engine=engine, weights=str(path)).eval()
    if engine == "torch":
        with torch.no_grad():
            logits = model(x).numpy()
    else:
        with scratch.no_grad():
            logits = model(scratch.tensor(x.numpy())).numpy()
    assert np.abs(logits - expected).max() <= 1e-4


def test_safetensors_and_checkpoints_holding_a_state_dict_load(tmp_path, resnet20_file):
    path, x, expected = resnet20_file
    state = torch.load(path, weights_only=True)
    save_file({k: v.numpy() for k, v in state.items()}, tmp_path / "w.safetensors")
    torch.save({"model": state, "epoch": 3}, tmp_path / "checkpoint.pt")
    for file in ("w.safetensors", "checkpoint.pt"):
        model = create_model("resnet20", weights=str(tmp_path / file)).eval()
        with torch.no_grad():
            assert np.abs(model(x).numpy() - expected).max() <= 1e-4


def test_old_torchvision_files_without_num_batches_tracked_load(tmp_path, resnet20_file):
    path, x, expected = resnet20_file
    state = {k: v for k, v in torch.load(path, weights_only=True).items()
             if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    model = create_model("resnet20", engine="scratch", weights=str(tmp_path / "old.pth"))
    with scratch.no_grad():
        logits = model.eval()(scratch.tensor(x.numpy())).numpy()
    assert np.abs(logits - expected).max() <= 1e-4


@pytest.mark.parametrize("engine", ["torch", "scratch"])
def test_a_mismatch_lists_the_offending_keys_and_changes_nothing(tmp_path, engine):
    theirs = create_model("resnet18", input_size=32).state_dict()
    theirs["fc.weight"] = torch.zeros(7, 512)
    theirs.pop("layer1.0.conv1.weight")
    theirs["extra.bias"] = torch.zeros(3)
    torch.save(theirs, tmp_path / "bad.pth")
    model = create_model("resnet18", engine=engine, input_size=32)
    before = {k: _copy(v) for k, v in model.state_dict().items()}
    from cnnlab.models.weights import load_weights

    with pytest.raises(ValueError) as error:
        load_weights(model, tmp_path / "bad.pth")
    message = str(error.value)
    assert "1 missing: layer1.0.conv1.weight" in message
    assert "1 unexpected: extra.bias" in message
    assert "fc.weight (model (1000, 512), file (7, 512))" in message
    after = model.state_dict()
    assert all(np.array_equal(before[k], _copy(after[k])) for k in before)


def _copy(value) -> np.ndarray:
    return np.array(value.numpy() if isinstance(value, torch.Tensor) else value)


class NotWeights:
    pass


def test_files_that_are_not_state_dicts_are_refused(tmp_path):
    torch.save(NotWeights(), tmp_path / "object.pth")  # would need unpickling arbitrary code
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    for name, expected in [("object.pth", "was not loaded: it holds Python objects"),
                           ("junk.pth", "neither a torch.save archive nor a pickle"),
                           ("junk.safetensors", "safetensors"), ("list.pth", "state dict"),
                           ("missing.pth", "does not exist")]:
        with pytest.raises((ValueError, FileNotFoundError), match=expected):
            create_model("lenet5", weights=str(tmp_path / name))
