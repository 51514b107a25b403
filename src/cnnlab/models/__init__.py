"""The model zoo. Each architecture is defined once, against an `Engine`, so the same
definition builds a torch model (`torch.nn`) or a scratch one (`cnnlab.scratch.nn`)."""

from cnnlab.models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]
