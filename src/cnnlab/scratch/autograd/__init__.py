"""`cnnlab.scratch.autograd`: `Function` (an op with a backward of one's own) and
`gradcheck`, torch's numerical test of a backward pass."""

from cnnlab.scratch.autograd.function import Function, FunctionCtx
from cnnlab.scratch.autograd.gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "FunctionCtx", "GradcheckError", "gradcheck"]
