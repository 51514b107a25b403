"""Run folders: their layout, configuration, checkpoints and readers, shared by every command
that reads or writes a run. `cnnlab.runs(folder)` compares them from Python
(cnnlab.api.runs)."""

from cnnlab._callable import make_callable

make_callable(__name__, "cnnlab.api:runs")
