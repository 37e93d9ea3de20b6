"""Losses and the softmax family (chapter 7).

Plain functions ``softmax``, ``log_softmax``, ``logsumexp`` (any shape, one axis), and three
losses as functional pairs: ``<loss>_forward(input, target, reduction="mean") -> (loss, cache)``
and ``<loss>_backward(grad_out, cache) -> grad_input``. Conventions follow
``torch.nn.functional``: ``mse_loss``, ``binary_cross_entropy_with_logits`` and
``cross_entropy`` with class indices. The reduction is "mean" (a scalar), "sum" (a scalar) or
"none" (one loss per element, or per sample for cross-entropy); ``grad_out`` has the loss's
shape (a scalar for "mean" and "sum"). Only the gradient with respect to ``input`` is returned.
Everything is computed from logits with the shift by the maximum (log-sum-exp), so logits of
magnitude 1e4 give no overflow and no NaN.
Equations: eq-losses-softmax, -logsumexp, -log-softmax, -mse, -mse-grad, -bce-logits,
-bce-grad, -ce-logits, -ce-batch-grad. This file imports only NumPy and the standard library.
"""
import numpy as np

__all__ = [
    "softmax", "log_softmax", "logsumexp",
    "mse_loss_forward", "mse_loss_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "cross_entropy_forward", "cross_entropy_backward",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_float(x, name):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def _check_elementwise_pair(input, target, reduction):
    """Float input and target of one shape (no broadcasting) and a known reduction."""
    input = _check_float(input, "input")
    target = _check_float(target, "target")
    _check_reduction(reduction)
    if input.shape != target.shape:
        raise ValueError(f"target must have the input's shape {input.shape}, "
                         f"got {target.shape}")
    return input, target


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_grad_out(grad_out, reduction, shape):
    """grad_out: a scalar for "mean"/"sum", the unreduced loss's shape for "none"."""
    grad_out = _check_float(grad_out, "grad_out")
    expected = shape if reduction == "none" else ()
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have shape {expected} for reduction={reduction!r}, "
                         f"got {grad_out.shape}")
    return grad_out


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _scale(grad_out, reduction, n):
    """grad_out times d(reduced loss)/d(loss_i): divided by n for "mean", as is otherwise."""
    if reduction == "mean":
        return grad_out / n
    return grad_out  # "sum": a scalar; "none": one entry per element


# ------------------------------------------------------------------------ the softmax family
def logsumexp(x, axis=-1, keepdims=False):
    """log sum_j exp(x_j) along ``axis``, as m + log sum_j exp(x_j - m), m = max_j x_j.

    Implements eq-losses-logsumexp. Every exp(x_j - m) is in [0, 1], so nothing overflows,
    and the largest term is exactly 1, so the log never sees 0. Rows that are all -inf give
    -inf, rows holding +inf give +inf (as torch.logsumexp).
    """
    x = _check_float(x, "x")
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # an all -inf (or a +inf) row: shift by 0
    with np.errstate(divide="ignore"):  # log(0) = -inf: right for an all -inf row
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(x, axis=-1):
    """exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (eq-losses-softmax, -shift)."""
    x = _check_float(x, "x")
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))  # in [0, 1], the largest is 1
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x_i - logsumexp(x) (eq-losses-log-softmax): never the log of an underflowed 0."""
    x = _check_float(x, "x")
    return x - logsumexp(x, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------- MSE
def mse_loss_forward(input, target, reduction="mean"):
    """Squared error (eq-losses-mse): loss_i = (input_i - target_i)^2, then reduced.

    ``input`` and ``target``: float arrays of the same (any) shape; no broadcasting.
    """
    input, target = _check_elementwise_pair(input, target, reduction)
    diff = input - target  # same shape as input
    loss = _reduce(diff * diff, reduction)
    return loss, (diff, reduction)


def mse_loss_backward(grad_out, cache):
    """2 (input - target) / n for "mean", n = input.size, times grad_out (eq-losses-mse-grad)."""
    diff, reduction = cache
    grad_out = _check_grad_out(grad_out, reduction, diff.shape)
    grad = 2.0 * diff * _scale(grad_out, reduction, diff.size)
    return grad.astype(diff.dtype, copy=False)


# --------------------------------------------------------------------- binary cross-entropy
def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def binary_cross_entropy_with_logits_forward(input, target, reduction="mean"):
    """Binary cross-entropy from logits z and targets y in [0, 1] (eq-losses-bce-logits).

    loss_i = max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)), which equals
    -[y log sigma(z) + (1 - y) log(1 - sigma(z))] without forming sigma(z) or exp(|z|).
    ``input`` (logits) and ``target``: float arrays of the same (any) shape.
    """
    input, target = _check_elementwise_pair(input, target, reduction)
    softplus_abs = np.log1p(np.exp(-np.abs(input)))  # log(1 + e^-|z|), e^-|z| in (0, 1]
    losses = np.maximum(input, 0.0) - input * target + softplus_abs
    return _reduce(losses, reduction), (input, target, reduction)


def binary_cross_entropy_with_logits_backward(grad_out, cache):
    """sigma(z_i) - y_i (eq-losses-bce-grad), / n for "mean"; times grad_out."""
    input, target, reduction = cache
    grad_out = _check_grad_out(grad_out, reduction, input.shape)
    grad = (_sigmoid(input) - target) * _scale(grad_out, reduction, input.size)
    return grad.astype(input.dtype, copy=False)


# ---------------------------------------------------------------- categorical cross-entropy
def cross_entropy_forward(input, target, reduction="mean"):
    """Softmax cross-entropy, class indices: loss_n = logsumexp(z_n) - z_{n, t_n}.

    Implements eq-losses-ce-logits. ``input``: float logits of shape (N, C). ``target``:
    integer class indices of shape (N,), entries in 0..C-1 (no ignore_index, no label
    smoothing, no probability targets). "none" gives the N per-sample losses; "mean"
    divides their sum by N.
    """
    input = _check_float(input, "input")
    target = np.asarray(target)
    _check_reduction(reduction)
    if input.ndim != 2 or input.shape[0] == 0 or input.shape[1] == 0:
        raise ValueError(f"input must be logits of shape (N, C) with N, C >= 1, "
                         f"got shape {input.shape}")
    n, c = input.shape
    if target.dtype.kind not in "iu":
        raise ValueError(f"target must be an integer array of class indices, "
                         f"got dtype {target.dtype}")
    if target.shape != (n,):
        raise ValueError(f"target must have shape (N,) = ({n},), got {target.shape}")
    if np.any(target < 0) or np.any(target >= c):
        raise ValueError(f"target entries must be class indices in [0, {c - 1}], "
                         f"got min {target.min()}, max {target.max()}")
    logp = log_softmax(input, axis=1)  # (N, C)
    losses = -logp[np.arange(n), target]  # (N,)
    return _reduce(losses, reduction), (np.exp(logp), target, reduction)


def cross_entropy_backward(grad_out, cache):
    """(softmax(z_n) - onehot(t_n)) / N for "mean", times grad_out (eq-losses-ce-batch-grad).

    Returns the gradient with respect to the logits, of shape (N, C).
    """
    p, target, reduction = cache  # p: (N, C) probabilities
    n = p.shape[0]
    grad_out = _check_grad_out(grad_out, reduction, (n,))
    grad = p.copy()  # (N, C)
    grad[np.arange(n), target] -= 1.0  # p - y, y one-hot
    scale = _scale(grad_out, reduction, n)
    grad = grad * (scale[:, None] if reduction == "none" else scale)
    return grad.astype(p.dtype, copy=False)
