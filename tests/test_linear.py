"""Tests of dlmath.layers.linear.

Oracles computed with explicit Python sums (independent of the vectorized code), hypothesis-driven gradient
checks with square weights (a dropped transpose fails), zero-size axes, dtypes, bad input, and PyTorch as an
optional oracle: every test that needs torch is named ``test_torch_*`` and skips through
``pytest.importorskip("torch")``.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import check_backward
from dlmath.layers.linear import linear_backward, linear_forward


def _loops(x, w, b, g):
    """out, grad_x, grad_w, grad_b by explicit sums over indices, math.fsum for each entry."""
    n_out, n_in = w.shape
    lead = x.shape[:-1]
    rows = list(itertools.product(*[range(s) for s in lead]))
    out = np.zeros(lead + (n_out,))
    gx = np.zeros(x.shape)
    for r in rows:
        for o in range(n_out):
            out[r + (o,)] = math.fsum(x[r + (i,)] * w[o, i] for i in range(n_in)) + (b[o] if b is not None else 0.0)
        for i in range(n_in):
            gx[r + (i,)] = math.fsum(g[r + (o,)] * w[o, i] for o in range(n_out))
    gw = np.array([[math.fsum(g[r + (o,)] * x[r + (i,)] for r in rows) for i in range(n_in)] for o in range(n_out)])
    gb = np.array([math.fsum(g[r + (o,)] for r in rows) for o in range(n_out)]) if b is not None else None
    return out, gx, gw.reshape(n_out, n_in), gb


# ------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("x_shape,w_shape", [((5, 3), (4, 3)), ((2, 4, 3), (3, 3)), ((3,), (2, 3)),
                                             ((2, 1, 3, 2), (2, 2)), ((4, 1), (3, 1))])
@pytest.mark.parametrize("with_bias", [True, False])
def test_matches_explicit_sums(rng, x_shape, w_shape, with_bias):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) + 0.5 if with_bias else None
    out, cache = linear_forward(x, w, b)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = linear_backward(g, cache)
    e_out, e_gx, e_gw, e_gb = _loops(x, w, b, g)
    np.testing.assert_allclose(out, e_out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gx, e_gx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gw, e_gw, rtol=1e-12, atol=1e-14)
    if with_bias:
        np.testing.assert_allclose(gb, e_gb, rtol=1e-12, atol=1e-14)
    else:
        assert gb is None


def test_bias_gradient_is_sum_over_batch(rng):
    """db = dZ^T 1: a sum over the batch (and over every leading axis), not a mean."""
    x = rng.standard_normal((2, 7, 3))
    w, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    out, cache = linear_forward(x, w, b)
    g = rng.standard_normal(out.shape)
    _, _, gb = linear_backward(g, cache)
    np.testing.assert_allclose(gb, [math.fsum(g[..., o].ravel()) for o in range(3)], rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------ gradient checks
@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=3), n=st.integers(1, 4),
       square=st.booleans(), with_bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gradcheck_hypothesis(lead, n, square, with_bias, seed):
    """Square weights (out = in), so that a dropped or misplaced transpose keeps the shapes and fails."""
    r = np.random.default_rng(seed)
    n_out = n if square else n + 1
    x = r.standard_normal(tuple(lead) + (n,))
    w = r.standard_normal((n_out, n))
    if with_bias:
        errors = check_backward(linear_forward, linear_backward, [x, w, r.standard_normal(n_out) + 0.5], r)
    else:
        errors = check_backward(lambda x_, w_: linear_forward(x_, w_), lambda g, c: linear_backward(g, c)[:2],
                                [x, w], r)
    assert max(errors) < 1e-7, errors


def test_gradcheck_square_batch(rng):
    """x (3, 3) and W (3, 3): every transpose mistake keeps the shapes."""
    x, w, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    assert max(check_backward(linear_forward, linear_backward, [x, w, b], rng)) < 1e-7


# ------------------------------------------------------------------------------------ zero-size axes
@pytest.mark.parametrize("x_shape,w_shape", [((0, 3), (4, 3)), ((5, 0), (4, 0)), ((5, 3), (0, 3)),
                                             ((2, 0, 3), (4, 3)), ((0,), (2, 0)), ((0, 0), (0, 0))])
def test_zero_size_axes(rng, x_shape, w_shape):
    """As F.linear: empty outputs, zero gradients where a sum is empty, bias gradient summed over the batch."""
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out, cache = linear_forward(x, w, b)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = linear_backward(g, cache)
    e_out, e_gx, e_gw, e_gb = _loops(x, w, b, g)
    assert out.shape == x_shape[:-1] + (w_shape[0],)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    for got, expected in [(out, e_out), (gx, e_gx), (gw, e_gw), (gb, e_gb)]:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=30, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=3), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_shapes_and_inputs_not_mutated(lead, n_in, n_out, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(tuple(lead) + (n_in,))
    w = r.standard_normal((n_out, n_in))
    b = r.standard_normal(n_out)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = linear_forward(x, w, b)
    assert out.shape == tuple(lead) + (n_out,)
    g = r.standard_normal(out.shape)
    g_copy = g.copy()
    gx, gw, gb = linear_backward(g, cache)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    assert not np.shares_memory(gb, g)
    for a, c in zip((x, w, b, g), copies + [g_copy]):
        np.testing.assert_array_equal(a, c)


def test_finite_at_large_inputs():
    x = np.full((2, 3), 1e4)
    w = np.full((2, 3), 1e4)
    out, cache = linear_forward(x, w, np.ones(2))
    assert np.all(np.isfinite(out))
    assert all(np.all(np.isfinite(gr)) for gr in linear_backward(np.ones_like(out), cache))


def test_float32_stays_float32(rng):
    x, w, b = (a.astype(np.float32) for a in (rng.standard_normal((4, 3)), rng.standard_normal((2, 3)),
                                               rng.standard_normal(2)))
    out, cache = linear_forward(x, w, b)
    assert out.dtype == np.float32
    grads = linear_backward(np.ones((4, 2), np.float64), cache)  # a float64 grad_out is converted (as torch)
    assert all(gr.dtype == np.float32 for gr in grads)


# ------------------------------------------------------------------------------------ bad input
def test_value_errors(rng):
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    with pytest.raises(ValueError, match=r"^x must have shape \(\*, in\) with in = weight.shape\[1\] = 3, got x "
                                         r"of shape \(5, 2\) and weight of shape \(4, 3\)"):
        linear_forward(rng.standard_normal((5, 2)), w, b)
    with pytest.raises(ValueError, match=r"^x must have shape \(\*, in\)"):
        linear_forward(np.float64(1.0), rng.standard_normal((4, 1)))
    with pytest.raises(ValueError, match=r"^weight must have shape \(out, in\), got \(4, 3, 1\)"):
        linear_forward(x, rng.standard_normal((4, 3, 1)), b)
    with pytest.raises(ValueError, match=r"^weight must have shape \(out, in\), got \(3,\)"):
        linear_forward(x, rng.standard_normal(3))
    with pytest.raises(ValueError, match=r"^bias must have shape \(out,\) = \(4,\), got shape \(3,\)"):
        linear_forward(x, w, rng.standard_normal(3))
    with pytest.raises(ValueError, match=r"^bias must have shape \(out,\) = \(4,\), got shape \(\)"):
        linear_forward(x, w, np.float64(1.0))
    with pytest.raises(ValueError, match="^x must be a floating-point array, got dtype int64"):
        linear_forward(np.ones((5, 3), dtype=np.int64), w, b)
    with pytest.raises(ValueError, match="^weight must be a floating-point array"):
        linear_forward(x, np.ones((4, 3), dtype=np.int64), b)
    with pytest.raises(ValueError, match="^bias must be a floating-point array"):
        linear_forward(x, w, np.ones(4, dtype=np.int64))
    out, cache = linear_forward(x, w, b)
    with pytest.raises(ValueError, match=r"^grad_out must have the output's shape \(5, 4\), got shape \(4, 5\)"):
        linear_backward(rng.standard_normal((4, 5)), cache)
    with pytest.raises(ValueError, match="^grad_out must be a floating-point array, got dtype int64"):
        linear_backward(np.ones((5, 4), dtype=np.int64), cache)


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
def test_mixed_dtypes_raise(rng, which):
    """float32 with float64 raises, as F.linear does ('expected ... to have the same dtype')."""
    arrays = {"x": rng.standard_normal((5, 3)), "weight": rng.standard_normal((4, 3)), "bias": rng.standard_normal(4)}
    arrays[which] = arrays[which].astype(np.float32)
    with pytest.raises(ValueError, match=r"^x, weight and bias must have one dtype, got x float(32|64), "
                                         r"weight float(32|64), bias float(32|64)"):
        linear_forward(arrays["x"], arrays["weight"], arrays["bias"])
    if which != "bias":
        with pytest.raises(ValueError, match="^x, weight and bias must have one dtype"):
            linear_forward(arrays["x"], arrays["weight"])


# ------------------------------------------------------------------------------------ PyTorch oracle
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,), (0, 3), (5, 0), (2, 0, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_torch_agrees(rng, x_shape, with_bias):
    torch = pytest.importorskip("torch")
    n_in = x_shape[-1]
    x, w = rng.standard_normal(x_shape), rng.standard_normal((4, n_in))
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


def test_torch_mixed_dtypes_raise_too():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.functional.linear(torch.ones(2, 3, dtype=torch.float32), torch.ones(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="^x, weight and bias must have one dtype"):
        linear_forward(np.ones((2, 3), np.float32), np.ones((4, 3), np.float64))
