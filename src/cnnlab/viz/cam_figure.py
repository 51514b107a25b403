"""Why a model chose a class, as one figure: the image as the model sees it, Grad-CAM's map
over it, and the gradient saliency, side by side and upscaled by a whole factor so each
pixel stays a crisp block; a title names the call weighed and the class explained."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cnnlab.viz import canvas
from cnnlab.viz.attribution import Attribution

PANEL_TARGET = 224  # pixels a panel aims for
GAP = 16
MARGIN = 14
TITLE_SIZE = 15
LABEL_SIZE = 13


def attribution_figure(display: np.ndarray, found: Attribution, caption: str,
                       classes: list[str]) -> Image.Image:
    """`display` is the image in [0, 1] ((H, W) grey or (H, W, 3) colour), `found` its
    attribution, `caption` what the image is."""
    height, width = display.shape[:2]
    scale = max(1, PANEL_TARGET // max(height, width))
    probability = float(found.probabilities[found.target_class])
    panels = [(canvas.to_rgb8(display), caption),
              (found.overlay_rgb8(display), f"Grad-CAM at {found.layer}"),
              (found.saliency_rgb8(), "saliency |d score / d pixel|")]
    title = f"the evidence for {classes[found.target_class]} (p = {probability:.3f})"
    top = MARGIN + TITLE_SIZE + 10
    panel_w, panel_h = width * scale, height * scale
    slot = max(panel_w, *(canvas.text_size(label, LABEL_SIZE)[0] + 8 for _, label in panels))
    image, draw = canvas.new_image(max(MARGIN * 2 + 3 * slot + 2 * GAP,
                                       canvas.text_size(title, TITLE_SIZE, True)[0] + 2 * MARGIN),
                                   top + panel_h + LABEL_SIZE + 14 + MARGIN)
    canvas.centred_text(draw, image.width / 2, MARGIN + TITLE_SIZE / 2, title, TITLE_SIZE,
                        bold=True)
    for index, (pixels, label) in enumerate(panels):
        left = MARGIN + index * (slot + GAP)
        image.paste(Image.fromarray(canvas.upscale(pixels, scale)),
                    (left + (slot - panel_w) // 2, top))
        canvas.centred_text(draw, left + slot / 2, top + panel_h + 6 + LABEL_SIZE / 2,
                            label, LABEL_SIZE)
    return image
