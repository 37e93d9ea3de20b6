"""Entropy, cross-entropy, KL divergence and two negative log-likelihoods (chapter 3).

Discrete distributions are arrays whose entries along ``axis`` are non-negative and sum to 1
(within ``tol``); the other axes are batch axes, so one call handles a batch of distributions.
Logarithms are natural (nats). The convention 0 log 0 = 0 holds: an outcome with p = 0 contributes
nothing, whatever q is; an outcome with q = 0 < p makes cross-entropy and KL divergence infinite.
Equations: eq-probability-entropy, -cross-entropy, -kl, -gaussian-kl, -bernoulli-nll,
-gaussian-nll, -mutual-information. References: Shannon (1948); Kullback and Leibler (1951); Cover and Thomas (2006),
chapter 2. Only NumPy is needed.
"""
from __future__ import annotations

import numpy as np

__all__ = ["entropy", "cross_entropy", "kl_divergence", "gaussian_kl", "bernoulli_nll",
           "gaussian_nll", "mutual_information"]


def _as_real(x, name):
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real (float or integer) array, got {x.dtype}")
    x = x.astype(np.float64) if x.dtype.kind in "iu" else x
    if not np.all(np.isfinite(x)):
        bad = x[~np.isfinite(x)].ravel()[:3]
        raise ValueError(f"{name} must hold finite numbers, got {bad}")
    return x


def _check_distribution(p, name, axis, tol):
    p = _as_real(p, name)
    if p.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the outcomes), got a scalar")
    if p.shape[axis] == 0:
        raise ValueError(f"{name} has no outcomes along axis {axis}, shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{name} must be non-negative, got a minimum of {p.min()}")
    sums = p.sum(axis=axis)
    if np.any(np.abs(sums - 1.0) > tol):
        worst = sums.ravel()[np.argmax(np.abs(sums - 1.0).ravel())]
        raise ValueError(f"{name} must sum to 1 along axis {axis} (tolerance {tol}), "
                         f"got a sum of {worst}")
    return p


def _check_pair(p, q, axis, tol):
    p, q = _as_real(p, "p"), _as_real(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return _check_distribution(p, "p", axis, tol), _check_distribution(q, "q", axis, tol)


def _safe_log(x):
    """log x where x > 0, else 0 (such entries are always multiplied by 0 or masked)."""
    return np.log(np.where(x > 0, x, 1.0))


def entropy(p, axis=-1, tol=1e-6):
    """Entropy H(p) = -sum_k p_k log p_k along ``axis`` (eq-probability-entropy).

    p: distributions along ``axis``, e.g. (N, K); returns p's shape less ``axis``, e.g. (N,).
    """
    p = _check_distribution(p, "p", axis, tol)
    return -np.sum(p * _safe_log(p), axis=axis)  # 0 log 0 = 0: p * log(1) = 0 there


def cross_entropy(p, q, axis=-1, tol=1e-6):
    """H(p, q) = -sum_k p_k log q_k along ``axis`` (eq-probability-cross-entropy).

    p, q: distributions of the same shape, e.g. (N, K); returns e.g. (N,), inf where q = 0 < p.
    """
    p, q = _check_pair(p, q, axis, tol)
    out = -np.sum(p * _safe_log(q), axis=axis)
    impossible = np.any((p > 0) & (q == 0), axis=axis)  # q rules out what p can produce
    return np.where(impossible, np.inf, out)


def kl_divergence(p, q, axis=-1, tol=1e-6):
    """KL(p || q) = sum_k p_k log(p_k / q_k) along ``axis`` (eq-probability-kl).

    p, q: distributions of the same shape, e.g. (N, K); returns e.g. (N,), inf where q = 0 < p.
    Computed from the log-ratio directly (not as H(p, q) - H(p)): KL(p || p) is exactly 0.
    """
    p, q = _check_pair(p, q, axis, tol)
    out = np.sum(p * (_safe_log(p) - _safe_log(q)), axis=axis)
    impossible = np.any((p > 0) & (q == 0), axis=axis)
    return np.where(impossible, np.inf, out)


def _positive(v, name):
    v = _as_real(v, name)
    if np.any(v <= 0):
        raise ValueError(f"{name} must be a positive variance, got a minimum of {v.min()}")
    return v


def _broadcast(names, arrays):
    try:
        return np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        names = ", ".join(names)
        raise ValueError(f"{names} must broadcast together, got shapes {shapes}") from None


def gaussian_kl(mu1, var1, mu2, var2):
    """KL(N(mu1, var1) || N(mu2, var2)) of univariate Gaussians (eq-probability-gaussian-kl).

    Elementwise; the arguments broadcast against each other; variances must be positive.
    """
    mu1, mu2 = _as_real(mu1, "mu1"), _as_real(mu2, "mu2")
    var1, var2 = _positive(var1, "var1"), _positive(var2, "var2")
    mu1, var1, mu2, var2 = _broadcast(("mu1", "var1", "mu2", "var2"), (mu1, var1, mu2, var2))
    ratio = var1 / var2
    return 0.5 * (ratio - 1.0 - np.log(ratio) + (mu1 - mu2) ** 2 / var2)


def bernoulli_nll(y, q):
    """-log P(y; q) = -[y log q + (1 - y) log(1 - q)] (eq-probability-bernoulli-nll).

    Elementwise. y: targets in [0, 1] (labels or soft targets); q: probabilities of y = 1, same
    shape.
    A term with weight 0 contributes 0 (y = 1, q = 1 gives 0); a certain wrong guess gives inf.
    No reduction. From logits, use binary_cross_entropy_with_logits_forward (chapter 7).
    """
    y, q = _as_real(y, "y"), _as_real(q, "q")
    if y.shape != q.shape:
        raise ValueError(f"y and q must have the same shape, got {y.shape} and {q.shape}")
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"y must lie in [0, 1], got values in [{y.min()}, {y.max()}]")
    if np.any((q < 0) | (q > 1)):
        raise ValueError(f"q must lie in [0, 1], got values in [{q.min()}, {q.max()}]")
    with np.errstate(divide="ignore"):  # log 0 = -inf only where the weight is positive
        t1 = np.where(y > 0, y * np.log(np.where(y > 0, q, 1.0)), 0.0)
        t0 = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - q, 1.0)), 0.0)
    return -(t1 + t0)


def gaussian_nll(y, mean, var):
    """-log N(y; mean, var) = log(2 pi var) / 2 + (y - mean)^2 / (2 var).

    Elementwise (eq-probability-gaussian-nll); the arguments broadcast; var must be positive.
    The constant log(2 pi) / 2 is included (torch's GaussianNLLLoss drops it unless full=True).
    No reduction.
    """
    y, mean, var = _as_real(y, "y"), _as_real(mean, "mean"), _positive(var, "var")
    y, mean, var = _broadcast(("y", "mean", "var"), (y, mean, var))
    return 0.5 * np.log(2 * np.pi * var) + (y - mean) ** 2 / (2 * var)


def mutual_information(joint, tol=1e-6):
    """I(X; Y) = sum_kj p_kj log(p_kj / (r_k c_j)) of a joint table (eq-probability-mutual-information).

    joint: (..., K, J), the joint probabilities of X (rows) and Y (columns), summing to 1 over the last
    two axes; leading axes are batch axes. r, c are the row and column sums (the marginals). Returns
    (...,); zero exactly for independent X and Y, never negative (it is KL(joint || r c^T)).
    """
    joint = _as_real(joint, "joint")
    if joint.ndim < 2:
        raise ValueError(f"joint must have at least two axes (K, J), got shape {joint.shape}")
    flat = _check_distribution(joint.reshape(joint.shape[:-2] + (-1,)), "joint", -1, tol)
    r = joint.sum(axis=-1, keepdims=True)               # (..., K, 1)
    c = joint.sum(axis=-2, keepdims=True)               # (..., 1, J)
    # where p_kj > 0, r_k and c_j are positive too; 0 log 0 = 0 elsewhere
    terms = flat.reshape(joint.shape) * (_safe_log(joint) - _safe_log(r * c))
    return np.maximum(np.sum(terms, axis=(-2, -1)), 0.0)  # rounding can leave -1e-17 for independent X, Y
