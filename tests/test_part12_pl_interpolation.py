"""Chapter 5's use of chapter 4's Polyak-Lojasiewicz condition, checked independently of the chapters' cells.

Least squares with more parameters than examples (N < p, rows of X independent) is not strongly convex, yet
satisfies the PL condition with m = 2 s_min^2 / N (eq-learning-problem-pl); gradient descent with step
1/M, M = 2 s_max^2 / N, then shrinks the loss at least by 1 - s_min^2/s_max^2 per step
(eq-learning-problem-pl-rate), and from w_0 = 0 it converges to the minimum-norm interpolant pinv(X) y.
"""
import numpy as np
import pytest

from dlmath.models import linear_regression as lr


def wide_problem(seed, n=20, p=50, features="gaussian"):
    rng = np.random.default_rng(seed)
    if features == "gaussian":
        x = rng.standard_normal((n, p))
    else:                                                       # random ReLU features, as chapter 5
        v = rng.standard_normal((p, 10)) / np.sqrt(10)
        x = np.maximum(rng.standard_normal((n, 10)) @ v.T, 0)
    return x, rng.standard_normal(n), rng


def gradient_descent(x, y, w0, n_steps):
    """Full-batch gradient descent on (1/N)|X w - y|^2 with step 1/M; returns (w, losses)."""
    n = x.shape[0]
    eta = 1 / lr.lipschitz_constant(x, fit_intercept=False)     # 1/M, M = 2 s_max^2 / N
    w, losses = w0.astype(float).copy(), np.empty(n_steps + 1)
    for k in range(n_steps + 1):
        r = x @ w - y
        losses[k] = r @ r / n
        w = w - eta * (2 / n) * (x.T @ r)
    return w, losses


@pytest.mark.parametrize("seed", range(5))
def test_wide_least_squares_is_pl_but_not_strongly_convex(seed):
    x, y, rng = wide_problem(seed)
    n, p = x.shape
    s = np.linalg.svd(x, compute_uv=False)
    hess_eigs = np.linalg.eigvalsh(2 / n * x.T @ x)
    assert np.sum(hess_eigs < 1e-10 * hess_eigs.max()) == p - n       # eigenvalue 0, p - N times
    m_pl = 2 * s[-1] ** 2 / n
    ratios = []
    for _ in range(200):
        w = rng.standard_normal(p) * rng.uniform(0.01, 10)
        g = 2 / n * x.T @ (x @ w - y)
        loss = np.sum((x @ w - y) ** 2) / n
        ratios.append((g @ g) / (2 * m_pl * loss))
    assert min(ratios) >= 1 - 1e-10                               # ||grad||^2 >= 2 m (loss - 0)
    # and m is the best constant: at w = pinv(X) (y + u_N), the residual is the last left singular vector
    u, _, _ = np.linalg.svd(x, full_matrices=False)
    w_worst = np.linalg.pinv(x) @ y + np.linalg.pinv(x) @ u[:, -1]
    g = 2 / n * x.T @ (x @ w_worst - y)
    assert np.isclose((g @ g) / (2 * m_pl * np.sum((x @ w_worst - y) ** 2) / n), 1.0, rtol=1e-8)


@pytest.mark.parametrize("features", ["gaussian", "relu"])
@pytest.mark.parametrize("seed", range(4))
def test_gradient_descent_rate_and_minimum_norm_limit(seed, features):
    x, y, rng = wide_problem(seed, n=30, p=90, features=features)
    s = np.linalg.svd(x, compute_uv=False)
    guaranteed = 1 - s[-1] ** 2 / s[0] ** 2
    n_steps = int(np.ceil(30 / (1 - guaranteed)))                # guarantee e^-30 on the distance
    w, losses = gradient_descent(x, y, np.zeros(x.shape[1]), n_steps)
    k = np.arange(n_steps + 1)
    assert np.all(losses <= guaranteed**k * losses[0] * (1 + 1e-9) + 1e-28)   # the PL rate, every step
    k1, k2 = n_steps // 10, n_steps // 5
    measured = (losses[k2] / losses[k1]) ** (1 / (k2 - k1))
    assert measured <= guaranteed**2 * (1 + 1e-9)                  # the exact analysis: the square of the PL factor
    w_dag = np.linalg.pinv(x) @ y
    assert np.linalg.norm(w - w_dag) <= 1e-9 * np.linalg.norm(w_dag)
    assert np.linalg.norm(x @ w - y) <= 1e-9 * np.linalg.norm(y)   # an exact fit


@pytest.mark.parametrize("seed", range(3))
def test_slowest_residual_component_decays_exactly_at_the_pl_factor(seed):
    """Along the last left singular vector u_N the residual shrinks by exactly 1 - s_N^2/s_1^2 per step, so
    the guarantee's factor, squared, is the loss's asymptotic rate: the PL rate is attained up to the square."""
    x, y, _ = wide_problem(seed)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    guaranteed = 1 - s[-1] ** 2 / s[0] ** 2
    n = x.shape[0]
    eta = 1 / lr.lipschitz_constant(x, fit_intercept=False)
    w = np.zeros(x.shape[1])
    c0 = u[:, -1] @ (x @ w - y)
    for k in range(1, 201):
        w = w - eta * (2 / n) * (x.T @ (x @ w - y))
        assert np.isclose(u[:, -1] @ (x @ w - y), guaranteed**k * c0, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_start_elsewhere_gives_the_interpolant_nearest_the_start(seed):
    """From w_0 the null-space component of w_0 never changes: the limit is pinv(X) y + (I - pinv(X) X) w_0."""
    x, y, rng = wide_problem(seed)
    w0 = rng.standard_normal(x.shape[1])
    s = np.linalg.svd(x, compute_uv=False)
    n_steps = int(np.ceil(30 * s[0] ** 2 / s[-1] ** 2))
    w, _ = gradient_descent(x, y, w0, n_steps)
    pinv = np.linalg.pinv(x)
    expected = pinv @ y + (np.eye(x.shape[1]) - pinv @ x) @ w0
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-9 * np.linalg.norm(expected))
    assert np.linalg.norm(w - pinv @ y) > 0.1 * np.linalg.norm(w0)   # not the minimum-norm one


def test_package_gradient_descent_reaches_the_minimum_norm_fit():
    x, y, _ = wide_problem(7)
    w, b, _ = lr.fit_gradient_descent(x, y, n_steps=200_000, tol=1e-12, fit_intercept=False)
    assert b == 0.0
    np.testing.assert_allclose(w, np.linalg.pinv(x) @ y, rtol=0, atol=1e-9)
