"""`cnnlab.scratch.optim`: SGD, Adam and AdamW with torch's update formulas, and
`optim.lr_scheduler`."""

from cnnlab.scratch.optim import lr_scheduler
from cnnlab.scratch.optim.adam import Adam, AdamW
from cnnlab.scratch.optim.optimizer import Optimizer
from cnnlab.scratch.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
