"""Tests of dlmath.layers.losses: gradient checks, PyTorch float64 oracle, properties, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlmath.gradcheck import check_backward, numerical_gradient, relative_error
from dlmath.layers import losses as L

REDUCTIONS = ["mean", "sum", "none"]


# ------------------------------------------------------------------------------------ gradient checks
def _check_loss_grad(forward, backward, x, target, reduction, rng):
    """Gradient of sum(g * loss) w.r.t. the input, g a random upstream gradient (a scalar for mean/sum)."""
    loss, cache = forward(x, target, reduction)
    g = rng.standard_normal(np.shape(loss)) + 0.5  # never all ones; shape () for mean/sum
    analytic = backward(g, cache)
    assert analytic.shape == x.shape
    num = numerical_gradient(lambda xi: np.sum(g * forward(xi, target, reduction)[0]), x.copy())
    return relative_error(analytic, num)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_gradcheck(rng, reduction):
    x = rng.standard_normal((3, 4, 2))
    y = rng.standard_normal((3, 4, 2))
    assert _check_loss_grad(L.mse_loss_forward, L.mse_loss_backward, x, y, reduction, rng) < 1e-7


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_gradcheck(rng, reduction):
    x = 3.0 * rng.standard_normal((5, 3))
    y = rng.random((5, 3))  # soft targets in [0, 1]
    err = _check_loss_grad(L.binary_cross_entropy_with_logits_forward, L.binary_cross_entropy_with_logits_backward,
                           x, y, reduction, rng)
    assert err < 1e-7


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradcheck(rng, reduction):
    x = 2.0 * rng.standard_normal((6, 4))
    t = rng.integers(0, 4, size=6)
    assert _check_loss_grad(L.cross_entropy_forward, L.cross_entropy_backward, x, t, reduction, rng) < 1e-7


def test_check_backward_helper_agrees(rng):
    """The package's generic checker (random upstream gradient of the per-sample losses) agrees too."""
    x = rng.standard_normal((4, 5))
    t = rng.integers(0, 5, size=4)
    errs = check_backward(lambda z: L.cross_entropy_forward(z, t, "none"), L.cross_entropy_backward, [x], rng)
    assert max(errs) < 1e-7


def test_cross_entropy_gradient_is_p_minus_onehot_over_n(rng):
    x = rng.standard_normal((7, 3))
    t = rng.integers(0, 3, size=7)
    _, cache = L.cross_entropy_forward(x, t)
    onehot = np.eye(3)[t]
    np.testing.assert_allclose(L.cross_entropy_backward(1.0, cache), (L.softmax(x) - onehot) / 7, rtol=1e-14, atol=1e-16)


# ----------------------------------------------------------------------------------- PyTorch oracle
def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse", "bce", "ce"])
def test_losses_match_torch(rng, name, reduction):
    torch, F = _torch()
    if name == "mse":
        x, y = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
        fwd, bwd, tfn, ty = L.mse_loss_forward, L.mse_loss_backward, F.mse_loss, torch.tensor(y)
    elif name == "bce":
        x, y = 4.0 * rng.standard_normal((5, 3)), rng.random((5, 3))
        fwd, bwd, tfn, ty = (L.binary_cross_entropy_with_logits_forward, L.binary_cross_entropy_with_logits_backward,
                             F.binary_cross_entropy_with_logits, torch.tensor(y))
    else:
        x, y = 3.0 * rng.standard_normal((6, 5)), rng.integers(0, 5, size=6)
        fwd, bwd, tfn, ty = L.cross_entropy_forward, L.cross_entropy_backward, F.cross_entropy, torch.tensor(y)
    loss, cache = fwd(x, y, reduction)
    g = rng.standard_normal(np.shape(loss))
    xt = torch.tensor(x, requires_grad=True)
    lt = tfn(xt, ty, reduction=reduction)
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bwd(g, cache), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_matches_torch(rng, axis):
    torch, F = _torch()
    x = 5.0 * rng.standard_normal((3, 4, 5))
    xt = torch.tensor(x)
    np.testing.assert_allclose(L.softmax(x, axis=axis), F.softmax(xt, dim=axis).numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(L.log_softmax(x, axis=axis), F.log_softmax(xt, dim=axis).numpy(), rtol=1e-12, atol=1e-12)
    for keepdims in (False, True):
        np.testing.assert_allclose(L.logsumexp(x, axis=axis, keepdims=keepdims),
                                   torch.logsumexp(xt, dim=axis, keepdim=keepdims).numpy(), rtol=1e-12, atol=1e-12)


def test_extreme_logits_match_torch():
    torch, F = _torch()
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [1000.0, 999.0, -5.0]])
    t = np.array([2, 0, 1])
    xt = torch.tensor(x, requires_grad=True)
    lt = F.cross_entropy(xt, torch.tensor(t), reduction="none")
    lt.backward(torch.tensor([0.3, -1.2, 0.7]))
    loss, cache = L.cross_entropy_forward(x, t, "none")
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12)
    g = np.array([0.3, -1.2, 0.7])
    np.testing.assert_allclose(L.cross_entropy_backward(g, cache), xt.grad.numpy(), rtol=1e-7, atol=1e-300)
    # Exact gradients, by shift invariance: softmax(x - max) computed with small numbers only. (torch's
    # gradient is off by about 4e-8 in the all -1e4 row; ours agrees with the exact one to 1e-12.)
    e = np.exp(np.array([[0.0, -1e4, -2e4], [0.0, 0.0, 0.0], [0.0, -1.0, -1005.0]]))
    exact = g[:, None] * (e / e.sum(axis=1, keepdims=True) - np.eye(3)[t])
    np.testing.assert_allclose(L.cross_entropy_backward(g, cache), exact, rtol=1e-12, atol=1e-300)
    z = np.array([1e4, -1e4, 1e4, -1e4, 40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.25])
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits_forward(z, y, "none")[0],
                               F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y), reduction="none").numpy(),
                               rtol=1e-12, atol=1e-300)


def test_logsumexp_infinities():
    torch, _ = _torch()
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [-np.inf, 2.0]])
    np.testing.assert_array_equal(L.logsumexp(x), torch.logsumexp(torch.tensor(x), dim=-1).numpy())


# ------------------------------------------------------------------------------- properties (hypothesis)
_logits = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
                     elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(_logits, st.floats(-1e3, 1e3, allow_nan=False))
def test_softmax_shift_invariance(x, c):
    np.testing.assert_allclose(L.softmax(x + c), L.softmax(x), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(_logits)
def test_softmax_rows_sum_to_one_and_finite(x):
    p = L.softmax(x)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(L.logsumexp(x)))
    assert np.all(np.isfinite(L.log_softmax(x))) and np.all(L.log_softmax(x) <= 0)
    np.testing.assert_allclose(np.exp(L.log_softmax(x)), p, rtol=1e-12, atol=1e-300)
    assert np.all(L.logsumexp(x) >= x.max(axis=-1))  # the largest term alone contributes exp(0) = 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.data())
def test_losses_finite_at_extreme_logits_and_inputs_not_mutated(n, c, data):
    x = data.draw(hnp.arrays(np.float64, (n, c), elements=st.sampled_from([-1e4, -30.0, 0.0, 30.0, 1e4])))
    t = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    y = data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0, 1)))
    x0, t0, y0 = x.copy(), t.copy(), y.copy()
    for fwd, bwd, target in [(L.cross_entropy_forward, L.cross_entropy_backward, t),
                             (L.binary_cross_entropy_with_logits_forward, L.binary_cross_entropy_with_logits_backward, y),
                             (L.mse_loss_forward, L.mse_loss_backward, y)]:
        for reduction in REDUCTIONS:
            loss, cache = fwd(x, target, reduction)
            g = np.full(np.shape(loss), 0.7)
            g0 = g.copy()
            grad = bwd(g, cache)
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
            np.testing.assert_array_equal(g, g0)
    for f in (L.softmax, L.log_softmax, L.logsumexp):
        assert np.all(np.isfinite(f(x)))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(y, y0)


def test_losses_are_nonnegative_and_ce_reductions_consistent(rng):
    x = rng.standard_normal((8, 3))
    t = rng.integers(0, 3, size=8)
    per = L.cross_entropy_forward(x, t, "none")[0]
    assert per.shape == (8,) and np.all(per > 0)
    np.testing.assert_allclose(L.cross_entropy_forward(x, t, "mean")[0], per.mean(), rtol=1e-14)
    np.testing.assert_allclose(L.cross_entropy_forward(x, t, "sum")[0], per.sum(), rtol=1e-14)


def test_float32_dtype_kept(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = rng.integers(0, 3, size=4)
    loss, cache = L.cross_entropy_forward(x, t)
    assert L.cross_entropy_backward(np.float32(1.0), cache).dtype == np.float32
    loss, cache = L.mse_loss_forward(x, x[::-1].copy())
    assert L.mse_loss_backward(1.0, cache).dtype == np.float32


# ------------------------------------------------------------------------------------------- bad input
def test_value_errors():
    x = np.zeros((3, 4))
    t = np.array([0, 1, 3])
    with pytest.raises(ValueError, match="class indices in"):
        L.cross_entropy_forward(x, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="class indices in"):
        L.cross_entropy_forward(x, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match="integer array"):
        L.cross_entropy_forward(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        L.cross_entropy_forward(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        L.cross_entropy_forward(np.zeros(4), np.array(1))
    with pytest.raises(ValueError, match="floating-point"):
        L.cross_entropy_forward(np.zeros((3, 4), dtype=int), t)
    with pytest.raises(ValueError, match="reduction"):
        L.cross_entropy_forward(x, t, reduction="batchmean")
    with pytest.raises(ValueError, match="target must have the input's shape"):
        L.mse_loss_forward(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="target must have the input's shape"):
        L.binary_cross_entropy_with_logits_forward(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="floating-point"):
        L.binary_cross_entropy_with_logits_forward(np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="reduction"):
        L.mse_loss_forward(np.zeros(3), np.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="floating-point"):
        L.softmax(np.arange(3))
    _, cache = L.mse_loss_forward(np.zeros(3), np.ones(3), "mean")
    with pytest.raises(ValueError, match=r"grad_out must have shape \(\)"):
        L.mse_loss_backward(np.ones(3), cache)
    _, cache = L.cross_entropy_forward(x, t, "none")
    with pytest.raises(ValueError, match=r"grad_out must have shape \(3,\)"):
        L.cross_entropy_backward(1.0, cache)
    _, cache = L.binary_cross_entropy_with_logits_forward(x, x, "none")
    with pytest.raises(ValueError, match=r"grad_out must have shape \(3, 4\)"):
        L.binary_cross_entropy_with_logits_backward(np.ones((4, 3)), cache)
