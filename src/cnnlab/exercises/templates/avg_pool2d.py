import numpy as np


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling as torch computes it by default: x (N, C, H, W), zero padding that
    counts in the average (count_include_pad=True), so every window divides by KH*KW.
    Output (N, C, OH, OW) with OH = (H + 2 PH - KH) // SH + 1."""
    n, c, h, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (width + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, c, oh, ow))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    out /= kh * kw
    cache = (x, kernel_size, stride, padding)
    return out, cache


def avg_pool2d_backward(dout, cache):
    """dout: (N, C, OH, OW). Return dx, the shape of x."""
    x, kernel_size, stride, padding = cache
    raise NotImplementedError("write the backward pass of avg_pool2d")
