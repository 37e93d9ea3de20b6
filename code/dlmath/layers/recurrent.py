"""Recurrent layers (Elman RNN, LSTM, GRU) as functional pairs, backpropagation through time (chapter 16).

Each layer is one layer of torch.nn.RNN / nn.LSTM / nn.GRU (unidirectional, batch_first=False) with
torch's weight layout, so weights move between the two unchanged: x (T, N, I), states (N, H),
w_ih (G*H, I) = weight_ih_l0, w_hh (G*H, H) = weight_hh_l0, b_ih, b_hh (G*H,) = bias_ih_l0, bias_hh_l0
or None, with G = 1 (RNN), 4 (LSTM, gates i, f, g, o) or 3 (GRU, gates r, z, n), stacked in that order.
An initial state None means zeros, as in torch; its gradient is then None, like a bias that is None.

The only Python loop is over time steps; every step is vectorized over the batch. The input projection
x W_ih^T + b_ih of all steps is one matrix product before the loop, and the weight gradients are one
product after the backward loop.
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numpy as np

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward"]


# ------------------------------------------------------------------------------------------ validation
def _check(x, states, w_ih, w_hh, b_ih, b_hh, gates):
    """x (T, N, I), each state (N, H) or None, w_ih (G*H, I), w_hh (G*H, H), biases (G*H,) or None.

    Returns x, the states (zeros where None), w_ih, w_hh, b_ih, b_hh (0.0 where None) and which biases
    were given. All arrays must share one floating-point dtype.
    """
    arrays = {"x": x, **states, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    arrays = {name: np.asarray(a) for name, a in arrays.items() if a is not None}
    for name, a in arrays.items():
        if a.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if len({a.dtype for a in arrays.values()}) > 1:
        raise ValueError(f"x, the states and the weights must have one dtype, got "
                         f"{', '.join(f'{n} {a.dtype}' for n, a in arrays.items())}")
    x, w_ih, w_hh = arrays["x"], arrays["w_ih"], arrays["w_hh"]
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (T, N, I) with T >= 1 (as torch), got shape {x.shape}")
    t, n, i = x.shape
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"w_hh must have shape ({gates}*H, H), got shape {w_hh.shape}")
    h = w_hh.shape[1]
    expected = {"w_ih": (gates * h, i), "b_ih": (gates * h,), "b_hh": (gates * h,),
                **{name: (n, h) for name in states}}
    for name, shape in expected.items():
        if name in arrays and arrays[name].shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got shape {arrays[name].shape}")
    s = [arrays[name] if name in arrays else np.zeros((n, h), dtype=x.dtype) for name in states]
    return (x, *s, w_ih, w_hh, arrays.get("b_ih", 0.0), arrays.get("b_hh", 0.0),
            (b_ih is not None, b_hh is not None))


def _check_grads(grads, shapes, dtype):
    """Upstream gradients: each of the given shape, float; None means zeros (no gradient flows in)."""
    out = []
    for (name, g), shape in zip(grads.items(), shapes):
        if g is None:
            out.append(np.zeros(shape, dtype=dtype))
            continue
        g = np.asarray(g)
        if g.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array, got dtype {g.dtype}")
        if g.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got shape {g.shape}")
        out.append(g.astype(dtype, copy=False))
    return out


def _sigmoid(a, out=None):
    """1 / (1 + exp(-a)), written into out (a new array if None); exp(-a) = inf gives 0, as it should."""
    out = np.negative(a, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _weight_grads(d_pre, inputs, has_bias):
    """dW = sum over t, n of d_pre (T, N, G*H) outer inputs (T, N, K) -> (G*H, K); db = sum of d_pre or None."""
    dw = np.tensordot(d_pre, inputs, axes=([0, 1], [0, 1]))
    return dw, (d_pre.sum(axis=(0, 1)) if has_bias else None)


# ------------------------------------------------------------------------------------------------- RNN
def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh"):
    """h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), phi = tanh or relu (eq-recurrent-rnn), as nn.RNN.

    x (T, N, I), h0 (N, H) or None (zeros), w_ih (H, I), w_hh (H, H), b_ih, b_hh (H,) or None.
    Returns (output (T, N, H) = h_1..h_T, h_n (N, H), cache). Elman (1990).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    given = h0 is not None
    x, h0, w_ih, w_hh, b_ih, b_hh, has_bias = _check(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 1)
    phi = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0.0))
    x_proj = x @ w_ih.T + b_ih  # (T, N, H): the input part of every step at once
    hs = np.empty(x.shape[:2] + (w_hh.shape[1],), dtype=x.dtype)  # (T, N, H)
    h = h0
    for t in range(x.shape[0]):
        h = phi(x_proj[t] + h @ w_hh.T + b_hh)  # (N, H)
        hs[t] = h
    return hs, h, (x, h0, given, w_ih, w_hh, has_bias, nonlinearity, hs)


def rnn_backward(grad_output, grad_h_n, cache):
    """Backpropagation through time: (dx, dh0, dw_ih, dw_hh, db_ih, db_hh) (eq-recurrent-bptt).

    grad_output (T, N, H) and grad_h_n (N, H), either None for zeros. dh_t collects grad_output[t] and
    W_hh^T da_{t+1}; da_t = dh_t * phi'(a_t), with phi' = 1 - h_t^2 (tanh) or [h_t > 0] (relu, 0 at the
    kink as torch). dh0, db_ih, db_hh are None where h0, b_ih, b_hh were None.
    """
    x, h0, given, w_ih, w_hh, has_bias, nonlinearity, hs = cache
    grad_output, dh = _check_grads({"grad_output": grad_output, "grad_h_n": grad_h_n},
                                   (hs.shape, h0.shape), x.dtype)
    d_pre = np.empty_like(hs)  # (T, N, H): gradient of the pre-activation a_t
    for t in reversed(range(x.shape[0])):
        dh = dh + grad_output[t]
        d_pre[t] = dh * (1.0 - hs[t] ** 2) if nonlinearity == "tanh" else dh * (hs[t] > 0)
        dh = d_pre[t] @ w_hh  # (N, H): into h_{t-1}
    h_prev = np.concatenate([h0[None], hs[:-1]])  # (T, N, H): h_0 .. h_{T-1}
    dw_ih, db_ih = _weight_grads(d_pre, x, has_bias[0])
    dw_hh, db_hh = _weight_grads(d_pre, h_prev, has_bias[1])
    return d_pre @ w_ih, (dh if given else None), dw_ih, dw_hh, db_ih, db_hh


# ------------------------------------------------------------------------------------------------ LSTM
def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM layer as nn.LSTM (eq-recurrent-lstm): with [i; f; g; o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    squashed by sigmoid, sigmoid, tanh, sigmoid, c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t).

    x (T, N, I), h0, c0 (N, H) or None (zeros), w_ih (4H, I), w_hh (4H, H), b_ih, b_hh (4H,) or None,
    gate blocks in torch's order i, f, g, o. Returns (output (T, N, H), (h_n, c_n), cache).
    Hochreiter and Schmidhuber (1997); the forget gate of Gers et al. (2000).
    """
    given = (h0 is not None, c0 is not None)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, has_bias = _check(x, {"h0": h0, "c0": c0}, w_ih, w_hh, b_ih, b_hh, 4)
    (t_len, n, _), hid = x.shape, w_hh.shape[1]
    x_proj = x @ w_ih.T + (b_ih + b_hh)  # (T, N, 4H): the input part and both biases of every step at once
    acts = np.empty((t_len, n, 4 * hid), dtype=x.dtype)  # (T, N, 4H): i, f, g, o after their squashing
    hs, cs = np.empty((t_len, n, hid), dtype=x.dtype), np.empty((t_len, n, hid), dtype=x.dtype)
    tanh_cs = np.empty_like(cs)  # tanh(c_t), kept for the backward pass
    h, c = h0, c0
    for t in range(t_len):
        pre = x_proj[t] + h @ w_hh.T  # (N, 4H)
        i, f, g, o = _lstm_gates(pre, acts[t], hid)  # views into acts[t]
        c = np.add(f * c, i * g, out=cs[t])  # (N, H)
        h = np.multiply(o, np.tanh(c, out=tanh_cs[t]), out=hs[t])  # (N, H)
    return hs, (h.copy(), c.copy()), (x, h0, c0, given, w_ih, w_hh, has_bias, acts, hs, cs, tanh_cs)


def _lstm_gates(pre, out, hid):
    """sigmoid of the whole pre-activation (N, 4H) into out, then tanh over the g block; returns the four
    (N, H) views i, f, g, o of out."""
    _sigmoid(pre, out=out)
    np.tanh(pre[:, 2 * hid:3 * hid], out=out[:, 2 * hid:3 * hid])
    return out[:, :hid], out[:, hid:2 * hid], out[:, 2 * hid:3 * hid], out[:, 3 * hid:]


def lstm_backward(grad_output, grad_h_n, grad_c_n, cache):
    """Backpropagation through time: (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh) (eq-recurrent-lstm-backward).

    grad_output (T, N, H), grad_h_n, grad_c_n (N, H), each None for zeros. Per step, going back:
    dc += dh * o * (1 - tanh(c_t)^2); di = dc g, df = dc c_{t-1}, dg = dc i, do = dh tanh(c_t); the
    cell gradient passing to t-1 is dc * f (the additive path). dh0, dc0 and the bias gradients are None
    where those inputs were None.
    """
    x, h0, c0, given, w_ih, w_hh, has_bias, acts, hs, cs, tanh_cs = cache
    hid = hs.shape[2]
    grad_output, dh, dc = _check_grads({"grad_output": grad_output, "grad_h_n": grad_h_n, "grad_c_n": grad_c_n},
                                       (hs.shape, h0.shape, c0.shape), x.dtype)
    d_pre = np.empty_like(acts)  # (T, N, 4H): gradient of the gates before squashing
    for t in reversed(range(x.shape[0])):
        i, f, g, o = (acts[t, :, k * hid:(k + 1) * hid] for k in range(4))
        c_prev = cs[t - 1] if t > 0 else c0
        dh = dh + grad_output[t]
        dc = dc + dh * o * (1.0 - tanh_cs[t] ** 2)
        _lstm_gate_grads(d_pre[t], dh, dc, i, f, g, o, c_prev, tanh_cs[t], hid)
        dh = d_pre[t] @ w_hh  # (N, H): into h_{t-1}
        dc = dc * f  # (N, H): into c_{t-1}
    h_prev = np.concatenate([h0[None], hs[:-1]])  # (T, N, H)
    dw_ih, db_ih = _weight_grads(d_pre, x, has_bias[0])
    dw_hh, db_hh = _weight_grads(d_pre, h_prev, has_bias[1])
    return (d_pre @ w_ih, dh if given[0] else None, dc if given[1] else None, dw_ih, dw_hh, db_ih, db_hh)


def _lstm_gate_grads(out, dh, dc, i, f, g, o, c_prev, tanh_c, hid):
    """Into out (N, 4H): [dc g i (1 - i), dc c_{t-1} f (1 - f), dc i (1 - g^2), dh tanh(c_t) o (1 - o)]."""
    d_i, d_f, d_g, d_o = (out[:, k * hid:(k + 1) * hid] for k in range(4))
    np.multiply(dc, g, out=d_i)
    d_i *= i * (1.0 - i)
    np.multiply(dc, c_prev, out=d_f)
    d_f *= f * (1.0 - f)
    np.multiply(dc, i, out=d_g)
    d_g *= 1.0 - g * g
    np.multiply(dh, tanh_c, out=d_o)
    d_o *= o * (1.0 - o)


# ------------------------------------------------------------------------------------------------- GRU
def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU layer as nn.GRU (eq-recurrent-gru): r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h (torch's form: r multiplies W_hn h + b_hn, not h before W_hn).

    x (T, N, I), h0 (N, H) or None (zeros), w_ih (3H, I), w_hh (3H, H), b_ih, b_hh (3H,) or None, gate
    blocks in torch's order r, z, n. Returns (output (T, N, H), h_n (N, H), cache). Cho et al. (2014).
    """
    given = h0 is not None
    x, h0, w_ih, w_hh, b_ih, b_hh, has_bias = _check(x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh, 3)
    (t_len, n_batch, _), hid = x.shape, w_hh.shape[1]
    b_hh = np.broadcast_to(np.asarray(b_hh, dtype=x.dtype), (3 * hid,))
    x_proj = x @ w_ih.T + b_ih  # (T, N, 3H)
    x_proj[:, :, :2 * hid] += b_hh[:2 * hid]  # b_hr, b_hz join the input part; b_hn stays inside r * (...)
    acts = np.empty((t_len, n_batch, 3 * hid), dtype=x.dtype)  # (T, N, 3H): r, z, n
    hn_proj = np.empty((t_len, n_batch, hid), dtype=x.dtype)  # (T, N, H): W_hn h_{t-1} + b_hn
    hs = np.empty((t_len, n_batch, hid), dtype=x.dtype)
    h = h0
    for t in range(t_len):
        h_proj = h @ w_hh.T  # (N, 3H)
        rz = _sigmoid(np.add(x_proj[t, :, :2 * hid], h_proj[:, :2 * hid], out=acts[t, :, :2 * hid]),
                      out=acts[t, :, :2 * hid])  # r, z
        r, z = rz[:, :hid], rz[:, hid:]
        hn = np.add(h_proj[:, 2 * hid:], b_hh[2 * hid:], out=hn_proj[t])
        n = np.tanh(x_proj[t, :, 2 * hid:] + r * hn, out=acts[t, :, 2 * hid:])
        h = np.add(n, z * (h - n), out=hs[t])  # (1 - z) * n + z * h
    return hs, h.copy(), (x, h0, given, w_ih, w_hh, has_bias, acts, hn_proj, hs)


def gru_backward(grad_output, grad_h_n, cache):
    """Backpropagation through time: (dx, dh0, dw_ih, dw_hh, db_ih, db_hh) (eq-recurrent-gru-backward).

    grad_output (T, N, H), grad_h_n (N, H), either None for zeros. Per step: dn = dh (1 - z),
    dz = dh (h_{t-1} - n), dr = dn (1 - n^2) (W_hn h_{t-1} + b_hn); the input side of the n gate gets
    dn (1 - n^2), the hidden side r dn (1 - n^2), so the two projections have different gradients.
    dh0 and the bias gradients are None where those inputs were None.
    """
    x, h0, given, w_ih, w_hh, has_bias, acts, hn_proj, hs = cache
    hid = hs.shape[2]
    grad_output, dh = _check_grads({"grad_output": grad_output, "grad_h_n": grad_h_n},
                                   (hs.shape, h0.shape), x.dtype)
    d_xproj = np.empty_like(acts)  # (T, N, 3H): gradient of W_ih x_t + b_ih
    d_hproj = np.empty_like(acts)  # (T, N, 3H): gradient of W_hh h_{t-1} + b_hh
    for t in reversed(range(x.shape[0])):
        r, z, n = (acts[t, :, k * hid:(k + 1) * hid] for k in range(3))
        h_prev = hs[t - 1] if t > 0 else h0
        dh = dh + grad_output[t]
        d_ar, d_az, d_an = (d_xproj[t, :, k * hid:(k + 1) * hid] for k in range(3))
        np.multiply(dh * (1.0 - z), 1.0 - n * n, out=d_an)  # gradient of n's pre-activation
        np.multiply(d_an * hn_proj[t], r * (1.0 - r), out=d_ar)
        np.multiply(dh * (h_prev - n), z * (1.0 - z), out=d_az)
        d_hproj[t, :, :2 * hid] = d_xproj[t, :, :2 * hid]
        np.multiply(d_an, r, out=d_hproj[t, :, 2 * hid:])
        dh = dh * z + d_hproj[t] @ w_hh  # (N, H): into h_{t-1}
    h_prev = np.concatenate([h0[None], hs[:-1]])  # (T, N, H)
    dw_ih, db_ih = _weight_grads(d_xproj, x, has_bias[0])
    dw_hh, db_hh = _weight_grads(d_hproj, h_prev, has_bias[1])
    return d_xproj @ w_ih, (dh if given else None), dw_ih, dw_hh, db_ih, db_hh
