"""Tests of dlmath.layers.recurrent.

Oracles by an explicit loop over batch elements and time steps (independent of the vectorized code),
float64 central-difference gradient checks with random upstream gradients on the output and on the final
states, a hypothesis shape property, inputs not mutated, bad input, and PyTorch (nn.RNN, nn.LSTM, nn.GRU
with copied weights) as an optional oracle: every test that needs torch is named ``test_torch_*`` and
skips through ``pytest.importorskip("torch")``.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.layers.recurrent import (gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward,
                                     rnn_forward)

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _params(r, kind, i, h, bias=True):
    g = GATES[kind]
    w_ih, w_hh = r.standard_normal((g * h, i)) / math.sqrt(i), r.standard_normal((g * h, h)) / math.sqrt(h)
    b_ih, b_hh = (r.standard_normal(g * h) * 0.5, r.standard_normal(g * h) * 0.5) if bias else (None, None)
    return w_ih, w_hh, b_ih, b_hh


def _states(r, kind, n, h, init):
    """The initial states of a layer: random, or None (zeros)."""
    count = 2 if kind == "lstm" else 1
    return [r.standard_normal((n, h)) if init else None for _ in range(count)]


def _forward(kind, x, states, params):
    """(output, tuple of final states, cache) for any of the four layers, one calling pattern."""
    w_ih, w_hh, b_ih, b_hh = params
    if kind == "lstm":
        out, (h, c), cache = lstm_forward(x, *states, w_ih, w_hh, b_ih, b_hh)
        return out, (h, c), cache
    if kind == "gru":
        out, h, cache = gru_forward(x, *states, w_ih, w_hh, b_ih, b_hh)
        return out, (h,), cache
    out, h, cache = rnn_forward(x, *states, w_ih, w_hh, b_ih, b_hh, nonlinearity=kind[4:])
    return out, (h,), cache


def _backward(kind, g_out, g_states, cache):
    if kind == "lstm":
        return lstm_backward(g_out, *g_states, cache)
    return (gru_backward if kind == "gru" else rnn_backward)(g_out, *g_states, cache)


# ------------------------------------------------------------------------------------ loop oracle
def _sig(a):
    return 1.0 / (1.0 + math.exp(-a))


def _loops(kind, x, states, params):
    """The recurrences element by element, with math.* scalars: one batch element, one unit at a time."""
    w_ih, w_hh, b_ih, b_hh = params
    t_len, n, i_size = x.shape
    hid = w_hh.shape[1]
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_ih.shape[0]) if b_hh is None else b_hh
    h = np.array(states[0]) if states[0] is not None else np.zeros((n, hid))
    c = (np.array(states[1]) if states[1] is not None else np.zeros((n, hid))) if kind == "lstm" else None
    out = np.zeros((t_len, n, hid))

    def lin(w, b, v, row):
        return math.fsum(w[row, k] * v[k] for k in range(len(v))) + b[row]

    for t in range(t_len):
        for b in range(n):
            new_h, new_c = np.zeros(hid), np.zeros(hid)
            for j in range(hid):
                gi = [lin(w_ih, b_ih, x[t, b], gk * hid + j) for gk in range(GATES[kind])]
                gh = [lin(w_hh, b_hh, h[b], gk * hid + j) for gk in range(GATES[kind])]
                if kind == "rnn_tanh":
                    new_h[j] = math.tanh(gi[0] + gh[0])
                elif kind == "rnn_relu":
                    new_h[j] = max(gi[0] + gh[0], 0.0)
                elif kind == "lstm":
                    ig, fg, gg, og = _sig(gi[0] + gh[0]), _sig(gi[1] + gh[1]), math.tanh(gi[2] + gh[2]), \
                        _sig(gi[3] + gh[3])
                    new_c[j] = fg * c[b, j] + ig * gg
                    new_h[j] = og * math.tanh(new_c[j])
                else:
                    rg, zg = _sig(gi[0] + gh[0]), _sig(gi[1] + gh[1])
                    ng = math.tanh(gi[2] + rg * gh[2])
                    new_h[j] = (1 - zg) * ng + zg * h[b, j]
            h[b] = new_h
            if kind == "lstm":
                c[b] = new_c
            out[t, b] = new_h
    return out, ((h, c) if kind == "lstm" else (h,))


KINDS = list(GATES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 2, 3), (4, 3, 2, 3), (3, 2, 1, 1)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("init", [True, False])
def test_matches_loops(rng, kind, T, N, I, H, bias, init):
    x = rng.standard_normal((T, N, I))
    params, states = _params(rng, kind, I, H, bias), _states(rng, kind, N, H, init)
    out, finals, _ = _forward(kind, x, states, params)
    exp_out, exp_finals = _loops(kind, x, states, params)
    np.testing.assert_allclose(out, exp_out, rtol=1e-12, atol=1e-13)
    for got, exp in zip(finals, exp_finals):
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(finals[0], out[-1])


# ------------------------------------------------------------------------------------ gradients
def _grad_check(rng, kind, x, states, params):
    """Relative errors of every returned gradient against central differences of
    L = sum(g_out * output) + sum over final states of sum(g_s * s), random upstream gradients."""
    inputs = [x, *states, *params]
    present = [k for k, a in enumerate(inputs) if a is not None]
    out, finals, cache = _forward(kind, x, states, params)
    g_out = rng.standard_normal(out.shape)
    g_fin = [rng.standard_normal(f.shape) for f in finals]
    grads = _backward(kind, g_out, g_fin, cache)
    assert len(grads) == len(inputs)
    errors = []
    for k in range(len(inputs)):
        if inputs[k] is None:
            assert grads[k] is None  # no gradient for an input that was None
            continue

        def loss(v, k=k):
            args = list(inputs)
            args[k] = v
            o, f, _ = _forward(kind, args[0], args[1:len(states) + 1], args[len(states) + 1:])
            return np.sum(g_out * o) + sum(np.sum(g * s) for g, s in zip(g_fin, f))
        num = numerical_gradient(loss, np.array(inputs[k], dtype=np.float64), 1e-6)
        errors.append(relative_error(grads[k], num))
    assert len(errors) == len(present)
    return errors


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,N", [(1, 1), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("init", [True, False])
def test_gradcheck(rng, kind, T, N, bias, init):
    I, H = 2, 3
    x = rng.standard_normal((T, N, I))
    params, states = _params(rng, kind, I, H, bias), _states(rng, kind, N, H, init)
    if kind == "rnn_relu":  # keep every pre-activation a_t away from the kink at 0
        for _ in range(100):
            out, _, _ = _forward(kind, x, states, params)
            h_prev = np.concatenate([(states[0] if init else np.zeros((N, H)))[None], out[:-1]])
            a = x @ params[0].T + h_prev @ params[1].T + (params[2] + params[3] if bias else 0.0)
            if np.min(np.abs(a)) > 1e-3:
                break
            x = rng.standard_normal((T, N, I))
        assert np.min(np.abs(a)) > 1e-3
    errors = _grad_check(rng, kind, x, states, params)
    assert max(errors) < (1e-5 if kind == "rnn_relu" else 1e-7), errors


@pytest.mark.parametrize("kind", KINDS)
def test_upstream_none_is_zero(rng, kind):
    """grad_output or a final-state gradient None means zeros."""
    x = rng.standard_normal((3, 2, 2))
    params, states = _params(rng, kind, 2, 3), _states(rng, kind, 2, 3, True)
    out, finals, cache = _forward(kind, x, states, params)
    g_fin = [rng.standard_normal(f.shape) for f in finals]
    with_zeros = _backward(kind, np.zeros(out.shape), g_fin, cache)
    with_none = _backward(kind, None, g_fin, cache)
    for a, b in zip(with_zeros, with_none):
        np.testing.assert_array_equal(a, b)
    g_out = rng.standard_normal(out.shape)
    with_zeros = _backward(kind, g_out, [np.zeros(f.shape) for f in finals], cache)
    with_none = _backward(kind, g_out, [None] * len(finals), cache)
    for a, b in zip(with_zeros, with_none):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), T=st.integers(1, 4), N=st.integers(1, 3), I=st.integers(1, 3),
       H=st.integers(1, 3), bias=st.booleans(), init=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_shapes_and_no_mutation(kind, T, N, I, H, bias, init, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((T, N, I))
    params, states = _params(r, kind, I, H, bias), _states(r, kind, N, H, init)
    copies = [None if a is None else a.copy() for a in (x, *states, *params)]
    out, finals, cache = _forward(kind, x, states, params)
    assert out.shape == (T, N, H) and all(f.shape == (N, H) for f in finals)
    g_out, g_fin = r.standard_normal(out.shape), [r.standard_normal((N, H)) for _ in finals]
    g_copies = [g_out.copy()] + [g.copy() for g in g_fin]
    grads = _backward(kind, g_out, g_fin, cache)
    for a, g in zip((x, *states, *params), grads):
        assert (a is None and g is None) or g.shape == a.shape
    for a, c in zip((x, *states, *params), copies):
        assert (a is None and c is None) or np.array_equal(a, c)
    for a, c in zip([g_out, *g_fin], g_copies):
        assert np.array_equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_finite_at_large_inputs(rng, kind):
    """Inputs of magnitude 1e4 saturate the gates without overflow or NaN."""
    x = 1e4 * rng.standard_normal((3, 2, 2))
    params, states = _params(rng, kind, 2, 3), _states(rng, kind, 2, 3, True)
    if kind == "rnn_relu":
        params = (params[0] * 1e-4, params[1] * 0.1, params[2], params[3])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        out, finals, cache = _forward(kind, x, states, params)
        grads = _backward(kind, rng.standard_normal(out.shape), [rng.standard_normal(f.shape) for f in finals], cache)
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(g)) for g in grads)


def test_zero_batch(rng):
    """N = 0 gives empty outputs and gradients, as torch (T = 0 raises, as torch)."""
    params = _params(rng, "lstm", 2, 3)
    out, (h, c), cache = lstm_forward(np.zeros((3, 0, 2)), None, None, *params)
    assert out.shape == (3, 0, 3) and h.shape == c.shape == (0, 3)
    grads = lstm_backward(out, None, None, cache)
    assert grads[0].shape == (3, 0, 2) and np.all(grads[3] == 0) and np.all(grads[5] == 0)


def test_float32_keeps_dtype(rng):
    x = rng.standard_normal((2, 2, 3)).astype(np.float32)
    w_ih, w_hh, b_ih, b_hh = (a.astype(np.float32) for a in _params(rng, "gru", 3, 2))
    out, h, cache = gru_forward(x, None, w_ih, w_hh, b_ih, b_hh)
    assert out.dtype == h.dtype == np.float32
    assert all(g is None or g.dtype == np.float32 for g in gru_backward(np.ones((2, 2, 2)), None, cache))


# ------------------------------------------------------------------------------------ bad input
def test_bad_input(rng):
    x = rng.standard_normal((3, 2, 4))
    w_ih, w_hh, b_ih, b_hh = _params(rng, "lstm", 4, 5)
    bad_x = r"^x must have shape \(T, N, I\) with T >= 1 \(as torch\), got shape "
    with pytest.raises(ValueError, match=bad_x + r"\(2, 4\)"):
        lstm_forward(x[0], None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=bad_x + r"\(0, 2, 4\)"):
        lstm_forward(x[:0], None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^w_hh must have shape \(4\*H, H\), got shape \(5, 5\)"):
        lstm_forward(x, None, None, w_ih, w_hh[:5])
    with pytest.raises(ValueError, match=r"^w_ih must have shape \(20, 4\), got shape \(20, 3\)"):
        lstm_forward(x, None, None, w_ih[:, :3], w_hh)
    with pytest.raises(ValueError, match=r"^b_hh must have shape \(20,\), got shape \(5,\)"):
        lstm_forward(x, None, None, w_ih, w_hh, b_ih, b_hh[:5])
    with pytest.raises(ValueError, match=r"^c0 must have shape \(2, 5\), got shape \(5,\)"):
        lstm_forward(x, None, np.zeros(5), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^h0 must have shape \(2, 5\), got shape \(3, 5\)"):
        lstm_forward(x, np.zeros((3, 5)), None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^x must be a floating-point array, got dtype int64"):
        lstm_forward(x.astype(np.int64), None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^x, the states and the weights must have one dtype"):
        lstm_forward(x.astype(np.float32), None, None, w_ih, w_hh)
    w_ih1, w_hh1, _, _ = _params(rng, "rnn_tanh", 4, 5)
    with pytest.raises(ValueError, match=r"^nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        rnn_forward(x, None, w_ih1, w_hh1, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"^w_hh must have shape \(3\*H, H\), got shape \(5, 5\)"):
        gru_forward(x, None, w_ih1, w_hh1)
    out, (h, c), cache = lstm_forward(x, None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^grad_output must have shape \(3, 2, 5\), got shape \(2, 5\)"):
        lstm_backward(out[0], None, None, cache)
    with pytest.raises(ValueError, match=r"^grad_c_n must have shape \(2, 5\), got shape \(5,\)"):
        lstm_backward(out, None, c[0], cache)
    with pytest.raises(ValueError, match=r"^grad_h_n must be a floating-point array, got dtype int64"):
        lstm_backward(out, np.ones((2, 5), dtype=np.int64), None, cache)
    out, h, cache = rnn_forward(x, None, w_ih1, w_hh1)
    with pytest.raises(ValueError, match=r"^grad_h_n must have shape \(2, 5\), got shape \(1, 5\)"):
        rnn_backward(out, h[:1], cache)


# ------------------------------------------------------------------------------------ PyTorch oracle
TORCH_ERRORS = {}  # kind -> [max abs error, max rel error] over every case (printed with pytest -s)


def _torch_layer(torch, kind, i, h, bias):
    if kind == "lstm":
        return torch.nn.LSTM(i, h, bias=bias, dtype=torch.float64)
    if kind == "gru":
        return torch.nn.GRU(i, h, bias=bias, dtype=torch.float64)
    return torch.nn.RNN(i, h, nonlinearity=kind[4:], bias=bias, dtype=torch.float64)


def _close(kind, got, expected):
    err = np.abs(got - expected)
    big = np.abs(expected) > 1e-8  # relative error where the value is not (nearly) zero
    e = TORCH_ERRORS.setdefault(kind, [0.0, 0.0])
    e[0] = max(e[0], float(err.max(initial=0.0)))
    e[1] = max(e[1], float((err[big] / np.abs(expected[big])).max(initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 3, 4), (5, 3, 3, 4), (1, 4, 2, 2), (6, 1, 4, 3)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("init", [True, False])
def test_torch_agrees(rng, kind, T, N, I, H, bias, init):
    torch = pytest.importorskip("torch")
    layer = _torch_layer(torch, kind, I, H, bias)
    params = _params(rng, kind, I, H, bias)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.tensor(params[0]))
        layer.weight_hh_l0.copy_(torch.tensor(params[1]))
        if bias:
            layer.bias_ih_l0.copy_(torch.tensor(params[2]))
            layer.bias_hh_l0.copy_(torch.tensor(params[3]))
    x = rng.standard_normal((T, N, I))
    states = _states(rng, kind, N, H, init)
    out, finals, cache = _forward(kind, x, states, params)
    g_out = rng.standard_normal(out.shape)
    g_fin = [rng.standard_normal(f.shape) for f in finals]
    grads = _backward(kind, g_out, g_fin, cache)

    tx = torch.tensor(x, requires_grad=True)
    tstates = [torch.tensor(s[None], requires_grad=True) for s in states] if init else []
    if kind == "lstm":
        tout, (th, tc) = layer(tx, tuple(tstates)) if init else layer(tx)
        tfinals = (th[0], tc[0])
    else:
        tout, th = layer(tx, tstates[0]) if init else layer(tx)
        tfinals = (th[0],)
    loss = (tout * torch.tensor(g_out)).sum() + sum((t * torch.tensor(g)).sum() for t, g in zip(tfinals, g_fin))
    loss.backward()

    _close(kind, out, tout.detach().numpy())
    for got, t in zip(finals, tfinals):
        _close(kind, got, t.detach().numpy())
    _close(kind, grads[0], tx.grad.numpy())
    for k, s in enumerate(tstates):
        _close(kind, grads[1 + k], s.grad.numpy()[0])
    if not init:
        assert all(g is None for g in grads[1:1 + len(states)])
    tparams = [layer.weight_ih_l0, layer.weight_hh_l0] + ([layer.bias_ih_l0, layer.bias_hh_l0] if bias else [])
    for got, t in zip(grads[1 + len(states):], tparams):
        _close(kind, got, t.grad.numpy())
    if not bias:
        assert grads[-1] is None and grads[-2] is None


def test_torch_errors_report():
    """Prints the largest differences seen by test_torch_agrees (run after it, with pytest -s)."""
    pytest.importorskip("torch")
    for kind, (a, r) in sorted(TORCH_ERRORS.items()):
        print(f"{kind}: max abs error {a:.2e}, max rel error {r:.2e}")
