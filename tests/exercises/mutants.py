"""The mistakes students make in each backward pass, as edits of the correct solutions
(`solutions.SOLUTIONS`): the grader's cases must cost every one of them marks on every draw.
Each mutant is (exercise, what it gets wrong, its body)."""

from tests.exercises.solutions import SOLUTIONS


def _edit(name: str, *replacements: tuple[str, str]) -> str:
    body = SOLUTIONS[name]
    for old, new in replacements:
        assert body.count(old) == 1, (name, old)
        body = body.replace(old, new)
    return body


_CONV_ROWS = "rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)"
_CONV_COLS = "cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)"
_CONV_DX = ("dxp[:, channels, rows, cols] += np.einsum(\"nohw,oc->nchw\", dout[:, outputs],\n"
            "                                                          w[outputs, :, i, j])")

MUTANTS = [
    ("relu", "passes the gradient at exactly 0", _edit("relu", ("(x > 0)", "(x >= 0)"))),
    ("relu", "forgets dout", _edit("relu", ("dout * (x > 0)", "(x > 0) * 1.0"))),
    ("linear", "takes the bias gradient of the first example only",
     _edit("linear", ("dout.sum(axis=0)", "dout[0]"))),
    ("linear", "transposes dw", _edit("linear", ("dout.T @ x", "(dout.T @ x).T"))),
    ("conv2d", "ignores the stride in dx only", _edit(
        "conv2d", (_CONV_DX, _CONV_DX.replace("rows, cols", "rows0, cols0")),
        (_CONV_ROWS, _CONV_ROWS + "\n                rows0 = slice(i * dh, i * dh + oh)"),
        (_CONV_COLS, _CONV_COLS + "\n                cols0 = slice(j * dw, j * dw + ow)"))),
    ("conv2d", "ignores the dilation in dw only", _edit(
        "conv2d", ("patch = xp[:, channels, rows, cols]",
                   "patch = xp[:, channels, i:i + sh * (oh - 1) + 1:sh, "
                   "j:j + sw * (ow - 1) + 1:sw]"))),
    ("conv2d", "mixes the groups' input and output channels", _edit(
        "conv2d", ("g * o_group, (g + 1) * o_group)", "g * c_group, (g + 1) * c_group)"))),
    ("conv2d", "sums the bias gradient over the first example only",
     _edit("conv2d", ("dout.sum(axis=(0, 2, 3))", "dout[0].sum(axis=(1, 2))"))),
    ("conv2d", "flips the kernel in dx (convolution for correlation)",
     _edit("conv2d", ("w[outputs, :, i, j])", "w[outputs, :, kh - 1 - i, kw - 1 - j])"))),
    ("conv2d", "crops the padding from the wrong side",
     _edit("conv2d", ("dxp[:, :, ph:ph + h, pw:pw + width]", "dxp[:, :, :h, :width]"))),
    ("conv_transpose2d", "ignores the stride in dw only", _edit(
        "conv_transpose2d",
        ("dw_[channels, :, i, j] += np.einsum(\"nchw,nohw->co\", x[:, channels], patch)",
         "dw_[channels, :, i, j] += np.einsum(\"nchw,nohw->co\", x[:, channels], full[\n"
         "                    :, outputs, i * dh:i * dh + h, j * dw:j * dw + width])"))),
    ("conv_transpose2d", "mixes the groups' input and output channels", _edit(
        "conv_transpose2d",
        ("g * o_group, (g + 1) * o_group)", "g * c_group, (g + 1) * c_group)"))),
    ("conv_transpose2d", "ignores the dilation in dx and dw",
     _edit("conv_transpose2d", ("i * dh:i * dh + sh", "i:i + sh"),
           ("j * dw:j * dw + sw", "j:j + sw"))),
    ("max_pool2d", "sends the gradient to every cell of the window",
     _edit("max_pool2d", ("+= dout * wins", "+= dout"))),
    ("max_pool2d", "sends a tied window's gradient to every winner",
     _edit("max_pool2d", ("== out) & ~taken", "== out)"))),
    ("max_pool2d", "sends a tied window's gradient to its last winner",
     _edit("max_pool2d", ("for i in range(kh):", "for i in reversed(range(kh)):"),
           ("for j in range(kw):", "for j in reversed(range(kw)):"))),
    ("max_pool2d", "ignores the dilation", _edit(
        "max_pool2d", (_CONV_ROWS, "rows = slice(i, i + sh * (oh - 1) + 1, sh)"))),
    ("avg_pool2d", "divides by the window's cells inside the image, not its size",
     _edit("avg_pool2d",
           ("    dxp = np.zeros(",
            "    inside = np.pad(np.ones(x.shape[2:]), ((ph, ph), (pw, pw)))\n"
            "    count = sum(inside[i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]\n"
            "                for i in range(kh) for j in range(kw))\n"
            "    dxp = np.zeros("),
           ("+= dout\n", "+= dout / count\n"), (" / (kh * kw)", ""))),
    ("avg_pool2d", "divides by KH squared", _edit("avg_pool2d", ("/ (kh * kw)", "/ (kh * kh)"))),
    ("batch_norm", "leaves out the mean term",
     _edit("batch_norm", ("m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)", "m * dx_hat"))),
    ("batch_norm", "counts the batch only, not the positions",
     _edit("batch_norm", ("m = x.shape[0] * x.shape[2] * x.shape[3]", "m = x.shape[0]"))),
    ("softmax_cross_entropy", "does not divide by N",
     _edit("softmax_cross_entropy", ("dout * grad / n", "dout * grad"))),
]
