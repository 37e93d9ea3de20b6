"""Chapter 9's compression of the digits MLP's first layer by a truncated SVD: the Frobenius error of the
rank-r truncation is the root of the discarded squared singular values (Eckart-Young, chapter 1) on trained
weights, the factored layer has r (n_0 + n_1) weights, and at full rank the factored network classifies
exactly as the uncompressed one. The factorizations are the package's (dlmath.linalg), as the chapter uses them."""
import numpy as np
import pytest

from dlmath.data import load_digits_split
from dlmath.linalg import data_low_rank_factors, low_rank_factors
from dlmath.models.mlp import init_mlp, predict, train


def factored_predict(p, X, first):
    """Classes of a one-hidden-layer ReLU network whose first weight is the product of first = (B, C)."""
    B, C = first
    H = np.maximum((X @ C.T) @ B.T + p["b1"], 0.0)
    return np.argmax(H @ p["W2"].T + p["b2"], axis=1)


@pytest.fixture(scope="module", params=[0, 3])
def trained(request):
    """A 64 -> 128 -> 10 ReLU network trained on the digits split of the given seed (10 epochs)."""
    X_tr, y_tr, X_va, y_va, X_te, y_te = load_digits_split(seed=request.param)
    rng = np.random.default_rng(request.param)
    params, _ = train(init_mlp([64, 128, 10], rng), X_tr, y_tr, X_va, y_va, epochs=10, batch_size=32,
                      lr=0.05, momentum=0.9, rng=rng)
    return params, X_tr, X_te, y_te


def test_frobenius_error_of_truncation_is_root_of_discarded_singular_values(trained):
    params, *_ = trained
    W = params["W1"]                                         # (128, 64)
    s = np.linalg.svd(W, compute_uv=False)
    assert s.shape == (64,) and np.all(np.diff(s) <= 0)
    for r in range(65):
        B, C = low_rank_factors(W, r)
        assert np.linalg.matrix_rank(B @ C) == r
        assert np.isclose(np.linalg.norm(W - B @ C), np.sqrt(np.sum(s[r:] ** 2)), rtol=1e-10, atol=1e-12)
        assert np.isclose(np.linalg.norm(W - B @ C, 2), s[r] if r < 64 else 0.0, rtol=1e-10, atol=1e-12)


def test_truncation_is_closest_among_random_matrices_of_the_same_rank(trained):
    params, *_ = trained
    W, r = params["W1"], 8
    best = np.linalg.norm(W - np.dot(*low_rank_factors(W, r)))
    rng = np.random.default_rng(1)
    for _ in range(200):   # random rank-r matrices near W: its projection on random subspaces
        Q, _ = np.linalg.qr(rng.standard_normal((64, r)))
        assert np.linalg.norm(W - W @ Q @ Q.T) >= best


def test_factored_layer_weight_count():
    rng = np.random.default_rng(2)
    for n1, n0 in [(128, 64), (7, 30), (1, 1), (12, 5)]:
        for r in range(1, min(n0, n1) + 1):
            B, C = low_rank_factors(rng.standard_normal((n1, n0)), r)
            assert B.shape == (n1, r) and C.shape == (r, n0) and B.size + C.size == r * (n0 + n1)


def test_full_rank_accuracy_equals_uncompressed(trained):
    params, _, X_te, y_te = trained
    full = predict(params, X_te)
    factored = factored_predict(params, X_te, low_rank_factors(params["W1"], 64))
    assert np.array_equal(factored, full)
    assert np.mean(factored == y_te) == np.mean(full == y_te)
    low = factored_predict(params, X_te, low_rank_factors(params["W1"], 2))
    assert np.mean(low == y_te) < np.mean(full == y_te) - 0.1   # rank 2 costs accuracy: the check can fail


def test_data_truncation_minimizes_the_error_on_the_data(trained):
    params, X_tr, *_ = trained
    W = params["W1"]
    t = np.linalg.svd(X_tr @ W.T, compute_uv=False)
    for r in (1, 4, 12, 30):
        err_data = np.linalg.norm(X_tr @ (W - np.dot(*data_low_rank_factors(W, X_tr, r))).T)
        err_plain = np.linalg.norm(X_tr @ (W - np.dot(*low_rank_factors(W, r))).T)
        assert np.isclose(err_data, np.sqrt(np.sum(t[r:] ** 2)), rtol=1e-9)
        assert err_data <= err_plain * (1 + 1e-12)


@pytest.mark.parametrize("bad", [
    lambda: low_rank_factors(np.ones((3, 2)), 3),                     # r above min(m, d)
    lambda: low_rank_factors(np.ones((3, 2)), -1),
    lambda: low_rank_factors(np.ones((3, 2)), 1.0),                   # r not an integer
    lambda: low_rank_factors(np.ones(3), 1),                          # not a matrix
    lambda: low_rank_factors(np.ones((3, 2), dtype=int), 1),
    lambda: data_low_rank_factors(np.ones((3, 2)), np.ones((5, 3)), 1),   # X has the wrong width
    lambda: data_low_rank_factors(np.ones((3, 2)), np.ones((5, 2)), 3),   # r above min(m, d)
])
def test_low_rank_factors_reject_bad_input(bad):
    with pytest.raises(ValueError):
        bad()


def test_data_low_rank_factors_ignore_directions_no_input_reaches():
    """Inputs confined to the first two coordinates: W_hat vanishes on the others, and at r = 2 it
    reproduces the layer's outputs exactly."""
    rng = np.random.default_rng(0)
    X = np.zeros((20, 5))
    X[:, :2] = rng.standard_normal((20, 2))                       # (N, d), rank 2
    W = rng.standard_normal((4, 5))                               # (m, d)
    B, C = data_low_rank_factors(W, X, 2)
    W_hat = B @ C
    np.testing.assert_allclose(W_hat[:, 2:], 0.0, atol=1e-14)
    np.testing.assert_allclose(X @ W_hat.T, X @ W.T, rtol=1e-12, atol=1e-12)
    B4, C4 = data_low_rank_factors(W, X, 4)                       # rank at most 4, but the inputs have rank 2
    assert B4.shape == (4, 2) and C4.shape == (2, 5)
    np.testing.assert_allclose(B4 @ C4, W_hat, rtol=1e-12, atol=1e-12)
