"""Evaluation: accuracy metrics, the batch-size-4 speed protocol, ONNX export and checks."""
