"""Copies: a file whose model equals another student's earlier submission to the task. Two
files hold the same model when their graphs compute the same thing with the same weights,
whatever their tensor and node names, doc strings, metadata, producer or opset say: the
fingerprint hashes each node's operator and attributes, with its inputs named by position
(graph input, weight, or the output of an earlier node) and each weight by its values.

A flagged submission is shown to the teacher and left out of the ranking until the teacher
clears it (`cnnlab leaderboard clear-copy KEY`). Near copies, a model changed just enough
to be another file, are found by their predictions (leaderboard.near_copies)."""

from __future__ import annotations

import hashlib

import numpy as np


def _value(attribute) -> bytes:
    from onnx import AttributeProto, numpy_helper

    if attribute.type == AttributeProto.TENSOR:
        array = numpy_helper.to_array(attribute.t)
        return repr((array.dtype.str, array.shape)).encode() + np.ascontiguousarray(array).tobytes()
    if attribute.type == AttributeProto.GRAPH:
        return model_fingerprint_of_graph(attribute.g).encode()
    if attribute.type == AttributeProto.GRAPHS:
        return b"|".join(model_fingerprint_of_graph(g).encode() for g in attribute.graphs)
    from onnx import helper

    return repr(helper.get_attribute_value(attribute)).encode()


def model_fingerprint_of_graph(graph) -> str:
    from onnx import numpy_helper

    weights = {tensor.name: tensor for tensor in graph.initializer}
    names: dict[str, str] = {}
    for position, given in enumerate(i for i in graph.input if i.name not in weights):
        names[given.name] = f"input{position}"
    digest = hashlib.sha256()

    def name_of(tensor: str) -> str:
        if tensor == "":
            return "-"  # an optional input left out
        if tensor not in names and tensor in weights:
            array = numpy_helper.to_array(weights[tensor])
            weight = hashlib.sha256(repr((array.dtype.str, array.shape)).encode()
                                    + np.ascontiguousarray(array).tobytes()).hexdigest()
            names[tensor] = f"weight:{weight}"
        return names.get(tensor, f"outer:{tensor}")  # a subgraph reads its parent's tensor

    for number, node in enumerate(graph.node):
        inputs = [name_of(tensor) for tensor in node.input]
        for position, output in enumerate(node.output):
            names[output] = f"node{number}.{position}"
        digest.update(repr((node.domain or "ai.onnx", node.op_type, inputs,
                            len(node.output))).encode())
        for attribute in sorted(node.attribute, key=lambda a: a.name):
            digest.update(attribute.name.encode() + b"=" + _value(attribute))
    digest.update(repr([name_of(output.name) for output in graph.output]).encode())
    return digest.hexdigest()


def model_fingerprint(data: bytes) -> str:
    """The fingerprint of the model in an ONNX file (already checked)."""
    import onnx

    return model_fingerprint_of_graph(onnx.load_from_string(data).graph)
