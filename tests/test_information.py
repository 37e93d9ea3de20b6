"""Tests of dlmath.information: scipy and PyTorch oracles, numerical integration, properties, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import integrate, stats

from dlmath import information as info


def _dirichlet(rng, shape, k, zeros=False):
    p = rng.dirichlet(np.ones(k), size=shape)
    if zeros:  # knock out some outcomes and renormalize
        p = np.where(rng.random(p.shape) < 0.3, 0.0, p)
        p[..., 0] += 1e-3  # keep every row non-empty
        p = p / p.sum(axis=-1, keepdims=True)
    return p


# ------------------------------------------------------------------------------------ scipy oracle
@pytest.mark.parametrize("zeros", [False, True])
def test_entropy_and_kl_match_scipy(rng, zeros):
    p = _dirichlet(rng, (4, 3), 6, zeros)
    q = _dirichlet(rng, (4, 3), 6)
    np.testing.assert_allclose(info.entropy(p), stats.entropy(p, axis=-1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(info.kl_divergence(p, q), stats.entropy(p, q, axis=-1), rtol=1e-12, atol=1e-15)
    ce = info.cross_entropy(p, q)
    np.testing.assert_allclose(ce, stats.entropy(p, axis=-1) + stats.entropy(p, q, axis=-1), rtol=1e-12)


def test_axis_argument(rng):
    p = _dirichlet(rng, (5,), 4).T  # distributions along axis 0, shape (4, 5)
    q = _dirichlet(rng, (5,), 4).T
    assert info.entropy(p, axis=0).shape == (5,)
    np.testing.assert_allclose(info.entropy(p, axis=0), stats.entropy(p, axis=0), rtol=1e-13)
    np.testing.assert_allclose(info.kl_divergence(p, q, axis=0), info.kl_divergence(p.T, q.T), rtol=1e-13)
    np.testing.assert_allclose(info.cross_entropy(p, q, axis=0), info.cross_entropy(p.T, q.T), rtol=1e-13)


def test_zero_conventions():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.75, 0.0])
    assert info.entropy(p) == pytest.approx(np.log(2), rel=1e-15)
    assert np.isfinite(info.kl_divergence(p, q))  # q = 0 only where p = 0
    assert info.cross_entropy(p, q) == pytest.approx(-0.5 * np.log(0.25) - 0.5 * np.log(0.75), rel=1e-15)
    r = np.array([1.0, 0.0, 0.0])
    assert info.kl_divergence(p, r) == np.inf and info.cross_entropy(p, r) == np.inf
    assert info.kl_divergence(r, p) == pytest.approx(np.log(2), rel=1e-15)
    assert info.entropy(r) == 0.0


def test_known_values():
    for k in (1, 2, 7, 100):
        assert info.entropy(np.full(k, 1.0 / k)) == pytest.approx(np.log(k), rel=1e-12, abs=1e-15)
    theta = np.linspace(0.01, 0.99, 99)
    h = info.entropy(np.stack([theta, 1 - theta], axis=-1))
    assert theta[np.argmax(h)] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------ PyTorch oracle
def test_categorical_matches_torch(rng):
    torch = pytest.importorskip("torch")
    p, q = _dirichlet(rng, (6,), 5), _dirichlet(rng, (6,), 5)
    P = torch.distributions.Categorical(probs=torch.tensor(p, dtype=torch.float64))
    Q = torch.distributions.Categorical(probs=torch.tensor(q, dtype=torch.float64))
    np.testing.assert_allclose(info.entropy(p), P.entropy().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(info.kl_divergence(p, q), torch.distributions.kl_divergence(P, Q).numpy(),
                               rtol=1e-10, atol=1e-14)


def test_gaussian_kl_matches_torch(rng):
    torch = pytest.importorskip("torch")
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    var1, var2 = rng.uniform(0.1, 3, 10), rng.uniform(0.1, 3, 10)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(t(mu1), t(np.sqrt(var1))),
                                                 torch.distributions.Normal(t(mu2), t(np.sqrt(var2)))).numpy()
    np.testing.assert_allclose(info.gaussian_kl(mu1, var1, mu2, var2), expected, rtol=1e-10, atol=1e-14)


def test_nlls_match_torch(rng):
    torch = pytest.importorskip("torch")
    y = rng.random(12)  # soft targets
    q = rng.uniform(0.05, 0.95, 12)
    bce = torch.nn.functional.binary_cross_entropy(torch.tensor(q), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(info.bernoulli_nll(y, q), bce, rtol=1e-10)
    x, m, v = rng.standard_normal(12), rng.standard_normal(12), rng.uniform(0.1, 2, 12)
    lp = torch.distributions.Normal(torch.tensor(m), torch.tensor(np.sqrt(v))).log_prob(torch.tensor(x)).numpy()
    np.testing.assert_allclose(info.gaussian_nll(x, m, v), -lp, rtol=1e-10)


# ------------------------------------------------------------------------------------ Gaussians
@pytest.mark.parametrize("mu1,var1,mu2,var2", [(0.0, 1.0, 0.0, 1.0), (0.3, 0.5, -1.0, 2.0), (2.0, 3.0, 0.5, 0.4)])
def test_gaussian_kl_matches_quadrature(mu1, var1, mu2, var2):
    p, q = stats.norm(mu1, np.sqrt(var1)), stats.norm(mu2, np.sqrt(var2))
    integrand = lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x))
    num, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)
    assert info.gaussian_kl(mu1, var1, mu2, var2) == pytest.approx(num, rel=1e-8, abs=1e-12)


def test_gaussian_kl_broadcasts_and_is_asymmetric():
    out = info.gaussian_kl(np.zeros((3, 1)), 1.0, np.arange(4.0), 2.0)
    assert out.shape == (3, 4)
    assert info.gaussian_kl(0.0, 1.0, 0.0, 4.0) != pytest.approx(info.gaussian_kl(0.0, 4.0, 0.0, 1.0))


def test_nlls_against_scipy(rng):
    x, m, v = rng.standard_normal(8), rng.standard_normal(8), rng.uniform(0.1, 2, 8)
    np.testing.assert_allclose(info.gaussian_nll(x, m, v), -stats.norm(m, np.sqrt(v)).logpdf(x), rtol=1e-13)
    y = (rng.random(8) < 0.5).astype(float)
    q = rng.uniform(0.01, 0.99, 8)
    np.testing.assert_allclose(info.bernoulli_nll(y, q), -stats.bernoulli(q).logpmf(y), rtol=1e-13)
    assert info.bernoulli_nll(np.array([1.0, 0.0]), np.array([1.0, 0.0])).tolist() == [0.0, 0.0]
    assert np.all(np.isinf(info.bernoulli_nll(np.array([1.0, 0.0]), np.array([0.0, 1.0]))))


# ------------------------------------------------------------------------------------ properties
def _prob_vectors(k, min_value=0.0):
    return hnp.arrays(np.float64, (3, k), elements=st.floats(min_value, 10.0)).filter(
        lambda a: np.all(a.sum(axis=-1) > 1e-3)).map(lambda a: a / a.sum(axis=-1, keepdims=True))


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 6), data=st.data())
def test_properties(k, data):
    p = data.draw(_prob_vectors(k))
    q = data.draw(_prob_vectors(k, min_value=1e-3))  # q > 0 everywhere: everything finite
    p_in, q_in = p.copy(), q.copy()
    h, ce, kl = info.entropy(p), info.cross_entropy(p, q), info.kl_divergence(p, q)
    assert np.all(kl >= -1e-12)                                     # Gibbs' inequality
    assert np.all(info.kl_divergence(p, p) == 0.0)                  # KL(p || p) = 0 exactly
    np.testing.assert_allclose(ce, h + kl, rtol=1e-10, atol=1e-12)  # H(p, q) = H(p) + KL(p || q)
    assert np.all(h >= 0) and np.all(h <= np.log(k) + 1e-12)        # 0 <= H <= log K
    np.testing.assert_array_equal(p, p_in)                          # inputs not mutated
    np.testing.assert_array_equal(q, q_in)


@settings(max_examples=60, deadline=None)
@given(mu1=st.floats(-5, 5), mu2=st.floats(-5, 5), v1=st.floats(1e-2, 10), v2=st.floats(1e-2, 10))
def test_gaussian_kl_properties(mu1, mu2, v1, v2):
    kl = info.gaussian_kl(mu1, v1, mu2, v2)
    assert kl >= -1e-12 and np.isfinite(kl)
    assert info.gaussian_kl(mu1, v1, mu1, v1) == 0.0


# ------------------------------------------------------------------------------------ bad input
def test_bad_input():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        info.entropy(np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        info.entropy(np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="sum to 1"):
        info.kl_divergence(p, np.array([0.2, 0.2]))
    with pytest.raises(ValueError, match="same shape"):
        info.kl_divergence(p, np.array([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="same shape"):
        info.cross_entropy(p, np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="real"):
        info.entropy(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="finite"):
        info.entropy(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="scalar"):
        info.entropy(1.0)
    with pytest.raises(ValueError, match="no outcomes"):
        info.entropy(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="positive variance"):
        info.gaussian_kl(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="positive variance"):
        info.gaussian_nll(0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="broadcast"):
        info.gaussian_kl(np.zeros(2), 1.0, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        info.gaussian_nll(np.zeros(2), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        info.bernoulli_nll(np.zeros(2), np.full(3, 0.5))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        info.bernoulli_nll(np.array([2.0]), np.array([0.5]))
    with pytest.raises(ValueError, match=r"q must lie in \[0, 1\]"):
        info.bernoulli_nll(np.array([1.0]), np.array([1.5]))


# ---------------------------------------------------------------------------- mutual information
def test_mutual_information_identities(rng):
    joint = rng.dirichlet(np.ones(12), size=5).reshape(5, 3, 4)
    mi = info.mutual_information(joint)
    r, c = joint.sum(axis=-1), joint.sum(axis=-2)
    # I = H(X) + H(Y) - H(X, Y) = KL(joint || r c^T), computed independently of the package's formula
    h = stats.entropy(r, axis=-1) + stats.entropy(c, axis=-1) - stats.entropy(joint.reshape(5, -1), axis=-1)
    np.testing.assert_allclose(mi, h, rtol=1e-12)
    prod = (r[:, :, None] * c[:, None, :]).reshape(5, -1)
    np.testing.assert_allclose(mi, stats.entropy(joint.reshape(5, -1), prod, axis=-1), rtol=1e-12)
    assert np.all(mi > 0)
    # symmetric in X and Y
    np.testing.assert_allclose(info.mutual_information(np.swapaxes(joint, -1, -2)), mi, rtol=1e-12)


def test_mutual_information_independent_and_deterministic(rng):
    r, c = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(5))
    assert info.mutual_information(np.outer(r, c)) == pytest.approx(0.0, abs=1e-15)
    # Y a function of X: I = H(Y); X uniform on {-1, 0, 1}, Y = X^2
    joint = np.array([[0.0, 1 / 3], [1 / 3, 0.0], [0.0, 1 / 3]])
    assert info.mutual_information(joint) == pytest.approx(np.log(3) - 2 / 3 * np.log(2), rel=1e-13)
    # X = Y uniform on 4 values: I = log 4
    assert info.mutual_information(np.eye(4) / 4) == pytest.approx(np.log(4), rel=1e-13)


def test_mutual_information_matches_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    x = rng.integers(0, 3, size=500)
    y = (x + rng.integers(0, 2, size=500)) % 4
    counts = np.zeros((3, 4))
    np.add.at(counts, (x, y), 1.0)
    assert info.mutual_information(counts / counts.sum()) == pytest.approx(metrics.mutual_info_score(x, y), rel=1e-12)


def test_mutual_information_bad_input():
    with pytest.raises(ValueError, match="two axes"):
        info.mutual_information(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        info.mutual_information(np.full((2, 2), 0.3))
    with pytest.raises(ValueError, match="non-negative"):
        info.mutual_information(np.array([[0.6, -0.1], [0.3, 0.2]]))
