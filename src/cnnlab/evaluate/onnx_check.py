"""Checks an .onnx file must pass before anything runs it.

A model file from someone else is data, not code, only as long as it stays within standard
ONNX: no operators from other domains (custom kernels), no model-local functions, no weights in
external files (paths that point anywhere on the disk), nothing set that the checks do not
read, a size and a node count within bounds (the count read before the file is parsed), a
graph the official checker accepts, and exactly the input and output the dataset calls for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import first_line

STANDARD_DOMAINS = ("", "ai.onnx")
MIN_OPSET = 7  # the oldest opset ONNX Runtime still runs
MAX_BYTES = 1 << 30
# Counted in the raw bytes before the file is parsed (parsing and checking a 1,000,000-node
# chain takes seconds and gigabytes): GoogLeNet exports to about 300 nodes, a ResNet-152 to
# about 500, so a course's network is far below.
MAX_NODES = 20_000
MAX_GRAPH_ENTRIES = 100_000  # nodes, initializers, inputs, outputs and value_info together
# What these checks read in a model and in its graph. Anything else that is set (training_info
# holds graphs ONNX Runtime never runs, with tensors no check here walks) is refused.
MODEL_FIELDS = {"ir_version", "opset_import", "producer_name", "producer_version", "domain",
                "model_version", "doc_string", "graph", "metadata_props", "functions"}
GRAPH_FIELDS = {"node", "name", "initializer", "sparse_initializer", "doc_string", "input",
                "output", "value_info", "metadata_props"}
_MODEL_GRAPH, _GRAPH_NODE = 7, 1  # protobuf field numbers: ModelProto.graph, GraphProto.node


class OnnxRejected(ValueError):
    """The file is not one we run; the message says what is wrong and what was expected."""


@dataclass(frozen=True)
class OnnxInfo:
    opset: int
    input_name: str
    input_shape: tuple  # a dim is an int, or the name of a dynamic dimension
    output_name: str
    output_shape: tuple
    nodes: int
    operators: tuple[str, ...]
    size_bytes: int


def _graphs(graph) -> Iterator:
    """The graph and every subgraph nested in its nodes' attributes (If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graphs(subgraph)


def _tensors(graph) -> Iterator:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield attribute.sparse_tensor.values
                yield attribute.sparse_tensor.indices


def _dims(value_info) -> tuple | None:
    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type" or not value_info.type.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in value_info.type.tensor_type.shape.dim)


def _read(source: str | Path | bytes, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        data, name = source, "the model"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        size = os.path.getsize(path)
        if size > max_bytes:
            raise OnnxRejected(f"{path} is {size / 2**20:.1f} MiB; the limit is "
                               f"{max_bytes / 2**20:.0f} MiB")
        data, name = path.read_bytes(), str(path)
    if len(data) > max_bytes:
        raise OnnxRejected(f"{name} is {len(data) / 2**20:.1f} MiB; the limit is "
                           f"{max_bytes / 2**20:.0f} MiB")
    return data, name


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise OnnxRejected("a varint runs past its field")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field in a protobuf message's
    bytes; the others are stepped over."""
    position = start
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, position = _varint(data, position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == 2:
            length, position = _varint(data, position)
            if position + length > end:
                raise OnnxRejected("a field runs past the end of the file")
            yield number, position, position + length
            position += length
        else:
            raise OnnxRejected(f"wire type {wire} is not protobuf's")
        if position > end:
            raise OnnxRejected("a field runs past the end of the file")


def _check_graph_size(data: bytes, name: str) -> None:
    """Count the main graph's nodes and entries in the raw bytes, stopping at the cap, so a
    file too large to check is refused in milliseconds."""
    view = memoryview(data)
    try:
        for number, start, end in _fields(view, 0, len(view)):
            if number != _MODEL_GRAPH:
                continue
            nodes = 0
            for entries, (field, _, _) in enumerate(_fields(view, start, end), 1):
                nodes += field == _GRAPH_NODE
                if nodes > MAX_NODES:
                    raise OnnxRejected(f"{name} has more than {MAX_NODES:,} nodes in its graph; "
                                       "a network for this course has a few hundred at most")
                if entries > MAX_GRAPH_ENTRIES:
                    raise OnnxRejected(f"{name} has more than {MAX_GRAPH_ENTRIES:,} entries "
                                       "(nodes, initializers, inputs, outputs, value_info) in "
                                       "its graph; a network for this course has a few "
                                       "thousand at most")
    except OnnxRejected as error:
        if str(error).startswith(name):
            raise
        raise OnnxRejected(f"{name} is not an ONNX model (it does not parse: {error})") \
            from None


def _parse(data: bytes, name: str):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.ModelProto.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as error:
        if "alloc failed" in str(error):  # protobuf's arena out of memory: no verdict on the file
            raise MemoryError(f"parsing {name}: {error}") from None
        raise OnnxRejected(f"{name} is not an ONNX model (it does not parse: {error})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxRejected(f"{name} is not an ONNX model (it has no graph of operators)")
    return model


def _check_standard(model, name: str) -> int:
    import onnx

    foreign = sorted({o.domain for o in model.opset_import if o.domain not in STANDARD_DOMAINS}
                     | {n.domain for g in _graphs(model.graph) for n in g.node
                        if n.domain not in STANDARD_DOMAINS})
    if foreign:
        raise OnnxRejected(f"{name} uses operators outside standard ONNX (domain "
                           f"{', '.join(map(repr, foreign))}); only the default domain "
                           "'ai.onnx' is accepted")
    unread = sorted({f.name for f, _ in model.ListFields()} - MODEL_FIELDS
                    | {f"graph.{f.name}" for g in _graphs(model.graph) for f, _ in g.ListFields()
                       if f.name not in GRAPH_FIELDS})
    if unread:
        raise OnnxRejected(f"{name} sets {', '.join(unread)}, which these checks do not read "
                           "(nor does ONNX Runtime run it); export the inference graph alone "
                           "(cnnlab export does)")
    if model.functions:
        raise OnnxRejected(f"{name} defines its own functions "
                           f"({', '.join(f.name for f in model.functions)}); only standard "
                           "ONNX operators are accepted")
    opsets = [o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS]
    newest = onnx.defs.onnx_opset_version()
    if not opsets:
        raise OnnxRejected(f"{name} declares no ONNX opset")
    if not MIN_OPSET <= opsets[0] <= newest:
        raise OnnxRejected(f"{name} declares opset {opsets[0]}; expected {MIN_OPSET} to "
                           f"{newest}")
    for graph in _graphs(model.graph):
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise OnnxRejected(f"{name} keeps tensor {tensor.name!r} in an external data "
                                   "file; export it as one self-contained file "
                                   "(cnnlab export does)")
            _check_raw_size(tensor, name)
    return opsets[0]


_FOUR_BIT = {21, 22, 23}  # UINT4, INT4, FLOAT4E2M1: two values a byte


def _check_raw_size(tensor, name: str) -> None:
    """raw_data must hold exactly its dims' values: ONNX Runtime refuses a mismatch only when
    it loads the tensor, and other readers trust the dims."""
    import onnx

    if not tensor.HasField("raw_data"):
        return
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return  # a type without a fixed size (strings): the checker judges it
    count = 1
    for dim in tensor.dims:
        count *= dim
    expected = (count + 1) // 2 if tensor.data_type in _FOUR_BIT else count * itemsize
    if len(tensor.raw_data) != expected:
        raise OnnxRejected(f"{name}: tensor {tensor.name!r} has {len(tensor.raw_data):,} bytes "
                           f"of data; its shape {tuple(tensor.dims)} needs {expected:,}")


def _check_io(model, name: str, shape, num_classes) -> tuple:
    import onnx

    initialisers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initialisers]
    outputs = list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise OnnxRejected(f"{name} has {len(inputs)} input(s) and {len(outputs)} output(s); "
                           "expected one input (pixels) and one output (logits)")
    source, result = inputs[0], outputs[0]
    for what, value in (("input", source), ("output", result)):
        kind = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else None
        if kind != onnx.TensorProto.FLOAT:
            kind_name = onnx.TensorProto.DataType.Name(kind) if kind else "not a tensor"
            raise OnnxRejected(f"{name}: {what} {value.name!r} is {kind_name}; expected "
                               "FLOAT (float32)")
    in_dims, out_dims = _dims(source), _dims(result)
    expected_in = ("batch", *shape) if shape else None
    if in_dims is None or len(in_dims) != 4 or (
            shape and tuple(in_dims[1:]) != tuple(shape)):
        raise OnnxRejected(f"{name}: input {source.name!r} has shape {in_dims}; expected "
                           f"{expected_in or '(batch, channels, height, width)'}")
    if isinstance(in_dims[0], int):
        raise OnnxRejected(f"{name}: input {source.name!r} has a fixed batch size of "
                           f"{in_dims[0]}; expected a dynamic batch dimension (export with "
                           "one, as cnnlab export does)")
    if out_dims is None or len(out_dims) != 2 or (
            num_classes is not None and out_dims[1] != num_classes):
        raise OnnxRejected(f"{name}: output {result.name!r} has shape {out_dims}; expected "
                           f"(batch, {num_classes or 'classes'})")
    return source.name, in_dims, result.name, out_dims


def check_onnx(source: str | Path | bytes, shape: tuple[int, int, int] | None = None,
               num_classes: int | None = None, max_bytes: int = MAX_BYTES) -> OnnxInfo:
    """Refuse (OnnxRejected) a file we should not run; otherwise describe it. `shape` is the
    (channels, height, width) the dataset needs and `num_classes` its class count."""
    import onnx

    data, name = _read(source, max_bytes)
    _check_graph_size(data, name)
    model = _parse(data, name)
    opset = _check_standard(model, name)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise OnnxRejected(f"{name} is not a valid ONNX model: {first_line(error)}") from None
    input_name, in_dims, output_name, out_dims = _check_io(model, name, shape, num_classes)
    operators = sorted({n.op_type for g in _graphs(model.graph) for n in g.node})
    return OnnxInfo(opset, input_name, in_dims, output_name, out_dims, len(model.graph.node),
                    tuple(operators), len(data))
