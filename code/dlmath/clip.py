"""Gradient clipping (chapter 11, Initialization and gradient flow).

Pure-function versions of ``torch.nn.utils.clip_grad_norm_`` and ``torch.nn.utils.clip_grad_value_``:
they take a list of gradient arrays (one per parameter) and return new arrays; nothing passed in is
modified. This file imports only NumPy and the standard library.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["clip_grad_norm", "clip_grad_value"]

EPS = 1e-6  # torch's constant in max_norm / (total_norm + 1e-6)


def _check(grads, **positives):
    """grads as a list of float arrays; each keyword a real number >= 0 (norm_type > 0 or inf)."""
    if isinstance(grads, np.ndarray):
        grads = [grads]
    grads = [np.asarray(g) for g in grads]
    for i, g in enumerate(grads):
        if g.dtype.kind != "f":
            raise ValueError(f"grads[{i}] must be a floating-point array, got dtype {g.dtype}")
    for name, v in positives.items():
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or math.isnan(v) or v < 0:
            raise ValueError(f"{name} must be a real number >= 0, got {v!r}")
        if name == "norm_type" and v == 0:
            raise ValueError(f"norm_type must be positive or inf, got {v!r}")
    return grads


def _vector_norm(x, p):
    """The p-norm of all entries of x (p > 0 or inf)."""
    x = np.abs(np.ravel(x))
    if x.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.max(x))
    return float(np.sum(x**p) ** (1.0 / p))


def clip_grad_norm(grads, max_norm, *, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients by one factor min(1, max_norm / (total_norm + 1e-6)), total_norm the
    norm_type-norm of all entries together (eq-initialization-clip-norm). Only scales down; the direction
    of the concatenated gradient is unchanged. Returns (clipped_grads, total_norm), the norm before
    clipping. With error_if_nonfinite, a NaN or infinite total norm raises RuntimeError (as torch)."""
    grads = _check(grads, max_norm=max_norm, norm_type=norm_type)
    norm_type = float(norm_type)
    if not grads:
        return [], 0.0
    # the norm of the per-array norms is the norm of all entries together
    total_norm = _vector_norm(np.array([_vector_norm(g, norm_type) for g in grads]), norm_type)
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients is non-finite, "
                           "so it cannot be clipped; set error_if_nonfinite=False to scale anyway")
    scale = min(max_norm / (total_norm + EPS), 1.0) if not math.isnan(total_norm) else math.nan
    return [g * scale for g in grads], total_norm


def clip_grad_value(grads, clip_value):
    """Clamp every entry to [-clip_value, clip_value] (eq-initialization-clip-value): the direction
    changes whenever some entries are clipped and others are not."""
    grads = _check(grads, clip_value=clip_value)
    return [np.clip(g, -clip_value, clip_value) for g in grads]
