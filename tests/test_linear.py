"""Tests of dlmath.layers.linear: gradient checks, PyTorch float64 oracle, properties, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import check_backward
from dlmath.layers.linear import linear_backward, linear_forward


# ------------------------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_gradcheck_with_bias(rng, x_shape):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((4, 3))
    b = rng.standard_normal(4) + 0.5
    errors = check_backward(linear_forward, linear_backward, [x, w, b], rng)
    assert max(errors) < 1e-7, errors


def test_gradcheck_without_bias(rng):
    x = rng.standard_normal((6, 2))
    w = rng.standard_normal((5, 2))

    def fwd(x_, w_):
        return linear_forward(x_, w_, None)

    def bwd(g, cache):
        gx, gw, gb = linear_backward(g, cache)
        assert gb is None
        return gx, gw

    assert max(check_backward(fwd, bwd, [x, w], rng)) < 1e-7


def test_bias_gradient_is_sum_over_batch(rng):
    """db = dZ^T 1: a sum over the batch (and over every leading axis), not a mean."""
    x = rng.standard_normal((2, 7, 3))
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(4)
    out, cache = linear_forward(x, w, b)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = linear_backward(g, cache)
    np.testing.assert_allclose(gb, g.sum(axis=(0, 1)), rtol=1e-12)
    np.testing.assert_allclose(gw, np.einsum("abo,abi->oi", g, x), rtol=1e-12)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape


# ------------------------------------------------------------------------------------ PyTorch oracle
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_torch_oracle(rng, x_shape, with_bias):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((4, 3))
    b = rng.standard_normal(4) if with_bias else None
    out, cache = linear_forward(x, w, b)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = linear_backward(g, cache)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if with_bias else None
    tout = torch.nn.functional.linear(tx, tw, tb)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    if with_bias:
        np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert gb is None


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=30, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=3), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_shapes_and_inputs_not_mutated(lead, n_in, n_out, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(tuple(lead) + (n_in,))
    w = r.standard_normal((n_out, n_in))
    b = r.standard_normal(n_out)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = linear_forward(x, w, b)
    assert out.shape == tuple(lead) + (n_out,)
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-12, atol=1e-12)
    g = r.standard_normal(out.shape)
    g_copy = g.copy()
    gx, gw, gb = linear_backward(g, cache)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    for a, c in zip((x, w, b, g), copies + [g_copy]):
        np.testing.assert_array_equal(a, c)


def test_finite_at_large_inputs():
    x = np.full((2, 3), 1e4)
    w = np.full((2, 3), 1e4)
    out, cache = linear_forward(x, w, np.ones(2))
    assert np.all(np.isfinite(out))
    assert all(np.all(np.isfinite(gr)) for gr in linear_backward(np.ones_like(out), cache))


# ------------------------------------------------------------------------------------ bad input
def test_value_errors(rng):
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, in\).*\(5, 2\)"):
        linear_forward(rng.standard_normal((5, 2)), w, b)
    with pytest.raises(ValueError, match=r"weight must have shape \(out, in\)"):
        linear_forward(x, rng.standard_normal((4, 3, 1)), b)
    with pytest.raises(ValueError, match=r"bias must have shape \(out,\) = \(4,\), got shape \(3,\)"):
        linear_forward(x, w, rng.standard_normal(3))
    with pytest.raises(ValueError, match="x must be a floating-point array"):
        linear_forward(np.ones((5, 3), dtype=int), w, b)
    with pytest.raises(ValueError, match="weight must be a floating-point array"):
        linear_forward(x, np.ones((4, 3), dtype=int), b)
    out, cache = linear_forward(x, w, b)
    with pytest.raises(ValueError, match=r"grad_out must have the output's shape \(5, 4\)"):
        linear_backward(rng.standard_normal((4, 5)), cache)
