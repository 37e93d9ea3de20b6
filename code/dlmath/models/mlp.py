"""A multilayer perceptron built from the functional layers (chapters 6 and 9).

The package's one feed-forward network: the two-layer XOR network of chapter 6 is ``init_mlp([2, 4, 1],
rng)``, the digit classifier of chapter 9 is ``init_mlp([64, 128, 10], rng)``.

Parameters are a plain dict of arrays ``{"W1": (h1, d), "b1": (h1,), ..., "WL": (C, h),
"bL": (C,)}`` with the PyTorch layout (out, in) of ``torch.nn.Linear``: ``W{l}`` and
``b{l}`` are the weight and bias of the l-th ``Linear`` of an ``nn.Sequential``. Layer l
computes Z_l = A_{l-1} W_l^T + b_l^T and A_l = f(Z_l) (eq-mlp-network, eq-activations-two-layer);
the last layer has no activation and returns the logits. ``mlp_backward`` runs
eq-mlp-backward-recursion. ``train`` is mini-batch SGD with optional PyTorch-style momentum
(eq-mlp-sgd) on one of three losses of the logits: the mean cross-entropy over classes (eq-mlp-loss),
the mean binary cross-entropy, or the mean squared error. Initialization (eq-mlp-init): He et al.
(2015) or Glorot and Bengio (2010).
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from dlmath.data import iterate_minibatches
from dlmath.layers import activations as _act
from dlmath.layers import losses as _loss
from dlmath.layers.linear import linear_backward, linear_forward

__all__ = [
    "init_mlp", "num_parameters", "mlp_forward", "mlp_backward", "mlp_loss_and_grads",
    "predict", "sgd_update", "train", "ACTIVATIONS", "LOSSES",
]


def _identity_forward(x):
    return x, ()


def _identity_backward(grad_out, cache):
    return grad_out


# The hidden-layer activations: name -> (forward, backward), the functional pairs of layers/activations.py.
ACTIVATIONS = {
    "relu": (_act.relu_forward, _act.relu_backward),
    "leaky_relu": (_act.leaky_relu_forward, _act.leaky_relu_backward),
    "tanh": (_act.tanh_forward, _act.tanh_backward),
    "sigmoid": (_act.sigmoid_forward, _act.sigmoid_backward),
    "softplus": (_act.softplus_forward, _act.softplus_backward),
    "gelu": (_act.gelu_forward, _act.gelu_backward),
    "identity": (_identity_forward, _identity_backward),
}

# The losses of the logits, named as in torch.nn.functional: name -> (forward, backward).
LOSSES = {
    "cross_entropy": (_loss.cross_entropy_forward, _loss.cross_entropy_backward),
    "binary_cross_entropy_with_logits": (_loss.binary_cross_entropy_with_logits_forward,
                                         _loss.binary_cross_entropy_with_logits_backward),
    "mse_loss": (_loss.mse_loss_forward, _loss.mse_loss_backward),
}


def _is_positive_int(n):
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return LOSSES[loss]


def _loss_target(loss, target, logits):
    """The target as the loss needs it: class indices for cross_entropy, else floats of the logits' shape.

    For the binary cross-entropy and the squared error a target of shape (N,) goes with a network of
    one output (logits (N, 1)) and is read as (N, 1).
    """
    if loss == "cross_entropy":
        return target
    target = np.asarray(target, dtype=np.float64)
    if target.ndim == 1 and logits.ndim == 2 and logits.shape[1] == 1:
        target = target[:, None]  # (N,) -> (N, 1)
    return target


def _num_layers(params):
    n = len(params) // 2
    if n < 1 or any(f"W{l}" not in params or f"b{l}" not in params for l in range(1, n + 1)):
        raise ValueError(f"params must hold W1, b1, ..., WL, bL, got keys {sorted(params)}")
    return n


def init_mlp(layer_sizes, rng, *, init="he"):
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


def mlp_forward(params, x, *, activation="relu"):
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


def mlp_loss_and_grads(params, x, target, *, activation="relu", loss="cross_entropy"):
    """The mean loss of the logits on (x (N, d), target) and its gradients: ``(loss, grads)``.

    ``loss="cross_entropy"``: target (N,) integer classes (eq-mlp-loss);
    ``"binary_cross_entropy_with_logits"``: target in [0, 1] of the logits' shape, or (N,) for one output;
    ``"mse_loss"``: real targets, same shapes. Each loss is the mean over all entries, as in torch.
    """
    loss_fwd, loss_bwd = _check_loss(loss)
    logits, cache = mlp_forward(params, x, activation=activation)
    value, loss_cache = loss_fwd(logits, _loss_target(loss, target, logits), reduction="mean")
    grads = mlp_backward(loss_bwd(np.float64(1.0), loss_cache), cache)
    return float(value), grads


def predict(params, x, *, activation="relu"):
    """Predicted classes (N,): the index of the largest logit; with one output, 1 where the logit is > 0."""
    logits = mlp_forward(params, x, activation=activation)[0]
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).astype(np.int64)  # a binary classifier's logit
    return np.argmax(logits, axis=1)


def sgd_update(params, grads, velocity, *, lr, momentum=0.0, weight_decay=0.0):
    """One SGD step, PyTorch's momentum (eq-mlp-sgd): b <- momentum b + g, p <- p - lr b (b, the momentum
    buffer, is the ``velocity`` argument).

    With momentum 0 this is p <- p - lr g. ``weight_decay`` adds weight_decay * p to every gradient
    first (an L2 penalty weight_decay / 2 ||p||^2 on every parameter, as torch.optim.SGD). Returns new
    dicts ``(params, velocity)``; the inputs are not modified.
    """
    if not (isinstance(weight_decay, numbers.Real) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    new_params, new_velocity = {}, {}
    for k, p in params.items():
        g = grads[k] if weight_decay == 0.0 else grads[k] + weight_decay * p
        v = g if momentum == 0.0 else momentum * velocity[k] + g
        new_velocity[k] = v
        new_params[k] = p - lr * v
    return new_params, new_velocity


def _epoch_metrics(params, x, target, activation, loss):
    """The mean loss on a whole set and, for the two classification losses, the accuracy."""
    loss_fwd, _ = LOSSES[loss]
    logits, _ = mlp_forward(params, x, activation=activation)
    t = _loss_target(loss, target, logits)
    value = float(loss_fwd(logits, t, reduction="mean")[0])
    if loss == "cross_entropy":
        return value, float(np.mean(logits.argmax(axis=1) == t))
    if loss == "binary_cross_entropy_with_logits":
        return value, float(np.mean((logits > 0) == (t > 0.5)))
    return value, None


def train(params, X_train, y_train, X_val, y_val, *, epochs, batch_size, lr, rng,
          momentum=0.0, activation="relu", loss="cross_entropy", weight_decay=0.0):
    """Mini-batch SGD on the mean ``loss`` (see :func:`mlp_loss_and_grads`); returns ``(params, history)``.

    Each epoch is one shuffled pass (``iterate_minibatches`` with ``rng``), one update per
    batch; ``batch_size`` at least the number of examples gives full-batch gradient descent.
    After each epoch, ``history`` records the full-set ``train_loss`` and ``val_loss`` and, for the
    two classification losses, ``train_acc`` and ``val_acc``; ``history["time"]`` is the training
    time in seconds. The input ``params`` are not modified.
    """
    _check_activation(activation)
    _check_loss(loss)
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
    history = {"train_loss": [], "val_loss": []}
    if loss != "mse_loss":
        history.update(train_acc=[], val_acc=[])
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in iterate_minibatches(X_train, y_train, batch_size=batch_size, rng=rng):
            _, grads = mlp_loss_and_grads(params, xb, yb, activation=activation, loss=loss)
            params, velocity = sgd_update(params, grads, velocity, lr=lr, momentum=momentum,
                                          weight_decay=weight_decay)
        for part, x, y in (("train", X_train, y_train), ("val", X_val, y_val)):
            value, acc = _epoch_metrics(params, x, y, activation, loss)
            history[f"{part}_loss"].append(value)
            if acc is not None:
                history[f"{part}_acc"].append(acc)
    history["time"] = time.perf_counter() - start
    return params, history
