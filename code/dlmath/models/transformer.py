"""A transformer encoder built from the functional layers (chapter 17).

Parameters are plain dicts of arrays named as the ``state_dict`` of the matching torch modules, so that
weights move both ways by name:

* a block (``transformer_block_forward``) is ``torch.nn.TransformerEncoderLayer(d_model, nhead,
  dim_feedforward, dropout=0, batch_first=True, norm_first=...)``: keys ``self_attn.in_proj_weight``
  (3d, d), ``self_attn.in_proj_bias``, ``self_attn.out_proj.weight``, ``self_attn.out_proj.bias``,
  ``linear1.weight`` (f, d), ``linear1.bias``, ``linear2.weight`` (d, f), ``linear2.bias``,
  ``norm1.weight``, ``norm1.bias``, ``norm2.weight``, ``norm2.bias``.
  Post-norm (norm_first=False, Vaswani et al. 2017): y = LN2(h + FFN(h)), h = LN1(x + MHA(x)).
  Pre-norm (norm_first=True, Xiong et al. 2020): h = x + MHA(LN1(x)), y = h + FFN(LN2(h))
  (eq-attention-post-norm, eq-attention-pre-norm); FFN(x) = W2 act(W1 x + b1) + b2 (eq-attention-ffn).
* the model (``transformer_forward``) embeds tokens (``embedding.weight`` (V, d)), adds the sinusoidal
  positional encoding (eq-attention-pe), runs the blocks ``layers.{i}.*``, a final layer norm ``norm.*``
  when pre-norm (as ``nn.TransformerEncoder(..., norm=LayerNorm(d))``), and a linear head ``head.*``
  (V, d) giving logits (N, T, V) at every position: an encoder that labels each position.

``train_transformer`` runs Adam (``optim.adam_step``) on the mean cross-entropy over all positions.
"""
from __future__ import annotations

import math

import numpy as np

from dlmath.layers import activations as _act
from dlmath.layers.attention import multi_head_attention_backward, multi_head_attention_forward
from dlmath.layers.linear import linear_backward, linear_forward
from dlmath.layers.losses import cross_entropy_backward, cross_entropy_forward
from dlmath.layers.normalization import layer_norm_backward, layer_norm_forward
from dlmath.layers.positional import sinusoidal_positional_encoding
from dlmath.optim import adam_step

__all__ = [
    "embedding_forward", "embedding_backward", "feed_forward_forward", "feed_forward_backward",
    "init_transformer_block", "transformer_block_forward", "transformer_block_backward",
    "init_transformer", "num_parameters", "transformer_forward", "transformer_backward",
    "transformer_loss_and_grads", "predict", "train_transformer", "BLOCK_KEYS",
]

BLOCK_KEYS = ("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
              "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
              "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")

_ACTIVATIONS = {"relu": (_act.relu_forward, _act.relu_backward), "gelu": (_act.gelu_forward, _act.gelu_backward)}


# ----------------------------------------------------------------------------------------- embedding
def embedding_forward(x, weight):
    """out[..., :] = weight[x[...]]: integer indices x (*) and a table weight (V, d) -> (*, d) (F.embedding)."""
    x, weight = np.asarray(x), np.asarray(weight)
    if x.dtype.kind not in "iu":
        raise ValueError(f"x must be an integer array of indices, got dtype {x.dtype}")
    if weight.ndim != 2 or weight.dtype.kind != "f":
        raise ValueError(f"weight must be a float array (V, d), got {weight.dtype} {weight.shape}")
    if x.size and (x.min() < 0 or x.max() >= weight.shape[0]):
        raise ValueError(f"indices must lie in [0, {weight.shape[0]}), got range [{x.min()}, {x.max()}]")
    return weight[x], (x, weight.shape, weight.dtype)


def embedding_backward(grad_out, cache):
    """dweight (V, d): each row collects the upstream gradients of every position that looked it up."""
    x, shape, dtype = cache
    grad_out = np.asarray(grad_out, dtype=dtype)
    if grad_out.shape != x.shape + shape[1:]:
        raise ValueError(f"grad_out must have shape {x.shape + shape[1:]}, got {grad_out.shape}")
    dweight = np.zeros(shape, dtype=dtype)
    np.add.at(dweight, x.reshape(-1), grad_out.reshape(-1, shape[1]))
    return dweight


# ------------------------------------------------------------------------------------------ feed-forward
def feed_forward_forward(x, w1, b1, w2, b2, *, activation="relu"):
    """FFN(x) = act(x W1^T + b1) W2^T + b2, position by position (eq-attention-ffn)."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    act_f = _ACTIVATIONS[activation][0]
    z, c1 = linear_forward(x, w1, b1)
    a, ca = act_f(z)
    out, c2 = linear_forward(a, w2, b2)
    return out, (c1, ca, c2, activation)


def feed_forward_backward(grad_out, cache):
    """(dx, dw1, db1, dw2, db2)."""
    c1, ca, c2, activation = cache
    da, dw2, db2 = linear_backward(grad_out, c2)
    dz = _ACTIVATIONS[activation][1](da, ca)
    dx, dw1, db1 = linear_backward(dz, c1)
    return dx, dw1, db1, dw2, db2


# ------------------------------------------------------------------------------------------------ block
def init_transformer_block(d_model, nhead, dim_feedforward, rng, *, dtype=np.float64):
    """Parameters of one block, initialized as torch does: Xavier-uniform packed in-projection, zero
    attention biases, nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) elsewhere, layer norms 1 and 0."""
    if d_model % nhead:
        raise ValueError(f"nhead must divide d_model, got d_model={d_model}, nhead={nhead}")
    d, f = d_model, dim_feedforward

    def unif(shape, fan_in):
        b = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-b, b, shape).astype(dtype)

    a = math.sqrt(6.0 / (d + 3 * d))  # xavier_uniform_ on the (3d, d) matrix
    return {"self_attn.in_proj_weight": rng.uniform(-a, a, (3 * d, d)).astype(dtype),
            "self_attn.in_proj_bias": np.zeros(3 * d, dtype), "self_attn.out_proj.weight": unif((d, d), d),
            "self_attn.out_proj.bias": np.zeros(d, dtype), "linear1.weight": unif((f, d), d),
            "linear1.bias": unif((f,), d), "linear2.weight": unif((d, f), f), "linear2.bias": unif((d,), f),
            "norm1.weight": np.ones(d, dtype), "norm1.bias": np.zeros(d, dtype),
            "norm2.weight": np.ones(d, dtype), "norm2.bias": np.zeros(d, dtype)}


def _check_block(x, params):
    x = np.asarray(x)
    if x.ndim != 3 or x.dtype.kind != "f":
        raise ValueError(f"x must be a float array (N, T, d), got {x.dtype} {x.shape}")
    missing = [k for k in BLOCK_KEYS if k not in params]
    if missing:
        raise ValueError(f"params lacks {missing}")
    return x


def transformer_block_forward(x, params, nhead, *, norm_first=False, activation="relu", attn_mask=None,
                              key_padding_mask=None, eps=1e-5, need_weights=False):
    """One encoder block on x (N, T, d) (eq-attention-post-norm or eq-attention-pre-norm), as
    nn.TransformerEncoderLayer(batch_first=True, dropout=0). Masks as nn.MultiheadAttention (True = masked
    out). Returns (out (N, T, d), cache); with need_weights the cache's last entry holds the attention
    weights per head (N, H, T, T)."""
    x, p = _check_block(x, params), params
    d = x.shape[-1]

    def attend(u):
        out, w, c = multi_head_attention_forward(
            u, u, u, nhead, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
            p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"], attn_mask=attn_mask,
            key_padding_mask=key_padding_mask, need_weights=need_weights, average_attn_weights=False)
        return out, w, c

    def ffn(u):
        return feed_forward_forward(u, p["linear1.weight"], p["linear1.bias"], p["linear2.weight"],
                                    p["linear2.bias"], activation=activation)

    def norm(u, i):
        return layer_norm_forward(u, (d,), p[f"norm{i}.weight"], p[f"norm{i}.bias"], eps=eps)

    if norm_first:  # h = x + MHA(LN1(x)); y = h + FFN(LN2(h))
        n1, c_n1 = norm(x, 1)
        a, w, c_sa = attend(n1)
        h = x + a
        n2, c_n2 = norm(h, 2)
        f, c_ff = ffn(n2)
        y = h + f
    else:  # h = LN1(x + MHA(x)); y = LN2(h + FFN(h))
        a, w, c_sa = attend(x)
        h, c_n1 = norm(x + a, 1)
        f, c_ff = ffn(h)
        y, c_n2 = norm(h + f, 2)
    return y, (norm_first, c_n1, c_sa, c_n2, c_ff, w)


def transformer_block_backward(grad_out, cache):
    """(dx, grads) with grads a dict keyed as the block's parameters."""
    norm_first, c_n1, c_sa, c_n2, c_ff, _ = cache
    g = {}

    def attend_back(dy):
        dq, dk, dv, g["self_attn.in_proj_weight"], g["self_attn.in_proj_bias"], g["self_attn.out_proj.weight"], \
            g["self_attn.out_proj.bias"] = multi_head_attention_backward(dy, c_sa)
        return dq + dk + dv  # the same input feeds query, key and value

    def ffn_back(dy):
        dx, g["linear1.weight"], g["linear1.bias"], g["linear2.weight"], g["linear2.bias"] = \
            feed_forward_backward(dy, c_ff)
        return dx

    def norm_back(dy, c, i):
        dx, g[f"norm{i}.weight"], g[f"norm{i}.bias"] = layer_norm_backward(dy, c)
        return dx

    if norm_first:
        dh = grad_out + norm_back(ffn_back(grad_out), c_n2, 2)  # residual path + FFN path
        dx = dh + norm_back(attend_back(dh), c_n1, 1)
    else:
        ds = norm_back(grad_out, c_n2, 2)  # gradient of h + FFN(h)
        dh = ds + ffn_back(ds)
        dr = norm_back(dh, c_n1, 1)  # gradient of x + MHA(x)
        dx = dr + attend_back(dr)
    return dx, g


# ------------------------------------------------------------------------------------------------ model
def init_transformer(vocab_size, d_model, nhead, num_layers, dim_feedforward, rng, *, norm_first=True,
                     dtype=np.float64):
    """Parameters of the encoder model: embedding N(0, 1) as nn.Embedding, blocks, final norm (pre-norm
    only), head as nn.Linear."""
    p = {"embedding.weight": rng.standard_normal((vocab_size, d_model)).astype(dtype)}
    for i in range(num_layers):
        for k, v in init_transformer_block(d_model, nhead, dim_feedforward, rng, dtype=dtype).items():
            p[f"layers.{i}.{k}"] = v
    if norm_first:
        p["norm.weight"], p["norm.bias"] = np.ones(d_model, dtype), np.zeros(d_model, dtype)
    b = 1.0 / math.sqrt(d_model)
    p["head.weight"] = rng.uniform(-b, b, (vocab_size, d_model)).astype(dtype)
    p["head.bias"] = rng.uniform(-b, b, vocab_size).astype(dtype)
    return p


def num_parameters(params):
    """The number of scalars in a parameter dict."""
    return int(sum(v.size for v in params.values()))


def _num_layers(params):
    return len({k.split(".")[1] for k in params if k.startswith("layers.")})


def transformer_forward(tokens, params, nhead, *, attn_mask=None, key_padding_mask=None, need_weights=False):
    """tokens (N, T) integers -> (logits (N, T, V), cache). Pre-norm when params hold a final ``norm``.
    With need_weights, ``cache[-1]`` is the list of attention weights (N, H, T, T), one per block."""
    norm_first = "norm.weight" in params
    x, c_emb = embedding_forward(tokens, params["embedding.weight"])
    d = x.shape[-1]
    x = x + sinusoidal_positional_encoding(x.shape[1], d, dtype=x.dtype)  # (N, T, d)
    c_blocks, maps = [], []
    for i in range(_num_layers(params)):
        bp = {k: params[f"layers.{i}.{k}"] for k in BLOCK_KEYS}
        x, c = transformer_block_forward(x, bp, nhead, norm_first=norm_first, attn_mask=attn_mask,
                                         key_padding_mask=key_padding_mask, need_weights=need_weights)
        c_blocks.append(c)
        maps.append(c[-1])
    c_norm = None
    if norm_first:
        x, c_norm = layer_norm_forward(x, (d,), params["norm.weight"], params["norm.bias"])
    logits, c_head = linear_forward(x, params["head.weight"], params["head.bias"])
    return logits, (c_emb, c_blocks, c_norm, c_head, maps)


def transformer_backward(grad_logits, cache):
    """Gradients of every parameter (a dict keyed as the parameters) from dL/dlogits (N, T, V)."""
    c_emb, c_blocks, c_norm, c_head, _ = cache
    grads = {}
    dx, grads["head.weight"], grads["head.bias"] = linear_backward(grad_logits, c_head)
    if c_norm is not None:
        dx, grads["norm.weight"], grads["norm.bias"] = layer_norm_backward(dx, c_norm)
    for i in range(len(c_blocks) - 1, -1, -1):
        dx, g = transformer_block_backward(dx, c_blocks[i])
        grads.update({f"layers.{i}.{k}": v for k, v in g.items()})
    grads["embedding.weight"] = embedding_backward(dx, c_emb)  # the encoding is fixed: no gradient
    return grads


def transformer_loss_and_grads(tokens, target, params, nhead):
    """Mean cross-entropy over all N T positions of target (N, T), and its gradients."""
    logits, cache = transformer_forward(tokens, params, nhead)
    n, t, v = logits.shape
    loss, c_loss = cross_entropy_forward(logits.reshape(n * t, v), np.asarray(target).reshape(n * t))
    dlogits = cross_entropy_backward(1.0, c_loss).reshape(n, t, v)
    return float(loss), transformer_backward(dlogits, cache)


def predict(tokens, params, nhead):
    """The most likely token at every position (N, T)."""
    return transformer_forward(tokens, params, nhead)[0].argmax(axis=-1)


def train_transformer(params, sample_batch, nhead, rng, *, steps, lr=1e-3, betas=(0.9, 0.98), warmup=0,
                      clip=None):
    """Adam on the mean cross-entropy: each step draws (tokens, target) = sample_batch(rng). The learning rate
    rises linearly over ``warmup`` steps; ``clip`` rescales the whole gradient to that norm at most.
    Returns (params, losses per step)."""
    state = {k: {} for k in params}
    losses = []
    for step in range(steps):
        tokens, target = sample_batch(rng)
        loss, grads = transformer_loss_and_grads(tokens, target, params, nhead)
        if clip is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
            if norm > clip:
                grads = {k: g * (clip / norm) for k, g in grads.items()}
        rate = lr * min(1.0, (step + 1) / warmup) if warmup else lr
        for k in params:
            params[k], state[k] = adam_step(params[k], grads[k], state[k], lr=rate, betas=betas)
        losses.append(loss)
    return params, np.array(losses)
