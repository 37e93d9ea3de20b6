"""Scaled dot-product attention and multi-head attention as functional pairs (chapter 17).

``scaled_dot_product_attention_forward(query, key, value, *, attn_mask=None, dropout_p=0.0,
is_causal=False, scale=None)`` computes softmax(Q K^T * scale + mask) V as
torch.nn.functional.scaled_dot_product_attention: query (*, L, E), key (*, S, E), value (*, S, Ev) ->
out (*, L, Ev) (Vaswani et al., 2017, "Attention is all you need"). A boolean ``attn_mask`` marks the
pairs that take part (True, as torch); a float one is added to the scores. ``is_causal`` uses torch's
top-left aligned mask: query i sees keys j <= i.

A fully masked row (no key takes part) gives an output of zeros and zero gradients, as torch 2.13 does
on the CPU (its softmax would be 0/0 = NaN: here the row of weights is defined as all zeros).

``multi_head_attention_forward`` is nn.MultiheadAttention(batch_first=True) with packed in-projection
``in_proj_weight`` (3E, E) (rows of q, k, v in that order) and torch's masks, where a boolean True means
"masked out" (the opposite of scaled dot-product attention's convention, as in torch).
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import math

import numpy as np

__all__ = [
    "scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
    "multi_head_attention_forward", "multi_head_attention_backward",
]


# ------------------------------------------------------------------------------------------ validation
def _float(a, name):
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    return a


def _mask(mask, name, shape, dtype):
    """A boolean mask, or a float mask cast to dtype, broadcastable to shape; None stays None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype.kind not in "bf":
        raise ValueError(f"{name} must be a boolean or floating-point array, got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ValueError(f"{name} must be broadcastable to {shape}, got shape {mask.shape}") from None
    return mask if mask.dtype == bool else mask.astype(dtype, copy=False)


def _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale):
    """q (*, L, E), k (*, S, E), v (*, S, Ev) of one float dtype; options validated; scale resolved."""
    q, k, v = _float(query, "query"), _float(key, "key"), _float(value, "value")
    if len({q.dtype, k.dtype, v.dtype}) > 1:
        raise ValueError(f"query, key and value must have one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or k.shape[:-2] != q.shape[:-2] \
            or v.shape[:-2] != q.shape[:-2] or k.shape[-1] != q.shape[-1] or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"query, key, value must have shapes (*, L, E), (*, S, E), (*, S, Ev) with the same "
                         f"leading axes *, got {q.shape}, {k.shape}, {v.shape}")
    if dropout_p != 0.0:
        raise ValueError(f"dropout_p must be 0.0 (attention dropout is not supported), got {dropout_p!r}")
    if not isinstance(is_causal, bool):
        raise ValueError(f"is_causal must be a bool, got {is_causal!r}")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask must be None when is_causal=True (as torch), got an attn_mask")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] > 0 else math.inf
    elif isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)) \
            or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number or None, got {scale!r}")
    shape = q.shape[:-1] + (k.shape[-2],)  # (*, L, S)
    return q, k, v, _mask(attn_mask, "attn_mask", shape, q.dtype), float(scale)


def _check_grad(grad_out, shape, dtype):
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the output's shape {shape}, got shape {grad_out.shape}")
    return grad_out.astype(dtype, copy=False)


# ------------------------------------------------------------------------------ scaled dot-product attention
def _masked_softmax(scores):
    """Softmax along the last axis, shifted by the row maximum; an all -inf row gives zeros, not NaN.
    Works in place: scores (a fresh array) becomes the probabilities."""
    m = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0.0)
    scores -= m
    e = np.exp(scores, out=scores)  # in [0, 1]; masked entries exp(-inf) = 0
    z = np.sum(e, axis=-1, keepdims=True)
    if not (z > 0).all():
        z = np.where(z > 0, z, 1.0)  # a fully masked row: 0 / 1 = 0
    e /= z
    return e


def _apply_mask(scores, mask):
    """Scores with a boolean mask (False -> -inf) or a float mask (added), in place where the shapes allow."""
    if mask is None:
        return scores
    if np.broadcast_shapes(scores.shape, mask.shape) != scores.shape:  # the mask adds leading axes
        return np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    if mask.dtype == bool:
        np.copyto(scores, -np.inf, where=~mask)
    else:
        scores += mask
    return scores


def scaled_dot_product_attention_forward(query, key, value, *, attn_mask=None, dropout_p=0.0,
                                         is_causal=False, scale=None):
    """out = softmax(Q K^T * scale + M) V, scale = 1/sqrt(E) by default (eq-attention-sdpa).

    query (*, L, E), key (*, S, E), value (*, S, Ev) -> out (*, L, Ev). attn_mask broadcastable to
    (*, L, S): boolean (True = takes part, False = score -inf) or float (added to the scores).
    is_causal: the top-left aligned lower-triangular mask (query i sees keys j <= i). A row with no key
    taking part gives zeros (torch 2.13 on the CPU does the same). Vaswani et al. (2017).
    """
    q, k, v, attn_mask, scale = _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale)
    L, S = q.shape[-2], k.shape[-2]
    scores = q @ np.swapaxes(k, -1, -2)  # (*, L, S)
    scores *= scale
    if is_causal:
        attn_mask = np.tril(np.ones((L, S), dtype=bool))  # (L, S)
    scores = _apply_mask(scores, attn_mask)
    p = _masked_softmax(scores)  # (*, L, S), rows sum to 1 (or are all 0)
    out = p @ v  # (*, L, Ev)
    return out, (q, k, v, p, scale)


def _softmax_backward(p, dp):
    """P * (dP - rowsum(dP * P)), computed in place in dp (a fresh array)."""
    row = np.einsum("...j,...j->...", dp, p)[..., None]  # rowsum(dP * P) without the (L, S) temporary
    dp -= row
    dp *= p
    return dp


def scaled_dot_product_attention_backward(grad_out, cache):
    """(dquery, dkey, dvalue) from dO (*, L, Ev) (eq-attention-sdpa-backward).

    dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)) (the softmax Jacobian in compact form),
    dQ = scale dS K, dK = scale dS^T Q. Masked entries have P = 0, hence dS = 0.
    """
    q, k, v, p, scale = cache
    grad_out = _check_grad(grad_out, p.shape[:-1] + v.shape[-1:], q.dtype)
    dv = np.swapaxes(p, -1, -2) @ grad_out  # (*, S, Ev)
    dp = grad_out @ np.swapaxes(v, -1, -2)  # (*, L, S)
    ds = _softmax_backward(p, dp)  # P * (dP - rowsum(dP * P)), (*, L, S)
    dq = ds @ k  # (*, L, E)
    dq *= scale
    dk = np.swapaxes(ds, -1, -2) @ q  # (*, S, E)
    dk *= scale
    return dq, dk, dv


# ------------------------------------------------------------------------------------ multi-head attention
def _check_mha(query, key, value, num_heads, w_in, b_in, w_out, b_out, attn_mask, key_padding_mask):
    """Batch-first (N, L, E), (N, S, E), (N, S, E); weights as nn.MultiheadAttention; masks as torch's."""
    arrays = {"query": query, "key": key, "value": value, "in_proj_weight": w_in, "in_proj_bias": b_in,
              "out_proj_weight": w_out, "out_proj_bias": b_out}
    arrays = {name: _float(a, name) for name, a in arrays.items() if a is not None}
    if len({a.dtype for a in arrays.values()}) > 1:
        raise ValueError(f"query, key, value and the weights must have one dtype, got "
                         f"{', '.join(f'{n} {a.dtype}' for n, a in arrays.items())}")
    q, k, v = arrays["query"], arrays["key"], arrays["value"]
    if q.ndim != 3 or k.ndim != 3 or v.shape != k.shape or k.shape[0] != q.shape[0] or k.shape[2] != q.shape[2]:
        raise ValueError(f"query, key, value must have shapes (N, L, E), (N, S, E), (N, S, E), "
                         f"got {q.shape}, {k.shape}, {v.shape}")
    n, L, e = q.shape
    if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or num_heads < 1 \
            or e % num_heads:
        raise ValueError(f"num_heads must be a positive integer dividing E = {e}, got {num_heads!r}")
    expected = {"in_proj_weight": (3 * e, e), "in_proj_bias": (3 * e,), "out_proj_weight": (e, e),
                "out_proj_bias": (e,)}
    for name, shape in expected.items():
        if name in arrays and arrays[name].shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arrays[name].shape}")
    if "in_proj_weight" not in arrays or "out_proj_weight" not in arrays:
        raise ValueError("in_proj_weight and out_proj_weight are required, got None")
    s = k.shape[1]
    if attn_mask is not None and np.ndim(attn_mask) not in (2, 3):
        raise ValueError(f"attn_mask must have shape (L, S) = {(L, s)} or (N*H, L, S) = "
                         f"{(n * num_heads, L, s)}, got {np.shape(attn_mask)}")
    if attn_mask is not None and np.shape(attn_mask) not in ((L, s), (n * num_heads, L, s)):
        raise ValueError(f"attn_mask must have shape (L, S) = {(L, s)} or (N*H, L, S) = "
                         f"{(n * num_heads, L, s)}, got {np.shape(attn_mask)}")
    if key_padding_mask is not None and np.shape(key_padding_mask) != (n, s):
        raise ValueError(f"key_padding_mask must have shape (N, S) = {(n, s)}, got {np.shape(key_padding_mask)}")
    attn_mask = _mask(attn_mask, "attn_mask", np.shape(attn_mask), q.dtype)
    key_padding_mask = _mask(key_padding_mask, "key_padding_mask", (n, s), q.dtype)
    return q, k, v, arrays["in_proj_weight"], arrays.get("in_proj_bias"), arrays["out_proj_weight"], \
        arrays.get("out_proj_bias"), attn_mask, key_padding_mask


def _additive(mask, dtype):
    """torch's MHA masks as scores to add: boolean True (masked out) -> -inf, float as is."""
    return np.where(mask, -np.inf, 0.0).astype(dtype) if mask.dtype == bool else mask


def _heads(x, h):
    """(N, T, E) -> (N, H, T, D), D = E / H: head h owns the features h*D .. (h+1)*D - 1."""
    n, t, e = x.shape
    return x.reshape(n, t, h, e // h).transpose(0, 2, 1, 3)


def _merge(x):
    """(N, H, T, D) -> (N, T, H*D), the inverse of _heads."""
    n, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                 out_proj_bias, *, attn_mask=None, key_padding_mask=None, need_weights=True,
                                 average_attn_weights=True):
    """MultiHead(Q, K, V) = Concat(head_1..head_H) W_O^T + b_O, head_h = Attention(Q W_q,h^T, K W_k,h^T,
    V W_v,h^T) (eq-attention-mha), as nn.MultiheadAttention(batch_first=True). Vaswani et al. (2017).

    query (N, L, E), key (N, S, E), value (N, S, E); in_proj_weight (3E, E) = [W_q; W_k; W_v],
    in_proj_bias (3E,) or None, out_proj_weight (E, E), out_proj_bias (E,) or None. attn_mask (L, S) or
    (N*H, L, S) and key_padding_mask (N, S): boolean True = masked out (torch's MHA convention), or float
    (added). Returns (out (N, L, E), weights (N, L, S) averaged over heads or (N, H, L, S), or None,
    cache). A fully masked row gives zero weights and the output bias alone.
    """
    q, k, v, w_in, b_in, w_out, b_out, attn_mask, key_padding_mask = _check_mha(
        query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias,
        attn_mask, key_padding_mask)
    (n, L, e), s, h = q.shape, k.shape[1], num_heads
    w_q, w_k, w_v = w_in[:e], w_in[e:2 * e], w_in[2 * e:]  # (E, E) each
    b_q, b_k, b_v = (b_in[:e], b_in[e:2 * e], b_in[2 * e:]) if b_in is not None else (0.0, 0.0, 0.0)
    qh = _heads(q @ w_q.T + b_q, h)  # (N, H, L, D)
    kh = _heads(k @ w_k.T + b_k, h)  # (N, H, S, D)
    vh = _heads(v @ w_v.T + b_v, h)  # (N, H, S, D)
    mask = np.zeros((1, 1, L, s), dtype=q.dtype)  # (N, H, L, S) after broadcasting
    if attn_mask is not None:
        mask = mask + _additive(attn_mask, q.dtype).reshape((-1, h, L, s) if attn_mask.ndim == 3 else (L, s))
    if key_padding_mask is not None:
        mask = mask + _additive(key_padding_mask, q.dtype)[:, None, None, :]  # (N, 1, 1, S)
    oh, sdpa_cache = scaled_dot_product_attention_forward(qh, kh, vh, attn_mask=mask)  # (N, H, L, D)
    concat = _merge(oh)  # (N, L, E)
    out = concat @ w_out.T + (b_out if b_out is not None else 0.0)  # (N, L, E)
    p = sdpa_cache[3]  # (N, H, L, S)
    weights = (p.mean(axis=1) if average_attn_weights else p.copy()) if need_weights else None
    cache = (q, k, v, h, w_in, b_in is not None, w_out, b_out is not None, concat, sdpa_cache)
    return out, weights, cache


def multi_head_attention_backward(grad_out, cache):
    """Gradients (dquery, dkey, dvalue, din_proj_weight, din_proj_bias, dout_proj_weight, dout_proj_bias)
    from dOut (N, L, E); a bias gradient is None where the bias was None. The weights returned by the
    forward pass are not differentiated (their gradient is taken as zero).
    """
    q, k, v, h, w_in, has_b_in, w_out, has_b_out, concat, sdpa_cache = cache
    grad_out = _check_grad(grad_out, q.shape, q.dtype)
    e = q.shape[2]
    d_w_out = np.tensordot(grad_out, concat, axes=([0, 1], [0, 1]))  # (E, E)
    d_b_out = grad_out.sum(axis=(0, 1)) if has_b_out else None  # (E,)
    d_oh = _heads(grad_out @ w_out, h)  # (N, H, L, D)
    d_qh, d_kh, d_vh = scaled_dot_product_attention_backward(d_oh, sdpa_cache)
    grads_in, grads_w, grads_b = [], [], []
    for x, d_xh, w in zip((q, k, v), (d_qh, d_kh, d_vh), (w_in[:e], w_in[e:2 * e], w_in[2 * e:])):
        d_proj = _merge(d_xh)  # (N, T, E): gradient of x W^T + b
        grads_in.append(d_proj @ w)  # (N, T, E)
        grads_w.append(np.tensordot(d_proj, x, axes=([0, 1], [0, 1])))  # (E, E)
        grads_b.append(d_proj.sum(axis=(0, 1)))  # (E,)
    d_w_in = np.concatenate(grads_w)  # (3E, E)
    d_b_in = np.concatenate(grads_b) if has_b_in else None  # (3E,)
    return grads_in[0], grads_in[1], grads_in[2], d_w_in, d_b_in, d_w_out, d_b_out
