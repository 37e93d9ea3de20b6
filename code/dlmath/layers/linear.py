"""The fully connected (linear, affine) layer as a functional pair (chapter 9).

``linear_forward(x, weight, bias=None)`` computes ``x @ weight.T + bias`` as torch.nn.functional.linear,
with torch's layout: x (*, in), weight (out, in), bias (out,) -> out (*, out). ``linear_backward(grad_out,
cache)`` returns ``(grad_x, grad_weight, grad_bias)``, grad_bias None without a bias. Zero-size axes work.
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numpy as np

__all__ = ["linear_forward", "linear_backward"]


def _check(x, weight, bias):
    """Float arrays of one dtype (as F.linear), x (*, in) with in = weight.shape[1], bias (out,) or None."""
    arrays = {"x": np.asarray(x), "weight": np.asarray(weight)}
    if bias is not None:
        arrays["bias"] = np.asarray(bias)
    for name, a in arrays.items():
        if a.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if len({a.dtype for a in arrays.values()}) > 1:
        raise ValueError(f"x, weight and bias must have one dtype, got "
                         f"{', '.join(f'{k} {a.dtype}' for k, a in arrays.items())}")
    x, weight = arrays["x"], arrays["weight"]
    if weight.ndim != 2:
        raise ValueError(f"weight must have shape (out, in), got {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x must have shape (*, in) with in = weight.shape[1] = {weight.shape[1]}, "
                         f"got x of shape {x.shape} and weight of shape {weight.shape}")
    if bias is not None and arrays["bias"].shape != (weight.shape[0],):
        raise ValueError(f"bias must have shape (out,) = ({weight.shape[0]},), got shape {arrays['bias'].shape}")
    return x, weight, arrays.get("bias")


def _check_grad(grad_out, x, weight):
    """grad_out as a float array of the output's shape (*, out), converted to the forward's dtype."""
    grad_out = np.asarray(grad_out)
    expected = x.shape[:-1] + (weight.shape[0],)
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got shape {grad_out.shape}")
    return grad_out.astype(x.dtype, copy=False)


def linear_forward(x, weight, bias=None):
    """out = x W^T + b; x (*, in), W (out, in), b (out,) or None -> out (*, out) (eq-mlp-layer-forward)."""
    x, weight, bias = _check(x, weight, bias)
    out = x @ weight.T  # (*, out)
    if bias is not None:
        out = out + bias  # broadcast over the leading axes
    return out, (x, weight, bias is not None)


def linear_backward(grad_out, cache):
    """dX = dZ W, dW = dZ^T X, db = dZ^T 1, summed over every leading axis (eq-mlp-linear-backward)."""
    x, weight, has_bias = cache
    grad_out = _check_grad(grad_out, x, weight)
    lead = tuple(range(x.ndim - 1))  # the leading (batch) axes of x and grad_out
    grad_x = grad_out @ weight  # (*, in)
    grad_weight = np.tensordot(grad_out, x, axes=(lead, lead))  # (out, in)
    grad_bias = grad_out.sum(axis=lead) if has_bias else None  # (out,)
    return grad_x, grad_weight, grad_bias
