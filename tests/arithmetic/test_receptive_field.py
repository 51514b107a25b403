"""Receptive fields against the gradient: the input pixels one output's gradient reaches.

With all-ones kernels and average pooling no gradient cancels, so the non-zero span of
d(output[o])/d(input) is exactly the field of output o (when it lies inside the image)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic.sizes import LayerDoesNotFit, conv_output_size, pool_output_size

# (kind, kernel, stride, padding, dilation) along one axis
CHAINS = {
    "three 3x3 convs": [("conv", 3, 1, 1, 1)] * 3,
    "alexnet front": [("conv", 11, 4, 0, 1), ("pool", 3, 2, 0, 1), ("conv", 5, 1, 2, 1),
                      ("pool", 3, 2, 0, 1), ("conv", 3, 1, 1, 1)],
    "dilated": [("conv", 3, 1, 2, 2), ("conv", 3, 2, 0, 3), ("pool", 2, 2, 0, 1)],
    "down and up": [("conv", 3, 2, 1, 1), ("tconv", 3, 2, 1, 1), ("conv", 3, 1, 1, 1)],
    "transposed": [("tconv", 4, 2, 1, 1), ("tconv", 3, 3, 0, 2)],
}


def _apply(x, layer):
    kind, k, s, p, d = layer
    if kind == "conv":
        return F.conv2d(x, torch.ones(1, 1, 1, k, dtype=x.dtype), stride=(1, s), padding=(0, p),
                        dilation=(1, d))
    if kind == "tconv":
        return F.conv_transpose2d(x, torch.ones(1, 1, 1, k, dtype=x.dtype), stride=(1, s),
                                  padding=(0, p), dilation=(1, d))
    return F.avg_pool2d(x, (1, k), (1, s), (0, p))


def _predicted(chain):
    field = rf.INPUT_PIXEL
    for kind, k, s, p, d in chain:
        step = rf.through_transposed if kind == "tconv" else rf.through_window
        field = step(field, k, s, p, d)
    return field


def _measured_spans(chain, width=400, margin=0, required=True):
    """(output index, first and last input pixel that output depends on) for the outputs
    whose field lies at least `margin` pixels inside the input. Every layer is linear here, so
    one forward pass over the basis images gives the whole Jacobian."""
    y = torch.eye(width, dtype=torch.float64).reshape(width, 1, 1, width)
    for layer in chain:
        y = _apply(y, layer)
    jacobian = y[:, 0, 0, :]  # [input pixel, output]
    spans = []
    for o in range(jacobian.shape[1]):
        touched = torch.nonzero(jacobian[:, o]).flatten()
        if not len(touched):  # a transposed conv with gaps: this output sees no input
            continue
        lo, hi = int(touched.min()), int(touched.max())
        if margin <= lo and hi < width - margin:
            spans.append((o, lo, hi))
    assert spans or not required, "no output has its field inside the input; widen the input"
    return spans


def _margin(field):
    # Far enough from the borders that no layer's padding or dropped last rows cut the field.
    return field.pixels + 2 * int(field.jump + 1)


@pytest.mark.parametrize("name", CHAINS)
def test_field_size_is_the_gradients_reach(name):
    chain = CHAINS[name]
    field = _predicted(chain)
    spans = _measured_spans(chain, margin=_margin(field))
    assert max(hi - lo + 1 for _, lo, hi in spans) == field.pixels


@pytest.mark.parametrize("name", [n for n in CHAINS if all(l[0] != "tconv" for l in CHAINS[n])])
def test_field_centre_follows_start_and_jump(name):
    field = _predicted(CHAINS[name])
    spans = _measured_spans(CHAINS[name], margin=_margin(field))
    for o, lo, hi in spans:
        assert hi - lo + 1 == field.size
        assert (lo + hi) / 2 == field.start + o * field.jump


layers = st.tuples(st.sampled_from(["conv", "pool"]), st.integers(1, 5), st.integers(1, 3),
                   st.integers(0, 2), st.integers(1, 2))


@settings(max_examples=40, deadline=None)
@given(st.lists(layers, min_size=1, max_size=4))
def test_random_chains(chain):
    chain = [(kind, k, s, min(p, k // 2) if kind == "pool" else p, 1 if kind == "pool" else d)
             for kind, k, s, p, d in chain]
    size = 400
    try:
        for kind, k, s, p, d in chain:
            size = (conv_output_size if kind == "conv" else pool_output_size)(size, k, s, p, d)
    except LayerDoesNotFit:
        return
    field = _predicted(chain)
    spans = _measured_spans(chain, margin=_margin(field), required=False)
    assume(spans)  # a field (plus margins) wider than the test input says nothing
    for o, lo, hi in spans:
        assert (hi - lo + 1, (lo + hi) / 2) == (field.size, field.start + o * field.jump)


def test_adaptive_pooling_field():
    # 10 -> 4 bins: [0,3) [2,5) [5,8) [7,10): the widest bin is 3 wide
    field = rf.through_adaptive(rf.INPUT_PIXEL, 10, 4)
    assert field.pixels == 3 and float(field.jump) == 2.5
    assert rf.through_adaptive(rf.INPUT_PIXEL, 7, 1).pixels == 7


def test_published_fields():
    """AlexNet's POOL3 sees 195 pixels and VGG-16's pool5 212 (Araujo et al., Distill 2019)."""
    alexnet = _predicted(CHAINS["alexnet front"] + [("conv", 3, 1, 1, 1), ("conv", 3, 1, 1, 1),
                                                    ("pool", 3, 2, 0, 1)])
    assert alexnet.pixels == 195
    vgg16 = []
    for convs in (2, 2, 3, 3, 3):
        vgg16 += [("conv", 3, 1, 1, 1)] * convs + [("pool", 2, 2, 0, 1)]
    assert _predicted(vgg16).pixels == 212
