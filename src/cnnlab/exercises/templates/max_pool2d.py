import numpy as np


def max_pool2d_forward(x, kernel_size, stride, padding, dilation):
    """Max pooling as torch computes it: x (N, C, H, W), the padding counts as -infinity;
    kernel_size, stride, padding and dilation are pairs. Output (N, C, OH, OW) with
    OH = (H + 2 PH - DH (KH - 1) - 1) // SH + 1."""
    n, c, h, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                        j * dw:j * dw + sw * (ow - 1) + 1:sw]
            out = np.maximum(out, window)
    cache = (x, kernel_size, stride, padding, dilation)
    return out, cache


def max_pool2d_backward(dout, cache):
    """dout: (N, C, OH, OW). Return dx, the shape of x. Only the value that won a window
    gets that window's gradient (on a tie, the first in row-major order, as torch)."""
    x, kernel_size, stride, padding, dilation = cache
    raise NotImplementedError("write the backward pass of max_pool2d")
