"""Positional information for attention: sinusoidal encodings and rotary embeddings (chapter 17).

``sinusoidal_positional_encoding(num_positions, embedding_dim)`` is the fixed table of Vaswani et al.
(2017): PE[t, 2i] = sin(t w_i), PE[t, 2i + 1] = cos(t w_i), w_i = base^(-2i / d) (eq-attention-pe). It is
added to the token embeddings. ``rotary_forward(x)`` / ``rotary_backward`` rotate each pair of features
(2i, 2i + 1) of the vector at position m by the angle m w_i (RoFormer, Su et al. 2021; eq-attention-rope),
so that the dot product of a rotated query at m and a rotated key at n depends on m - n only. The pairs
are the adjacent (interleaved) ones of the paper; some libraries pair feature i with i + d/2 instead.
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import math
import numbers

import numpy as np

__all__ = ["sinusoidal_positional_encoding", "rotary_angles", "rotary_forward", "rotary_backward"]


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_base(base):
    if isinstance(base, bool) or not isinstance(base, numbers.Real) or not math.isfinite(base) or base <= 1:
        raise ValueError(f"base must be a finite number > 1, got {base!r}")
    return float(base)


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    return dtype


def sinusoidal_positional_encoding(num_positions, embedding_dim, *, base=10000.0, dtype=np.float64):
    """The (num_positions, embedding_dim) table PE[t, 2i] = sin(t w_i), PE[t, 2i+1] = cos(t w_i),
    w_i = base^(-2i/d), d = embedding_dim (even) (eq-attention-pe). Vaswani et al. (2017)."""
    n = _check_int(num_positions, "num_positions", 0)
    d = _check_int(embedding_dim, "embedding_dim", 2)
    if d % 2:
        raise ValueError(f"embedding_dim must be even, got {d}")
    base, dtype = _check_base(base), _check_dtype(dtype)
    w = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,) frequencies
    angle = np.arange(n, dtype=np.float64)[:, None] * w  # (n, d/2)
    pe = np.empty((n, d), dtype=np.float64)
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe.astype(dtype, copy=False)


def rotary_angles(positions, dim, *, base=10000.0):
    """The angles m w_i (len(positions), dim/2) of the rotary embedding, w_i = base^(-2i/dim)."""
    d = _check_int(dim, "dim", 2)
    if d % 2:
        raise ValueError(f"dim must be even, got {d}")
    pos = np.asarray(positions)
    if pos.ndim != 1 or pos.dtype.kind not in "iuf":
        raise ValueError(f"positions must be a 1-d array of numbers, got shape {pos.shape}, dtype {pos.dtype}")
    w = _check_base(base) ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,)
    return pos.astype(np.float64)[:, None] * w  # (T, d/2)


def _check_rotary(x, positions, base):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"x must be a floating-point array, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (*, T, D) with D even, got {x.shape}")
    t = x.shape[-2]
    positions = np.arange(t) if positions is None else np.asarray(positions)
    if positions.shape != (t,):
        raise ValueError(f"positions must have shape (T,) = {(t,)}, got {positions.shape}")
    return x, rotary_angles(positions, x.shape[-1], base=base)


def _rotate(x, cos, sin):
    """Rotate each pair (x[..., 2i], x[..., 2i+1]) by the angle whose cosine and sine are given (T, D/2)."""
    a, b = x[..., 0::2], x[..., 1::2]  # (*, T, D/2)
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def rotary_forward(x, *, positions=None, base=10000.0):
    """x (*, T, D), D even -> out of the same shape: the pair (2i, 2i+1) of the vector at position m rotated
    by m w_i, w_i = base^(-2i/D) (eq-attention-rope); positions default to 0..T-1. Su et al. (2021)."""
    x, angle = _check_rotary(x, positions, base)
    cos, sin = np.cos(angle).astype(x.dtype), np.sin(angle).astype(x.dtype)  # (T, D/2)
    return _rotate(x, cos, sin), (cos, sin, x.shape, x.dtype)


def rotary_backward(grad_out, cache):
    """dx: a rotation is orthogonal, so the gradient is rotated back by -m w_i (the transpose)."""
    cos, sin, shape, dtype = cache
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f" or grad_out.shape != shape:
        raise ValueError(f"grad_out must be a float array of the output's shape {shape}, got "
                         f"{grad_out.dtype} {grad_out.shape}")
    return _rotate(grad_out.astype(dtype, copy=False), cos, -sin)
