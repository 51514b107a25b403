

def linear_forward(x, w, b):
    """A fully connected layer, torch's layout: x (N, D), w (M, D), b (M,); out = x w^T + b,
    shape (N, M)."""
    out = x @ w.T + b
    cache = (x, w, b)
    return out, cache


def linear_backward(dout, cache):
    """dout: (N, M). Return (dx, dw, db), the shapes of x, w and b."""
    x, w, b = cache
    raise NotImplementedError("write the backward pass of linear")
