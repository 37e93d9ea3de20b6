"""Tests of dlmath.init: fans and gains exactly against torch.nn.init, bounds exactly, variances by a
statistical test over a large sample (tolerance: 6 standard errors of the sample variance), orthogonality
to 1e-12, the sign-corrected QR against an independent construction and against torch.linalg.qr,
validation, hypothesis properties."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath import init as I

SHAPES = [(3, 5), (5, 3), (7, 7), (1, 9), (4, 3, 3), (8, 4, 3, 3), (6, 2, 5, 1), (16, 1, 3, 3), (2, 3, 2, 2, 2)]
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
BIG = (1000, 1000)  # 10^6 entries for the statistical tests


def var_within(sample, var, fourth_moment, k=6.0):
    """|sample variance about 0 - var| within k standard errors; E[x^2] estimated by the mean of x^2,
    whose standard error is sqrt((E[x^4] - var^2) / n)."""
    x = np.ravel(sample)
    se = math.sqrt((fourth_moment - var**2) / x.size)
    return abs(np.mean(x**2) - var) <= k * se


# ------------------------------------------------------------------------------------- gain and fans
@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert I.fan_in_and_fan_out(shape) == tuple(expected)


def test_fans_by_hand():
    assert I.fan_in_and_fan_out((10, 4)) == (4, 10)                       # linear (out, in)
    assert I.fan_in_and_fan_out((32, 16, 3, 3)) == (144, 288)             # conv: 16*9, 32*9
    assert I.fan_in_and_fan_out((32, 16 // 4, 3, 3)) == (36, 288)         # groups = 4: fan_out not divided


def test_grouped_conv_fans_match_torch_module():
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(16, 32, 3, groups=4)
    expected = torch.nn.init._calculate_fan_in_and_fan_out(conv.weight)
    assert I.fan_in_and_fan_out(tuple(conv.weight.shape)) == tuple(expected) == (36, 288)


@pytest.mark.parametrize("name", NONLINEARITIES)
def test_gain_matches_torch(name):
    torch = pytest.importorskip("torch")
    assert I.calculate_gain(name) == torch.nn.init.calculate_gain(name)


@pytest.mark.parametrize("slope", [0, 0.01, 0.2, 1, math.sqrt(5), -0.3, 3])
def test_leaky_gain_matches_torch(slope):
    torch = pytest.importorskip("torch")
    assert I.calculate_gain("leaky_relu", slope) == torch.nn.init.calculate_gain("leaky_relu", slope)


def test_gain_values_by_hand():
    assert I.calculate_gain("relu") == math.sqrt(2) and I.calculate_gain("tanh") == 5 / 3
    assert I.calculate_gain("selu") == 0.75 and I.calculate_gain("sigmoid") == 1
    assert math.isclose(I.calculate_gain("leaky_relu", math.sqrt(5)), math.sqrt(1 / 3), rel_tol=1e-15)


# ------------------------------------------------------------------------------------------ bounds
def xavier_bound(shape, gain=1.0):
    fi, fo = I.fan_in_and_fan_out(shape)  # checked against torch above
    return gain * math.sqrt(6 / (fi + fo))


@pytest.mark.parametrize("shape", [(300, 200), (64, 3, 5, 5)])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform_bound(shape, gain):
    w = I.xavier_uniform(shape, gain=gain, rng=np.random.default_rng(0))
    a = xavier_bound(shape, gain)
    assert w.shape == shape and w.dtype == np.float64
    assert np.abs(w).max() <= a and np.abs(w).max() >= 0.99 * a   # fills [-a, a] up to its edges
    assert w.min() < -0.99 * a


def test_xavier_uniform_bound_against_torch():
    torch = pytest.importorskip("torch")
    shape = (300, 200)
    t = torch.nn.init.xavier_uniform_(torch.empty(shape, dtype=torch.float64), gain=2.0)
    a = xavier_bound(shape, 2.0)
    assert t.abs().max().item() <= a and t.abs().max().item() > 0.99 * a


@pytest.mark.parametrize("a", [0, math.sqrt(5), 0.2])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound(a, mode):
    shape = (200, 30, 3, 3)
    w = I.kaiming_uniform(shape, a=a, mode=mode, rng=np.random.default_rng(1))
    fi, fo = I.fan_in_and_fan_out(shape)
    bound = math.sqrt(3) * I.calculate_gain("leaky_relu", a) / math.sqrt(fi if mode == "fan_in" else fo)
    assert np.abs(w).max() <= bound and np.abs(w).max() >= 0.99 * bound


def test_torch_linear_default_is_uniform_one_over_sqrt_fan_in():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lin = torch.nn.Linear(400, 300, dtype=torch.float64)
    bound = 1 / math.sqrt(400)
    ours = I.kaiming_uniform((300, 400), a=math.sqrt(5), rng=np.random.default_rng(0))
    for w in (lin.weight.detach().numpy(), ours):
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.995 * bound
    assert math.isclose(math.sqrt(3) * I.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(400), bound,
                        rel_tol=1e-15)


def test_uniform_bounds():
    w = I.uniform((500, 500), a=-0.3, b=0.7, rng=np.random.default_rng(2))
    assert w.min() >= -0.3 and w.max() < 0.7 and w.min() < -0.299 and w.max() > 0.699


# --------------------------------------------------------------------------------------- variances
def test_xavier_variances():
    fi, fo = I.fan_in_and_fan_out(BIG)
    var = 2 / (fi + fo)
    a = math.sqrt(3 * var)
    assert var_within(I.xavier_uniform(BIG, rng=np.random.default_rng(3)), var, a**4 / 5)
    assert var_within(I.xavier_normal(BIG, rng=np.random.default_rng(4)), var, 3 * var**2)


@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)),
                                            ("tanh", 0), ("linear", 0)])
def test_kaiming_variances(nonlinearity, a):
    shape = (250, 1000 // 4, 2, 2)  # 10^6 entries, fan_in = 1000, fan_out = 1000
    for mode in ("fan_in", "fan_out"):
        fan = I.fan_in_and_fan_out(shape)[0 if mode == "fan_in" else 1]
        var = I.calculate_gain(nonlinearity, a) ** 2 / fan
        u = I.kaiming_uniform(shape, a=a, mode=mode, nonlinearity=nonlinearity, rng=np.random.default_rng(5))
        n = I.kaiming_normal(shape, a=a, mode=mode, nonlinearity=nonlinearity, rng=np.random.default_rng(6))
        assert var_within(u, var, (3 * var) ** 2 / 5)
        assert var_within(n, var, 3 * var**2)


def test_kaiming_variance_agrees_with_torch_sample():
    """The torch sample's variance is within the same statistical tolerance of our formula."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    shape = (1000, 250, 2, 2)
    fi, fo = I.fan_in_and_fan_out(shape)
    for fn_t, fn_n, var in [(torch.nn.init.kaiming_normal_, I.kaiming_normal, 2 / fi),
                            (torch.nn.init.kaiming_uniform_, I.kaiming_uniform, 2 / fi)]:
        t = fn_t(torch.empty(shape, dtype=torch.float64), nonlinearity="relu").numpy()
        n = fn_n(shape, nonlinearity="relu", rng=np.random.default_rng(7))
        m4 = 3 * var**2 if fn_n is I.kaiming_normal else (3 * var) ** 2 / 5
        assert var_within(t, var, m4) and var_within(n, var, m4)
    t = torch.nn.init.xavier_normal_(torch.empty(shape, dtype=torch.float64), gain=5 / 3).numpy()
    var = (5 / 3) ** 2 * 2 / (fi + fo)
    assert var_within(t, var, 3 * var**2)
    assert var_within(I.xavier_normal(shape, gain=5 / 3, rng=np.random.default_rng(8)), var, 3 * var**2)


def test_normal_mean_and_variance():
    w = I.normal(BIG, mean=0.5, std=2.0, rng=np.random.default_rng(9))
    assert abs(w.mean() - 0.5) < 6 * 2.0 / 1000
    assert var_within(w - 0.5, 4.0, 3 * 16.0)


def test_constants():
    assert np.array_equal(I.zeros((2, 3)), np.zeros((2, 3))) and np.array_equal(I.ones((4,)), np.ones(4))
    assert np.array_equal(I.constant((2, 2), 0.25), np.full((2, 2), 0.25))


# --------------------------------------------------------------------------------------- orthogonal
@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9), (8, 2, 3, 3), (3, 5, 2)])
@pytest.mark.parametrize("gain", [1, 1.5])
def test_orthogonal_rows_or_columns_orthonormal(shape, gain):
    q = I.orthogonal(shape, gain=gain, rng=np.random.default_rng(10)).reshape(shape[0], -1) / gain
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    assert np.max(np.abs(gram - np.eye(min(rows, cols)))) < 1e-12
    s = np.linalg.svd(q, compute_uv=False)
    assert np.max(np.abs(s - 1)) < 1e-12


@pytest.mark.parametrize("shape", [(7, 7), (9, 4), (4, 9)])
def test_orthogonal_is_the_qr_with_positive_diagonal(shape):
    """Independent construction: Q = A R^{-1} with R^T R = A^T A the Cholesky factor (diag R > 0)."""
    q = I.orthogonal(shape, rng=np.random.default_rng(11))
    a = np.random.default_rng(11).standard_normal(shape)
    tall = a.T if shape[0] < shape[1] else a
    r = np.linalg.cholesky(tall.T @ tall).T                # upper triangular with positive diagonal
    q_ref = np.linalg.solve(r.T, tall.T).T                 # tall @ inv(r)
    q_ref = q_ref.T if shape[0] < shape[1] else q_ref
    assert np.allclose(q, q_ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(7, 7), (9, 4), (4, 9)])
def test_orthogonal_matches_torch_qr_on_the_same_gaussian(shape):
    torch = pytest.importorskip("torch")
    q = I.orthogonal(shape, rng=np.random.default_rng(12))
    a = torch.tensor(np.random.default_rng(12).standard_normal(shape), dtype=torch.float64)
    # torch.nn.init.orthogonal_'s steps, on our Gaussian matrix
    rows, cols = shape
    if rows < cols:
        a = a.t()
    qt, rt = torch.linalg.qr(a)
    qt = qt * torch.diag(rt, 0).sign()
    if rows < cols:
        qt = qt.t()
    assert np.max(np.abs(q - qt.numpy())) < 1e-12


def test_orthogonal_is_haar_first_entry_symmetric():
    """Without the sign correction LAPACK's Q has a biased first column; with it, Q_11 has mean 0 and
    E[Q_11^2] = 1/n (Haar)."""
    n, draws = 3, 4000
    rng = np.random.default_rng(13)
    q11 = np.array([I.orthogonal((n, n), rng=rng)[0, 0] for _ in range(draws)])
    # Q_11 of a Haar matrix is distributed as x_1 / ||x|| for x ~ N(0, I_n): mean 0, E[Q_11^2] = 1/n
    assert abs(q11.mean()) < 6 * math.sqrt(1 / n / draws)
    assert abs(np.mean(q11**2) - 1 / n) < 6 * math.sqrt((3 / (n * (n + 2)) - 1 / n**2) / draws)


def test_torch_orthogonal_singular_values():
    torch = pytest.importorskip("torch")
    t = torch.nn.init.orthogonal_(torch.empty(5, 8, dtype=torch.float64), gain=2.0)
    s = np.linalg.svd(t.numpy(), compute_uv=False)
    q = I.orthogonal((5, 8), gain=2.0, rng=np.random.default_rng(0))
    assert np.max(np.abs(s - 2)) < 1e-12 and np.max(np.abs(np.linalg.svd(q, compute_uv=False) - 2)) < 1e-12


# ---------------------------------------------------------------------------------- empty and errors
def test_empty_shapes_like_torch():
    torch = pytest.importorskip("torch")
    for fn_n, fn_t in [(I.kaiming_uniform, torch.nn.init.kaiming_uniform_),
                       (I.orthogonal, torch.nn.init.orthogonal_)]:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = fn_t(torch.empty(0, 3, dtype=torch.float64))
        assert fn_n((0, 3), rng=np.random.default_rng(0)).shape == tuple(t.shape)


@pytest.mark.parametrize("call", [
    lambda: I.fan_in_and_fan_out((5,)),
    lambda: I.fan_in_and_fan_out((3, -1)),
    lambda: I.fan_in_and_fan_out((3, 2.5)),
    lambda: I.fan_in_and_fan_out("ab"),
    lambda: I.xavier_uniform((5,), rng=np.random.default_rng(0)),
    lambda: I.xavier_normal((3, 4), gain=float("nan"), rng=np.random.default_rng(0)),
    lambda: I.xavier_uniform((3, 4), rng=0),
    lambda: I.kaiming_uniform((3, 4), mode="fan_avg", rng=np.random.default_rng(0)),
    lambda: I.kaiming_normal((3, 4), nonlinearity="swish", rng=np.random.default_rng(0)),
    lambda: I.kaiming_normal((3, 4), a=True, rng=np.random.default_rng(0)),
    lambda: I.orthogonal((4,), rng=np.random.default_rng(0)),
    lambda: I.uniform((2, 2), a="x", rng=np.random.default_rng(0)),
    lambda: I.normal((2, 2), rng=None),
    lambda: I.constant((2, 2), None),
    lambda: I.calculate_gain("leaky_relu", "0.1"),
    lambda: I.calculate_gain("softmax"),
])
def test_value_errors(call):
    with pytest.raises(ValueError):
        call()


def test_torch_raises_where_we_do():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(5))
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("softmax")


# ------------------------------------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(0, 2**31))
def test_properties(shape, seed):
    shape = tuple(shape)
    fi, fo = I.fan_in_and_fan_out(shape)
    assert fi * shape[0] == fo * shape[1]                         # both count the same kernel size
    for fn in (I.xavier_uniform, I.xavier_normal, I.kaiming_uniform, I.kaiming_normal, I.orthogonal):
        w1 = fn(shape, rng=np.random.default_rng(seed))
        w2 = fn(shape, rng=np.random.default_rng(seed))
        assert w1.shape == shape and np.array_equal(w1, w2) and np.all(np.isfinite(w1))
    assert np.abs(I.xavier_uniform(shape, rng=np.random.default_rng(seed))).max() <= math.sqrt(6 / (fi + fo))
    q = I.orthogonal(shape, rng=np.random.default_rng(seed)).reshape(shape[0], -1)
    assert np.allclose(np.linalg.svd(q, compute_uv=False), 1.0, rtol=0, atol=1e-12)
