"""Claims of chapter 13 (regularization) checked against the package or by direct computation.

* Label smoothing with weight lambda_ls (PyTorch's ``label_smoothing``): the package's smoothed
  cross-entropy is (1 - lambda_ls) times the cross-entropy plus lambda_ls times the cross-entropy against the
  uniform distribution, for every K (the chapter's eq-regularization-ls-ce is checked symbolically at K = 3);
  its gradient vanishes at the finite logit gap log(1 + K (1 - lambda_ls) / lambda_ls)
  (eq-regularization-ls-gap), and that gap minimizes the loss over the gap.
* Early stopping against ridge on a quadratic (prop-regularization-early-stopping): for 0 < eta lambda_i <= 1
  and lambda_es = 1 / (eta k), r_i = lambda_i / lambda_es = k eta lambda_i, the early-stopping filter lies
  between r_i / (1 + r_i) and min(1, r_i); the ratio to the ridge filter is at most 2, attained at k = 1, r_i = 1.
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
