"""`torch.autograd.Function`: an op whose forward and backward the user writes, as the
"Learning PyTorch with Examples" tutorial's `LegendrePolynomial3`. `apply` runs the forward
outside the graph and records one node whose backward is the user's."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record, no_grad


class FunctionCtx:
    """What forward leaves for backward (`ctx`)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.saved_tensors: tuple[Tensor, ...] = ()
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *tensors: Tensor) -> None:
        self.saved_tensors = tensors


class Function:
    """Subclass it with static `forward(ctx, *inputs)` and `backward(ctx, grad_output)`,
    which returns one gradient (or None) per input; call it as `MyFunction.apply(x)`."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a Function subclass defines forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass defines backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args) -> Tensor:
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            output = cls.forward(ctx, *args)
        if not isinstance(output, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return one tensor, got "
                            f"{type(output).__name__}")
        tensors = tuple(a for a in args if isinstance(a, Tensor))

        def backward(grad: np.ndarray):
            with no_grad():
                grads = cls.backward(ctx, Tensor(grad))
            grads = grads if isinstance(grads, tuple) else (grads,)
            if len(grads) != len(args):
                raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} "
                                   f"gradient(s); its forward took {len(args)} input(s)")
            return tuple(None if g is None else np.asarray(g.data if isinstance(g, Tensor)
                                                           else g)
                         for g, a in zip(grads, args, strict=True) if isinstance(a, Tensor))

        return _record(output.data, tensors, backward)
