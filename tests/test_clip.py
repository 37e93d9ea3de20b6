"""Tests of dlmath.clip against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (float64), closed forms
derived by hand, properties (only scales down, direction kept by the norm, not by the value), inputs
not mutated, validation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath import clip as C

SHAPES = [(4, 3), (5,), (2, 3, 2), (1,)]


def make_grads(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s) for s in SHAPES]


def torch_clip_norm(grads, max_norm, norm_type, **kw):
    torch = pytest.importorskip("torch")
    ps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type, **kw)
    return [p.grad.numpy() for p in ps], float(total)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 5.0, 100.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, seed):
    grads = make_grads(seed)
    ours, total = C.clip_grad_norm(grads, max_norm, norm_type=norm_type)
    ref, total_ref = torch_clip_norm(grads, max_norm, norm_type)
    assert math.isclose(total, total_ref, rel_tol=1e-12)
    for a, b in zip(ours, ref):
        assert np.allclose(a, b, rtol=1e-12, atol=0)


def test_total_norm_is_the_norm_of_everything():
    grads = make_grads(2)
    flat = np.concatenate([g.ravel() for g in grads])
    for p in (1.0, 2.0, 3.0):
        assert math.isclose(C.clip_grad_norm(grads, 1e9, norm_type=p)[1], np.sum(np.abs(flat) ** p) ** (1 / p),
                            rel_tol=1e-13)
    assert C.clip_grad_norm(grads, 1e9, norm_type=math.inf)[1] == np.abs(flat).max()


def test_eps_in_the_scale():
    """At max_norm = total_norm the gradients are still scaled, by total / (total + 1e-6) (as torch)."""
    grads = [np.array([3.0, 4.0])]  # norm 5
    out, total = C.clip_grad_norm(grads, 5.0)
    assert total == 5.0
    assert np.allclose(out[0], grads[0] * 5.0 / (5.0 + 1e-6), rtol=1e-15, atol=0)
    assert not np.array_equal(out[0], grads[0])
    ref, _ = torch_clip_norm(grads, 5.0, 2.0)
    assert np.allclose(out[0], ref[0], rtol=1e-15, atol=0)


def test_only_scales_down():
    grads = make_grads(3, scale=0.01)
    out, total = C.clip_grad_norm(grads, 10.0)
    assert total < 10.0
    for a, b in zip(out, grads):
        assert np.array_equal(a, b)


def test_nonfinite_like_torch():
    torch = pytest.importorskip("torch")
    for bad in (math.inf, math.nan):
        grads = [np.array([1.0, bad]), np.array([2.0])]
        ours, total = C.clip_grad_norm(grads, 1.0)
        ref, total_ref = torch_clip_norm(grads, 1.0, 2.0)
        assert (math.isnan(total) and math.isnan(total_ref)) or total == total_ref
        for a, b in zip(ours, ref):
            assert np.allclose(a, b, rtol=0, atol=0, equal_nan=True)
        with pytest.raises(RuntimeError):
            C.clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
        with pytest.raises(RuntimeError):
            torch_clip_norm(grads, 1.0, 2.0, error_if_nonfinite=True)


def test_empty_list_like_torch():
    torch = pytest.importorskip("torch")
    assert C.clip_grad_norm([], 1.0) == ([], 0.0)
    assert float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0.0


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = pytest.importorskip("torch")
    grads = make_grads(4)
    ps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    torch.nn.utils.clip_grad_value_(ps, clip_value)
    for a, p in zip(C.clip_grad_value(grads, clip_value), ps):
        assert np.array_equal(a, p.grad.numpy())


def test_value_clipping_changes_direction_norm_clipping_does_not():
    g = [np.array([10.0, 0.1])]
    by_value = C.clip_grad_value(g, 1.0)[0]
    by_norm = C.clip_grad_norm(g, 1.0)[0][0]
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)
    assert np.array_equal(by_value, [1.0, 0.1]) and cos(by_value, g[0]) < 0.996
    assert math.isclose(cos(by_norm, g[0]), 1.0, rel_tol=1e-15)


def test_inputs_not_mutated():
    grads = make_grads(5, scale=10.0)
    copies = [g.copy() for g in grads]
    C.clip_grad_norm(grads, 1.0)
    C.clip_grad_value(grads, 0.5)
    for a, b in zip(grads, copies):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("call", [
    lambda: C.clip_grad_norm([np.array([1, 2])], 1.0),
    lambda: C.clip_grad_norm([np.ones(2)], -1.0),
    lambda: C.clip_grad_norm([np.ones(2)], 1.0, norm_type=0),
    lambda: C.clip_grad_norm([np.ones(2)], 1.0, norm_type=-2),
    lambda: C.clip_grad_norm([np.ones(2)], "1"),
    lambda: C.clip_grad_value([np.ones(2)], -0.5),
    lambda: C.clip_grad_value([np.ones(2)], float("nan")),
    lambda: C.clip_grad_value([np.array([True])], 1.0),
])
def test_value_errors(call):
    with pytest.raises(ValueError):
        call()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3),
       st.sampled_from([1.0, 2.0, 3.0, math.inf]))
def test_properties(seed, scale, max_norm, p):
    grads = make_grads(seed, scale)
    out, total = C.clip_grad_norm(grads, max_norm, norm_type=p)
    after = C.clip_grad_norm(out, 1e300, norm_type=p)[1]
    assert after <= max(max_norm, total) * (1 + 1e-12)
    assert after <= total * (1 + 1e-12)                            # only scales down
    factor = out[0].ravel()[0] / grads[0].ravel()[0]
    for a, b in zip(out, grads):
        assert np.allclose(a, factor * b, rtol=1e-12, atol=0)       # one factor: direction kept
    v = C.clip_grad_value(grads, max_norm)
    assert all(np.abs(a).max() <= max_norm for a in v)
