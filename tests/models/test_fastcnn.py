"""FastCNN-32x2's flip-averaged predictions: in evaluation mode the logits are the mean of the
body's on the image and on its mirror image, on both engines and in the exported ONNX file;
in training mode the body runs once. (The zoo's own tests check that both engines agree in
training mode and that the layer table matches the published counts.)"""

import numpy as np
import pytest
import torch

import cnnlab.scratch as scratch
from cnnlab.data.contract import Preprocessing
from cnnlab.data.datasets import get_spec
from cnnlab.evaluate.onnx_export import export_bytes
from cnnlab.evaluate.predictors import OnnxPredictor
from cnnlab.models.summary import summarize
from cnnlab.models.zoo import create_model


def images(count=3, seed=0):
    return np.random.default_rng(seed).random((count, 1, 28, 28), dtype=np.float32)


def trained_like(model):
    """Batch norm statistics away from their initial (0, 1), and logits of a trained model's
    size (an initial one's are about 0.01), so that the tests see both."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(images(16, seed=5)))
        model.body[-1].weight.mul_(100)
    return model.eval()


def test_evaluation_averages_the_logits_over_the_image_and_its_mirror_image():
    model = trained_like(create_model("fastcnn32x2", num_classes=10, in_channels=1,
                                      input_size=28))
    x = torch.from_numpy(images())
    with torch.no_grad():
        logits = model(x)
        expected = (model.body(x) + model.body(x.flip(3))) / 2
        mirrored = model(x.flip(3))
        assert (model.body(x) - model.body(x.flip(3))).abs().max() > 0.01
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(mirrored, logits, rtol=1e-5, atol=1e-5)
    model.train()  # one pass of the body, with batch statistics
    torch.testing.assert_close(model(x), model.body(x))


def test_the_scratch_engine_averages_the_same_way():
    theirs = trained_like(create_model("fastcnn32x2", num_classes=10, in_channels=1,
                                       input_size=28))
    ours = create_model("fastcnn32x2", engine="scratch", num_classes=10, in_channels=1,
                        input_size=28)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    x = images()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with scratch.no_grad():
        got = ours(scratch.tensor(x)).numpy()
        body_only = ours.body(scratch.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(body_only - expected).max() > 0.01  # the average, not one pass


def test_the_layer_table_counts_both_passes():
    model = create_model("fastcnn32x2", num_classes=10, in_channels=1, input_size=28)
    whole, body = summarize(model, (1, 28, 28)), summarize(model.body, (1, 28, 28))
    assert body.params == whole.params == 349_610
    # 3x3 kernels: the first convolution at 28x28, the next two at 14x14, the last three at 7x7
    convolutions = 9 * (28 * 28 * 1 * 32 + 14 * 14 * (32 * 32 + 32 * 64)
                        + 7 * 7 * (64 * 64 + 64 * 128 + 128 * 128))
    assert body.macs >= convolutions + 128 * 49 * 10
    assert whole.macs == 2 * body.macs


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_exported_file_averages_too_with_standard_operators_only():
    model = trained_like(create_model("fastcnn32x2", num_classes=10, in_channels=1,
                                      input_size=28))
    contract = Preprocessing.of(get_spec("fashion-mnist"), "dataset")
    data, _info, difference = export_bytes(model, contract, (1, 28, 28), 10)
    assert difference <= 1e-4  # export_bytes compared ONNX Runtime's logits with torch's
    session = OnnxPredictor(data)
    x = images()
    plain, mirrored = session(x), session(np.ascontiguousarray(x[..., ::-1]))
    np.testing.assert_allclose(mirrored, plain, rtol=1e-5, atol=1e-5)
