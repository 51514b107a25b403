"""Why a trained model chose a class, on either engine: Grad-CAM (Selvaraju et al. 2017) and
gradient saliency (Simonyan et al. 2014), both from one backward pass of the class's score.

- Grad-CAM: the layer's maps A_k weighted by the mean over positions of d y_c / d A_k, summed
  over k and rectified; y_c is the class's score before the softmax, as in the paper. The
  default layer is the last one whose output still has positions (more than 1x1): for LeNet-5
  the second pooling, for a ResNet the last block's output. Any call site of the forward
  pass with such an output can be weighed (`models.capture`): a functional ReLU, the first or
  the second call of a reused pooling layer.
- Saliency: max over the input's channels of |d y_c / d x|, on the image as the model receives
  it (after normalisation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnlab.models.capture import CPU, Call, Listener, forward, record
from cnnlab.models.engines import engine_of
from cnnlab.viz import canvas


@dataclass
class Attribution:
    target_class: int
    logits: np.ndarray  # (classes,)
    layer: str  # the call whose output Grad-CAM weighs (see models.capture)
    channel_weights: np.ndarray  # (K,): mean gradient of each of the layer's maps
    cam: np.ndarray  # (h, w) at the layer's resolution, >= 0
    saliency: np.ndarray  # (H, W) at the input's resolution, >= 0

    @property
    def probabilities(self) -> np.ndarray:
        return softmax(self.logits)

    def cam_on_input(self, size: tuple[int, int]) -> np.ndarray:
        """The map bilinearly resized to (H, W), as the paper overlays it."""
        resized = Image.fromarray(self.cam.astype(np.float32), mode="F").resize(
            (size[1], size[0]), Image.BILINEAR)
        return np.maximum(np.asarray(resized, dtype=np.float64), 0.0)

    def overlay_rgb8(self, display: np.ndarray) -> np.ndarray:
        """The map on the image as the paper shows it: half the image ((H, W) grey or
        (H, W, 3) colour, in [0, 1]), half the map's heat colours at the image's size."""
        on_input = self.cam_on_input(display.shape[:2])
        heat = canvas.heat_rgb8(_peak_scaled(on_input))
        return np.rint(0.5 * canvas.to_rgb8(display) + 0.5 * heat).astype(np.uint8)

    def cam_rgb8(self) -> np.ndarray:
        """The map at the layer's own resolution, in heat colours."""
        return canvas.heat_rgb8(_peak_scaled(self.cam))

    def saliency_rgb8(self) -> np.ndarray:
        """The saliency as grey, its peak white."""
        return canvas.to_rgb8(_peak_scaled(self.saliency))


def _peak_scaled(values: np.ndarray) -> np.ndarray:
    peak = float(values.max())
    return values / peak if peak > 0 else values


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis (one image's logits, or a batch's rows)."""
    logits = np.asarray(logits, np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


_WEIGHABLE = ("conv", "conv_transpose", "activation", "pool", "adaptive_pool", "norm", "merge")


def _weighable(call: Call) -> bool:
    """A call whose output maps still have positions (more than 1x1)."""
    shape = tuple(call.output.shape)
    return call.kind in _WEIGHABLE and len(shape) == 4 and shape[2] * shape[3] > 1


def spatial_of(model, calls: list[Call]) -> list[str]:
    """The call sites among recorded `calls` that Grad-CAM can weigh: the convolutions,
    activations, poolings, norms and sums whose output still has positions, in the order the
    forward pass makes them, the last one the nearest the classifier (for a ResNet, the ReLU
    after the last block's sum)."""
    layers = [call.name for call in calls if _weighable(call)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no convolution, activation or pooling "
                         "output with positions, so Grad-CAM has no map to weigh")
    return layers


def spatial_layers(model, input_shape: tuple[int, ...]) -> list[str]:
    """`spatial_of` the calls of one blank input."""
    return spatial_of(model, record(model, np.zeros(input_shape, np.float32)))


class _Keep(Listener):
    """Keeps the output of the call `layer` names (with None, of the last one that can be
    weighed), with its gradient, and hands the rest of the network a copy: an in-place ReLU
    after it must not turn the kept tensor (and so its gradient) into the ReLU's."""

    def __init__(self, layer: str | None) -> None:
        self.layer, self.kept, self.name = layer, None, None

    def after(self, call: Call):
        if not _weighable(call) or self.layer not in (None, call.name):
            return None
        call.output.retain_grad()
        self.kept, self.name = call.output, call.name
        return call.output * 1.0


def attribute(model, received: np.ndarray, target_class: int | None = None,
              layer: str | None = None) -> Attribution:
    """Grad-CAM at `layer` (a call site; the last spatial one when None) and saliency for
    `target_class` (the predicted class when None), for one image `received` (C, H, W) as the
    model receives it."""
    engine = engine_of(model)
    keep = _Keep(layer)  # one pass: the layers are listed only to say what a bad one missed
    try:
        x, logits = forward(model, np.asarray(received, np.float32)[None], keep, grad=True)
        if keep.kept is None:
            layers = spatial_layers(model, received.shape)
            shown = ", ".join(layers[:10]) + (", ..." if len(layers) > 10 else "")
            raise ValueError(f"layer {layer!r} has no output maps with positions to weigh; "
                             f"Grad-CAM takes one of {shown}")
        scores = engine.numpy(logits)[0].astype(np.float64)
        chosen = int(scores.argmax()) if target_class is None else int(target_class)
        if not 0 <= chosen < len(scores):
            raise ValueError(f"class {target_class} is out of range: the model has classes 0 "
                             f"to {len(scores) - 1}")
        seed = np.zeros((1, len(scores)), np.float32)
        seed[0, chosen] = 1.0
        logits.backward(engine.tensor(seed, CPU))
    finally:
        for parameter in model.parameters():
            parameter.grad = None  # looking must not leave gradients for a later step
    maps = engine.numpy(keep.kept.detach())[0].astype(np.float64)
    gradient = engine.numpy(keep.kept.grad)[0].astype(np.float64)
    weights = gradient.mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(weights, maps, axes=1), 0.0)
    saliency = np.abs(engine.numpy(x.grad)[0].astype(np.float64)).max(axis=0)
    return Attribution(chosen, scores, keep.name, weights, cam, saliency)
