"""Claims of chapter 4 (optimization) checked on random instances, independently of the chapter's cells.

Each test asserts a property that the chapter derives and that a wrong formula would break: the contraction
factor q(eta) of gradient descent on a quadratic, the step-size bound 2/lambda_max, the heavy ball's rate,
kappa(X^T X) = kappa(X)^2 through the thin SVD, escape from a strict saddle, and the size of SGD's noise
ball proportional to the step.
"""
import numpy as np
import pytest

from dlmath.models import linear_regression as lr


def random_spd(rng, n, lam_min, lam_max):
    """A symmetric positive definite n x n matrix with eigenvalues spread over [lam_min, lam_max]."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigs = np.concatenate([[lam_min, lam_max], rng.uniform(lam_min, lam_max, size=n - 2)])
    return q @ np.diag(eigs) @ q.T, np.sort(eigs)


def gd_errors(a, e0, eta, n_steps):
    """Norms of the errors e_k = (I - eta A)^k e_0 of gradient descent on x^T A x / 2 - b^T x."""
    errs, e = [np.linalg.norm(e0)], e0.copy()
    for _ in range(n_steps):
        e = e - eta * (a @ e)
        errs.append(np.linalg.norm(e))
    return np.array(errs)


@pytest.mark.parametrize("seed", range(5))
def test_contraction_factor_bounds_every_step(seed):
    rng = np.random.default_rng(seed)
    a, eigs = random_spd(rng, 6, 1.0, 10.0)
    for c in (0.3, 1.0, 2 / (1 + 10) * 10, 1.9):                # eta lambda_max in (0, 2)
        eta = c / eigs[-1]
        q = max(abs(1 - eta * eigs[0]), abs(1 - eta * eigs[-1]))
        errs = gd_errors(a, rng.standard_normal(6), eta, 60)
        k = np.arange(errs.size)
        assert np.all(errs <= q**k * errs[0] * (1 + 1e-10)), c
        assert q < 1


@pytest.mark.parametrize("seed", range(3))
def test_step_above_two_over_lambda_max_diverges(seed):
    rng = np.random.default_rng(seed)
    a, eigs = random_spd(rng, 6, 1.0, 10.0)
    errs = gd_errors(a, rng.standard_normal(6), 2.1 / eigs[-1], 200)
    assert errs[-1] > 1e3 * errs[0]                             # |1 - 2.1| = 1.1 per step along the top direction


def test_best_step_rate_is_kappa_ratio():
    """In two dimensions at eta* both components shrink by exactly (kappa - 1)/(kappa + 1)."""
    for kappa in (10.0, 100.0):
        a = np.diag([1.0, kappa])
        errs = gd_errors(a, np.ones(2), 2 / (1 + kappa), 50)
        ratios = errs[1:] / errs[:-1]
        np.testing.assert_allclose(ratios, (kappa - 1) / (kappa + 1), rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_heavy_ball_rate_sqrt_kappa(seed):
    rng = np.random.default_rng(seed)
    kappa, n = 100.0, 30
    a, eigs = random_spd(rng, n, 1.0, kappa)
    eta = 4 / (np.sqrt(eigs[-1]) + np.sqrt(eigs[0])) ** 2
    beta = ((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2
    x = prev = rng.standard_normal(n)
    norms = [np.linalg.norm(x)]
    for _ in range(400):
        x, prev = x - eta * (a @ x) + beta * (x - prev), x
        norms.append(np.linalg.norm(x))
    rate = (norms[400] / norms[200]) ** (1 / 200)
    q_hb, q_gd = np.sqrt(beta), (kappa - 1) / (kappa + 1)
    assert q_hb <= rate <= q_hb * 2 ** (1 / 200) * 1.001        # sqrt(beta), up to the k z^k of a double root
    assert rate < q_gd - 0.1                                     # far faster than gradient descent's best


@pytest.mark.parametrize("seed", range(5))
def test_condition_number_squared_thin_svd(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 5)) * np.geomspace(1, 1e3, 5)
    u, s, vt = np.linalg.svd(x, full_matrices=False)             # thin: u is 40 x 5
    assert u.shape == (40, 5)
    np.testing.assert_allclose(u.T @ u, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(x.T @ x, vt.T @ np.diag(s**2) @ vt, rtol=1e-10, atol=1e-6)
    assert np.isclose(np.linalg.cond(x.T @ x), np.linalg.cond(x) ** 2, rtol=1e-6)


def test_gradient_descent_escapes_strict_saddle():
    """f(u, v) = u^2/2 - v^2/2 + v^4/4: every start off the stable manifold v = 0 reaches (0, +-1)."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, size=500)
    u, v = 1e-6 * np.cos(angle), 1e-6 * np.sin(angle)
    for _ in range(2000):
        u, v = 0.9 * u, 1.1 * v - 0.1 * v**3
    assert np.all(np.hypot(u, np.abs(v) - 1) < 1e-8)
    u0, v0 = 1e-3, 0.0                                            # on v = 0 the iterates go to the saddle
    for _ in range(2000):
        u0, v0 = 0.9 * u0, 1.1 * v0 - 0.1 * v0**3
    assert abs(u0) < 1e-12 and v0 == 0.0


def test_sgd_noise_ball_shrinks_with_the_step():
    """With a constant step the late suboptimality scales with the step (ratio near 10 for a 10x smaller step)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.5 * rng.standard_normal(200)
    w_ne, b_ne = lr.fit_normal_equations(x, y)
    best = lr.mse_loss(x, y, w_ne, b_ne)
    big_m = lr.lipschitz_constant(x)
    ratios = []
    for seed in range(3):
        levels = []
        for c in (0.5, 0.05):
            _, _, hist = lr.sgd(x, y, lr=c / big_m, n_steps=4000, batch_size=10, rng=np.random.default_rng(seed))
            levels.append((hist[-2000:] - best).mean())
        ratios.append(levels[0] / levels[1])
    assert all(5 < r < 30 for r in ratios), ratios
