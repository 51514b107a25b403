"""Correct backward passes for every exercise, as a student would write them in the file
`cnnlab exercise start` gives them (the body replaces the stub's `raise NotImplementedError`)."""

SOLUTIONS = {
    "relu": """
    return dout * (x > 0)
""",
    "linear": """
    return dout @ w, dout.T @ x, dout.sum(axis=0)
""",
    "conv2d": """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, width = x.shape
    o, c_group, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw_ = np.zeros_like(xp), np.zeros_like(w)
    o_group = o // groups
    for g in range(groups):
        channels, outputs = slice(g * c_group, (g + 1) * c_group), slice(
            g * o_group, (g + 1) * o_group)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                patch = xp[:, channels, rows, cols]
                dw_[outputs, :, i, j] += np.einsum("nchw,nohw->oc", patch, dout[:, outputs])
                dxp[:, channels, rows, cols] += np.einsum("nohw,oc->nchw", dout[:, outputs],
                                                          w[outputs, :, i, j])
    return dxp[:, :, ph:ph + h, pw:pw + width], dw_, dout.sum(axis=(0, 2, 3))
""",
    "conv_transpose2d": """
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    n, c, h, width = x.shape
    _, o_group, kh, kw = w.shape
    full = np.pad(dout, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dx, dw_ = np.zeros_like(x), np.zeros_like(w)
    c_group = c // groups
    for g in range(groups):
        channels, outputs = slice(g * c_group, (g + 1) * c_group), slice(
            g * o_group, (g + 1) * o_group)
        for i in range(kh):
            for j in range(kw):
                patch = full[:, outputs, i * dh:i * dh + sh * (h - 1) + 1:sh,
                             j * dw:j * dw + sw * (width - 1) + 1:sw]
                dx[:, channels] += np.einsum("nohw,co->nchw", patch, w[channels, :, i, j])
                dw_[channels, :, i, j] += np.einsum("nchw,nohw->co", x[:, channels], patch)
    return dx, dw_, dout.sum(axis=(0, 2, 3))
""",
    "max_pool2d": """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out = max_pool2d_forward(x, kernel_size, stride, padding, dilation)[0]
    dxp = np.zeros_like(xp)
    taken = np.zeros(out.shape, dtype=bool)  # a window's gradient goes to its first winner
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            wins = (xp[:, :, rows, cols] == out) & ~taken
            dxp[:, :, rows, cols] += dout * wins
            taken |= wins
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
""",
    "avg_pool2d": """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = dout.shape[2:]
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += dout
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] / (kh * kw)
""",
    "batch_norm": """
    axes = (0, 2, 3)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    dx_hat = dout * gamma[None, :, None, None]
    dx = inv_std / m * (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
                        - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True))
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)
""",
    "softmax_cross_entropy": """
    n = log_p.shape[0]
    grad = np.exp(log_p)
    grad[np.arange(n), targets] -= 1
    return dout * grad / n
""",
}


# The conv2d solution with one mistake: the tap slices forget the stride.
IGNORES_STRIDE = SOLUTIONS["conv2d"].replace(
    "rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)", "rows = slice(i * dh, i * dh + oh)"
).replace(
    "cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)", "cols = slice(j * dw, j * dw + ow)")
assert IGNORES_STRIDE.count("+ oh)") == IGNORES_STRIDE.count("+ ow)") == 1


def solved(text: str, name: str, body: str | None = None) -> str:
    """The student file with the stub replaced by a backward body."""
    stub = f'    raise NotImplementedError("write the backward pass of {name}")\n'
    assert stub in text
    return text.replace(stub, (SOLUTIONS[name] if body is None else body).lstrip("\n"))


# conv2d's backward written as a student new to NumPy would: a loop over every example,
# output channel, position, input channel and tap, in plain Python. Slow, and derived.
LOOPS = """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, width = x.shape
    o, c_group, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw_ = np.zeros_like(xp), np.zeros_like(w)
    o_group = o // groups
    for m in range(n):
        for oc in range(o):
            g = oc // o_group
            for p in range(oh):
                for q in range(ow):
                    d = dout[m, oc, p, q]
                    for ci in range(c_group):
                        for i in range(kh):
                            for j in range(kw):
                                r, s = p * sh + i * dh, q * sw + j * dw
                                dw_[oc, ci, i, j] += d * xp[m, g * c_group + ci, r, s]
                                dxp[m, g * c_group + ci, r, s] += d * w[oc, ci, i, j]
    return dxp[:, :, ph:ph + h, pw:pw + width], dw_, dout.sum(axis=(0, 2, 3))
"""

# No derivation: a step of 1 along each input value, through the given forward (exact for a
# layer linear in each input); FORWARD_COPY is the same through a copy of the forward.
NUMERICAL = """
    inputs = [np.array(a, dtype=float) for a in cache[:3]]
    grads = []
    for a in inputs:
        g = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            old = a[index]
            a[index] = old + 1.0
            up = conv2d_forward(*inputs, *cache[3:])[0]
            a[index] = old
            g[index] = np.sum((up - conv2d_forward(*inputs, *cache[3:])[0]) * dout)
        grads.append(g)
    return tuple(grads)
"""


def with_forward_copy(text: str) -> str:
    """A conv2d file whose NUMERICAL backward runs a copy of the forward, named my_forward."""
    forward = text[text.index("def conv2d_forward"):text.index("def conv2d_backward")]
    body = solved(text, "conv2d", NUMERICAL.replace("conv2d_forward(", "my_forward("))
    return body + "\n\n" + forward.replace("def conv2d_forward", "def my_forward")
