"""Small ONNX models built by hand with onnx.helper: a valid minimal classifier to break one way
per test, and tensors that point at external files."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def minimal_classifier(input_shape=("batch", 1, 28, 28), classes=10, nodes=None,
                       initializers=None, domain_opsets=(), functions=(), weight=None):
    """A valid classifier (Flatten, Gemm): logits = flat pixels @ weight (zeros by default)."""
    features = int(np.prod(input_shape[1:]))
    values = np.zeros(features * classes) if weight is None else np.asarray(weight).ravel()
    tensor = helper.make_tensor("weight", TensorProto.FLOAT, [features, classes], values)
    nodes = nodes or [helper.make_node("Flatten", ["pixels"], ["flat"]),
                      helper.make_node("Gemm", ["flat", "weight"], ["logits"])]
    graph = helper.make_graph(
        nodes, "classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=initializers or [tensor])
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domain_opsets)]
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions),
                             ir_version=8)


def external_weight(location: str, features: int = 784, classes: int = 10):
    """The classifier's weight, stored 'in an external file' at `location`."""
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [features, classes],
                                np.zeros(features * classes))
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    return weight


def variant(data: bytes, number: int) -> bytes:
    """The model in `data` with its first weight nudged by `number` millionths: another model
    (the leaderboard flags a second student's identical model as a copy)."""
    model = onnx.load_from_string(data)
    tensor = model.graph.initializer[0]
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += number * 1e-6
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return model.SerializeToString()
