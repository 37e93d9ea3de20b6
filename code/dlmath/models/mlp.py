"""A multilayer perceptron built from the functional layers (chapter 9).

Parameters are a plain dict of arrays ``{"W1": (h1, d), "b1": (h1,), ..., "WL": (C, h),
"bL": (C,)}`` with the PyTorch layout (out, in) of ``torch.nn.Linear``: ``W{l}`` and
``b{l}`` are the weight and bias of the l-th ``Linear`` of an ``nn.Sequential``. Layer l
computes Z_l = A_{l-1} W_l^T + b_l^T and A_l = f(Z_l) (eq-mlp-network); the last layer has
no activation and returns the logits. ``mlp_backward`` runs eq-mlp-backward-recursion.
``train`` is mini-batch SGD with optional PyTorch-style momentum (eq-mlp-sgd) on the mean
cross-entropy (eq-mlp-loss). Initialization (eq-mlp-init): He et al. (2015) or Glorot and
Bengio (2010).
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from dlmath.data import iterate_minibatches
from dlmath.layers import activations as _act
from dlmath.layers.linear import linear_backward, linear_forward
from dlmath.layers.losses import cross_entropy_backward, cross_entropy_forward

__all__ = [
    "init_mlp", "num_parameters", "mlp_forward", "mlp_backward", "mlp_loss_and_grads",
    "predict", "sgd_update", "train", "ACTIVATIONS",
]


def _identity_forward(x):
    return x, ()


def _identity_backward(grad_out, cache):
    return grad_out


ACTIVATIONS = {
    "relu": (_act.relu_forward, _act.relu_backward),
    "tanh": (_act.tanh_forward, _act.tanh_backward),
    "sigmoid": (_act.sigmoid_forward, _act.sigmoid_backward),
    "identity": (_identity_forward, _identity_backward),
}


def _is_positive_int(n):
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _num_layers(params):
    n = len(params) // 2
    if n < 1 or any(f"W{l}" not in params or f"b{l}" not in params for l in range(1, n + 1)):
        raise ValueError(f"params must hold W1, b1, ..., WL, bL, got keys {sorted(params)}")
    return n


def init_mlp(layer_sizes, rng, init="he"):
    """Parameters of an MLP with sizes [d, h1, ..., C]: weights random, biases zero.

    eq-mlp-init. "he": W_l ~ N(0, 2 / fan_in) (He et al., 2015; keeps the mean square
    of ReLU activations constant across layers); "xavier": N(0, 2 / (fan_in + fan_out))
    (Glorot and Bengio, 2010). fan_in and fan_out are the layer's in and out sizes.
    """
    sizes = list(layer_sizes)
    if len(sizes) < 2 or not all(_is_positive_int(s) for s in sizes):
        raise ValueError(f"layer_sizes must be at least two positive integers [d, ..., C], "
                         f"got {layer_sizes!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if init not in ("he", "xavier"):
        raise ValueError(f"init must be 'he' or 'xavier', got {init!r}")
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        var = 2.0 / fan_in if init == "he" else 2.0 / (fan_in + fan_out)
        params[f"W{l}"] = rng.normal(0.0, np.sqrt(var), (fan_out, fan_in))  # (out, in)
        params[f"b{l}"] = np.zeros(fan_out)  # (out,)
    return params


def num_parameters(params):
    """Total number of scalars: sum over layers of in * out + out (eq-mlp-param-count)."""
    return int(sum(np.size(p) for p in params.values()))


def mlp_forward(params, x, activation="relu"):
    """Logits of shape (N, C) for inputs x of shape (N, d); returns ``(logits, cache)``.

    Hidden layers: Z = A W^T + b^T, A = f(Z) (eq-mlp-network); the last layer is affine.
    """
    act_fwd, _ = _check_activation(activation)
    n_layers = _num_layers(params)
    a = x
    caches = []
    for l in range(1, n_layers + 1):
        z, lin_cache = linear_forward(a, params[f"W{l}"], params[f"b{l}"])  # (N, n_l)
        if l < n_layers:
            a, act_cache = act_fwd(z)  # (N, n_l)
        else:
            a, act_cache = z, None  # logits
        caches.append((lin_cache, act_cache))
    return a, (caches, activation)


def mlp_backward(grad_logits, cache):
    """Gradients ``{"W1": ..., "b1": ..., ...}`` given grad_logits = dL/d(logits) (N, C).

    eq-mlp-backward-recursion: D_L = grad_logits; for l = L, ..., 1:
    dW_l = D_l^T A_{l-1}, db_l = D_l^T 1, D_{l-1} = (D_l W_l) * f'(Z_{l-1}).
    """
    caches, activation = cache
    _, act_bwd = _check_activation(activation)
    grads = {}
    dz = grad_logits
    for l in range(len(caches), 0, -1):
        lin_cache, _ = caches[l - 1]
        da, grads[f"W{l}"], grads[f"b{l}"] = linear_backward(dz, lin_cache)
        if l > 1:
            dz = act_bwd(da, caches[l - 2][1])  # through f of layer l-1
    order = sorted(grads, key=lambda k: (int(k[1:]), k[0] != "W"))  # W1, b1, W2, ...
    return {k: grads[k] for k in order}


def mlp_loss_and_grads(params, x, y, activation="relu"):
    """Mean cross-entropy on (x (N, d), y (N,) int) and its gradients: (loss, grads)."""
    logits, cache = mlp_forward(params, x, activation)
    loss, loss_cache = cross_entropy_forward(logits, y, reduction="mean")
    grads = mlp_backward(cross_entropy_backward(np.float64(1.0), loss_cache), cache)
    return float(loss), grads


def predict(params, x, activation="relu"):
    """Predicted classes (N,): the index of the largest logit."""
    return np.argmax(mlp_forward(params, x, activation)[0], axis=1)


def sgd_update(params, grads, velocity, lr, momentum=0.0):
    """One SGD step, PyTorch's momentum (eq-mlp-sgd): v <- momentum v + g, p <- p - lr v.

    Returns new dicts ``(params, velocity)``; the inputs are not modified.
    """
    new_params, new_velocity = {}, {}
    for k, p in params.items():
        v = grads[k] if momentum == 0.0 else momentum * velocity[k] + grads[k]
        new_velocity[k] = v
        new_params[k] = p - lr * v
    return new_params, new_velocity


def train(params, X_train, y_train, X_val, y_val, *, epochs, batch_size, lr, rng,
          momentum=0.0, activation="relu"):
    """Mini-batch SGD on the mean cross-entropy; returns ``(params, history)``.

    Each epoch is one shuffled pass (``iterate_minibatches`` with ``rng``), one update per
    batch. After each epoch, ``history`` records the full-set ``train_loss``, ``val_loss``,
    ``train_acc`` and ``val_acc``; ``history["time"]`` is the training time in seconds.
    The input ``params`` are not modified.
    """
    _check_activation(activation)
    if not _is_positive_int(epochs):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, numbers.Real) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(momentum, numbers.Real) and 0.0 <= momentum < 1.0):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}  # copies
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    history = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in iterate_minibatches(X_train, y_train, batch_size, rng):
            _, grads = mlp_loss_and_grads(params, xb, yb, activation)
            params, velocity = sgd_update(params, grads, velocity, lr, momentum)
        for part, x, y in (("train", X_train, y_train), ("val", X_val, y_val)):
            logits, _ = mlp_forward(params, x, activation)
            history[f"{part}_loss"].append(float(cross_entropy_forward(logits, y)[0]))
            history[f"{part}_acc"].append(float(np.mean(logits.argmax(axis=1) == y)))
    history["time"] = time.perf_counter() - start
    return params, history
