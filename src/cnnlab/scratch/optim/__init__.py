"""`cnnlab.scratch.optim`: SGD, Adam and AdamW with torch's update formulas."""

from cnnlab.scratch.optim.adam import Adam, AdamW
from cnnlab.scratch.optim.optimizer import Optimizer
from cnnlab.scratch.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
