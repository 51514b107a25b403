"""Evaluation: accuracy metrics, the batch-size-4 speed protocol, ONNX export and checks.
From Python, `cnnlab.evaluate(target, split, ...)` evaluates (cnnlab.api.evaluate; the front
door, cnnlab/__init__.py, makes this package callable)."""
