"""Splitting data for model selection (chapter 5): hold-out splits and k-fold cross-validation.

All randomness comes from a ``numpy.random.Generator``. Indices, not copies of the data, are
returned.
"""
from __future__ import annotations

import numpy as np

__all__ = ["train_val_test_indices", "kfold_indices", "cross_val_mse"]


def train_val_test_indices(n, fractions=(0.6, 0.2, 0.2), rng=None):
    """Shuffle range(n) with ``rng`` and cut it into train, validation and test index arrays."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, "
                         f"got {fractions}")
    if n < 3:
        raise ValueError(f"need at least 3 examples, got n={n}")
    perm = rng.permutation(n)
    n_train, n_val = int(round(fr[0] * n)), int(round(fr[1] * n))
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def kfold_indices(n, k, rng=None):
    """The k folds of a shuffled range(n), as a list of (train_idx, val_idx).

    Fold sizes differ by at most 1, and every index is in exactly one validation fold.
    ``rng=None`` keeps the original order.
    """
    if not (isinstance(k, (int, np.integer)) and 2 <= k <= n):
        raise ValueError(f"k must be an integer with 2 <= k <= n={n}, got {k!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    folds = np.array_split(order, k)
    return [(np.concatenate(folds[:i] + folds[i + 1:]), folds[i]) for i in range(k)]


def cross_val_mse(fit, predict, X, y, k, rng=None):
    """Mean squared validation error of each of k folds: ``fit(X_tr, y_tr) -> model``,
    ``predict(model, X_val) -> y_hat``. Returns an array of shape (k,)."""
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have as many rows, got {X.shape[0]} and {y.shape[0]}")
    errors = []
    for tr, va in kfold_indices(X.shape[0], k, rng):
        model = fit(X[tr], y[tr])
        errors.append(np.mean((predict(model, X[va]) - y[va]) ** 2))
    return np.array(errors)
