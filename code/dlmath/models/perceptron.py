"""The perceptron and a one-hidden-layer network for XOR (chapter 6).

``perceptron_train`` is Rosenblatt's (1958) learning rule on labels in {-1, +1}: sweep over the examples
in order and, on every mistake y_i (w . x_i + b) <= 0, add y_i x_i to w and y_i to b
(eq-activations-perceptron-update). The rule is online by nature, so it loops over examples; Novikoff's
(1962) theorem bounds its number of mistakes on separable data by (R / gamma)^2
(eq-activations-novikoff-bound). ``perceptron_predict`` gives sign(w . x + b) with sign(0) = -1.

``init_two_layer``, ``two_layer_forward``, ``two_layer_backward`` and ``train_two_layer`` implement the
network x -> W2 f(W1 x + b1) + b2 (eq-activations-two-layer) with the PyTorch layout (out, in) of the
weights, f one of the activations of ``dlmath.layers.activations``, trained by full-batch gradient descent
on the binary cross-entropy from logits ("bce", targets in {0, 1}) or the mean squared error ("mse").
"""
from __future__ import annotations

import numpy as np

from dlmath.layers import activations as _act
from dlmath.layers.linear import linear_backward, linear_forward
from dlmath.layers.losses import (
    binary_cross_entropy_with_logits_backward, binary_cross_entropy_with_logits_forward, mse_loss_backward,
    mse_loss_forward,
)

__all__ = [
    "perceptron_train", "perceptron_predict", "init_two_layer", "two_layer_forward", "two_layer_backward",
    "train_two_layer", "HIDDEN_ACTIVATIONS",
]

HIDDEN_ACTIVATIONS = {
    "tanh": (_act.tanh_forward, _act.tanh_backward),
    "sigmoid": (_act.sigmoid_forward, _act.sigmoid_backward),
    "relu": (_act.relu_forward, _act.relu_backward),
    "leaky_relu": (_act.leaky_relu_forward, _act.leaky_relu_backward),
    "softplus": (_act.softplus_forward, _act.softplus_backward),
    "gelu": (_act.gelu_forward, _act.gelu_backward),
}


def _check_xy(X, y):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype.kind != "f" or X.ndim != 2:
        raise ValueError(f"X must be a float array of shape (N, d), got dtype {X.dtype} and shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},), got shape {y.shape}")
    return X, y


def perceptron_train(X, y, max_epochs=100, rng=None, bias=True):
    """Rosenblatt's perceptron rule; X (N, d) float, y (N,) in {-1, +1}.

    Starts from w = 0, b = 0 and sweeps over the examples at most ``max_epochs`` times, in their
    given order, or in a fresh random order each sweep when a ``numpy.random.Generator`` ``rng``
    is given; stops after the first sweep without a mistake. Returns a dict with ``weight`` (d,),
    ``bias`` (float), ``mistakes`` (total number of updates), ``errors_per_epoch`` (list: mistakes
    in each sweep), ``weight_history`` (E, d) and ``bias_history`` (E,) (the parameters at the end
    of each of the E sweeps) and ``converged`` (True when the last sweep made no mistake). With
    ``bias=False`` the bias stays 0 (a hyperplane through the origin).
    """
    X, y = _check_xy(X, y)
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError(f"y must hold labels -1 and +1 only, got the values {np.unique(y)}")
    if not (isinstance(max_epochs, (int, np.integer)) and max_epochs >= 1):
        raise ValueError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be None or a numpy.random.Generator, got {type(rng).__name__}")
    w = np.zeros(X.shape[1])  # (d,)
    b = 0.0
    errors_per_epoch, w_hist, b_hist = [], [], []
    for _ in range(max_epochs):
        errors = 0
        order = np.arange(len(y)) if rng is None else rng.permutation(len(y))
        for i in order:  # the rule is sequential: each update changes the next prediction
            if y[i] * (X[i] @ w + b) <= 0:
                w = w + y[i] * X[i]
                b = b + float(y[i]) if bias else b
                errors += 1
        errors_per_epoch.append(errors)
        w_hist.append(w)
        b_hist.append(b)
        if errors == 0:
            break
    return {"weight": w, "bias": b, "mistakes": int(sum(errors_per_epoch)),
            "errors_per_epoch": errors_per_epoch,
            "weight_history": np.array(w_hist), "bias_history": np.array(b_hist),
            "converged": errors_per_epoch[-1] == 0}


def perceptron_predict(X, weight, bias):
    """sign(X w + b) in {-1, +1} (a score of exactly 0 counts as -1, a mistake for either label)."""
    X = np.asarray(X, dtype=float)
    return np.where(X @ np.asarray(weight, dtype=float) + bias > 0, 1, -1)


def init_two_layer(in_features, hidden, out_features, rng, scale=1.0):
    """Parameters {W1 (hidden, in), b1 (hidden,), W2 (out, hidden), b2 (out,)}: weights normal with
    standard deviation scale / sqrt(fan_in), biases normal with standard deviation ``scale``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, n in (("in_features", in_features), ("hidden", hidden), ("out_features", out_features)):
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return {
        "W1": scale * rng.standard_normal((hidden, in_features)) / np.sqrt(in_features),
        "b1": scale * rng.standard_normal(hidden),
        "W2": scale * rng.standard_normal((out_features, hidden)) / np.sqrt(hidden),
        "b2": np.zeros(out_features),
    }


def _activation(activation):
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(HIDDEN_ACTIVATIONS)}, got {activation!r}")
    return HIDDEN_ACTIVATIONS[activation]


def two_layer_forward(X, params, activation="tanh"):
    """Logits Z2 = f(X W1^T + b1^T) W2^T + b2^T: X (N, in) -> (N, out) (eq-activations-two-layer)."""
    f_forward, _ = _activation(activation)
    z1, c1 = linear_forward(X, params["W1"], params["b1"])  # (N, hidden)
    a1, ca = f_forward(z1)  # (N, hidden)
    z2, c2 = linear_forward(a1, params["W2"], params["b2"])  # (N, out)
    return z2, (c1, ca, c2, activation)


def two_layer_backward(grad_out, cache):
    """Gradients {W1, b1, W2, b2} of sum(grad_out * Z2); grad_out has the logits' shape (N, out)."""
    c1, ca, c2, activation = cache
    _, f_backward = _activation(activation)
    g_a1, g_w2, g_b2 = linear_backward(grad_out, c2)
    g_z1 = f_backward(g_a1, ca)
    _, g_w1, g_b1 = linear_backward(g_z1, c1)
    return {"W1": g_w1, "b1": g_b1, "W2": g_w2, "b2": g_b2}


def train_two_layer(X, y, hidden, rng, lr=0.5, epochs=2000, activation="tanh", loss="bce", scale=1.0):
    """Full-batch gradient descent on a one-hidden-layer network; X (N, in), y (N,) or (N, out).

    loss="bce": y in {0, 1}, mean binary cross-entropy of the logits; loss="mse": real targets, mean
    squared error. Returns ``(params, losses)``, ``losses`` the loss before each of the ``epochs`` steps.
    """
    if loss not in ("bce", "mse"):
        raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
    X = np.asarray(X)
    if X.dtype.kind != "f" or X.ndim != 2:
        raise ValueError(f"X must be a float array of shape (N, in), got dtype {X.dtype} and shape {X.shape}")
    Y = np.asarray(y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y  # (N, out)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have N = {X.shape[0]} rows, got shape {np.shape(y)}")
    _activation(activation)
    fwd, bwd = ((binary_cross_entropy_with_logits_forward, binary_cross_entropy_with_logits_backward)
                if loss == "bce" else (mse_loss_forward, mse_loss_backward))
    params = init_two_layer(X.shape[1], hidden, Y.shape[1], rng, scale)
    losses = []
    for _ in range(epochs):
        z2, cache = two_layer_forward(X, params, activation)
        value, lcache = fwd(z2, Y)
        losses.append(float(value))
        grads = two_layer_backward(bwd(1.0, lcache), cache)
        params = {k: params[k] - lr * grads[k] for k in params}
    return params, np.array(losses)
