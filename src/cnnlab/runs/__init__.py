"""Run folders: their layout, configuration, checkpoints and readers, shared by every command
that reads or writes a run. From Python, `cnnlab.runs(folder)` compares them
(cnnlab.api.runs; the front door, cnnlab/__init__.py, makes this package callable)."""
