"""Tests of dlmath.models.linear_regression (chapter 4, Optimization)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models import linear_regression as lr


def make_data(rng, N=40, d=3, noise=0.1):
    X = rng.standard_normal((N, d)) * rng.uniform(0.5, 2.0, size=d) + rng.standard_normal(d)
    w_true = rng.standard_normal(d)
    y = X @ w_true + 0.7 + noise * rng.standard_normal(N)
    return X, y


# ------------------------------------------------------------------------------------ loss and gradient
def test_loss_matches_definition(rng):
    X, y = make_data(rng)
    w, b = rng.standard_normal(3), rng.standard_normal()
    expected = np.mean((X @ w + b - y) ** 2)
    assert abs(lr.mse_loss(X, y, w, b) - expected) <= 1e-12 * expected


def test_gradient_check(rng):
    X, y = make_data(rng)
    w, b = rng.standard_normal(3), float(rng.standard_normal())
    gw, gb = lr.mse_loss_grad(X, y, w, b)
    num_w = numerical_gradient(lambda v: lr.mse_loss(X, y, v, b), w.copy())
    num_b = numerical_gradient(lambda v: lr.mse_loss(X, y, w, float(v[0])), np.array([b]))
    assert relative_error(gw, num_w) < 1e-7
    assert relative_error(np.array([gb]), num_b) < 1e-7


def test_torch_oracle_loss_and_gradient(rng):
    torch = pytest.importorskip("torch")
    X, y = make_data(rng)
    w, b = rng.standard_normal(3), float(rng.standard_normal())
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.mse_loss(torch.tensor(X) @ wt + bt, torch.tensor(y))
    out.backward()
    gw, gb = lr.mse_loss_grad(X, y, w, b)
    assert abs(lr.mse_loss(X, y, w, b) - out.item()) <= 1e-10 * out.item()
    assert relative_error(gw, wt.grad.numpy()) < 1e-10
    assert abs(gb - bt.grad.item()) <= 1e-10 * max(1.0, abs(gb))


def test_lipschitz_constant_is_largest_hessian_eigenvalue(rng):
    X, _ = make_data(rng)
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    s = np.linalg.svd(Z, compute_uv=False)
    assert abs(lr.lipschitz_constant(X) - 2 * s[0] ** 2 / X.shape[0]) < 1e-10 * lr.lipschitz_constant(X)
    s = np.linalg.svd(X, compute_uv=False)
    assert abs(lr.lipschitz_constant(X, fit_intercept=False) - 2 * s[0] ** 2 / X.shape[0]) < 1e-9


# ------------------------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_normal_equations_match_sklearn(rng, fit_intercept):
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data(rng)
    w, b = lr.fit_normal_equations(X, y, fit_intercept=fit_intercept)
    ref = sklearn_lm.LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    assert np.max(np.abs(w - ref.coef_)) < 1e-10
    assert abs(b - ref.intercept_) < 1e-10


def test_normal_equations_gradient_vanishes(rng):
    X, y = make_data(rng)
    w, b = lr.fit_normal_equations(X, y)
    gw, gb = lr.mse_loss_grad(X, y, w, b)
    assert np.linalg.norm(gw) < 1e-10 and abs(gb) < 1e-10


def test_normal_equations_minimum_norm_for_dependent_columns(rng):
    X = rng.standard_normal((15, 2))
    X = np.column_stack([X, X[:, 0] - 2 * X[:, 1]])  # rank 2
    y = rng.standard_normal(15)
    w, b = lr.fit_normal_equations(X, y, fit_intercept=False)
    assert b == 0.0
    assert np.allclose(w, np.linalg.pinv(X) @ y, rtol=1e-10, atol=1e-12)
    # with an intercept: the minimum-norm w for the centred columns, and a vanishing gradient
    w, b = lr.fit_normal_equations(X, y)
    Xc = X - X.mean(axis=0)
    assert np.allclose(w, np.linalg.pinv(Xc) @ (y - y.mean()), rtol=1e-10, atol=1e-12)
    gw, gb = lr.mse_loss_grad(X, y, w, b)
    assert np.linalg.norm(gw) < 1e-10 and abs(gb) < 1e-10


def test_default_step_is_one_over_lipschitz_and_zero_steps(rng):
    X, y = make_data(rng)
    a = lr.fit_gradient_descent(X, y, n_steps=25, tol=0.0)
    b = lr.fit_gradient_descent(X, y, lr=1 / lr.lipschitz_constant(X), n_steps=25, tol=0.0)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and np.array_equal(a[2], b[2])
    w, b0, hist = lr.fit_gradient_descent(X, y, n_steps=0)
    assert np.all(w == 0) and b0 == 0.0 and hist.shape == (1,)
    assert hist[0] == lr.mse_loss(X, y, np.zeros(3), 0.0)


def test_predict_matches_sklearn(rng):
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data(rng)
    w, b = lr.fit_normal_equations(X, y)
    ref = sklearn_lm.LinearRegression().fit(X, y)
    assert np.allclose(lr.predict(X, w, b), ref.predict(X), rtol=1e-10, atol=1e-10)


def test_gradient_descent_converges_to_normal_equations(rng):
    X, y = make_data(rng)
    w_ne, b_ne = lr.fit_normal_equations(X, y)
    w, b, hist = lr.fit_gradient_descent(X, y, n_steps=20_000, tol=1e-13)
    assert np.max(np.abs(w - w_ne)) < 1e-10 and abs(b - b_ne) < 1e-10
    assert np.all(np.diff(hist) <= 1e-15)  # step 1/L never increases the loss (descent lemma)
    assert len(hist) < 20_001  # stopped by the tolerance


def test_gradient_descent_linear_rate(rng):
    """With step 1/L the loss gap shrinks at least by (1 - mu/L) per step."""
    X, y = make_data(rng)
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    eig = np.linalg.eigvalsh(2 / X.shape[0] * Z.T @ Z)
    _, _, hist = lr.fit_gradient_descent(X, y, n_steps=50, tol=0.0)
    w, b = lr.fit_normal_equations(X, y)
    gap = hist - lr.mse_loss(X, y, w, b)
    assert len(hist) == 51
    assert np.all(gap[1:] <= (1 - eig[0] / eig[-1]) * gap[:-1] * (1 + 1e-9) + 1e-14)


def test_divergence_above_two_over_lambda_max(rng):
    X, y = make_data(rng)
    L = lr.lipschitz_constant(X)
    _, _, below = lr.fit_gradient_descent(X, y, lr=1.9 / L, n_steps=300, tol=0.0)
    _, _, above = lr.fit_gradient_descent(X, y, lr=2.1 / L, n_steps=300, tol=0.0)
    assert below[-1] < below[0]
    assert above[-1] > 1e6 * above[0]


def test_gradient_descent_stops_on_overflow(rng):
    X, y = make_data(rng)
    L = lr.lipschitz_constant(X)
    _, _, hist = lr.fit_gradient_descent(X, y, lr=10 / L, n_steps=100_000, tol=0.0)
    assert len(hist) < 100_001 and not np.isfinite(hist[-1])


# ------------------------------------------------------------------------------------------------- SGD
def test_minibatch_gradient_exactly_unbiased_over_all_batches(rng):
    X, y = make_data(rng, N=7, d=2)
    w, b = rng.standard_normal(2), 0.3
    full = lr.mse_loss_grad(X, y, w, b)[0]
    batches = list(itertools.combinations(range(7), 3))
    mean = np.mean([lr.mse_loss_grad(X[list(i)], y[list(i)], w, b)[0] for i in batches], axis=0)
    assert np.max(np.abs(mean - full)) < 1e-12 * np.max(np.abs(full))


def test_minibatch_gradient_unbiased_statistically(rng):
    """Average of M random mini-batch gradients vs the full gradient, within 5 standard errors.

    For B distinct examples drawn from N, each coordinate of the mini-batch mean has variance
    (s^2 / B) (N - B) / (N - 1), with s^2 the population variance of the per-example gradients; the
    average of M independent batches has that divided by M. A 5-sigma deviation in one of d
    coordinates has probability below d * 6e-7.
    """
    N, d, B, M = 50, 3, 5, 4000
    X, y = make_data(rng, N=N, d=d, noise=1.0)
    w, b = rng.standard_normal(d), 0.0
    full = lr.mse_loss_grad(X, y, w, b)[0]
    per_example = 2 * X * (X @ w + b - y)[:, None]  # (N, d) per-example gradients
    s2 = per_example.var(axis=0)
    se = np.sqrt(s2 / B * (N - B) / (N - 1) / M)
    grads = np.array([lr.mse_loss_grad(X[i], y[i], w, b)[0]
                      for i in (rng.choice(N, size=B, replace=False) for _ in range(M))])
    assert np.all(np.abs(grads.mean(axis=0) - full) < 5 * se)
    # and the spread is the predicted one (so the tolerance is not vacuous)
    assert np.allclose(grads.std(axis=0), np.sqrt(s2 / B * (N - B) / (N - 1)), rtol=0.1)


def test_sgd_full_batch_equals_gradient_descent(rng):
    X, y = make_data(rng)
    step = 0.5 / lr.lipschitz_constant(X)
    w1, b1, h1 = lr.sgd(X, y, lr=step, n_steps=30, batch_size=X.shape[0], rng=rng)
    w2, b2, h2 = lr.fit_gradient_descent(X, y, lr=step, n_steps=30, tol=0.0)
    assert np.allclose(w1, w2, rtol=1e-12, atol=1e-13) and abs(b1 - b2) < 1e-12
    assert np.allclose(h1, h2, rtol=1e-12)


def test_sgd_decreasing_step_beats_constant(rng):
    X, y = make_data(rng, N=100, noise=0.5)
    w_ne, b_ne = lr.fit_normal_equations(X, y)
    best = lr.mse_loss(X, y, w_ne, b_ne)
    L = lr.lipschitz_constant(X)
    _, _, const = lr.sgd(X, y, lr=0.5 / L, n_steps=4000, batch_size=1, rng=np.random.default_rng(1))
    _, _, decr = lr.sgd(X, y, lr=lambda k: 0.5 / L / (1 + k / 100), n_steps=4000, batch_size=1,
                        rng=np.random.default_rng(1))
    assert np.mean(decr[-500:] - best) < 0.5 * np.mean(const[-500:] - best)


def test_sgd_is_reproducible(rng):
    X, y = make_data(rng)
    a = lr.sgd(X, y, lr=0.01, n_steps=20, batch_size=4, rng=np.random.default_rng(3))
    b = lr.sgd(X, y, lr=0.01, n_steps=20, batch_size=4, rng=np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])


# ------------------------------------------------------------------------------------------ properties
@settings(max_examples=25, deadline=None)
@given(N=st.integers(3, 12), d=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_inputs_not_mutated_and_shapes(N, d, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((N, d)), rng.standard_normal(N)
    X0, y0 = X.copy(), y.copy()
    w, b = lr.fit_normal_equations(X, y)
    assert w.shape == (d,) and isinstance(b, float)
    w2, b2, hist = lr.fit_gradient_descent(X, y, n_steps=5)
    assert w2.shape == (d,) and 1 <= hist.shape[0] <= 6
    w3, _, hist3 = lr.sgd(X, y, lr=0.01, n_steps=5, batch_size=2, rng=rng)
    assert w3.shape == (d,) and hist3.shape == (6,)
    assert lr.predict(X, w, b).shape == (N,)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 2**32 - 1))
def test_normal_equations_equivariant_under_target_scaling(scale, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    w, b = lr.fit_normal_equations(X, y)
    ws, bs = lr.fit_normal_equations(X, scale * y)
    assert np.allclose(ws, scale * w, rtol=1e-9, atol=1e-12 * scale)
    assert abs(bs - scale * b) <= 1e-9 * scale * max(1.0, abs(b))


# ------------------------------------------------------------------------------------------ bad input
def test_bad_inputs(rng):
    X, y = make_data(rng, N=10, d=2)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        lr.fit_normal_equations(X[:, 0], y)
    with pytest.raises(ValueError, match="y must have shape"):
        lr.fit_normal_equations(X, y[:-1])
    with pytest.raises(ValueError, match="y must have shape"):
        lr.mse_loss(X, y[:, None], np.zeros(2))
    with pytest.raises(ValueError, match="floating-point"):
        lr.fit_normal_equations(X.astype(int), y)
    with pytest.raises(ValueError, match="floating-point"):
        lr.fit_gradient_descent(X, y.astype(int))
    with pytest.raises(ValueError, match="at least one row"):
        lr.predict(np.zeros((0, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="w must have shape"):
        lr.mse_loss_grad(X, y, np.zeros(3))
    with pytest.raises(ValueError, match="lr must be a positive"):
        lr.fit_gradient_descent(X, y, lr=-0.1)
    with pytest.raises(ValueError, match="lr must be a positive"):
        lr.fit_gradient_descent(X, y, lr=float("nan"))
    with pytest.raises(ValueError, match="n_steps must be a non-negative integer"):
        lr.fit_gradient_descent(X, y, n_steps=2.5)
    with pytest.raises(ValueError, match="tol must be a non-negative"):
        lr.fit_gradient_descent(X, y, tol=-1.0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=0, rng=rng)
    with pytest.raises(ValueError, match="batch_size must be at most"):
        lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=11, rng=rng)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=2, rng=0)
    with pytest.raises(ValueError, match=r"lr\(0\) must be a positive"):
        lr.sgd(X, y, lr=lambda k: 0.0, n_steps=5, batch_size=2, rng=rng)


def test_error_messages_exactly(rng):
    X, y = make_data(rng, N=10, d=2)
    cases = [
        (lambda: lr.fit_normal_equations(X[:, 0], y), "X must be a 2-D array of shape (N, d), got shape (10,)"),
        (lambda: lr.fit_normal_equations(X.astype(np.int64), y), "X must be a floating-point array, got dtype int64"),
        (lambda: lr.predict(np.zeros((0, 2)), np.zeros(2)), "X needs at least one row and one column, got shape (0, 2)"),
        (lambda: lr.mse_loss(X, y[:-1], np.zeros(2)), "y must have shape (10,) to match X of shape (10, 2), got shape (9,)"),
        (lambda: lr.mse_loss(X, y.astype(np.int64), np.zeros(2)), "y must be a floating-point array, got dtype int64"),
        (lambda: lr.mse_loss_grad(X, y, np.zeros(3)), "w must have shape (2,), got shape (3,)"),
        (lambda: lr.fit_gradient_descent(X, y, lr=-0.1), "lr must be a positive finite number, got -0.1"),
        (lambda: lr.fit_gradient_descent(X, y, n_steps=-1), "n_steps must be a non-negative integer, got -1"),
        (lambda: lr.fit_gradient_descent(X, y, tol=-1.0), "tol must be a non-negative finite number, got -1.0"),
        (lambda: lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=0, rng=rng), "batch_size must be a positive integer, got 0"),
        (lambda: lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=11, rng=rng), "batch_size must be at most N = 10, got 11"),
        (lambda: lr.sgd(X, y, lr=0.1, n_steps=5, batch_size=2, rng=0), "rng must be a numpy.random.Generator, got int"),
        (lambda: lr.sgd(X, y, lr=lambda k: -1.0, n_steps=5, batch_size=2, rng=rng), "lr(0) must be a positive finite number, got -1.0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message


def test_validation_boundaries(rng):
    """Zero steps, zero tolerance and a batch of all N examples are valid; a bool is not a count."""
    X, y = make_data(rng, N=6, d=2)
    w, b, hist = lr.fit_gradient_descent(X, y, n_steps=0, tol=0.0)
    assert hist.shape == (1,) and np.all(w == 0) and b == 0.0
    w, b, hist = lr.sgd(X, y, lr=0.01, n_steps=0, batch_size=6, rng=rng)
    assert hist.shape == (1,) and np.all(w == 0)
    with pytest.raises(ValueError, match="n_steps"):
        lr.fit_gradient_descent(X, y, n_steps=True)
    with pytest.raises(ValueError, match="lr must be a positive"):
        lr.fit_gradient_descent(X, y, lr=0.0)


def test_gradient_descent_stops_when_the_gradient_norm_reaches_tol_even_zero(rng):
    """At an exact minimum (y = 0, start w = 0, b = 0) the gradient is exactly 0, which is <= tol = 0:
    the loop stops at once, with one loss recorded, instead of running all n_steps."""
    X = rng.standard_normal((5, 2))
    w, b, hist = lr.fit_gradient_descent(X, np.zeros(5), n_steps=50, tol=0.0)
    assert hist.shape == (1,) and hist[0] == 0.0
    np.testing.assert_array_equal(w, np.zeros(2))
    assert b == 0.0
