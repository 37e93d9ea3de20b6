"""Finite-difference gradient checks in float64.

``numerical_gradient`` estimates the gradient of a scalar function by central differences,
(f(x + h e_i) - f(x - h e_i)) / (2h), whose error is O(h^2) (chapter 2 derives it and the best h).
``directional_check`` compares the analytic directional derivative <g, v> with a central difference
along one random direction v, which costs two evaluations whatever the size of x.
``relative_error`` is the scale-free error measure ||a - b|| / max(||a||, ||b||) used throughout.
``forward_difference`` and ``central_difference`` are the one-variable difference quotients of
chapter 2 (their error bounds and best steps are in ``dlmath.book.experiments``); they step by
``exact_step(x, h)``, so that ``x + h`` and ``x - h`` are floating-point numbers and the only rounding
left is that of the values of ``f``. ``hvp`` is a Hessian-vector product by central differences of a
gradient, which costs two gradient evaluations and never forms the Hessian (an approximation; the
exact product is ``dlmath.autograd.hessian_vector_product``).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "numerical_gradient", "relative_error", "directional_check", "check_backward",
    "forward_difference", "central_difference", "exact_step", "hvp", "EPS", "UNIT_ROUNDOFF",
]

EPS = float(np.finfo(np.float64).eps)  # 2**-52, the gap between 1.0 and the next float64
UNIT_ROUNDOFF = EPS / 2  # u = 2**-53: rounding to nearest errs by at most u, relatively


def _as_float64(x, name):
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"{name} must be a float64 array (finite differences need double "
                         f"precision), got dtype {x.dtype}")
    return x


def _scalar(value, what):
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"{what} must return a scalar, got an array of shape {value.shape}")
    return float(value.reshape(-1)[0])


def relative_error(a, b, tiny: float = 1e-300) -> float:
    """Relative error ||a - b|| / max(||a||, ||b||, tiny) between two arrays (Frobenius norms).

    Norms rather than entries: an entry that is 1e-12 in one array and 0 in the other is not
    an error (eq-calculus-relative-error).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"relative_error needs arrays of the same shape, "
                         f"got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    den = max(np.linalg.norm(a), np.linalg.norm(b), tiny)
    return float(np.linalg.norm(a - b) / den)


def numerical_gradient(f, x, h: float = 1e-6):
    """Central-difference gradient of the scalar function ``f`` at the float64 array ``x``.

    ``x`` is perturbed in place entry by entry and restored, so ``f`` must read ``x``
    afresh on each call. Returns an array of ``x``'s shape (eq-calculus-numerical-gradient).
    """
    x = _as_float64(x, "x")
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):  # indexes x itself: views and strided arrays work too
        old = x[idx]
        try:
            x[idx] = old + h
            fp = _scalar(f(x), "f")
            x[idx] = old - h
            fm = _scalar(f(x), "f")
        finally:
            x[idx] = old  # restored even if f raises
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def directional_check(f, x, grad, rng: np.random.Generator, h: float = 1e-6) -> float:
    """Relative error between <grad, v> and the central difference of ``f`` along a random
    unit ``v`` (eq-calculus-directional); two evaluations of ``f`` whatever the size of ``x``.
    """
    x = _as_float64(x, "x")
    grad = np.asarray(grad, dtype=float)
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of x {x.shape}, got {grad.shape}")
    v = rng.standard_normal(x.shape)
    v /= np.linalg.norm(v)
    numeric = (_scalar(f(x + h * v), "f") - _scalar(f(x - h * v), "f")) / (2 * h)
    analytic = float(np.sum(grad * v))
    return relative_error(np.array(analytic), np.array(numeric))


def check_backward(forward, backward, inputs, rng: np.random.Generator, h: float = 1e-6):
    """Gradient-check a functional pair ``forward(*inputs) -> (out, cache)``,
    ``backward(dout, cache)``.

    A random upstream gradient ``dout`` (never all ones) turns the layer into the scalar
    L = sum(dout * out); its numerical gradient with respect to each input is compared with what
    ``backward`` returns. Returns the list of relative errors, one per input.
    """
    inputs = [_as_float64(np.array(a, dtype=np.float64), f"input {i}")  # float64 copies
              for i, a in enumerate(inputs)]
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


def _scalar_and_steps(x, h):
    """Check that ``x`` is a float64 scalar and every step in ``h`` is positive and finite."""
    x = _as_float64(x, "x")
    if x.ndim != 0:
        raise ValueError(f"x must be a scalar (a function of one variable), got shape {x.shape}")
    h = np.asarray(h, dtype=np.float64)
    if not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise ValueError(f"the step h must be positive and finite, got {h}")
    return float(x), h


def exact_step(x, h):
    """The step ``(x + h) - x`` actually representable at the float64 scalar ``x``.

    With this step ``x + h`` and ``x - h`` are floating-point numbers (for ``h`` at most ``|x|``, or
    any ``h`` when ``x`` is 0), so forming them rounds nothing and the error bounds of chapter 2
    (eq-calculus-forward-total, eq-calculus-central-total) hold at every ``x``. Raises ValueError
    when ``h`` is below half the spacing of the floats at ``x`` (the step would be 0).
    """
    x, h = _scalar_and_steps(x, h)
    step = (x + h) - x  # exact: Sterbenz's lemma for the subtraction
    if np.any(step == 0):
        raise ValueError(f"the step h = {np.min(h)} is lost at x = {x}: x + h rounds to x "
                         f"(the spacing of float64 numbers there is {np.spacing(abs(x))})")
    return step if step.ndim else float(step)


def forward_difference(f, x, h=1.4901161193847656e-08):
    """Forward difference (f(x + h) - f(x)) / h of a scalar function at a float64 scalar x.

    Error O(h) (eq-calculus-forward-difference, eq-calculus-forward-truncation). The
    default h = sqrt(eps) is near the optimum when |f| and |f''| are of order one. The step is
    ``exact_step(x, h)``, so that x + h is exact. h may be an array of steps if f accepts arrays;
    the result has h's shape.
    """
    x, h = _scalar_and_steps(x, h)
    h = np.asarray(exact_step(x, h))
    out = (np.asarray(f(x + h), dtype=np.float64) - np.float64(f(x))) / h
    return out if out.ndim else float(out)


def central_difference(f, x, h=6.0554544523933395e-06):
    """Central difference (f(x + h) - f(x - h)) / (2h) at a float64 scalar x.

    Error O(h^2) (eq-calculus-central-difference, eq-calculus-central-truncation).
    The default h = eps^(1/3); the step is ``exact_step(x, h)``, so that x +- h are exact.
    h may be an array of steps if f accepts arrays.
    """
    x, h = _scalar_and_steps(x, h)
    h = np.asarray(exact_step(x, h))
    f_plus = np.asarray(f(x + h), dtype=np.float64)
    f_minus = np.asarray(f(x - h), dtype=np.float64)
    out = (f_plus - f_minus) / (2 * h)
    return out if out.ndim else float(out)


def hvp(grad, x, v, h: float = 1e-5):
    """Hessian-vector product (grad(x + h v) - grad(x - h v)) / (2h) by central differences.

    ``grad`` returns the gradient (an array of ``x``'s shape) of a scalar function; ``x`` and ``v``
    are float64 arrays of one shape. Error O(h^2) when the gradient is twice continuously
    differentiable (eq-calculus-hvp-difference); two gradient evaluations, whatever the size of
    ``x``, and the n x n Hessian is never formed. The exact product, by forward mode over reverse
    mode, is ``dlmath.autograd.hessian_vector_product`` (chapter 8), as ``torch.autograd.functional.hvp``.
    """
    x = _as_float64(x, "x")
    v = _as_float64(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"the step h must be positive and finite, got {h}")
    g_plus = np.asarray(grad(x + h * v), dtype=np.float64)
    g_minus = np.asarray(grad(x - h * v), dtype=np.float64)
    if g_plus.shape != x.shape:
        raise ValueError(f"grad must return an array of the shape of x {x.shape}, got {g_plus.shape}")
    return (g_plus - g_minus) / (2 * h)
