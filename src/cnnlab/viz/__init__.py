"""The visual guide: kernels, feature maps, animations of convolution arithmetic, plots of a
run, and the self-contained HTML report. Every figure is computed from real data and weights.

Images whose pixels matter (kernel grids, feature maps, animation frames) are composed with
Pillow at exact pixel positions, so tests can read them back; plots with axes use matplotlib.
"""
