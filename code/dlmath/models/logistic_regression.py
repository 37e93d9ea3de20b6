"""Logistic and softmax regression as models (chapter 7).

Softmax regression with K classes has a weight ``W`` of shape (K, d) (PyTorch's ``nn.Linear(d, K)``
layout) and a bias ``b`` of shape (K,); the logits of a batch ``X`` (N, d) are ``Z = X W^T + b`` and
the loss is the mean cross-entropy with class indices ``y`` in {0, ..., K-1}, as
``torch.nn.functional.cross_entropy``. With ``P = softmax(Z)`` row by row and ``Y`` the one-hot targets,
the gradients are ``grad_W = (P - Y)^T X / N`` and ``grad_b = (P - Y)^T 1 / N``
(eq-losses-softmax-regression-grad), and the Hessian with respect to the row-major flattening of
``[W b]`` is ``(1/N) sum_n (diag(p_n) - p_n p_n^T) kron (x~_n x~_n^T)``, ``x~_n = (x_n, 1)``: positive
semidefinite, so the loss is convex (eq-losses-softmax-regression-curvature).

Logistic regression is the binary case with one logit ``z = X w + b`` and labels in {0, 1}: the loss is
``binary_cross_entropy_with_logits``, the gradient ``X^T (sigmoid(z) - y) / N`` and the Hessian
``X~^T diag(sigmoid(z) (1 - sigmoid(z))) X~ / N``. ``fit_*`` run full-batch gradient descent with an
optional L2 penalty ``weight_decay / 2 * ||W||^2`` on the weights (not the bias). Only NumPy is needed.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "softmax_regression_logits", "softmax_regression_loss", "softmax_regression_grad",
    "softmax_regression_hessian", "softmax_regression_predict", "fit_softmax_regression",
    "logistic_regression_loss", "logistic_regression_grad", "logistic_regression_hessian",
    "logistic_regression_predict", "fit_logistic_regression",
]


# ---------------------------------------------------------------------------------------------- checks
def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind != "f":
        raise ValueError(f"X must be a float array of shape (N, d), got dtype {X.dtype} and shape {X.shape}")
    return X


def _check_softmax(X, W, b, y=None):
    X, W, b = _check_X(X), np.asarray(W), np.asarray(b)
    if W.ndim != 2 or W.shape[1] != X.shape[1] or W.shape[0] < 1:
        raise ValueError(f"W must have shape (K, d) = (K, {X.shape[1]}) with K >= 1, got shape {W.shape}")
    if b.shape != (W.shape[0],):
        raise ValueError(f"b must have shape (K,) = ({W.shape[0]},), got shape {b.shape}")
    if W.dtype != X.dtype or b.dtype != X.dtype:
        raise ValueError(f"W and b must have the dtype of X ({X.dtype}), got {W.dtype} and {b.dtype}")
    if y is not None:
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (X.shape[0],):
            raise ValueError(f"y must be integer class indices of shape ({X.shape[0]},), "
                             f"got dtype {y.dtype} and shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= W.shape[0]):
            raise ValueError(f"y must hold class indices in [0, {W.shape[0] - 1}], got min {y.min()}, max {y.max()}")
    return X, W, b, y


def _check_logistic(X, w, b, y=None):
    X, w = _check_X(X), np.asarray(w)
    if w.shape != (X.shape[1],) or w.dtype != X.dtype:
        raise ValueError(f"w must be a ({X.shape[1]},) array of X's dtype {X.dtype}, "
                         f"got shape {w.shape} and dtype {w.dtype}")
    if not isinstance(b, numbers.Real) and np.asarray(b).shape != ():
        raise ValueError(f"b must be a scalar, got {b!r}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],) or y.dtype.kind != "f" or np.any((y < 0) | (y > 1)):
            raise ValueError(f"y must be a float array of shape ({X.shape[0]},) with entries in [0, 1], "
                             f"got dtype {y.dtype} and shape {y.shape}")
    return X, w, float(b), y


def _check_fit(lr, n_steps, weight_decay):
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0 or not np.isfinite(lr):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")


# ------------------------------------------------------------------------------------------- helpers
def _log_softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def _sigmoid(z):
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _augment(X):
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])  # (N, d + 1): rows (x_n, 1)


# ------------------------------------------------------------------------------------ softmax regression
def softmax_regression_logits(X, W, b):
    """The logits Z = X W^T + b, shape (N, K)."""
    X, W, b, _ = _check_softmax(X, W, b)
    return X @ W.T + b


def softmax_regression_loss(X, y, W, b, *, weight_decay=0.0):
    """Mean cross-entropy of softmax(X W^T + b) and the classes y, plus weight_decay / 2 * ||W||^2."""
    X, W, b, y = _check_softmax(X, W, b, y)
    logp = _log_softmax(X @ W.T + b)  # (N, K)
    return -logp[np.arange(X.shape[0]), y].mean() + 0.5 * weight_decay * np.sum(W * W)


def softmax_regression_grad(X, y, W, b, *, weight_decay=0.0):
    """(grad_W, grad_b) = ((P - Y)^T X / N + weight_decay W, (P - Y)^T 1 / N) (eq-losses-softmax-regression-grad)."""
    X, W, b, y = _check_softmax(X, W, b, y)
    n = X.shape[0]
    G = np.exp(_log_softmax(X @ W.T + b))  # P, (N, K)
    G[np.arange(n), y] -= 1.0  # P - Y
    G /= n
    return G.T @ X + weight_decay * W, G.sum(axis=0)


def softmax_regression_hessian(X, W, b):
    """Hessian of the mean cross-entropy in the row-major flattening of [W b], shape (K(d+1), K(d+1)).

    (1/N) sum_n (diag(p_n) - p_n p_n^T) kron (x~_n x~_n^T) with x~_n = (x_n, 1): a sum of Kronecker
    products of positive semidefinite matrices, so positive semidefinite (eq-losses-softmax-regression-curvature).
    It does not depend on the labels.
    """
    X, W, b, _ = _check_softmax(X, W, b)
    n, k = X.shape[0], W.shape[0]
    P = np.exp(_log_softmax(X @ W.T + b))  # (N, K)
    Xa = _augment(X)  # (N, d + 1)
    S = np.einsum("nk,kl->nkl", P, np.eye(k)) - np.einsum("nk,nl->nkl", P, P)  # (N, K, K)
    H = np.einsum("nkl,ni,nj->kilj", S, Xa, Xa) / n  # (K, d + 1, K, d + 1)
    return H.reshape(k * Xa.shape[1], k * Xa.shape[1])


def softmax_regression_predict(X, W, b):
    """The predicted classes argmax_k (X W^T + b)_k, shape (N,)."""
    return np.argmax(softmax_regression_logits(X, W, b), axis=1)


def fit_softmax_regression(X, y, num_classes, *, lr, n_steps, weight_decay=0.0):
    """Full-batch gradient descent from W = 0, b = 0. Returns (W (K, d), b (K,), losses (n_steps + 1,))."""
    X = _check_X(X)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    _check_fit(lr, n_steps, weight_decay)
    W, b = np.zeros((num_classes, X.shape[1]), dtype=X.dtype), np.zeros(num_classes, dtype=X.dtype)
    losses = [softmax_regression_loss(X, y, W, b, weight_decay=weight_decay)]
    for _ in range(n_steps):
        gW, gb = softmax_regression_grad(X, y, W, b, weight_decay=weight_decay)
        W, b = W - lr * gW, b - lr * gb
        losses.append(softmax_regression_loss(X, y, W, b, weight_decay=weight_decay))
    return W, b, np.array(losses)


# ----------------------------------------------------------------------------------- logistic regression
def logistic_regression_loss(X, y, w, b=0.0, *, weight_decay=0.0):
    """Mean binary cross-entropy of the logits X w + b and targets y in [0, 1], plus weight_decay / 2 ||w||^2."""
    X, w, b, y = _check_logistic(X, w, b, y)
    z = X @ w + b  # (N,)
    losses = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return losses.mean() + 0.5 * weight_decay * np.dot(w, w)


def logistic_regression_grad(X, y, w, b=0.0, *, weight_decay=0.0):
    """(grad_w, grad_b) = (X^T (sigmoid(z) - y) / N + weight_decay w, mean(sigmoid(z) - y)), z = X w + b."""
    X, w, b, y = _check_logistic(X, w, b, y)
    r = (_sigmoid(X @ w + b) - y) / X.shape[0]  # (N,)
    return X.T @ r + weight_decay * w, r.sum()


def logistic_regression_hessian(X, w, b=0.0):
    """Hessian in (w, b): X~^T diag(s (1 - s)) X~ / N, s = sigmoid(X w + b), shape (d + 1, d + 1)."""
    X, w, b, _ = _check_logistic(X, w, b)
    s = _sigmoid(X @ w + b)
    Xa = _augment(X)
    return (Xa * (s * (1.0 - s))[:, None]).T @ Xa / X.shape[0]


def logistic_regression_predict(X, w, b=0.0):
    """The predicted labels 1[X w + b > 0] in {0, 1}, shape (N,)."""
    X, w, b, _ = _check_logistic(X, w, b)
    return (X @ w + b > 0).astype(int)


def fit_logistic_regression(X, y, *, lr, n_steps, weight_decay=0.0):
    """Full-batch gradient descent from w = 0, b = 0. Returns (w (d,), b, losses (n_steps + 1,))."""
    X = _check_X(X)
    _check_fit(lr, n_steps, weight_decay)
    w, b = np.zeros(X.shape[1], dtype=X.dtype), 0.0
    losses = [logistic_regression_loss(X, y, w, b, weight_decay=weight_decay)]
    for _ in range(n_steps):
        gw, gb = logistic_regression_grad(X, y, w, b, weight_decay=weight_decay)
        w, b = w - lr * gw, b - lr * float(gb)
        losses.append(logistic_regression_loss(X, y, w, b, weight_decay=weight_decay))
    return w, b, np.array(losses)
