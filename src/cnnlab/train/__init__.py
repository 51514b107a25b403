"""Training: the one way into a run (`launch`), the loop (`loop`), its schedules and recipes,
and several processes under torchrun. From Python, `cnnlab.train(model, dataset, ...)` trains
(cnnlab.api.train; the front door, cnnlab/__init__.py, makes this package callable)."""
