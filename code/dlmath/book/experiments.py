"""Chapter experiments: functions that exist to produce a figure or a table of the book.

They are not reference algorithms a reader copies; they measure the algorithms. Chapter 1: errors of
solving against inverting (solve_vs_inverse_errors), singular values of products of random matrices
(product_singular_values). Chapter 2: the error bound of finite differences and the step that
minimizes it (difference_error_bound, optimal_step).
"""
from __future__ import annotations

import numbers

import numpy as np

from dlmath.gradcheck import EPS
from dlmath.linalg import _check_generator, _check_matrix, _check_positive_int

__all__ = ["solve_vs_inverse_errors", "product_singular_values", "difference_error_bound", "optimal_step"]


def solve_vs_inverse_errors(A, x_true):
    """Errors of ``x = inv(A) @ b`` and ``x = solve(A, b)`` for ``b = A @ x_true``.

    ``A`` is ``(n, n)``, ``x_true`` is ``(n,)``. Returns a dict of four floats (2-norms):
    ``forward_inv``, ``forward_solve``: relative errors ``||x_hat - x|| / ||x||``;
    ``backward_inv``, ``backward_solve``: backward errors
    ``||b - A x_hat|| / (||A|| ||x_hat||)`` (eq-linear-algebra-backward-error).
    """
    A = _check_matrix(A, square=True)
    x_true = np.asarray(x_true)
    if x_true.shape != (A.shape[0],):
        raise ValueError(f"x_true must have shape ({A.shape[0]},) to match A of shape "
                         f"{A.shape}, got shape {x_true.shape}")
    if not np.issubdtype(x_true.dtype, np.floating):
        raise ValueError(f"x_true must be a floating-point array, got dtype {x_true.dtype}")
    b = A @ x_true  # (n,)
    norm_A = np.linalg.norm(A, 2)
    out = {}
    for name, x_hat in (("inv", np.linalg.inv(A) @ b), ("solve", np.linalg.solve(A, b))):
        forward = np.linalg.norm(x_hat - x_true) / np.linalg.norm(x_true)
        residual = b - A @ x_hat  # (n,)
        backward = np.linalg.norm(residual) / (norm_A * np.linalg.norm(x_hat))
        out[f"forward_{name}"], out[f"backward_{name}"] = float(forward), float(backward)
    return out


def product_singular_values(n, depth, std, rng):
    """Singular values of the products ``W_l ... W_1``, ``l = 1, ..., depth``.

    Each ``W_i`` is ``(n, n)`` with i.i.d. N(0, std^2) entries drawn from ``rng``. Returns
    an array of shape ``(depth, n)``; row ``l - 1`` holds the singular values (descending)
    of the product of the first ``l`` matrices. Their mean square is ``(n std^2)^l`` in
    expectation (eq-linear-algebra-gaussian-gain). The loop runs over layers only.
    """
    n = _check_positive_int("n", n)
    depth = _check_positive_int("depth", depth)
    if not (isinstance(std, numbers.Real) and np.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive finite number, got {std!r}")
    rng = _check_generator(rng)
    P = np.eye(n)
    out = np.empty((depth, n))
    for layer in range(depth):
        P = (std * rng.standard_normal((n, n))) @ P  # (n, n)
        out[layer] = np.linalg.svd(P, compute_uv=False)
    return out


def _check_scheme(scheme, f_bound, deriv_bound, eps):
    if scheme not in ("forward", "central"):
        raise ValueError(f"scheme must be 'forward' or 'central', got {scheme!r}")
    for name, value in (("f_bound", f_bound), ("deriv_bound", deriv_bound), ("eps", eps)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")


def difference_error_bound(scheme, h, f_bound=1.0, deriv_bound=1.0, eps=EPS):
    """Bound on |difference quotient - f'(x)| for step(s) h: truncation plus round-off.

    f_bound = M0 bounds |f| near x; deriv_bound bounds |f''| (M2, forward) or |f'''|
    (M3, central); every value of f is assumed computed with relative error <= eps.
    forward: M2 h / 2 + 2 eps M0 / h   (eq-calculus-forward-total)
    central: M3 h^2 / 6 + eps M0 / h   (eq-calculus-central-total)
    """
    _check_scheme(scheme, f_bound, deriv_bound, eps)
    h = np.asarray(h, dtype=np.float64)
    if not np.all(h > 0):
        raise ValueError(f"the step h must be positive, got {h}")
    if scheme == "forward":
        out = deriv_bound * h / 2 + 2 * eps * f_bound / h
    else:
        out = deriv_bound * h**2 / 6 + eps * f_bound / h
    return out if out.ndim else float(out)


def optimal_step(scheme, f_bound=1.0, deriv_bound=1.0, eps=EPS):
    """The step minimizing difference_error_bound, and the bound there: (h_star, error).

    forward: h* = 2 sqrt(eps M0 / M2), error 2 sqrt(eps M0 M2) (eq-calculus-forward-optimal)
    central: h* = (3 eps M0 / M3)^(1/3), error M3 h*^2 / 2  (eq-calculus-central-optimal)
    """
    _check_scheme(scheme, f_bound, deriv_bound, eps)
    if scheme == "forward":
        h = 2.0 * np.sqrt(eps * f_bound / deriv_bound)
    else:
        h = np.cbrt(3.0 * eps * f_bound / deriv_bound)
    return float(h), difference_error_bound(scheme, float(h), f_bound, deriv_bound, eps)
