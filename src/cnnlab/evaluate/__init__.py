"""Evaluation: accuracy metrics, the batch-size-4 speed protocol, ONNX export and checks.
`cnnlab.evaluate(target, split, ...)` evaluates from Python (cnnlab.api.evaluate)."""

from cnnlab._callable import make_callable

make_callable(__name__, "cnnlab.api:evaluate")
