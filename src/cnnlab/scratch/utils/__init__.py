"""`cnnlab.scratch.utils`: `utils.data`, torch's Dataset, TensorDataset and DataLoader."""

from cnnlab.scratch.utils import data

__all__ = ["data"]
