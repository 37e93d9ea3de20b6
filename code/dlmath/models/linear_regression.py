"""Linear regression by least squares: normal equations, gradient descent and SGD (chapter 4).

The model is ``y_hat = X @ w + b`` with ``X`` of shape ``(N, d)`` (one example per row), ``w``
of shape ``(d,)`` and a scalar intercept ``b``. The loss is the mean squared error
``loss(w, b) = (1/N) ||X w + b - y||^2`` (eq-optimization-lsq-loss), as
``torch.nn.functional.mse_loss`` with ``reduction="mean"``. Its gradient is
``(2/N) X^T (X w + b - y)`` and its Hessian ``(2/N) X^T X`` (eq-optimization-lsq-gradient).
Only NumPy is needed; randomness comes from a ``numpy.random.Generator`` argument.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "predict", "mse_loss", "mse_loss_grad", "lipschitz_constant", "fit_normal_equations",
    "fit_gradient_descent", "sgd",
]


# ----------------------------------------------------------------------------------------------- checks
def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of shape (N, d), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise ValueError(f"X must be a floating-point array, got dtype {X.dtype}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X needs at least one row and one column, got shape {X.shape}")
    return X


def _check_Xy(X, y):
    X = _check_X(X)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X of shape {X.shape}, "
                         f"got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be a floating-point array, got dtype {y.dtype}")
    return X, y


def _check_w(w, d):
    w = np.asarray(w)
    if w.shape != (d,):
        raise ValueError(f"w must have shape ({d},), got shape {w.shape}")
    return w


def _check_positive(name, value, integer=False, allow_zero=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        what = "integer" if integer else "finite number"
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {sign} {what}, got {value!r}")


def _design(X, fit_intercept):
    """``X``, with a column of ones appended when there is an intercept: (N, d) or (N, d + 1)."""
    if fit_intercept:
        return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])
    return X


# ----------------------------------------------------------------------------------- loss and gradient
def predict(X, w, b=0.0):
    """Predictions ``X @ w + b``, shape (N,), for ``X`` of shape (N, d) and ``w`` of shape (d,)."""
    X = _check_X(X)
    w = _check_w(w, X.shape[1])
    return X @ w + b  # (N,)


def mse_loss(X, y, w, b=0.0):
    """The mean squared error ``(1/N) ||X w + b - y||^2`` (eq-optimization-lsq-loss)."""
    X, y = _check_Xy(X, y)
    r = predict(X, w, b) - y  # (N,) residuals
    return float(r @ r) / X.shape[0]


def mse_loss_grad(X, y, w, b=0.0):
    """Gradient of :func:`mse_loss`: ``((2/N) X^T r, (2/N) sum(r))`` with ``r = X w + b - y``.

    Returns ``(grad_w, grad_b)``, of shape (d,) and a float (eq-optimization-lsq-gradient).
    """
    X, y = _check_Xy(X, y)
    r = predict(X, w, b) - y  # (N,)
    scale = 2.0 / X.shape[0]
    return scale * (X.T @ r), scale * float(r.sum())


def lipschitz_constant(X, *, fit_intercept=True):
    """Largest eigenvalue of the loss's Hessian ``(2/N) Z^T Z`` (eq-optimization-lsq-lipschitz).

    ``Z`` is ``X`` with a column of ones appended when ``fit_intercept``. The gradient of the
    loss is Lipschitz with this constant; ``1 / M`` (M, the smoothness constant of chapter 4) is the default step of gradient descent.
    """
    Z = _design(_check_X(X), fit_intercept)
    return float(np.linalg.eigvalsh((2.0 / Z.shape[0]) * (Z.T @ Z))[-1])


# --------------------------------------------------------------------------------------------- solvers
def fit_normal_equations(X, y, *, fit_intercept=True):
    """Least-squares weights, a solution of the normal equations ``X^T X w = X^T y``.

    Returns ``(w, b)``: ``w`` of shape (d,) and the intercept ``b`` (0.0 without intercept).
    With an intercept the columns are centred first and ``b = mean(y) - mean(X) @ w``.
    Solved by ``np.linalg.lstsq`` on ``X`` itself (an SVD), never through ``inv(X^T X)``,
    whose condition number is that of ``X`` squared (eq-optimization-condition-squared).
    If the columns (centred, with an intercept) are linearly dependent, the ``w`` of minimum norm
    is returned (eq-optimization-normal-equations, eq-optimization-lsq-solution).
    """
    X, y = _check_Xy(X, y)
    if fit_intercept:
        x_mean, y_mean = X.mean(axis=0), y.mean()  # (d,), scalar
        w = np.linalg.lstsq(X - x_mean, y - y_mean, rcond=None)[0]
        return w, float(y_mean - x_mean @ w)
    return np.linalg.lstsq(X, y, rcond=None)[0], 0.0


def fit_gradient_descent(X, y, *, lr=None, n_steps=10_000, tol=1e-12, fit_intercept=True):
    """Full-batch gradient descent on the mean squared error, from ``w = 0, b = 0``.

    Each step is ``theta <- theta - lr * grad loss(theta)`` (eq-optimization-gd) with the
    gradient eq-optimization-lsq-gradient; ``theta`` is ``w`` with ``b`` appended.
    ``lr=None`` takes ``1 / M``, ``M`` from :func:`lipschitz_constant`; a step above ``2 / M``
    diverges (eq-optimization-step-bound). The loop stops after ``n_steps`` steps, when the
    gradient norm falls to ``tol`` or below, or when the loss overflows (divergence).
    Returns ``(w, b, history)``: weights (d,), intercept, and the loss at every iterate.
    """
    X, y = _check_Xy(X, y)
    _check_positive("n_steps", n_steps, integer=True, allow_zero=True)
    _check_positive("tol", tol, allow_zero=True)
    Z = _design(X, fit_intercept)  # (N, p)
    if lr is None:
        lr = 1.0 / lipschitz_constant(X, fit_intercept=fit_intercept)
    _check_positive("lr", lr)
    N = Z.shape[0]
    theta = np.zeros(Z.shape[1])  # (p,)
    history = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps + 1):
            r = Z @ theta - y  # (N,)
            loss = float(r @ r) / N
            history.append(loss)
            grad = (2.0 / N) * (Z.T @ r)  # (p,)
            if not np.isfinite(loss) or len(history) > n_steps or np.linalg.norm(grad) <= tol:
                break
            theta = theta - lr * grad
    w, b = (theta[:-1], float(theta[-1])) if fit_intercept else (theta, 0.0)
    return w, b, np.array(history)


def sgd(X, y, *, lr, n_steps, batch_size, rng, fit_intercept=True):
    """Mini-batch stochastic gradient descent on the mean squared error, from ``w = 0, b = 0``.

    Step ``k`` draws ``batch_size`` distinct examples uniformly at random with ``rng`` (a
    ``numpy.random.Generator``) and moves along their mean gradient
    (eq-optimization-minibatch-gradient), an unbiased estimate of the full gradient
    (eq-optimization-unbiased), with step ``lr`` if it is a number or ``lr(k)`` if it is a
    callable schedule (eq-optimization-sgd). Returns ``(w, b, history)``; ``history`` holds
    the full-data loss at every iterate (``n_steps + 1`` values).
    """
    X, y = _check_Xy(X, y)
    _check_positive("n_steps", n_steps, integer=True, allow_zero=True)
    _check_positive("batch_size", batch_size, integer=True)
    if batch_size > X.shape[0]:
        raise ValueError(f"batch_size must be at most N = {X.shape[0]}, got {batch_size}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    schedule = lr if callable(lr) else None
    if schedule is None:
        _check_positive("lr", lr)
    Z = _design(X, fit_intercept)  # (N, p)
    N = Z.shape[0]
    theta = np.zeros(Z.shape[1])  # (p,)
    history = np.empty(n_steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps):
            r = Z @ theta - y  # (N,)
            history[k] = float(r @ r) / N
            step = schedule(k) if schedule is not None else lr
            if schedule is not None:
                _check_positive(f"lr({k})", step)
            idx = rng.choice(N, size=batch_size, replace=False)  # (B,)
            rb = r[idx]  # (B,) residuals of the batch
            theta = theta - step * (2.0 / batch_size) * (Z[idx].T @ rb)
        r = Z @ theta - y
        history[n_steps] = float(r @ r) / N
    w, b = (theta[:-1], float(theta[-1])) if fit_intercept else (theta, 0.0)
    return w, b, history
