"""`cnnlab.scratch.autograd`: `gradcheck`, torch's numerical test of a backward pass."""

from cnnlab.scratch.autograd.gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
