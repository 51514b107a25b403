import numpy as np


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """A 2-D convolution as torch computes it (cross-correlation).

    x (N, C, H, W); w (O, C // groups, KH, KW); b (O,); stride, padding and dilation are
    pairs (along H, along W). Output (N, O, OH, OW), OH = (H + 2 PH - DH (KH - 1) - 1) // SH + 1.
    Channels split into `groups`: output channels g*O/groups ... see only input channels
    g*C/groups ... .
    """
    n, c, h, width = x.shape
    o, c_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, o, oh, ow))
    o_group = o // groups
    for g in range(groups):
        xg = xp[:, g * c_group:(g + 1) * c_group]
        for i in range(kh):
            for j in range(kw):
                # the input values kernel tap (i, j) meets at every output position
                patch = xg[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                tap = w[g * o_group:(g + 1) * o_group, :, i, j]
                out[:, g * o_group:(g + 1) * o_group] += np.einsum("nchw,oc->nohw", patch, tap)
    out += b[None, :, None, None]
    cache = (x, w, b, stride, padding, dilation, groups)
    return out, cache


def conv2d_backward(dout, cache):
    """dout: (N, O, OH, OW). Return (dx, dw, db), the shapes of x, w and b."""
    x, w, b, stride, padding, dilation, groups = cache
    raise NotImplementedError("write the backward pass of conv2d")
