"""Small ONNX models built by hand with onnx.helper: a valid minimal classifier to break one way
per test, and tensors that point at external files."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter


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
    """The model in `data` with one weight nudged by `number` millionths: another file (its
    fingerprint differs), though the near-copy check flags it once evaluated."""
    return one_weight(data, number * 1e-6)


# Copies of a classmate's model, disguised the ways the near-copy check must see through


def _weights(model: onnx.ModelProto):
    return [t for t in model.graph.initializer
            if onnx.helper.tensor_dtype_to_np_dtype(t.data_type) == np.float32]


def one_weight(data: bytes, step: float) -> bytes:
    model = onnx.load_from_string(data)
    tensor = max(_weights(model), key=lambda t: len(t.raw_data))
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += step
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return model.SerializeToString()


def noised(data: bytes, sigma: float) -> bytes:
    model = onnx.load_from_string(data)
    rng = np.random.default_rng(0)
    for tensor in _weights(model):
        values = numpy_helper.to_array(tensor)
        noisy = (values + rng.normal(0, sigma, values.shape)).astype(np.float32)
        tensor.CopyFrom(numpy_helper.from_array(noisy, tensor.name))
    return model.SerializeToString()


def permuted(data: bytes) -> bytes:
    """The first convolution's output channels in another order, and the next convolution's
    input channels with them (what lies between acts channel by channel)."""
    model = onnx.load_from_string(data)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    init = {t.name: t for t in model.graph.initializer}
    w1, w2 = init[convs[0].input[1]], init[convs[1].input[1]]
    first = numpy_helper.to_array(w1)
    order = np.random.default_rng(1).permutation(first.shape[0])
    w1.CopyFrom(numpy_helper.from_array(first[order], w1.name))
    if len(convs[0].input) > 2:
        bias = init[convs[0].input[2]]
        bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias)[order], bias.name))
    w2.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w2)[:, order], w2.name))
    return model.SerializeToString()


def padded_graph(data: bytes) -> bytes:
    """An Identity and an add-zero node after the first convolution."""
    model = onnx.load_from_string(data)
    graph = model.graph
    conv = next(n for n in graph.node if n.op_type == "Conv")
    old = conv.output[0]
    conv.output[0] = old + "_raw"
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero_")
    graph.initializer.append(zero)
    position = list(graph.node).index(conv) + 1
    graph.node.insert(position, helper.make_node("Identity", [old + "_raw"], [old + "_id"]))
    graph.node.insert(position + 1, helper.make_node("Add", [old + "_id", "zero_"], [old]))
    return model.SerializeToString()


def other_opset(data: bytes) -> bytes:
    model = onnx.load_from_string(data)
    current = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    target = current + 1 if current < min(onnx.defs.onnx_opset_version(), 21) else current - 1
    return version_converter.convert_version(model, target).SerializeToString()


def _conv_after(model: onnx.ModelProto, number: int):
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    init = {t.name: t for t in model.graph.initializer}
    conv = convs[number]
    return conv, init[conv.input[1]], init[conv.input[2]], init[convs[number + 1].input[1]]


def _set(tensor, values: np.ndarray) -> None:
    tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float32), tensor.name))


def rescaled(data: bytes) -> bytes:
    """The first convolution's channels each multiplied by a factor from 0.5 to 2 and the
    next convolution's inputs divided by it (ReLU and max pooling let a scale through)."""
    model = onnx.load_from_string(data)
    _, weight, bias, following = _conv_after(model, 0)
    w, b, f = (numpy_helper.to_array(t) for t in (weight, bias, following))
    scale = np.random.default_rng(2).uniform(0.5, 2.0, len(b)).astype(np.float32)
    _set(weight, w * scale[:, None, None, None])
    _set(bias, b * scale)
    _set(following, f / scale[None, :, None, None])
    return model.SerializeToString()


def unfolded_batch_norm(data: bytes) -> bytes:
    """A batch norm after the first convolution, the convolution's weights changed so that
    the two compute what the convolution alone did."""
    model = onnx.load_from_string(data)
    graph = model.graph
    conv, weight, bias, _ = _conv_after(model, 0)
    w, b = numpy_helper.to_array(weight), numpy_helper.to_array(bias)
    rng = np.random.default_rng(3)
    channels = len(b)
    gamma, beta = rng.uniform(0.5, 2.0, channels), rng.normal(0, 0.5, channels)
    mean, variance = rng.normal(0, 0.5, channels), rng.uniform(0.5, 2.0, channels)
    factor = gamma / np.sqrt(variance + 1e-5)
    _set(weight, w / factor[:, None, None, None])
    _set(bias, (b - beta) / factor + mean)
    for name, values in (("bn_gamma", gamma), ("bn_beta", beta), ("bn_mean", mean),
                         ("bn_var", variance)):
        graph.initializer.append(numpy_helper.from_array(values.astype(np.float32), name))
    old = conv.output[0]
    conv.output[0] = old + "_unnormalized"
    graph.node.insert(list(graph.node).index(conv) + 1, helper.make_node(
        "BatchNormalization", [old + "_unnormalized", "bn_gamma", "bn_beta", "bn_mean",
                               "bn_var"], [old], epsilon=1e-5))
    return model.SerializeToString()


def split_linear(data: bytes) -> bytes:
    """The last linear layer as two with nothing between them (W = W2 Q, Q orthogonal):
    what merging two linear layers into one undoes."""
    model = onnx.load_from_string(data)
    graph = model.graph
    gemm = [n for n in graph.node if n.op_type == "Gemm"][-1]
    init = {t.name: t for t in graph.initializer}
    transposed = any(a.name == "transB" and a.i for a in gemm.attribute)
    w = numpy_helper.to_array(init[gemm.input[1]])
    w = w if transposed else w.T  # (classes, features)
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(w.shape[1], w.shape[1])))
    graph.initializer.extend([numpy_helper.from_array(q.astype(np.float32), "split_first"),
                              numpy_helper.from_array((w @ q.T).astype(np.float32),
                                                      "split_second")])
    position = list(graph.node).index(gemm)
    middle = gemm.input[0] + "_split"
    graph.node.insert(position, helper.make_node("Gemm", [gemm.input[0], "split_first"],
                                                 [middle], transB=1))
    gemm.input[0], gemm.input[1] = middle, "split_second"
    del gemm.attribute[:]
    gemm.attribute.append(helper.make_attribute("transB", 1))
    return model.SerializeToString()


def fine_tuned(run, steps: int, lr: float = 0.01) -> bytes:
    """The run's model trained `steps` more steps (SGD with momentum, batches of 128 training
    images) and exported: a copy made another file by a little training of one's own."""
    import torch

    from cnnlab.data import datasets
    from cnnlab.evaluate.exporting import torch_model
    from cnnlab.evaluate.onnx_export import export_bytes
    from cnnlab.evaluate.targets import load_target

    target = load_target(run)
    model = torch_model(target).train()
    images, labels = datasets.load(target.spec, allow_download=False)["train"]
    contract = target.contract
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        batch = rng.choice(len(images), 128, replace=False)
        x = contract.images(torch.from_numpy(images[batch]))
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return export_bytes(model, contract, target.spec.shape, len(target.spec.classes))[0]
