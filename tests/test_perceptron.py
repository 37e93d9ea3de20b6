"""Tests of dlmath.models.perceptron: Novikoff's bound, XOR (the network that solves it is tested in test_mlp.py)."""
import numpy as np
import pytest

from dlmath.data import make_xor
from dlmath.models import perceptron as P


def _separable(rng, n=60, d=3, margin=0.2):
    """Points with |u . x + c| >= margin for a unit u: separable with margin at least `margin`."""
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    c = 0.3
    X = rng.uniform(-2, 2, size=(4 * n, d))
    s = X @ u + c
    keep = np.abs(s) >= margin
    X, s = X[keep][:n], s[keep][:n]
    return X, np.where(s > 0, 1, -1), u, c


@pytest.mark.parametrize("seed", range(5))
def test_novikoff_bound_holds_and_converges(seed):
    rng = np.random.default_rng(seed)
    X, y, u, c = _separable(rng)
    res = P.perceptron_train(X, y, max_epochs=10_000)
    assert res["converged"]
    assert np.all(P.perceptron_predict(X, res["weight"], res["bias"]) == y)
    # the bound on augmented vectors (x, 1) with the unit separator (u, c) / ||(u, c)||
    Xa = np.hstack([X, np.ones((len(X), 1))])
    v = np.append(u, c)
    v /= np.linalg.norm(v)
    gamma = np.min(y * (Xa @ v))
    R = np.max(np.linalg.norm(Xa, axis=1))
    assert gamma > 0
    assert res["mistakes"] <= (R / gamma) ** 2


def test_perceptron_never_solves_xor():
    X, y01 = make_xor()
    y = 2 * y01 - 1
    res = P.perceptron_train(X, y, max_epochs=500)
    assert not res["converged"] and len(res["errors_per_epoch"]) == 500
    assert min(res["errors_per_epoch"]) >= 1


def test_bad_input():
    X, y = make_xor()
    with pytest.raises(ValueError, match="labels -1 and \\+1"):
        P.perceptron_train(X, y)  # 0/1 labels
    with pytest.raises(ValueError, match="X must be a float array"):
        P.perceptron_train(X.astype(int), 2 * y - 1)
    with pytest.raises(ValueError, match="y must have shape"):
        P.perceptron_train(X, np.ones(3))
    with pytest.raises(ValueError, match="max_epochs must be a positive integer"):
        P.perceptron_train(X, 2 * y - 1, max_epochs=0)
    with pytest.raises(TypeError):
        P.perceptron_train(X, 2 * y - 1, 10)  # options are keyword-only


def test_shuffled_xor_never_separates_and_history_shapes():
    X, y01 = make_xor()
    y = 2 * y01 - 1
    res = P.perceptron_train(X, y, max_epochs=300, rng=np.random.default_rng(1))
    assert res["weight_history"].shape == (300, 2) and res["bias_history"].shape == (300,)
    correct = [(P.perceptron_predict(X, w, b) == y).sum() for w, b in zip(res["weight_history"], res["bias_history"])]
    assert max(correct) <= 3
    with pytest.raises(ValueError, match="rng must be None or a numpy.random.Generator"):
        P.perceptron_train(X, y, rng=3)


def test_shuffled_order_still_obeys_novikoff():
    rng = np.random.default_rng(7)
    X, y, u, c = _separable(rng, margin=0.3)
    res = P.perceptron_train(X, y, max_epochs=10_000, rng=rng)
    Xa = np.hstack([X, np.ones((len(X), 1))])
    v = np.append(u, c) / np.linalg.norm(np.append(u, c))
    assert res["converged"] and res["mistakes"] <= (np.max(np.linalg.norm(Xa, axis=1)) / np.min(y * (Xa @ v))) ** 2


def test_without_bias_mistakes_are_scale_invariant():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    u = np.array([1.0, -2.0, 0.5])
    X = X[np.abs(X @ u) > 0.3]
    y = np.where(X @ u > 0, 1, -1)
    runs = [P.perceptron_train(c * X, y, max_epochs=1000, bias=False) for c in (0.01, 1.0, 100.0)]
    assert all(r["bias"] == 0.0 and r["converged"] for r in runs)
    assert runs[0]["errors_per_epoch"] == runs[1]["errors_per_epoch"] == runs[2]["errors_per_epoch"]
    assert np.allclose(runs[2]["weight"], 100.0 * runs[1]["weight"])


def test_score_zero_counts_as_a_mistake_for_either_label():
    """From w = 0, b = 0 every score is 0: the first example is a mistake whatever its label."""
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    for first_label in (-1, 1):
        # one example: the only mistake possible is the score 0 at the start; the update is
        # w = y_0 x_0, b = y_0 (eq-activations-perceptron-update)
        res = P.perceptron_train(X[:1], np.array([first_label]), max_epochs=1)
        assert res["mistakes"] == 1
        assert np.array_equal(res["weight"], first_label * X[0]) and res["bias"] == float(first_label)
    # sign(0) = 0: a zero score is no decision, equal to neither label, so a mistake for both, as in training
    pred0 = P.perceptron_predict(X, np.zeros(2), 0.0)
    assert np.array_equal(pred0, np.array([0, 0]))
    for label in (-1, 1):
        assert np.all(pred0 != label)
    # nonzero scores keep their sign, whatever their size
    assert np.array_equal(P.perceptron_predict(np.array([[1e-300, 0.0], [-1e-300, 0.0], [0.0, 0.0]]),
                                               np.array([1.0, 0.0]), 0.0), np.array([1, -1, 0]))


def test_error_messages_exactly():
    X, y = make_xor()
    cases = [
        (lambda: P.perceptron_train(X.astype(int), 2 * y - 1),
         "X must be a float array of shape (N, d), got dtype int64 and shape (4, 2)"),
        (lambda: P.perceptron_train(X, np.ones(3)), "y must have shape (N,) = (4,), got shape (3,)"),
        (lambda: P.perceptron_train(X, y), "y must hold labels -1 and +1 only, got the values [0 1]"),
        (lambda: P.perceptron_train(X, 2 * y - 1, max_epochs=0), "max_epochs must be a positive integer, got 0"),
        (lambda: P.perceptron_train(X, 2 * y - 1, rng=3), "rng must be None or a numpy.random.Generator, got int"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message


def test_first_sweep_by_hand():
    """Two points, traced by hand from w = 0, b = 0 (eq-activations-perceptron-update):
    x1 = (1, 0), y = +1: score 0, a mistake: w = (1, 0), b = 1.
    x2 = (0, 1), y = -1: score 0 + 1 = 1 > 0 with y = -1, a mistake: w = (1, -1), b = 0.
    Second sweep: x1 scores 1 (right), x2 scores -1 (right): converged after 2 mistakes."""
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1, -1])
    res = P.perceptron_train(X, y, max_epochs=10)
    assert res["errors_per_epoch"] == [2, 0] and res["mistakes"] == 2 and res["converged"] is True
    np.testing.assert_array_equal(res["weight"], [1.0, -1.0])
    assert res["bias"] == 0.0
    np.testing.assert_array_equal(res["weight_history"], [[1.0, -1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(res["bias_history"], [0.0, 0.0])
    np.testing.assert_array_equal(P.perceptron_predict(X, res["weight"], res["bias"]), y)
    stopped = P.perceptron_train(X, y, max_epochs=1)             # stops after the sweep with mistakes
    assert stopped["converged"] is False and stopped["errors_per_epoch"] == [2]
