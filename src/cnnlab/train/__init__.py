"""Training: the loop (`loop`), its schedules and several processes under torchrun.
`cnnlab.train(model, dataset, ...)` trains from Python (cnnlab.api.train)."""

from cnnlab._callable import make_callable

make_callable(__name__, "cnnlab.api:train")
