"""The fully connected (linear, affine) layer as a functional pair (chapter 9).

``linear_forward(x, weight, bias=None)`` computes ``x @ weight.T + bias`` exactly as
``torch.nn.functional.linear``: ``x`` has shape ``(*, in)`` (any number of leading
axes, usually a batch ``(N, in)``), ``weight`` has the PyTorch layout ``(out, in)``,
``bias`` has shape ``(out,)``, and the output has shape ``(*, out)``
(eq-mlp-layer-forward). ``linear_backward(grad_out, cache)`` returns
``(grad_x, grad_weight, grad_bias)`` (eq-mlp-linear-backward): ``grad_x = grad_out @
weight``, ``grad_weight = grad_out^T x`` and ``grad_bias = grad_out`` summed over all
leading axes (``None`` when there is no bias). Imports only NumPy.
"""
import numpy as np

__all__ = ["linear_forward", "linear_backward"]


def _check_float(a, name):
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    return a


def linear_forward(x, weight, bias=None):
    """out = x W^T + b; x (*, in), W (out, in), b (out,) or None -> out (*, out).

    Implements eq-mlp-layer-forward, as torch.nn.functional.linear.
    Returns ``(out, cache)``.
    """
    x = _check_float(x, "x")
    weight = _check_float(weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight must have shape (out, in), got {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x must have shape (*, in) with in = weight.shape[1] = "
                         f"{weight.shape[1]}, got x of shape {x.shape} and weight "
                         f"of shape {weight.shape}")
    out = x @ weight.T  # (*, out)
    if bias is not None:
        bias = _check_float(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape (out,) = ({weight.shape[0]},), "
                             f"got shape {bias.shape}")
        out = out + bias  # broadcast over the leading axes
    return out, (x, weight, bias is not None)


def linear_backward(grad_out, cache):
    """Gradients of L w.r.t. x, W and b, given grad_out = dL/d(out) of shape (*, out).

    Implements eq-mlp-linear-backward: dX = dZ W, dW = dZ^T X, db = dZ^T 1 (sums over
    every leading axis). Returns ``(grad_x, grad_weight, grad_bias)``; ``grad_bias``
    is None when the forward pass had no bias.
    """
    x, weight, has_bias = cache
    grad_out = _check_float(grad_out, "grad_out")
    expected = x.shape[:-1] + (weight.shape[0],)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, "
                         f"got shape {grad_out.shape}")
    g2 = grad_out.reshape(-1, weight.shape[0])  # (M, out), M = all leading axes
    x2 = x.reshape(-1, weight.shape[1])  # (M, in)
    grad_x = grad_out @ weight  # (*, in)
    grad_weight = g2.T @ x2  # (out, in)
    grad_bias = g2.sum(axis=0) if has_bias else None  # (out,)
    return grad_x, grad_weight, grad_bias
