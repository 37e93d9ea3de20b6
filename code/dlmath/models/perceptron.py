"""The perceptron (chapter 6).

``perceptron_train`` is Rosenblatt's (1958) learning rule on labels in {-1, +1}: sweep over the examples
in order and, on every mistake y_i (w . x_i + b) <= 0, add y_i x_i to w and y_i to b
(eq-activations-perceptron-update). The rule is online by nature, so it loops over examples; Novikoff's
(1962) theorem bounds its number of mistakes on separable data by (R / gamma)^2
(eq-activations-novikoff-bound). ``perceptron_predict`` gives sign(w . x + b) with sign(0) = 0: a score
of exactly 0 is no decision, a mistake for either label, as in the training rule (the book's one convention).

The network with one hidden layer that solves XOR (eq-activations-two-layer) is the package's one
multi-layer network, ``dlmath.models.mlp``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["perceptron_train", "perceptron_predict"]


def _check_xy(X, y):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype.kind != "f" or X.ndim != 2:
        raise ValueError(f"X must be a float array of shape (N, d), got dtype {X.dtype} and shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},), got shape {y.shape}")
    return X, y


def perceptron_train(X, y, *, max_epochs=100, rng=None, bias=True):
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
    """sign(X w + b) (eq-activations-perceptron-predict): +1 or -1, and 0 for a score of exactly 0.

    sign(0) = 0 is no decision: it equals neither label, so it is a mistake for either, exactly as the
    training rule's test y_i (w . x_i + b) <= 0 counts it. Returns an integer array (N,).
    """
    X = np.asarray(X, dtype=float)
    return np.sign(X @ np.asarray(weight, dtype=float) + bias).astype(int)
