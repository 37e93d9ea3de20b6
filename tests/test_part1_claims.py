"""Claims of chapters 1, 2 and 3 (Part I) that rest on random experiments, checked over several seeds.

The chapters measure each claim with one fixed seed; these tests repeat the measurement with other
seeds, so that a statement in the text is not an accident of its seed.
"""
import numpy as np
import pytest

from dlmath import linalg as la
from dlmath.book import experiments as ex
from dlmath.gradcheck import UNIT_ROUNDOFF, central_difference
from scipy import stats

SEEDS = range(10)


# ----------------------------------------------------------------------------------- chapter 1
@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_is_rarely_ahead_of_solve(seed):
    """ch01, solve versus invert: on ill-conditioned matrices (kappa >= 1e3) the forward error of
    inv(A) @ b is typically several times that of solve, and rarely the smaller of the two; the backward
    error of solve stays at the level of u while that of the inverse grows with kappa."""
    rng = np.random.default_rng(1000 + seed)
    ratios, back_solve, back_inv = [], [], []
    for kappa in np.repeat(np.logspace(3, 15, 13), 3):
        A = la.matrix_with_singular_values(np.geomspace(1.0, 1.0 / kappa, 30), rng)   # (30, 30)
        err = ex.solve_vs_inverse_errors(A, rng.standard_normal(30))
        ratios.append(err["forward_inv"] / err["forward_solve"])
        back_solve.append(err["backward_solve"])
        back_inv.append((kappa, err["backward_inv"]))
    ratios = np.array(ratios)
    assert np.median(ratios) > 2
    assert np.mean(ratios < 1) <= 2 / ratios.size          # at most 2 of the 39 matrices
    assert max(back_solve) < 20 * UNIT_ROUNDOFF
    worst_conditioned = [b for k, b in back_inv if k >= 1e12]
    assert np.median(worst_conditioned) > 1e3 * UNIT_ROUNDOFF


def test_jordan_block_powers_grow_linearly_at_spectral_radius_one():
    """ch01, misconception on [[1, 100], [0, 1]]: the powers grow without bound but linearly (about 100 k),
    and ||J^k||^(1/k) tends to the spectral radius 1 (Gelfand)."""
    J = np.array([[1.0, 100.0], [0.0, 1.0]])
    ks = np.array([1, 10, 100, 1000, 10000])
    norms = np.array([np.linalg.norm(np.linalg.matrix_power(J, k), 2) for k in ks])
    assert np.all(np.diff(norms) > 0)                                   # unbounded growth
    assert np.allclose(norms[1:] / (100 * ks[1:]), 1.0, rtol=2e-2)      # linear, slope 100
    roots = norms ** (1.0 / ks)                                         # slowly: (1e6)^(1/1e4) = 1.0014
    assert np.all(np.diff(roots) < 0) and 1 < roots[-1] < 1.002


@pytest.mark.parametrize("seed", SEEDS)
def test_spectral_radius_below_one_contracts_despite_large_singular_value(seed):
    """ch01: a random 50 x 50 matrix scaled to spectral radius 0.9 has a largest singular value above 1,
    yet its powers eventually contract, at the rate 0.9 per step."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((50, 50))
    B *= 0.9 / np.max(np.abs(np.linalg.eigvals(B)))
    assert np.linalg.norm(B, 2) > 1
    Bk = np.linalg.matrix_power(B, 1000)
    assert np.linalg.norm(Bk, 2) < 1e-30
    assert abs(np.linalg.norm(Bk, 2) ** (1 / 1000) - 0.9) < 0.02


def test_he_variance_keeps_the_relu_mean_square():
    """ch01, exercise on the ReLU gain: with entry variance 2/n the mean square norm of h_l stays of order
    one over 30 ReLU layers, with 1/n it shrinks like 2^-l. One run (one draw of the 30 matrices, shared by
    the 200 inputs) scatters around the prediction: over 10 seeds every ratio measured / predicted lies
    within a factor 5, and their geometric mean within a factor 2."""
    n, trials = 256, 200
    for var_scale, predicted in ((2.0, 1.0), (1.0, 2.0 ** -30)):
        rel = []
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            h = rng.standard_normal((trials, n))                   # (trials, n)
            sq0 = np.mean(np.sum(h ** 2, axis=1))
            for _ in range(30):
                W = rng.standard_normal((n, n)) * np.sqrt(var_scale / n)
                h = np.maximum(h @ W.T, 0.0)
            rel.append(np.mean(np.sum(h ** 2, axis=1)) / sq0 / predicted)
        log_rel = np.log(rel)
        assert np.all(np.abs(log_rel) < np.log(5)), (var_scale, rel)
        assert abs(np.mean(log_rel)) < np.log(2), (var_scale, rel)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_product_mean_square_gain_follows_c_to_the_L(seed):
    """ch01, products of random matrices: with entry variance c/n the mean square gain of L layers is
    c^L (averaged over 20 products, within 25% at L = 10), and the product at c = 1 grows ill-conditioned."""
    n, depth = 64, 10
    for c in (0.8, 1.0, 1.25):
        gains = [np.mean(ex.product_singular_values(n, depth, np.sqrt(c / n), np.random.default_rng(100 * seed + r)) ** 2,
                         axis=1) for r in range(20)]                # each (depth,)
        assert np.mean(gains, axis=0)[-1] == pytest.approx(c ** depth, rel=0.25)
    sv = ex.product_singular_values(n, 8, np.sqrt(1.0 / n), np.random.default_rng(seed))   # (8, n)
    kappa = sv[:, 0] / sv[:, -1]
    assert kappa[7] > 10 * kappa[0]


# ----------------------------------------------------------------------------------- chapter 2
def test_too_small_a_step_is_worse_by_a_factor_of_a_million():
    """ch02, misconception: at x = 1 the central difference of exp with h = 1e-14 errs more than a
    million times as much as with h = 1e-5."""
    err = {h: abs(central_difference(np.exp, 1.0, h) - np.e) for h in (1e-5, 1e-14)}
    assert err[1e-14] > 1e6 * err[1e-5]


def test_float32_central_difference_cannot_confirm_a_gradient():
    """ch02, misconception: in float32 the central difference at h = 1e-6 is off by more than 1e-3
    relatively, and even at its best step by more than 1e-6; float64 at h = 1e-6 is within 1e-9."""
    x32 = np.float32(1.0)
    rel = []
    for h in (np.float32(1e-6), np.float32(np.cbrt(3 * np.finfo(np.float32).eps))):
        d = (np.exp(x32 + h) - np.exp(x32 - h)) / (np.float32(2) * h)
        rel.append(abs(float(d) - np.e) / np.e)
    assert rel[0] > 1e-3 and rel[1] > 1e-6
    assert abs(central_difference(np.exp, 1.0, 1e-6) - np.e) / np.e < 1e-9


# ----------------------------------------------------------------------------------- chapter 3
def test_clt_distance_for_exponential_means_falls_like_one_over_sqrt_n():
    """ch03, eq-probability-clt measured exactly: for Exp(1) variables N X-bar_N is Gamma(N), and the
    largest distance over z between P(sqrt(N)(X-bar_N - 1) <= z) and Phi(z) falls at every N = 1, 4, ...,
    4096, with sqrt(N) times the distance within 5% of 0.133 from N = 16 on (a 1/sqrt(N) law)."""
    z = np.linspace(-8, 8, 32001)
    ns = 4 ** np.arange(7)
    gap = np.array([np.max(np.abs(stats.gamma.cdf(n + z * np.sqrt(n), n) - stats.norm.cdf(z))) for n in ns])
    assert np.all(np.diff(gap) < 0)
    scaled = gap * np.sqrt(ns)
    assert np.all(np.abs(scaled[2:] / 0.133 - 1) < 0.05), scaled


@pytest.mark.parametrize("seed", SEEDS)
def test_standardized_mean_of_exponentials_has_mean_zero_variance_one_and_approaches_normal(seed):
    """ch03, eq-probability-standardized-mean and fig-probability-lln-clt: over 20 000 repetitions the
    standardized mean of N exponential variables has sample mean 0 and variance 1 within sampling error
    at N = 1, 4, 32, and its Kolmogorov-Smirnov distance to N(0, 1) shrinks from N = 1 to 4 to 32."""
    ks = []
    for n in (1, 4, 32):
        z = (np.random.default_rng(seed).exponential(1.0, size=(20_000, n)).mean(axis=1) - 1) * np.sqrt(n)
        assert abs(z.mean()) < 5 / np.sqrt(z.size)                  # standard error 1/sqrt(20000)
        assert abs(z.var() - 1) < 0.1
        ks.append(stats.kstest(z, "norm").statistic)
    assert ks[0] > ks[1] > ks[2]


@pytest.mark.parametrize("seed", SEEDS)
def test_cauchy_means_do_not_concentrate(seed):
    """ch03, the finite variance of the central limit theorem is needed: the mean of N standard Cauchy
    variables is standard Cauchy, so the median of its absolute value stays near 1 for N = 1 and 1000."""
    rng = np.random.default_rng(seed)
    for n in (1, 1000):
        assert abs(np.median(np.abs(rng.standard_cauchy((2000, n)).mean(axis=1))) - 1) < 0.15


@pytest.mark.parametrize("seed", SEEDS)
def test_chebyshev_and_hoeffding_bound_coin_deviations(seed):
    """ch03, eq-probability-chebyshev and eq-probability-hoeffding on 100 tosses of a coin with theta = 0.3:
    the simulated tail P(|X-bar - theta| >= a) lies below both bounds on a grid of a, Chebyshev's is the
    smaller bound at a = 0.05 and Hoeffding's at a = 0.3."""
    means = np.random.default_rng(seed).binomial(100, 0.3, size=100_000) / 100
    a = np.linspace(0.02, 0.3, 15)
    tail = np.array([(np.abs(means - 0.3) >= a_ - 1e-12).mean() for a_ in a])
    cheb, hoef = 0.3 * 0.7 / (100 * a ** 2), 2 * np.exp(-2 * 100 * a ** 2)
    assert np.all(tail <= cheb) and np.all(tail <= hoef)
    assert 0.21 / (100 * 0.05 ** 2) < 2 * np.exp(-2 * 100 * 0.05 ** 2)
    assert 2 * np.exp(-2 * 100 * 0.3 ** 2) < 0.21 / (100 * 0.3 ** 2)



@pytest.mark.parametrize("seed", SEEDS)
def test_hoeffding_lemma_and_chernoff_bound_hold_and_the_constant_is_sharp(seed):
    """ch03, eq-probability-hoeffding-lemma and eq-probability-chernoff: for 200 random distributions on
    [0, 1] (8 random support points each) E[e^(lambda (X - mu))] lies below the Bernoulli moment of the same
    mean (the proof's chord step) and below e^(lambda^2/8) for lambda in [-30, 30]; the constant 1/8 cannot
    be lowered (the fair coin's log-moment over lambda^2 reaches 0.1249 at lambda = 0.1, and 1/9 fails
    there). For N Bernoulli variables the exact upper tail lies below the Chernoff bound at lambda = 4Na,
    which is exp(-2Na^2)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, size=(200, 8))                                   # (dist, point)
    wts = rng.dirichlet(np.ones(8) * 0.3, size=200)                          # (dist, point)
    mu = (wts * pts).sum(axis=1)                                             # (dist,)
    lam = np.linspace(-30, 30, 121)                                          # (lambda,)
    mgf = (wts[:, None, :] * np.exp(lam[None, :, None] * (pts[:, None, :] - mu[:, None, None]))).sum(axis=2)
    bern = np.exp(-lam[None, :] * mu[:, None]) * (1 - mu[:, None] + mu[:, None] * np.exp(lam[None, :]))
    assert np.all(mgf <= bern * (1 + 1e-12)) and np.all(bern <= np.exp(lam ** 2 / 8) * (1 + 1e-12))
    fair = np.log(np.cosh(0.05))                                             # log E[e^(0.1 (X - 1/2))], fair coin
    assert 0.1249 < fair / 0.1 ** 2 < 0.125 and fair > 0.1 ** 2 / 9
    n = int(rng.integers(5, 200))
    theta, a = rng.uniform(0.05, 0.95), rng.uniform(0.01, 0.5)
    s = np.arange(n + 1)
    tail = stats.binom.pmf(s, n, theta)[s / n - theta >= a - 1e-12].sum()
    lam_star = 4 * n * a
    chernoff = np.exp(-lam_star * a) * (stats.binom.pmf(s, n, theta) * np.exp(lam_star * (s / n - theta))).sum()
    assert tail <= chernoff * (1 + 1e-12) and chernoff <= np.exp(-2 * n * a ** 2) * (1 + 1e-12)

def _coin_clt_distance(n, theta):
    """sup_z |P(sqrt(n)(X-bar_n - theta)/sigma <= z) - Phi(z)| for n Bernoulli(theta) tosses (exact)."""
    k = np.arange(n + 1)
    z = (k - n * theta) / np.sqrt(n * theta * (1 - theta))
    cdf, phi = stats.binom.cdf(k, n, theta), stats.norm.cdf(z)
    return max(np.max(np.abs(cdf - phi)), np.max(np.abs(cdf - stats.binom.pmf(k, n, theta) - phi)))


def test_coin_clt_distance_is_at_least_half_the_largest_jump():
    """ch03, exercise ex-probability-clt-coin: the exact distance is at least half the largest binomial
    probability for every theta and N tried; sqrt(N) times it is near 0.40 for the fair coin and 1.2 for
    theta = 0.05 (about 9 times as many tosses for the same accuracy); the closed form agrees with a
    brute-force evaluation on a fine grid of z."""
    for theta in (0.5, 0.3, 0.05):
        for n in (10, 100, 1000):
            assert _coin_clt_distance(n, theta) >= stats.binom.pmf(np.arange(n + 1), n, theta).max() / 2 - 1e-15
    for n in (100, 1000):
        assert 0.39 < _coin_clt_distance(n, 0.5) * np.sqrt(n) < 0.41
        assert 1.1 < _coin_clt_distance(n, 0.05) * np.sqrt(n) < 1.25
    z = np.linspace(-10, 10, 2_000_001)
    brute = stats.binom.cdf(np.floor(6 + z * np.sqrt(30 * 0.2 * 0.8) + 1e-9), 30, 0.2)
    assert abs(np.max(np.abs(brute - stats.norm.cdf(z))) - _coin_clt_distance(30, 0.2)) < 1e-6
