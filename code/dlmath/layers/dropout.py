"""Inverted dropout as a functional pair (chapter 13, regularization).

``dropout_forward(x, *, p=0.5, training=True, rng)`` follows torch.nn.functional.dropout: during training
each entry is kept with probability 1 - p and the kept entries are divided by 1 - p, so that E[out] = x
(eq-regularization-dropout, eq-regularization-dropout-mean, eq-regularization-dropout-var); with
``training=False`` it is the identity.
As in torch, p = 1 gives zeros and p = 0 gives x unchanged. ``rng`` is a numpy.random.Generator (the only
source of randomness; required even when no mask is drawn, so that calls are uniform).
``dropout_backward(grad_out, cache)`` multiplies by the same scaled mask. Srivastava et al. (2014).
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numbers

import numpy as np

__all__ = ["dropout_forward", "dropout_backward"]


def _check(x, p, training, rng):
    """x a float array, p a real number in [0, 1], training a bool, rng a numpy Generator."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"x must be a floating-point array, got dtype {x.dtype}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be a number in [0, 1], got {p!r}")
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"training must be a bool, got {training!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return x


def dropout_forward(x, *, p=0.5, training=True, rng):
    """out = x * m / (1 - p), m_i ~ Bernoulli(1 - p) independently (eq-regularization-dropout); any shape.

    Returns ``(out, cache)``; the cache holds the scaled mask m / (1 - p) (None at eval or for p = 0).
    """
    x = _check(x, p, training, rng)
    if not training or p == 0.0:
        return x.copy(), (None, x.shape, x.dtype)  # identity (a copy: the input is never aliased)
    if p == 1.0:
        scaled_mask = np.zeros(x.shape, dtype=x.dtype)  # every unit dropped, as torch
    else:
        keep = rng.random(x.shape) >= p  # (*,) True with probability 1 - p
        scaled_mask = keep.astype(x.dtype) / x.dtype.type(1.0 - p)  # (*,) values 0 or 1/(1 - p)
    return x * scaled_mask, (scaled_mask, x.shape, x.dtype)


def dropout_backward(grad_out, cache):
    """d x = d out * m / (1 - p), the forward's own mask; the identity at eval or for p = 0."""
    scaled_mask, shape, dtype = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the output's shape {shape}, got shape {grad_out.shape}")
    grad_out = grad_out.astype(dtype, copy=False)
    return grad_out.copy() if scaled_mask is None else grad_out * scaled_mask
