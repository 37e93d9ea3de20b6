"""Tests of dlmath.layers.attention.

Oracles by explicit loops over batch, heads and query rows (independent of the vectorized code), float64
central-difference gradient checks with random upstream gradients, hypothesis properties (causality,
permutation equivariance of keys and values, rows of weights summing to 1, finite outputs at inputs of
magnitude 1e4, inputs not mutated), fully masked rows, bad input, and PyTorch as an optional oracle: every
test that needs torch is named ``test_torch_*`` and skips through ``pytest.importorskip("torch")``.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import check_backward
from dlmath.layers.attention import (multi_head_attention_backward, multi_head_attention_forward,
                                     scaled_dot_product_attention_backward, scaled_dot_product_attention_forward)

SDPA_F, SDPA_B = scaled_dot_product_attention_forward, scaled_dot_product_attention_backward


def _sdpa_loops(q, k, v, allowed, scale):
    """out by explicit sums: for each leading index and query row, a softmax over the allowed keys."""
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for idx in itertools.product(*[range(n) for n in q.shape[:-2]]):
        for i in range(q.shape[-2]):
            keys = [j for j in range(k.shape[-2]) if allowed[idx + (i, j)]]
            if not keys:
                continue  # a fully masked row: zeros
            s = [scale * math.fsum(q[idx + (i, c)] * k[idx + (j, c)] for c in range(q.shape[-1])) for j in keys]
            m = max(s)
            w = [math.exp(x - m) for x in s]
            z = math.fsum(w)
            for c in range(v.shape[-1]):
                out[idx + (i, c)] = math.fsum(wj / z * v[idx + (j, c)] for wj, j in zip(w, keys))
    return out


def _mha_params(r, e, bias=True):
    w_in, w_out = r.standard_normal((3 * e, e)) / math.sqrt(e), r.standard_normal((e, e)) / math.sqrt(e)
    b_in, b_out = (r.standard_normal(3 * e) + 0.5, r.standard_normal(e) + 0.5) if bias else (None, None)
    return [w_in, b_in, w_out, b_out]


# ------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("lead,L,S,E,Ev", [((), 3, 5, 4, 2), ((2,), 4, 4, 3, 3), ((2, 3), 2, 6, 5, 1),
                                            ((1,), 1, 1, 1, 1)])
@pytest.mark.parametrize("mask_kind", ["none", "bool", "causal"])
def test_sdpa_matches_loops(rng, lead, L, S, E, Ev, mask_kind):
    q, k, v = rng.standard_normal(lead + (L, E)), rng.standard_normal(lead + (S, E)), rng.standard_normal(lead + (S, Ev))
    allowed = np.ones(lead + (L, S), dtype=bool)
    kwargs = {}
    if mask_kind == "bool":
        allowed = rng.random((L, S)) > 0.3
        kwargs["attn_mask"] = allowed
        allowed = np.broadcast_to(allowed, lead + (L, S))
    elif mask_kind == "causal":
        kwargs["is_causal"] = True
        allowed = np.broadcast_to(np.arange(S)[None, :] <= np.arange(L)[:, None], lead + (L, S))
    out, _ = SDPA_F(q, k, v, **kwargs)
    np.testing.assert_allclose(out, _sdpa_loops(q, k, v, allowed, 1 / math.sqrt(E)), rtol=1e-12, atol=1e-13)


def test_sdpa_additive_mask_and_scale(rng):
    """A float mask is added to the scores; -inf entries drop out; a custom scale replaces 1/sqrt(E)."""
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    add = rng.standard_normal((3, 5))
    add[0, 1] = -np.inf
    out, _ = SDPA_F(q, k, v, attn_mask=add, scale=0.7)
    s = 0.7 * q @ k.transpose(0, 2, 1) + add
    p = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(out, (p / p.sum(-1, keepdims=True)) @ v, rtol=1e-12, atol=1e-14)


def test_sdpa_fully_masked_rows_give_zeros(rng):
    """A row with no key taking part (boolean all False, or float all -inf): output 0, gradients 0, no NaN."""
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    bool_mask = np.ones((3, 5), dtype=bool)
    bool_mask[1] = False
    float_mask = np.where(bool_mask, 0.0, -np.inf)
    for mask in (bool_mask, float_mask):
        out, cache = SDPA_F(q, k, v, attn_mask=mask)
        assert np.all(out[:, 1] == 0) and np.all(np.isfinite(out))
        np.testing.assert_allclose(out[:, [0, 2]], SDPA_F(q[:, [0, 2]], k, v)[0], rtol=1e-13, atol=1e-15)
        dq, dk, dv = SDPA_B(rng.standard_normal(out.shape), cache)
        assert np.all(dq[:, 1] == 0) and all(np.all(np.isfinite(g)) for g in (dq, dk, dv))
    out, _ = SDPA_F(q, k[:, :0], v[:, :0])  # S = 0: every row is empty
    assert out.shape == (2, 3, 2) and np.all(out == 0)


def test_mha_matches_loops(rng):
    """Each head by explicit single-head attention on its slice of the projections."""
    n, L, S, e, h = 2, 3, 4, 6, 3
    d = e // h
    x, y = rng.standard_normal((n, L, e)), rng.standard_normal((n, S, e))
    w_in, b_in, w_out, b_out = _mha_params(rng, e)
    out, weights, _ = multi_head_attention_forward(x, y, y, h, w_in, b_in, w_out, b_out, average_attn_weights=False)
    expected, expected_w = np.zeros((n, L, e)), np.zeros((n, h, L, S))
    for b in range(n):
        heads = []
        for j in range(h):
            rows = slice(j * d, (j + 1) * d)
            qj = x[b] @ w_in[:e][rows].T + b_in[:e][rows]
            kj = y[b] @ w_in[e:2 * e][rows].T + b_in[e:2 * e][rows]
            vj = y[b] @ w_in[2 * e:][rows].T + b_in[2 * e:][rows]
            s = qj @ kj.T / math.sqrt(d)
            p = np.exp(s - s.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            expected_w[b, j] = p
            heads.append(p @ vj)
        expected[b] = np.concatenate(heads, axis=1) @ w_out.T + b_out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-12, atol=1e-14)
    _, avg, _ = multi_head_attention_forward(x, y, y, h, w_in, b_in, w_out, b_out)
    np.testing.assert_allclose(avg, expected_w.mean(1), rtol=1e-12, atol=1e-14)
    assert multi_head_attention_forward(x, y, y, h, w_in, b_in, w_out, b_out, need_weights=False)[1] is None


def test_mha_fully_masked_row_gives_output_bias(rng):
    x = rng.standard_normal((2, 3, 4))
    w_in, b_in, w_out, b_out = _mha_params(rng, 4)
    mask = np.zeros((3, 3), dtype=bool)
    mask[1] = True  # torch's MHA convention: True = masked out
    out, weights, cache = multi_head_attention_forward(x, x, x, 2, w_in, b_in, w_out, b_out, attn_mask=mask)
    np.testing.assert_allclose(out[:, 1], np.broadcast_to(b_out, (2, 4)), rtol=0, atol=0)
    assert np.all(weights[:, 1] == 0) and np.all(np.isfinite(out))
    assert all(g is None or np.all(np.isfinite(g)) for g in multi_head_attention_backward(np.ones_like(out), cache))


# ------------------------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}, {"scale": 0.3}, {"attn_mask": "bool"},
                                    {"attn_mask": "float"}])
@pytest.mark.parametrize("lead,L,S", [((2,), 3, 5), ((2, 2), 4, 4), ((), 5, 3)])
def test_sdpa_gradcheck(rng, kwargs, lead, L, S):
    kwargs = dict(kwargs)
    if kwargs.get("attn_mask") == "bool":
        kwargs["attn_mask"] = rng.random((L, S)) > 0.3
        kwargs["attn_mask"][0] = False  # one fully masked row too
    elif kwargs.get("attn_mask") == "float":
        kwargs["attn_mask"] = rng.standard_normal(lead + (L, S))
    inputs = [rng.standard_normal(lead + (L, 3)), rng.standard_normal(lead + (S, 3)), rng.standard_normal(lead + (S, 2))]
    errors = check_backward(lambda q, k, v: SDPA_F(q, k, v, **kwargs), SDPA_B, inputs, rng)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("cross,masks,bias", [(False, False, True), (True, False, True), (True, True, True),
                                              (False, True, False)])
def test_mha_gradcheck(rng, cross, masks, bias):
    n, L, e, h = 2, 3, 4, 2
    S = 5 if cross else L
    x, y, z = rng.standard_normal((n, L, e)), rng.standard_normal((n, S, e)), rng.standard_normal((n, S, e))
    kwargs = {}
    if masks:
        kwargs = {"attn_mask": rng.standard_normal((n * h, L, S)), "key_padding_mask": rng.random((n, S)) > 0.7}
    params = _mha_params(rng, e, bias)

    def forward(*args):
        full = list(args) if bias else list(args[:4]) + [None, args[4], None]
        out, _, cache = multi_head_attention_forward(full[0], full[1], full[2], h, *full[3:], **kwargs)
        return out, cache

    def backward(g, cache):
        grads = multi_head_attention_backward(g, cache)
        return grads if bias else (grads[0], grads[1], grads[2], grads[3], grads[5])

    inputs = [x, y, z] + [p for p in params if p is not None]
    errors = check_backward(forward, backward, inputs, rng)
    assert max(errors) < 1e-7, errors


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=25, deadline=None)
@given(L=st.integers(2, 6), extra=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_causality(L, extra, seed):
    """Under is_causal, changing the positions t, t+1, ... of key and value leaves outputs before t alone."""
    r = np.random.default_rng(seed)
    S = L + extra
    q, k, v = r.standard_normal((2, L, 3)), r.standard_normal((2, S, 3)), r.standard_normal((2, S, 2))
    t = int(r.integers(1, L))
    k2, v2 = k.copy(), v.copy()
    k2[:, t:] += r.standard_normal(k2[:, t:].shape)
    v2[:, t:] += r.standard_normal(v2[:, t:].shape)
    out, _ = SDPA_F(q, k, v, is_causal=True)
    out2, _ = SDPA_F(q, k2, v2, is_causal=True)
    np.testing.assert_array_equal(out[:, :t], out2[:, :t])
    assert not np.allclose(out[:, t:], out2[:, t:])


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 4), S=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_permuting_keys_and_values_together_changes_nothing(L, S, seed):
    r = np.random.default_rng(seed)
    q, k, v = r.standard_normal((2, L, 3)), r.standard_normal((2, S, 3)), r.standard_normal((2, S, 2))
    perm = r.permutation(S)
    out, cache = SDPA_F(q, k, v)
    out_p, cache_p = SDPA_F(q, k[:, perm], v[:, perm])
    np.testing.assert_allclose(out_p, out, rtol=1e-12, atol=1e-14)
    g = r.standard_normal(out.shape)
    dq, dk, dv = SDPA_B(g, cache)
    dq_p, dk_p, dv_p = SDPA_B(g, cache_p)
    np.testing.assert_allclose(dq_p, dq, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dk_p, dk[:, perm], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dv_p, dv[:, perm], rtol=1e-10, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), L=st.integers(1, 4), S=st.integers(1, 5), h=st.sampled_from([1, 2, 4]),
       seed=st.integers(0, 2**32 - 1))
def test_weights_rows_sum_to_one_and_inputs_not_mutated(n, L, S, h, seed):
    r = np.random.default_rng(seed)
    e = 4
    x, y = r.standard_normal((n, L, e)), r.standard_normal((n, S, e))
    mask = r.standard_normal((L, S))
    params = _mha_params(r, e)
    copies = [a.copy() for a in [x, y, mask] + params]
    out, weights, cache = multi_head_attention_forward(x, y, y, h, *params, attn_mask=mask,
                                                       average_attn_weights=False)
    assert out.shape == (n, L, e) and weights.shape == (n, h, L, S)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    g = r.standard_normal(out.shape)
    g_copy = g.copy()
    grads = multi_head_attention_backward(g, cache)
    assert [gr.shape for gr in grads] == [x.shape, y.shape, y.shape] + [p.shape for p in params]
    sdpa_out, sdpa_cache = SDPA_F(x, y, y, attn_mask=mask)
    SDPA_B(g, sdpa_cache)
    for a, c in zip([x, y, mask] + params + [g], copies + [g_copy]):
        np.testing.assert_array_equal(a, c)


@settings(max_examples=20, deadline=None)
@given(sign=st.sampled_from([-1.0, 1.0]), causal=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_finite_at_large_inputs(sign, causal, seed):
    r = np.random.default_rng(seed)
    q = sign * 1e4 * r.standard_normal((2, 4, 3))
    k, v = 1e4 * r.standard_normal((2, 4, 3)), 1e4 * r.standard_normal((2, 4, 2))
    out, cache = SDPA_F(q, k, v, is_causal=causal)
    assert np.all(np.isfinite(out))
    assert all(np.all(np.isfinite(g)) for g in SDPA_B(r.standard_normal(out.shape), cache))
    params = _mha_params(r, 4)
    x = 1e4 * r.standard_normal((2, 3, 4))
    out, weights, cache = multi_head_attention_forward(x, x, x, 2, *params)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    assert all(np.all(np.isfinite(g)) for g in multi_head_attention_backward(r.standard_normal(out.shape), cache))


def test_float32_stays_float32(rng):
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5, 4), (5, 2)))
    out, cache = SDPA_F(q, k, v, attn_mask=np.zeros((3, 5)))  # a float64 mask is cast, as torch
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in SDPA_B(np.ones((3, 2)), cache))


# ------------------------------------------------------------------------------------ bad input
def test_value_errors(rng):
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    with pytest.raises(ValueError, match=r"^query, key, value must have shapes \(\*, L, E\), \(\*, S, E\), "
                                         r"\(\*, S, Ev\) with the same leading axes \*, got \(2, 3, 4\), "
                                         r"\(2, 5, 3\), \(2, 5, 2\)"):
        SDPA_F(q, k[..., :3], v)
    with pytest.raises(ValueError, match=r"^query, key, value must have shapes"):
        SDPA_F(q, k, v[:, :4])
    with pytest.raises(ValueError, match=r"^query, key, value must have shapes"):
        SDPA_F(q, k[:1], v[:1])
    with pytest.raises(ValueError, match=r"^query, key, value must have shapes"):
        SDPA_F(q[0, 0], k[0, 0], v[0, 0])
    with pytest.raises(ValueError, match=r"^attn_mask must be broadcastable to \(2, 3, 5\), got shape \(3, 4\)"):
        SDPA_F(q, k, v, attn_mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"^attn_mask must be a boolean or floating-point array, got dtype int64"):
        SDPA_F(q, k, v, attn_mask=np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"^attn_mask must be None when is_causal=True"):
        SDPA_F(q, k, v, attn_mask=np.ones((3, 5), dtype=bool), is_causal=True)
    with pytest.raises(ValueError, match=r"^dropout_p must be 0.0"):
        SDPA_F(q, k, v, dropout_p=0.1)
    with pytest.raises(ValueError, match=r"^scale must be a finite number or None, got nan"):
        SDPA_F(q, k, v, scale=float("nan"))
    with pytest.raises(ValueError, match=r"^is_causal must be a bool"):
        SDPA_F(q, k, v, is_causal=1)
    with pytest.raises(ValueError, match=r"^query must be a floating-point array, got dtype int64"):
        SDPA_F(q.astype(np.int64), k, v)
    with pytest.raises(ValueError, match=r"^query, key and value must have one dtype"):
        SDPA_F(q.astype(np.float32), k, v)
    out, cache = SDPA_F(q, k, v)
    with pytest.raises(ValueError, match=r"^grad_out must have the output's shape \(2, 3, 2\), got shape \(2, 3\)"):
        SDPA_B(np.ones((2, 3)), cache)
    with pytest.raises(ValueError, match=r"^grad_out must be a floating-point array, got dtype int64"):
        SDPA_B(np.ones((2, 3, 2), dtype=np.int64), cache)

    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    params = _mha_params(rng, 4)
    with pytest.raises(ValueError, match=r"^query, key, value must have shapes \(N, L, E\), \(N, S, E\), "
                                         r"\(N, S, E\), got \(3, 4\), \(2, 5, 4\), \(2, 5, 4\)"):
        multi_head_attention_forward(x[0], y, y, 2, *params)
    with pytest.raises(ValueError, match=r"^num_heads must be a positive integer dividing E = 4, got 3"):
        multi_head_attention_forward(x, y, y, 3, *params)
    with pytest.raises(ValueError, match=r"^in_proj_weight must have shape \(12, 4\), got \(4, 4\)"):
        multi_head_attention_forward(x, y, y, 2, params[2], params[1], params[2], params[3])
    with pytest.raises(ValueError, match=r"^out_proj_bias must have shape \(4,\), got \(12,\)"):
        multi_head_attention_forward(x, y, y, 2, params[0], params[1], params[2], params[1])
    with pytest.raises(ValueError, match=r"^attn_mask must have shape \(L, S\) = \(3, 5\) or \(N\*H, L, S\) = "
                                         r"\(4, 3, 5\), got \(3, 3\)"):
        multi_head_attention_forward(x, y, y, 2, *params, attn_mask=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^key_padding_mask must have shape \(N, S\) = \(2, 5\), got \(5,\)"):
        multi_head_attention_forward(x, y, y, 2, *params, key_padding_mask=np.zeros(5, dtype=bool))
    out, _, cache = multi_head_attention_forward(x, y, y, 2, *params)
    with pytest.raises(ValueError, match=r"^grad_out must have the output's shape \(2, 3, 4\), got shape \(3, 4\)"):
        multi_head_attention_backward(np.ones((3, 4)), cache)


# ------------------------------------------------------------------------------------ PyTorch oracle
def _assert_close(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lead,L,S,E,Ev", [((), 3, 5, 4, 2), ((2,), 4, 4, 3, 3), ((2, 3), 5, 2, 5, 4)])
@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}, {"scale": 0.37}, {"attn_mask": "bool"},
                                    {"attn_mask": "bool_full_rows"}, {"attn_mask": "float"},
                                    {"attn_mask": "float_bcast"}])
def test_torch_sdpa_agrees(rng, lead, L, S, E, Ev, kwargs):
    torch = pytest.importorskip("torch")
    kwargs = dict(kwargs)
    kind = kwargs.get("attn_mask")
    if kind == "bool":
        kwargs["attn_mask"] = rng.random(lead + (L, S)) > 0.3
    elif kind == "bool_full_rows":
        mask = rng.random((L, S)) > 0.3
        mask[0] = False
        kwargs["attn_mask"] = mask
    elif kind == "float":
        kwargs["attn_mask"] = rng.standard_normal(lead + (L, S))
    elif kind == "float_bcast":
        kwargs["attn_mask"] = rng.standard_normal((1, S))
    q, k, v = rng.standard_normal(lead + (L, E)), rng.standard_normal(lead + (S, E)), rng.standard_normal(lead + (S, Ev))
    out, cache = SDPA_F(q, k, v, **kwargs)
    g = rng.standard_normal(out.shape)
    grads = SDPA_B(g, cache)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tkwargs = {n: (torch.tensor(a) if n == "attn_mask" else a) for n, a in kwargs.items()}
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkwargs)
    tout.backward(torch.tensor(g))
    _assert_close(out, tout.detach().numpy())
    for got, t in zip(grads, (tq, tk, tv)):
        _assert_close(got, t.grad.numpy())


def test_torch_sdpa_fully_masked_row_is_zero_there_too():
    """torch 2.13 (CPU, float64) gives zeros, not NaN, for a row with no key taking part."""
    torch = pytest.importorskip("torch")
    q, k, v = torch.ones(1, 2, 3, dtype=torch.float64), torch.ones(1, 4, 3, dtype=torch.float64), \
        torch.ones(1, 4, 2, dtype=torch.float64)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out[0, 1].tolist() == [0.0, 0.0]
    assert SDPA_F(q.numpy(), k.numpy(), v.numpy(), attn_mask=mask.numpy())[0][0, 1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("mask", ["none", "bool", "float", "float3d", "padding"])
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_torch_mha_agrees(rng, cross, mask, average, bias):
    torch = pytest.importorskip("torch")
    n, L, e, h = 2, 4, 6, 3
    S = 5 if cross else L
    mha = torch.nn.MultiheadAttention(e, h, bias=bias, batch_first=True, dtype=torch.float64)
    params = _mha_params(rng, e, bias)
    tparams = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias]
    with torch.no_grad():
        for tp, p in zip(tparams, params):
            if p is not None:
                tp.copy_(torch.tensor(p))
    x = rng.standard_normal((n, L, e))
    y, z = (rng.standard_normal((n, S, e)), rng.standard_normal((n, S, e))) if cross else (x, x)
    kwargs = {}
    if mask == "bool":
        m = rng.random((L, S)) > 0.7
        m[:, 0] = False  # no fully masked row (torch gives NaN there when it returns weights)
        kwargs["attn_mask"] = m
    elif mask == "float":
        kwargs["attn_mask"] = rng.standard_normal((L, S))
    elif mask == "float3d":
        kwargs["attn_mask"] = rng.standard_normal((n * h, L, S))
    elif mask == "padding":
        kwargs["key_padding_mask"] = np.arange(S)[None, :] >= np.array([[S], [S - 2]])
    out, weights, cache = multi_head_attention_forward(x, y, z, h, *params, average_attn_weights=average, **kwargs)
    g = rng.standard_normal(out.shape)
    grads = multi_head_attention_backward(g, cache)

    tx = torch.tensor(x, requires_grad=True)
    ty, tz = (torch.tensor(y, requires_grad=True), torch.tensor(z, requires_grad=True)) if cross else (tx, tx)
    tout, tweights = mha(tx, ty, tz, average_attn_weights=average,
                         **{name: torch.tensor(a) for name, a in kwargs.items()})
    tout.backward(torch.tensor(g))
    _assert_close(out, tout.detach().numpy())
    _assert_close(weights, tweights.detach().numpy())
    if cross:
        for got, t in zip(grads[:3], (tx, ty, tz)):
            _assert_close(got, t.grad.numpy())
    else:  # one tensor used three times: autograd sums its three gradients
        _assert_close(grads[0] + grads[1] + grads[2], tx.grad.numpy())
    for got, tp in zip(grads[3:], tparams):
        if tp is None:
            assert got is None
        else:
            _assert_close(got, tp.grad.numpy())
    assert multi_head_attention_forward(x, y, z, h, *params, need_weights=False, **kwargs)[1] is None
    assert mha(tx, ty, tz, need_weights=False, **{name: torch.tensor(a) for name, a in kwargs.items()})[1] is None


def test_torch_mha_fully_masked_row_deviation(rng):
    """torch's MHA gives NaN for a fully masked row when it returns weights (and in its eval/no-grad fast
    path), zeros before the output projection with need_weights=False otherwise; here always the latter."""
    torch = pytest.importorskip("torch")
    mha = torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64)
    params = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias]
    x = rng.standard_normal((2, 3, 4))
    mask = np.zeros((3, 3), dtype=bool)
    mask[1] = True
    t_nan, _ = mha(torch.tensor(x), torch.tensor(x), torch.tensor(x), attn_mask=torch.tensor(mask))
    t_zero, _ = mha(torch.tensor(x), torch.tensor(x), torch.tensor(x), attn_mask=torch.tensor(mask),
                    need_weights=False)
    assert torch.isnan(t_nan[:, 1]).all()
    out, _, _ = multi_head_attention_forward(x, x, x, 2, *[p.detach().numpy() for p in params], attn_mask=mask)
    _assert_close(out, t_zero.detach().numpy())
