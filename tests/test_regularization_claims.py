"""Claims of chapter 13 (regularization) checked against the package or by direct computation.

* Label smoothing with weight lambda_ls (PyTorch's ``label_smoothing``): the package's smoothed
  cross-entropy is (1 - lambda_ls) times the cross-entropy plus lambda_ls times the cross-entropy against the
  uniform distribution, for every K (the chapter's eq-regularization-ls-ce is checked symbolically at K = 3);
  its gradient vanishes at the finite logit gap log(1 + K (1 - lambda_ls) / lambda_ls)
  (eq-regularization-ls-gap), and that gap minimizes the loss over the gap.
* Early stopping against ridge on a quadratic (prop-regularization-early-stopping): for 0 < eta lambda_i <= 1
  and lambda_es = 1 / (eta k), r_i = lambda_i / lambda_es = k eta lambda_i, the early-stopping filter lies
  between r_i / (1 + r_i) and min(1, r_i); the ratio to the ridge filter is at most 2, attained at k = 1, r_i = 1.
* Penalty and constraint (eq-regularization-ridge-kkt, eq-regularization-ridge-radius): on random full-rank
  least-squares problems (loss |Xw - y|^2, penalty lambda |w|^2 / 2) the ridge minimizer's squared norm is
  sum_i s_i^2 y~_i^2 / (s_i^2 + lambda / 2)^2
  (the chapter checks it symbolically at d = 2 only), decreasing in lambda; projected gradient descent on the
  ball of radius r = |w_lambda| returns the ridge minimizer, and the multiplier read off its stationarity
  condition is lambda; on a ball containing the least-squares solution it returns that solution.
"""
import numpy as np
import pytest

from dlmath.layers.losses import cross_entropy_backward, cross_entropy_forward, log_softmax

LAMBDAS = (0.01, 0.1, 0.3, 0.9)
KS = (2, 3, 10, 100)


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("lam_ls", LAMBDAS)
def test_smoothed_ce_is_a_mixture_of_two_cross_entropies(K, lam_ls):
    rng = np.random.default_rng(K)
    x = 3 * rng.standard_normal((40, K))                      # (N, K) logits
    target = rng.integers(0, K, 40)                            # (N,)
    smoothed, _ = cross_entropy_forward(x, target, label_smoothing=lam_ls)
    plain, _ = cross_entropy_forward(x, target)
    uniform = -np.mean(log_softmax(x, dim=1).mean(axis=1))     # cross-entropy against 1/K, averaged over N
    np.testing.assert_allclose(smoothed, (1 - lam_ls) * plain + lam_ls * uniform, rtol=1e-12)


def gap_logits(K, gap, y=0):
    x = np.zeros((1, K))
    x[0, y] = gap
    return x, np.array([y])


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("lam_ls", LAMBDAS)
def test_gradient_vanishes_at_the_finite_gap(K, lam_ls):
    gap = np.log(1 + K * (1 - lam_ls) / lam_ls)               # eq-regularization-ls-gap
    x, t = gap_logits(K, gap)
    _, cache = cross_entropy_forward(x, t, label_smoothing=lam_ls)
    grad = cross_entropy_backward(1.0, cache)
    assert np.max(np.abs(grad)) < 1e-12
    # the loss as a function of the gap is smallest there
    loss = lambda g: cross_entropy_forward(*gap_logits(K, g), label_smoothing=lam_ls)[0]
    for delta in (1e-3, 0.1, 1.0):
        assert loss(gap) < loss(gap - delta) and loss(gap) < loss(gap + delta)


def test_without_smoothing_the_gradient_never_vanishes():
    for gap in (1.0, 10.0, 30.0):
        x, t = gap_logits(10, gap)
        _, cache = cross_entropy_forward(x, t)
        assert cross_entropy_backward(1.0, cache)[0, 0] < 0     # p_y - 1 < 0: the gap keeps growing


def test_early_stopping_filter_between_ridge_and_min():
    eta_lam = np.linspace(1e-4, 1.0, 401)[:, None]             # eta lambda_i in (0, 1]
    k = np.array([1, 2, 3, 10, 100, 1000])[None, :]
    early = 1 - (1 - eta_lam) ** k                            # eq-regularization-gd-filter
    r = k * eta_lam                                            # r_i = lambda_i / lambda_es with lambda_es = 1/(eta k)
    ridge = r / (1 + r)                                        # eq-regularization-ridge-filter
    assert np.all(ridge <= early + 1e-15)
    assert np.all(early <= np.minimum(1, r) + 1e-15)
    ratio = early / ridge
    assert ratio.max() <= 2 + 1e-12
    np.testing.assert_allclose(ratio[-1, 0], 2.0)              # k = 1, eta lambda_i = 1: r_i = 1, ratio 2


def _problem(seed, N=40, d=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))                           # (N, d)
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(N)   # (N,)
    return X, y


def _ridge(X, y, lam):
    """The minimizer of |Xw - y|^2 + lam |w|^2 / 2 (the chapter's loss, no factor 1/2, and penalty)."""
    return np.linalg.solve(X.T @ X + lam / 2 * np.eye(X.shape[1]), X.T @ y)


def _projected_gd(X, y, r, steps=5000):
    """min |Xw - y|^2 subject to |w| <= r, by projected gradient descent with step 1/M from w = 0."""
    M = 2 * np.linalg.norm(X, 2) ** 2
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        w = w - 2 * X.T @ (X @ w - y) / M
        w = w * min(1.0, r / np.linalg.norm(w))
    return w


@pytest.mark.parametrize("seed", range(4))
def test_ridge_radius_formula_and_monotone(seed):
    X, y = _problem(seed)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    y_t = U.T @ y                                             # y~_i = u_i^T y
    lams = np.geomspace(1e-3, 1e3, 25)
    radii2 = np.array([np.sum(_ridge(X, y, lam) ** 2) for lam in lams])
    formula = np.array([np.sum(s**2 * y_t**2 / (s**2 + lam / 2) ** 2) for lam in lams])
    np.testing.assert_allclose(radii2, formula, rtol=1e-10)
    assert np.all(np.diff(radii2) < 0)                        # one lambda per radius below |w_0|


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", (0.3, 3.0, 30.0))
def test_constrained_solution_is_ridge_with_multiplier_lambda(seed, lam):
    X, y = _problem(seed)
    w_pen = _ridge(X, y, lam)
    w_con = _projected_gd(X, y, np.linalg.norm(w_pen))
    np.testing.assert_allclose(w_con, w_pen, rtol=0, atol=1e-9)
    lam_read = -w_con @ (2 * X.T @ (X @ w_con - y)) / (w_con @ w_con)
    np.testing.assert_allclose(lam_read, lam, rtol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_inactive_constraint_has_zero_multiplier(seed):
    X, y = _problem(seed)
    w_ls = _ridge(X, y, 0.0)
    w_con = _projected_gd(X, y, 1.5 * np.linalg.norm(w_ls))
    np.testing.assert_allclose(w_con, w_ls, rtol=0, atol=1e-9)
    assert np.linalg.norm(X.T @ (X @ w_con - y)) < 1e-8      # stationary without a penalty: lambda = 0
    w_small = _projected_gd(X, y, 0.5 * np.linalg.norm(w_ls))   # a smaller ball is active: lambda > 0
    assert -w_small @ (X.T @ (X @ w_small - y)) > 0
