"""Parameters and multiply-adds read from an ONNX file agree with the layer table of the torch
model it was exported from."""

import pytest
import torch

from cnnlab.data.contract import Preprocessing
from cnnlab.evaluate.onnx_cost import multiply_adds, parameter_count
from cnnlab.evaluate.onnx_export import Normalised, onnx_bytes
from cnnlab.models.summary import summarize
from cnnlab.models.zoo import create_model
from tests.onnx_models import minimal_classifier


def _exported(model, shape):
    contract = Preprocessing("dataset", "random", (0.5,) * shape[0], (0.25,) * shape[0])
    return onnx_bytes(Normalised(model.eval(), contract).eval(),
                      shape)


@pytest.mark.parametrize(("name", "shape"), [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32)),
                                             ("googlenet", (3, 32, 32))])
def test_zoo_models_count_as_the_layer_table_does(name, shape):
    torch.manual_seed(0)
    model = create_model(name, "torch", input_size=shape[1:], in_channels=shape[0])
    for module in model.modules():  # trained-looking norms (fresh ones fold away entirely)
        if isinstance(module, torch.nn.BatchNorm2d):
            for tensor in (module.weight, module.bias, module.running_mean):
                tensor.data.uniform_(0.5, 1.5)
    table = summarize(model, shape)
    data = _exported(model, shape)
    assert multiply_adds(data) == table.macs
    # batch norm folded into the convolution by the exporter: one bias per channel where torch
    # counts a scale and a shift
    folded = sum(m.num_features for m in model.modules()
                 if isinstance(m, torch.nn.BatchNorm2d))
    assert parameter_count(data) == table.params - folded


def test_transposed_and_grouped_convolutions():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, groups=4, padding=1), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
        torch.nn.Flatten(), torch.nn.Linear(4 * 28 * 28, 10))
    table = summarize(model, (1, 28, 28))
    data = _exported(model, (1, 28, 28))
    assert multiply_adds(data) == table.macs
    assert parameter_count(data) == table.params


def test_a_hand_made_file():
    data = minimal_classifier().SerializeToString()
    assert parameter_count(data) == 7840 and multiply_adds(data) == 7840


def _hidden_weight(*between):
    """The classifier's Gemm weight computed from `weight0` through `between` first."""
    from onnx import TensorProto, helper

    weight = helper.make_tensor("weight0", TensorProto.FLOAT, [784, 10], [0.0] * 7840)
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"]), *between,
             helper.make_node("Gemm", ["flat", "weight"], ["logits"])]
    return minimal_classifier(nodes=nodes, initializers=[weight, one]).SerializeToString()


def test_no_op_in_front_of_a_weight_hides_it():
    """A weight passed through Identity (or multiplied by one) before the Gemm used to count
    as 0 parameters; every constant reaching a weight input counts."""
    from onnx import helper

    identity = _hidden_weight(helper.make_node("Identity", ["weight0"], ["weight"]))
    assert parameter_count(identity) == 7840
    scaled = _hidden_weight(helper.make_node("Mul", ["weight0", "one"], ["weight"]))
    assert parameter_count(scaled) == 7841  # the one is a constant the weight is made of
    reshaped = _hidden_weight(helper.make_node("Transpose", ["weight0"], ["t"]),
                              helper.make_node("Transpose", ["t"], ["weight"]))
    assert parameter_count(reshaped) == 7840


def test_a_weight_used_by_any_other_op_counts_too():
    """A large constant reaching the output counts whatever op uses it (an Einsum, or a Mul
    and a ReduceSum doing a dense layer by hand); the normalisation in front does not."""
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 784, 10], [0.0] * 7840)
    mean = helper.make_tensor("mean", TensorProto.FLOAT, [1], [0.5])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("Sub", ["pixels", "mean"], ["centred"]),
             helper.make_node("Flatten", ["centred"], ["flat"]),
             helper.make_node("Unsqueeze", ["flat", "axes2"], ["column"]),
             helper.make_node("Mul", ["column", "w"], ["products"]),
             helper.make_node("ReduceSum", ["products", "axes"], ["logits"], keepdims=0)]
    axes2 = helper.make_tensor("axes2", TensorProto.INT64, [1], [2])
    data = minimal_classifier(nodes=nodes, initializers=[weight, mean, axes, axes2])
    assert parameter_count(data.SerializeToString()) == 7840
