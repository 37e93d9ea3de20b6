"""Tests of dlmath.layers.dropout.

Statistics of the mask over large samples (the tolerances are stated as multiples of the standard error),
the backward pass through the forward's own mask (exact), the identity at evaluation, the edge cases p = 0
and p = 1, gradient checks, inputs not mutated, bad input, and PyTorch as an optional oracle: its masks are
random, so the tests compare the deterministic properties (support of the output, the scale 1/(1 - p), the
p = 0 / p = 1 / eval behaviour). Every test that needs torch is named ``test_torch_*`` and skips through
``pytest.importorskip("torch")``.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.layers.dropout import dropout_backward, dropout_forward


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_of_output_is_x(p):
    """E[out] = x; the sample mean of 200 000 draws is within 5 standard errors sqrt(x^2 p/(1-p)/n)."""
    rng = np.random.default_rng(1)
    x = np.array([1.5, -0.7, 3.0])
    n = 200_000
    out, _ = dropout_forward(np.broadcast_to(x, (n, 3)).copy(), p=p, rng=rng)  # (n, 3)
    se = np.sqrt(x ** 2 * p / (1 - p) / n)
    assert np.all(np.abs(out.mean(axis=0) - x) < 5 * se)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_variance_of_output(p):
    """Var[out] = x^2 p / (1 - p): the sample variance within 2% (its relative standard error is < 0.5%)."""
    rng = np.random.default_rng(2)
    x = 2.0
    out, _ = dropout_forward(np.full(400_000, x), p=p, rng=rng)
    np.testing.assert_allclose(out.var(), x ** 2 * p / (1 - p), rtol=0.02)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_fraction_of_zeros_is_p(p):
    """The dropped fraction is p within 5 binomial standard errors sqrt(p(1-p)/n)."""
    rng = np.random.default_rng(3)
    n = 100_000
    out, _ = dropout_forward(np.ones(n), p=p, rng=rng)
    frac = np.mean(out == 0.0)
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out[out != 0.0], 1.0 / (1.0 - p), rtol=1e-15)  # kept entries scaled


def test_backward_uses_the_same_mask(rng):
    x = rng.standard_normal((6, 6)) + 3.0  # away from 0: a zero of out means a dropped entry
    out, cache = dropout_forward(x, p=0.4, rng=rng)
    g = rng.standard_normal((6, 6))
    gx = dropout_backward(g, cache)
    kept = out != 0.0
    np.testing.assert_array_equal(gx == 0.0, ~kept)  # dropped in the forward pass = no gradient
    np.testing.assert_array_equal(gx[kept], g[kept] * (1.0 / 0.6))  # the same scale 1/(1-p), exactly
    np.testing.assert_array_equal(out[kept], x[kept] * (1.0 / 0.6))


def test_reproducible_with_same_seed():
    x = np.arange(1.0, 50.0)
    a, _ = dropout_forward(x, p=0.3, rng=np.random.default_rng(7))
    b, _ = dropout_forward(x, p=0.3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), p=st.sampled_from([0.0, 0.2, 0.5, 0.7]), seed=st.integers(0, 2**31 - 1))
def test_gradient_check(n, p, seed):
    """Central differences with the mask held fixed (a fresh Generator with the same seed per call)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n))
    g = rng.standard_normal((n, n))

    def fwd(x_):
        return dropout_forward(x_, p=p, rng=np.random.default_rng(seed + 1))

    out, cache = fwd(x)
    analytic = dropout_backward(g, cache)
    h = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric[i] = np.sum(g * (fwd(x + e)[0] - fwd(x - e)[0])) / (2 * h)
    err = np.max(np.abs(analytic - numeric)) / max(1.0, np.max(np.abs(analytic)))
    assert err < 1e-7


def test_eval_is_identity(rng):
    x = rng.standard_normal((3, 4))
    out, cache = dropout_forward(x, p=0.7, training=False, rng=rng)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    g = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(dropout_backward(g, cache), g)


def test_p_zero_is_identity_and_draws_nothing():
    x = np.linspace(-1, 1, 10)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out, cache = dropout_forward(x, p=0.0, rng=rng)
    np.testing.assert_array_equal(out, x)
    assert rng.bit_generator.state == state
    np.testing.assert_array_equal(dropout_backward(x, cache), x)


def test_p_one_gives_zeros(rng):
    x = rng.standard_normal((4, 5))
    out, cache = dropout_forward(x, p=1.0, rng=rng)
    np.testing.assert_array_equal(out, np.zeros_like(x))
    np.testing.assert_array_equal(dropout_backward(rng.standard_normal((4, 5)), cache), np.zeros_like(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(rng, dtype):
    x = rng.standard_normal(8).astype(dtype)
    out, cache = dropout_forward(x, p=0.5, rng=rng)
    assert out.dtype == dtype
    assert dropout_backward(np.ones(8, dtype=dtype), cache).dtype == dtype


def test_zero_size(rng):
    out, cache = dropout_forward(np.zeros((0, 3)), p=0.5, rng=rng)
    assert out.shape == (0, 3)
    assert dropout_backward(np.zeros((0, 3)), cache).shape == (0, 3)


def test_inputs_not_mutated(rng):
    x = rng.standard_normal((5, 5))
    g = rng.standard_normal((5, 5))
    x0, g0 = x.copy(), g.copy()
    for p, training in [(0.5, True), (0.0, True), (1.0, True), (0.5, False)]:
        out, cache = dropout_forward(x, p=p, training=training, rng=rng)
        gx = dropout_backward(g, cache)
        out[...] = 7.0
        gx[...] = 7.0
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_bad_p(rng, p):
    with pytest.raises(ValueError, match="p must be a number in"):
        dropout_forward(np.ones(3), p=p, rng=rng)


def test_bad_rng():
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        dropout_forward(np.ones(3), p=0.5, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        dropout_forward(np.ones(3), p=0.5, rng=0)


def test_bad_dtype(rng):
    with pytest.raises(ValueError, match="floating-point"):
        dropout_forward(np.ones(3, dtype=np.int64), p=0.5, rng=rng)


def test_bad_training(rng):
    with pytest.raises(ValueError, match="training must be a bool"):
        dropout_forward(np.ones(3), p=0.5, training="yes", rng=rng)


def test_bad_grad_shape(rng):
    _, cache = dropout_forward(np.ones((2, 3)), p=0.5, rng=rng)
    with pytest.raises(ValueError, match=r"output's shape \(2, 3\), got shape \(3, 2\)"):
        dropout_backward(np.ones((3, 2)), cache)


# ------------------------------------------------------------------------------------ PyTorch
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_torch_support_and_scale(p):
    """Torch's output entries are 0 or x/(1-p), as ours; for p = 0 and p = 1 the outputs are equal."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    x = rng.standard_normal((50, 40)) + 3.0  # nonzero entries
    ours, _ = dropout_forward(x, p=p, rng=rng)
    theirs = F.dropout(torch.from_numpy(x), p=p, training=True).numpy()
    if p in (0.0, 1.0):
        np.testing.assert_array_equal(ours, theirs)
        return
    for out in (ours, theirs):
        kept = out != 0.0
        np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    # both drop a fraction p: within 5 binomial standard errors each
    n = x.size
    for out in (ours, theirs):
        assert abs(np.mean(out == 0.0) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_torch_eval_and_backward():
    """Eval is the identity in both; torch's gradient is its own scaled mask, as ours is."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 6)) + 3.0
    ours, _ = dropout_forward(x, p=0.5, training=False, rng=rng)
    theirs = F.dropout(torch.from_numpy(x), p=0.5, training=False).numpy()
    np.testing.assert_array_equal(ours, theirs)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    out_t = F.dropout(xt, p=0.5, training=True)
    g = rng.standard_normal((6, 6))
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), g * (out_t.detach().numpy() / x), rtol=1e-12)
    # ours, with the mask torch drew: the same gradient
    cache = ((out_t.detach().numpy() / x), x.shape, x.dtype)
    np.testing.assert_allclose(dropout_backward(g, cache), xt.grad.numpy(), rtol=1e-12)


def test_torch_rejects_what_we_reject():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            F.dropout(torch.ones(3, dtype=torch.float64), p=p)
        with pytest.raises(ValueError):
            dropout_forward(np.ones(3), p=p, rng=np.random.default_rng(0))
