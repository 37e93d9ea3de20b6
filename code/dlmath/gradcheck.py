"""Finite-difference gradient checks in float64.

``numerical_gradient`` estimates the gradient of a scalar function by central differences,
(f(x + h e_i) - f(x - h e_i)) / (2h), whose error is O(h^2) (chapter 2 derives it and the best h).
``directional_check`` compares the analytic directional derivative <g, v> with a central difference
along one random direction v, which costs two evaluations whatever the size of x.
``relative_error`` is the scale-free error measure ||a - b|| / max(||a||, ||b||) used throughout.
"""
from __future__ import annotations

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "directional_check", "check_backward"]


def _as_float64(x, name):
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"{name} must be a float64 array (finite differences need double precision), got dtype {x.dtype}")
    return x


def relative_error(a, b, tiny: float = 1e-300) -> float:
    """Relative error ||a - b|| / max(||a||, ||b||, tiny) between two arrays (Frobenius norms).

    Norms rather than entries: an entry that is 1e-12 in one array and 0 in the other is not an error.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"relative_error needs arrays of the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    den = max(np.linalg.norm(a), np.linalg.norm(b), tiny)
    return float(np.linalg.norm(a - b) / den)


def numerical_gradient(f, x, h: float = 1e-6):
    """Central-difference gradient of the scalar function ``f`` at the float64 array ``x``.

    ``x`` is perturbed in place entry by entry and restored, so ``f`` must read ``x`` afresh on each
    call. Returns an array of ``x``'s shape.
    """
    x = _as_float64(x, "x")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float(f(x))
        flat[i] = old - h
        fm = float(f(x))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def directional_check(f, x, grad, rng: np.random.Generator, h: float = 1e-6) -> float:
    """Relative error between <grad, v> and the central difference of ``f`` along a random unit ``v``."""
    x = _as_float64(x, "x")
    grad = np.asarray(grad, dtype=float)
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of x {x.shape}, got {grad.shape}")
    v = rng.standard_normal(x.shape)
    v /= np.linalg.norm(v)
    numeric = (float(f(x + h * v)) - float(f(x - h * v))) / (2 * h)
    analytic = float(np.sum(grad * v))
    return relative_error(np.array(analytic), np.array(numeric))


def check_backward(forward, backward, inputs, rng: np.random.Generator, h: float = 1e-6):
    """Gradient-check a functional pair ``forward(*inputs) -> (out, cache)``, ``backward(dout, cache)``.

    A random upstream gradient ``dout`` (never all ones) turns the layer into the scalar
    L = sum(dout * out); its numerical gradient with respect to each input is compared with what
    ``backward`` returns. Returns the list of relative errors, one per input.
    """
    inputs = [_as_float64(np.array(a, dtype=np.float64), f"input {i}") for i, a in enumerate(inputs)]
    out, cache = forward(*inputs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs")
    errors = []
    for i, x in enumerate(inputs):
        def scalar(xi, i=i):
            args = list(inputs)
            args[i] = xi
            return np.sum(dout * forward(*args)[0])
        num = numerical_gradient(scalar, x.copy(), h)
        errors.append(relative_error(grads[i], num))
    return errors
