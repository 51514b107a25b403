"""The visual guide: kernels, feature maps, animations of convolution arithmetic, plots of a
run, and the self-contained HTML report. Every figure is computed from real data and weights.

Images whose pixels matter (kernel grids, feature maps, animation frames) are composed with
Pillow at exact pixel positions, so tests can read them back; plots with axes use matplotlib.
"""

import importlib

# From Python: cnnlab.viz.curves(run, ...), confusion, pareto, first_kernels, feature_maps, grad_cam
# (notebook.py; not kernels or features, which are the modules that draw them),
# imported when first used so that the figure modules stay quick to import.
_FIGURES = ("curves", "confusion", "pareto", "first_kernels", "feature_maps", "grad_cam")


def __getattr__(name: str):
    if name in _FIGURES:
        return getattr(importlib.import_module("cnnlab.viz.notebook"), name)
    raise AttributeError(f"module 'cnnlab.viz' has no attribute {name!r}")
