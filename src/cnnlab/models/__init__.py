"""The model zoo. Each architecture is defined once, as a function of an `nn` namespace, so
the same definition builds a torch model (`torch.nn`) or a scratch one (`cnnlab.scratch.nn`)."""
