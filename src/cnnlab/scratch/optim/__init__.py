"""`cnnlab.scratch.optim`: SGD, Adam, AdamW and RMSprop with torch's update formulas, and
`optim.lr_scheduler`."""

from cnnlab.scratch.optim import lr_scheduler
from cnnlab.scratch.optim.adam import Adam, AdamW
from cnnlab.scratch.optim.optimizer import Optimizer
from cnnlab.scratch.optim.rmsprop import RMSprop
from cnnlab.scratch.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
