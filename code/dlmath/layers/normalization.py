"""Normalization layers as functional pairs: batch, layer, group and RMS normalization (chapter 12).

Each ``<op>_forward`` mirrors its torch.nn.functional counterpart (``F.batch_norm``, ``F.layer_norm``,
``F.group_norm``, ``F.rms_norm``): same argument order, defaults and layouts (channels on axis 1, NCHW).
``batch_norm_forward`` returns ``(out, cache, new_running_mean, new_running_var)``: the running statistics
are returned, never updated in place (torch updates its buffers in place). The running variance is updated
with the unbiased batch variance, as torch does, while training normalizes with the biased one.
``momentum=None`` (the cumulative average of nn.BatchNorm) is not a functional option in torch either:
pass ``momentum=1 / t`` at the t-th batch to get it. Each ``<op>_backward(grad_out, cache)`` returns the
gradients in argument order ``(dx, dweight, dbias)`` (``(dx, dweight)`` for RMSNorm), None where the
parameter is None. This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numpy as np

__all__ = ["batch_norm_forward", "batch_norm_backward", "layer_norm_forward", "layer_norm_backward",
           "group_norm_forward", "group_norm_backward", "rms_norm_forward", "rms_norm_backward"]


def _floats(**arrays):
    """Float arrays of one dtype (None entries skipped); returns the dict of arrays."""
    out = {k: np.asarray(a) for k, a in arrays.items() if a is not None}
    for name, a in out.items():
        if a.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if len({a.dtype for a in out.values()}) > 1:
        raise ValueError("all arrays must have one dtype, got " + ", ".join(f"{k} {a.dtype}" for k, a in out.items()))
    return out


def _check_eps(eps, allow_none=False):
    if eps is None and allow_none:
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number{' or None' if allow_none else ''}, got {eps!r}")


def _check_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """x (N, C, *) float; each per-channel array None or (C,); options valid. Returns the arrays."""
    a = _floats(x=x, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    x = a["x"]
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, C) or (N, C, *), got shape {x.shape}")
    for name in ("running_mean", "running_var", "weight", "bias"):
        if name in a and a[name].shape != (x.shape[1],):
            raise ValueError(f"{name} must have shape (C,) = ({x.shape[1]},), got shape {a[name].shape}")
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False, got {training!r}")
    if momentum is None:
        raise ValueError("momentum=None (a cumulative average) is not supported: pass momentum=1/t at batch t")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    _check_eps(eps)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both be None")
    if not training and running_mean is None:
        raise ValueError("evaluation mode (training=False) needs running_mean and running_var")
    if training and x.size // x.shape[1] <= 1:
        raise ValueError(f"training needs more than one value per channel, got x of shape {x.shape}")
    return x, a.get("running_mean"), a.get("running_var"), a.get("weight"), a.get("bias")


def _check_grad(grad_out, shape, dtype):
    """grad_out as a float array of the output's shape, in the forward's dtype."""
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the output's shape {shape}, got shape {grad_out.shape}")
    return grad_out.astype(dtype, copy=False)


def _per_channel(v, ndim):
    """A (C,) vector shaped (1, C, 1, ...) to broadcast against an (N, C, *) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm_forward(x, running_mean, running_var, weight, bias, *, training, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis but the channel axis 1: x (N, C, *) -> out (N, C, *).

    Training: x_hat = (x - mu_B) / sqrt(var_B + eps) with the batch mean and biased variance
    (eq-normalization-bn-mean, eq-normalization-bn-var, eq-normalization-bn-xhat), out = gamma x_hat + beta
    (eq-normalization-bn-out); running statistics updated with the unbiased variance
    (eq-normalization-running-mean, eq-normalization-running-var). Evaluation: the running statistics
    replace the batch ones. Ioffe & Szegedy (2015). Returns (out, cache, new_running_mean, new_running_var).
    """
    x, running_mean, running_var, weight, bias = _check_batch_norm(
        x, running_mean, running_var, weight, bias, training, momentum, eps)
    axes = (0,) + tuple(range(2, x.ndim))  # every axis but C
    m = x.size // x.shape[1]  # values per channel
    if training:
        mean = x.mean(axis=axes)  # (C,)
        var = x.var(axis=axes)  # (C,), biased: divides by m
        if running_mean is not None:
            running_mean = (1 - momentum) * running_mean + momentum * mean
            running_var = (1 - momentum) * running_var + momentum * var * (m / (m - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    x_hat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)  # (N, C, *)
    out = x_hat * _per_channel(weight, x.ndim) if weight is not None else x_hat
    if bias is not None:
        out = out + _per_channel(bias, x.ndim)
    cache = (x_hat, inv_std, weight, bias is not None, training, axes)
    return out, cache, running_mean, running_var


def batch_norm_backward(grad_out, cache):
    """(dx, dweight, dbias) of batch normalization (eq-normalization-bn-dx-compact in training,
    eq-normalization-bn-dgamma); in evaluation the layer is affine in x and dx = gamma dy / sqrt(var + eps)."""
    x_hat, inv_std, weight, has_bias, training, axes = cache
    dy = _check_grad(grad_out, x_hat.shape, x_hat.dtype)  # (N, C, *)
    nd, m = x_hat.ndim, x_hat.size // x_hat.shape[1]
    dweight = (dy * x_hat).sum(axis=axes) if weight is not None else None  # (C,)
    dbias = dy.sum(axis=axes) if has_bias else None  # (C,)
    scale = inv_std * weight if weight is not None else inv_std  # (C,): gamma / sigma_hat
    if not training:
        return dy * _per_channel(scale, nd), dweight, dbias
    sum_dy = dy.sum(axis=axes, keepdims=True)  # (1, C, 1, ...)
    sum_dy_xhat = (dy * x_hat).sum(axis=axes, keepdims=True)  # (1, C, 1, ...)
    dx = _per_channel(scale / m, nd) * (m * dy - sum_dy - x_hat * sum_dy_xhat)  # (N, C, *)
    return dx, dweight, dbias


def _normalized_axes(x, normalized_shape):
    """normalized_shape as a tuple matching the trailing axes of x."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in shape):
        raise ValueError(f"normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}")
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"x must have shape (*, {', '.join(map(str, shape))}) to match normalized_shape, "
                         f"got shape {x.shape}")
    return shape


def _check_layer_norm(x, normalized_shape, weight, bias, eps, eps_none=False):
    """x (*, normalized_shape); weight and bias None or of shape normalized_shape."""
    a = _floats(x=x, weight=weight, bias=bias)
    shape = _normalized_axes(a["x"], normalized_shape)
    for name in ("weight", "bias"):
        if name in a and a[name].shape != shape:
            raise ValueError(f"{name} must have shape normalized_shape = {shape}, got shape {a[name].shape}")
    _check_eps(eps, allow_none=eps_none)
    return a["x"], shape, a.get("weight"), a.get("bias")


def _normalize_backward(g, x_hat, inv_std, axes):
    """dx of x_hat = (x - mean) * inv_std with statistics over ``axes``, given g = dL/dx_hat (same shape)."""
    m = int(np.prod([x_hat.shape[a] for a in axes]))
    return inv_std / m * (m * g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True))


def layer_norm_forward(x, normalized_shape, weight, bias, *, eps=1e-5):
    """Layer normalization over the trailing axes normalized_shape, each example on its own (Ba et al., 2016):
    x (*, D...) -> out of the same shape, out = weight x_hat + bias elementwise (eq-normalization-ln)."""
    x, shape, weight, bias = _check_layer_norm(x, normalized_shape, weight, bias, eps)
    axes = tuple(range(x.ndim - len(shape), x.ndim))  # the normalized (trailing) axes
    mean = x.mean(axis=axes, keepdims=True)  # (*, 1...)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)  # (*, 1...), biased variance
    x_hat = (x - mean) * inv_std  # (*, D...)
    out = x_hat * weight if weight is not None else x_hat
    if bias is not None:
        out = out + bias
    return out, (x_hat, inv_std, weight, bias is not None, axes)


def layer_norm_backward(grad_out, cache):
    """(dx, dweight, dbias) of layer normalization: the compact form of eq-normalization-bn-dx-compact
    with statistics over the normalized axes and dL/dx_hat = dy * weight."""
    x_hat, inv_std, weight, has_bias, axes = cache
    dy = _check_grad(grad_out, x_hat.shape, x_hat.dtype)  # (*, D...)
    lead = tuple(range(x_hat.ndim - len(axes)))  # the leading (example) axes
    g = dy * weight if weight is not None else dy  # dL/dx_hat
    dx = _normalize_backward(g, x_hat, inv_std, axes)
    dweight = (dy * x_hat).sum(axis=lead) if weight is not None else None  # (D...)
    dbias = dy.sum(axis=lead) if has_bias else None  # (D...)
    return dx, dweight, dbias


def _check_group_norm(x, num_groups, weight, bias, eps):
    """x (N, C, *) with C divisible by num_groups; weight and bias None or (C,)."""
    a = _floats(x=x, weight=weight, bias=bias)
    x = a["x"]
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, C, *), got shape {x.shape}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1 \
            or x.shape[1] % num_groups:
        raise ValueError(f"num_groups must be a positive divisor of C = {x.shape[1]}, got {num_groups!r}")
    for name in ("weight", "bias"):
        if name in a and a[name].shape != (x.shape[1],):
            raise ValueError(f"{name} must have shape (C,) = ({x.shape[1]},), got shape {a[name].shape}")
    _check_eps(eps)
    return x, a.get("weight"), a.get("bias")


def group_norm_forward(x, num_groups, weight, bias, *, eps=1e-5):
    """Group normalization (Wu & He, 2018): the C channels of each example split into num_groups groups of
    C / num_groups consecutive channels, each group normalized over its channels and spatial positions;
    then a per-channel scale and shift. x (N, C, *) -> out (N, C, *) (def-normalization-groupnorm)."""
    x, weight, bias = _check_group_norm(x, num_groups, weight, bias, eps)
    n, c = x.shape[:2]
    xg = x.reshape(n, num_groups, -1)  # (N, G, C/G * spatial)
    mean = xg.mean(axis=2, keepdims=True)  # (N, G, 1)
    inv_std = 1.0 / np.sqrt(xg.var(axis=2, keepdims=True) + eps)  # (N, G, 1)
    x_hat = ((xg - mean) * inv_std).reshape(x.shape)  # (N, C, *)
    out = x_hat * _per_channel(weight, x.ndim) if weight is not None else x_hat
    if bias is not None:
        out = out + _per_channel(bias, x.ndim)
    return out, (x_hat, inv_std, num_groups, weight, bias is not None)


def group_norm_backward(grad_out, cache):
    """(dx, dweight, dbias) of group normalization: the compact backward within each (example, group)."""
    x_hat, inv_std, num_groups, weight, has_bias = cache
    dy = _check_grad(grad_out, x_hat.shape, x_hat.dtype)  # (N, C, *)
    n, nd = x_hat.shape[0], x_hat.ndim
    axes = (0,) + tuple(range(2, nd))  # per-channel sums
    g = dy * _per_channel(weight, nd) if weight is not None else dy  # dL/dx_hat, (N, C, *)
    dx = _normalize_backward(g.reshape(n, num_groups, -1), x_hat.reshape(n, num_groups, -1), inv_std, (2,))
    dweight = (dy * x_hat).sum(axis=axes) if weight is not None else None  # (C,)
    dbias = dy.sum(axis=axes) if has_bias else None  # (C,)
    return dx.reshape(x_hat.shape), dweight, dbias


def rms_norm_forward(x, normalized_shape, weight, *, eps=None):
    """RMSNorm (Zhang & Sennrich, 2019): out = weight * x / sqrt(mean(x^2) + eps) over the trailing axes
    normalized_shape, no mean subtracted, no bias (eq-normalization-rms). eps=None means the machine epsilon
    of x's dtype, np.finfo(x.dtype).eps, as F.rms_norm. x (*, D...) -> out of the same shape."""
    x, shape, weight, _ = _check_layer_norm(x, normalized_shape, weight, None, eps, eps_none=True)
    eps = np.finfo(x.dtype).eps if eps is None else eps
    axes = tuple(range(x.ndim - len(shape), x.ndim))  # the normalized (trailing) axes
    inv_rms = 1.0 / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + eps)  # (*, 1...)
    x_hat = x * inv_rms  # (*, D...)
    out = x_hat * weight if weight is not None else x_hat
    return out, (x_hat, inv_rms, weight, axes)


def rms_norm_backward(grad_out, cache):
    """(dx, dweight) of RMSNorm: dx = r (g - x_hat mean(g x_hat)) with g = dy * weight and r = 1 / rms
    (eq-normalization-rms-dx)."""
    x_hat, inv_rms, weight, axes = cache
    dy = _check_grad(grad_out, x_hat.shape, x_hat.dtype)  # (*, D...)
    lead = tuple(range(x_hat.ndim - len(axes)))
    g = dy * weight if weight is not None else dy  # dL/dx_hat
    dx = inv_rms * (g - x_hat * np.mean(g * x_hat, axis=axes, keepdims=True))  # (*, D...)
    dweight = (dy * x_hat).sum(axis=lead) if weight is not None else None  # (D...)
    return dx, dweight
