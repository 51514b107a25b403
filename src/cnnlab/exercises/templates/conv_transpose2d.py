import numpy as np


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """A 2-D transposed convolution as torch computes it: each input value spreads its kernel,
    scaled by the value, onto the output at stride spacing; padding then crops the border.

    x (N, C, H, W); w (C, O // groups, KH, KW); b (O,); stride, padding, output_padding and
    dilation are pairs. OH = (H - 1) SH - 2 PH + DH (KH - 1) + OPH + 1.
    """
    n, c, h, width = x.shape
    _, o_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (width - 1) * sw + dw * (kw - 1) + 1 + opw
    full = np.zeros((n, o_group * groups, full_h, full_w))
    c_group = c // groups
    for g in range(groups):
        xg = x[:, g * c_group:(g + 1) * c_group]
        for i in range(kh):
            for j in range(kw):
                tap = w[g * c_group:(g + 1) * c_group, :, i, j]
                full[:, g * o_group:(g + 1) * o_group,
                     i * dh:i * dh + sh * (h - 1) + 1:sh,
                     j * dw:j * dw + sw * (width - 1) + 1:sw] += np.einsum("nchw,co->nohw", xg,
                                                                           tap)
    out = full[:, :, ph:full_h - ph, pw:full_w - pw] + b[None, :, None, None]
    cache = (x, w, b, stride, padding, output_padding, dilation, groups)
    return out, cache


def conv_transpose2d_backward(dout, cache):
    """dout: (N, O, OH, OW). Return (dx, dw, db), the shapes of x, w and b."""
    x, w, b, stride, padding, output_padding, dilation, groups = cache
    raise NotImplementedError("write the backward pass of conv_transpose2d")
