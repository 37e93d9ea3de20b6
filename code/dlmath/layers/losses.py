"""Losses and the softmax family (chapter 7).

Plain functions ``softmax``, ``log_softmax``, ``logsumexp`` (any shape, along ``dim``), and three losses
as functional pairs, ``<loss>_forward(x, target, *, reduction="mean", ...) -> (loss, cache)`` and
``<loss>_backward(grad_out, cache) -> grad_x``, as torch.nn.functional's ``mse_loss``,
``binary_cross_entropy_with_logits`` and ``cross_entropy`` (class indices). The reduction is "mean",
"sum" (scalars) or "none"; ``grad_out`` has the loss's shape. Only the gradient with respect to ``x``
is returned. Everything is computed from logits with the shift by the maximum, so logits of magnitude
1e4 give no overflow and no NaN. An empty batch gives what torch gives (NaN for "mean", 0 for "sum").
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numbers

import numpy as np

__all__ = [
    "softmax", "log_softmax", "logsumexp",
    "mse_loss_forward", "mse_loss_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "cross_entropy_forward", "cross_entropy_backward",
]

_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------------------------------ validation
def _float(a, name):
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    return a


def _check_dim(x, dim):
    """x as a float array of at least one axis, dim an axis of it."""
    x = _float(x, "x")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim must be an integer in [{-x.ndim}, {x.ndim - 1}] for x of shape {x.shape}, "
                         f"got {dim!r}")
    return x


def _check(x, target, reduction, **weights):
    """Float x and target of one shape, a known reduction, weights broadcastable to x; all of x's dtype."""
    x, target = _float(x, "x"), _float(target, "target")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if target.shape != x.shape:
        raise ValueError(f"target must have the shape of x {x.shape}, got {target.shape}")
    arrays = {"target": target, **{k: _float(w, k) for k, w in weights.items() if w is not None}}
    for name, a in arrays.items():
        if a.dtype != x.dtype:
            raise ValueError(f"{name} must have the dtype of x ({x.dtype}), got {a.dtype}")
        if a.ndim > x.ndim or any(s not in (1, n) for s, n in zip(a.shape[::-1], x.shape[::-1])):
            raise ValueError(f"{name} of shape {a.shape} does not broadcast to the shape of x {x.shape}")
    return (x, target, *(arrays.get(k) for k in weights))


def _check_ce(x, target, reduction, label_smoothing):
    """Logits x (N, C), C >= 1; integer class indices target (N,) in [0, C); label_smoothing in [0, 1]."""
    x, target = _float(x, "x"), np.asarray(target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"x must be logits of shape (N, C) with C >= 1, got shape {x.shape}")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"target must be an integer array of class indices, got dtype {target.dtype}")
    if target.shape != (x.shape[0],):
        raise ValueError(f"target must have shape (N,) = ({x.shape[0]},), got {target.shape}")
    if target.size and (target.min() < 0 or target.max() >= x.shape[1]):
        raise ValueError(f"target entries must be class indices in [0, {x.shape[1] - 1}], "
                         f"got min {target.min()}, max {target.max()}")
    return x, target, float(label_smoothing)  # a Python float: a float32 x stays float32


def _check_grad(grad_out, reduction, like):
    """grad_out: a float scalar for "mean"/"sum", of the shape of ``like`` for "none"; in like's dtype."""
    grad_out = np.asarray(grad_out)
    expected = like.shape if reduction == "none" else ()
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have shape {expected} for reduction={reduction!r}, got {grad_out.shape}")
    return grad_out.astype(like.dtype, copy=False)


# -------------------------------------------------------------------------------------------- reductions
def _reduce(losses, reduction):
    if reduction == "mean":
        with np.errstate(invalid="ignore"):  # an empty batch: 0 / 0 = NaN, as torch
            return np.divide(losses.sum(), losses.size, dtype=losses.dtype)
    if reduction == "sum":
        return losses.sum()
    return losses


def _scale(grad_out, reduction, n):
    """grad_out times d(reduced loss)/d(loss_i): divided by n for "mean", as is otherwise."""
    if reduction == "mean":
        return grad_out / max(n, 1)  # n = 0: the gradient is empty anyway
    return grad_out  # "sum": a scalar; "none": one entry per loss


# ------------------------------------------------------------------------------------ the softmax family
def logsumexp(x, *, dim=-1, keepdim=False):
    """log sum_j exp(x_j) along dim, as m + log sum_j exp(x_j - m), m = max_j x_j (eq-losses-logsumexp).

    Every exp(x_j - m) is in [0, 1] and the largest is 1. A row whose maximum is infinite is shifted
    by 0 instead: an all -inf row (or an empty one) gives log 0 = -inf, a row holding +inf gives +inf.
    """
    x = _check_dim(x, dim)
    m = np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf: right for an all -inf row
        out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def softmax(x, *, dim=-1):
    """exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (eq-losses-softmax, -shift).

    A row that holds +inf or NaN, or is all -inf, gives NaN in every entry (as torch.softmax).
    """
    x = _check_dim(x, dim)
    e = np.exp(x - np.max(x, axis=dim, keepdims=True, initial=-np.inf))  # in [0, 1], the largest is 1
    return e / np.sum(e, axis=dim, keepdims=True)


def log_softmax(x, *, dim=-1):
    """x_i - m - log sum_j exp(x_j - m) (eq-losses-log-softmax): never the log of an underflowed 0.

    A row that holds +inf or NaN, or is all -inf, gives NaN in every entry (as torch.log_softmax).
    """
    x = _check_dim(x, dim)
    z = x - np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # an empty row: log 0
        return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


# ------------------------------------------------------------------------------------------------- MSE
def mse_loss_forward(x, target, *, reduction="mean"):
    """Squared error loss_i = (x_i - target_i)^2, then reduced (eq-losses-mse); any shape, no broadcasting."""
    x, target = _check(x, target, reduction)
    diff = x - target
    return _reduce(diff * diff, reduction), (diff, reduction)


def mse_loss_backward(grad_out, cache):
    """2 (x - target) / n for "mean", n = x.size, times grad_out (eq-losses-mse-grad)."""
    diff, reduction = cache
    grad_out = _check_grad(grad_out, reduction, diff)
    return 2.0 * diff * _scale(grad_out, reduction, diff.size)


# ------------------------------------------------------------------------------ binary cross-entropy
def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def binary_cross_entropy_with_logits_forward(x, target, *, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of logits x and targets y in [0, 1], any shape (eq-losses-bce-logits).

    loss_i = max(x_i, 0) - x_i y_i + log(1 + exp(-|x_i|)) = -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))],
    without forming sigmoid(x). pos_weight multiplies the y log sigmoid(x) term, weight the whole loss
    (both broadcast to x's shape), as torch.nn.functional.binary_cross_entropy_with_logits.
    """
    x, target, weight, pos_weight = _check(x, target, reduction, weight=weight, pos_weight=pos_weight)
    log1p_term = np.log1p(np.exp(-np.abs(x)))  # log(1 + e^-|x|), e^-|x| in (0, 1]
    losses = np.maximum(x, 0.0) - x * target + log1p_term
    if pos_weight is not None:  # (pos_weight - 1) y (-log sigmoid(x)), -log sigmoid(x) = max(-x, 0) + log1p_term
        losses = losses + (pos_weight - 1.0) * target * (np.maximum(-x, 0.0) + log1p_term)
    if weight is not None:
        losses = weight * losses
    return _reduce(losses, reduction), (x, target, weight, pos_weight, reduction)


def binary_cross_entropy_with_logits_backward(grad_out, cache):
    """sigmoid(x_i) - y_i (eq-losses-bce-grad), with the weights, / n for "mean"; times grad_out."""
    x, target, weight, pos_weight, reduction = cache
    grad_out = _check_grad(grad_out, reduction, x)
    grad = _sigmoid(x) - target
    if pos_weight is not None:
        grad = grad + (pos_weight - 1.0) * target * (_sigmoid(x) - 1.0)
    if weight is not None:
        grad = weight * grad
    return grad * _scale(grad_out, reduction, x.size)


# -------------------------------------------------------------------------- categorical cross-entropy
def cross_entropy_forward(x, target, *, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits x (N, C) and class indices target (N,) (eq-losses-ce-logits).

    loss_n = logsumexp(x_n) - x_{n, t_n}; with label smoothing eps the target is the distribution
    q_n = (1 - eps) onehot(t_n) + eps / C. "none" gives the N losses, "mean" divides their sum by N.
    """
    x, target, label_smoothing = _check_ce(x, target, reduction, label_smoothing)
    n = x.shape[0]
    logp = log_softmax(x, dim=1)  # (N, C)
    losses = -logp[np.arange(n), target]  # (N,)
    if label_smoothing > 0:  # -sum_k q_nk log p_nk
        losses = (1.0 - label_smoothing) * losses - label_smoothing * logp.mean(axis=1)
    return _reduce(losses, reduction), (np.exp(logp), target, label_smoothing, reduction)


def cross_entropy_backward(grad_out, cache):
    """(softmax(x_n) - q_n) / N for "mean", q_n the target distribution, times grad_out (eq-losses-ce-batch-grad).

    Returns the gradient with respect to the logits, of shape (N, C).
    """
    p, target, label_smoothing, reduction = cache  # p: (N, C) probabilities
    n, c = p.shape
    grad_out = _check_grad(grad_out, reduction, p[:, 0])
    grad = p - label_smoothing / c  # p - q, first the uniform part of q
    grad[np.arange(n), target] -= 1.0 - label_smoothing  # then its one-hot part
    scale = _scale(grad_out, reduction, n)
    return grad * (scale[:, None] if reduction == "none" else scale)
