"""Stacked and bidirectional RNN/LSTM/GRU with PyTorch's parameter names, and two models on top (chapter 16).

* ``init_recurrent``, ``recurrent_forward``, ``recurrent_backward``: a multi-layer, optionally
  bidirectional ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``dropout=0``) as a pure function of a
  parameter dict whose keys are the module's own: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
  ``bias_ih_l{k}``, ``bias_hh_l{k}`` and the same with ``_reverse`` for the backward direction. So
  ``{k: v.numpy() for k, v in module.state_dict().items()}`` loads a torch module into it, and
  ``{k: torch.from_numpy(v) ...}`` goes back with ``module.load_state_dict``. Layer k > 0 reads the
  outputs of layer k - 1 (both directions concatenated, forward first); the reverse direction reads the
  sequence from its end. States ``(num_layers * D, N, H)`` with index ``k * D + d``, as torch.
* ``init_char_lm``, ``char_lm_loss``, ``char_lm_sample``, ``train_char_lm``: a character-level language
  model, embedding + LSTM + linear + cross-entropy (eq-recurrent-char-lm), sampled with a temperature
  (eq-recurrent-temperature). Keys ``embedding.weight``, ``lstm.*``, ``fc.weight``, ``fc.bias``.
* ``init_sequence_regressor``, ``sequence_regressor_loss``, ``train_adding``: a recurrent layer whose
  last output goes through a linear map to one number, trained on the adding problem with the mean
  squared error.

Every layer comes from ``dlmath.layers.recurrent`` (eq-recurrent-rnn, eq-recurrent-lstm, eq-recurrent-gru
and their backward passes); the loop over layers and directions is here.
"""
from __future__ import annotations

import numbers

import numpy as np

from dlmath.clip import clip_grad_norm
from dlmath.layers import recurrent as _rec
from dlmath.layers.losses import cross_entropy_backward, cross_entropy_forward, softmax
from dlmath.optim import adam_step

__all__ = [
    "GATES", "init_recurrent", "recurrent_config", "recurrent_forward", "recurrent_backward",
    "init_char_lm", "char_lm_loss", "char_lm_sample", "train_char_lm",
    "init_sequence_regressor", "sequence_regressor_loss", "train_adding",
]

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # weight blocks stacked in w_ih, w_hh: -, (i, f, g, o), (r, z, n)
_SUFFIX = ("", "_reverse")


def _check_mode(mode):
    if mode not in GATES:
        raise ValueError(f"mode must be one of {sorted(GATES)}, got {mode!r}")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def init_recurrent(mode, input_size, hidden_size, *, num_layers=1, bidirectional=False, bias=True, rng):
    """Parameters of ``nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bias, bidirectional)``.

    Every entry is drawn uniformly from [-1/sqrt(H), 1/sqrt(H)], torch's default. Returns a dict of
    float64 arrays with torch's keys and shapes: weight_ih_l{k}{sfx} (G*H, I_k), weight_hh_l{k}{sfx}
    (G*H, H), bias_ih_l{k}{sfx}, bias_hh_l{k}{sfx} (G*H,), with I_0 = input_size, I_k = D*H after.
    """
    _check_mode(mode)
    i_size, h_size = _positive_int("input_size", input_size), _positive_int("hidden_size", hidden_size)
    layers = _positive_int("num_layers", num_layers)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    g, d, k = GATES[mode], 2 if bidirectional else 1, 1.0 / np.sqrt(h_size)
    params = {}
    for layer in range(layers):
        in_size = i_size if layer == 0 else d * h_size
        for sfx in _SUFFIX[:d]:
            params[f"weight_ih_l{layer}{sfx}"] = rng.uniform(-k, k, (g * h_size, in_size))
            params[f"weight_hh_l{layer}{sfx}"] = rng.uniform(-k, k, (g * h_size, h_size))
            if bias:
                params[f"bias_ih_l{layer}{sfx}"] = rng.uniform(-k, k, g * h_size)
                params[f"bias_hh_l{layer}{sfx}"] = rng.uniform(-k, k, g * h_size)
    return params


def recurrent_config(params, mode):
    """(num_layers, D, hidden_size, bias) read from the keys and shapes of a parameter dict; checks them."""
    _check_mode(mode)
    if "weight_hh_l0" not in params:
        raise ValueError(f"params must hold torch's keys weight_ih_l0, weight_hh_l0, ...; got {sorted(params)}")
    layers = 0
    while f"weight_hh_l{layers}" in params:
        layers += 1
    d = 2 if "weight_hh_l0_reverse" in params else 1
    bias = "bias_ih_l0" in params
    gh, h = np.shape(params["weight_hh_l0"])
    if gh != GATES[mode] * h:
        raise ValueError(f"mode {mode!r} needs weight_hh_l0 of shape ({GATES[mode]}*H, H), got {(gh, h)}")
    names = [f"{w}_l{k}{s}" for k in range(layers) for s in _SUFFIX[:d]
             for w in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())]
    if sorted(names) != sorted(params):
        raise ValueError(f"params must hold exactly {sorted(names)}, got {sorted(params)}")
    return layers, d, h, bias


def _layer_args(params, layer, sfx, bias):
    p = [params[f"weight_ih_l{layer}{sfx}"], params[f"weight_hh_l{layer}{sfx}"]]
    return p + ([params[f"bias_ih_l{layer}{sfx}"], params[f"bias_hh_l{layer}{sfx}"]] if bias else [None, None])


def recurrent_forward(x, hx, params, *, mode, batch_first=False, nonlinearity="tanh"):
    """A stacked, optionally bidirectional recurrent network, as ``nn.RNN/LSTM/GRU`` with ``dropout=0``.

    x (T, N, I), or (N, T, I) with batch_first. hx: None (zeros), or for rnn/gru h0 (L*D, N, H), for lstm
    (h0, c0) both (L*D, N, H). Returns (output (T, N, D*H) (batch first if asked), h_n or (h_n, c_n),
    cache). ``nonlinearity`` ('tanh' or 'relu') applies to mode 'rnn' only.
    """
    layers, d, h, bias = recurrent_config(params, mode)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, N, I) (or (N, T, I) with batch_first), got shape {x.shape}")
    if batch_first:
        x = x.swapaxes(0, 1)
    n = x.shape[1]
    states = ((hx,) if mode != "lstm" else (hx if hx is not None else (None, None)))
    if mode == "lstm" and (not isinstance(states, tuple) or len(states) != 2):
        raise ValueError("hx of an LSTM must be None or a tuple (h0, c0)")
    for s in states:
        if s is not None and np.shape(s) != (layers * d, n, h):
            raise ValueError(f"initial states must have shape {(layers * d, n, h)}, got shape {np.shape(s)}")
    fwd = {"rnn": _rec.rnn_forward, "lstm": _rec.lstm_forward, "gru": _rec.gru_forward}[mode]
    extra = {"nonlinearity": nonlinearity} if mode == "rnn" else {}
    caches, finals, inp = [], [], x
    for layer in range(layers):
        outs = []
        for di in range(d):
            idx = layer * d + di
            s0 = [None if s is None else np.asarray(s)[idx] for s in states]
            seq = inp if di == 0 else inp[::-1]  # the reverse direction reads from the end
            out, final, cache = fwd(seq, *s0, *_layer_args(params, layer, _SUFFIX[di], bias), **extra)
            outs.append(out if di == 0 else out[::-1])
            finals.append(final if mode == "lstm" else (final,))
            caches.append(cache)
        inp = np.concatenate(outs, axis=2) if d == 2 else outs[0]  # (T, N, D*H)
    h_n = tuple(np.stack([f[k] for f in finals]) for k in range(len(states)))
    output = inp.swapaxes(0, 1) if batch_first else inp
    return output, (h_n if mode == "lstm" else h_n[0]), (mode, layers, d, h, bias, batch_first, caches,
                                                          hx is not None)


def recurrent_backward(grad_output, grad_hn, cache):
    """Backpropagation through time through every layer and direction: ``(dx, dhx, grads)``.

    grad_output like the output (or None), grad_hn like h_n (for lstm a pair, each None allowed, or None).
    dx like x; dhx like hx (None where hx was None); grads a dict with the keys of params.
    """
    mode, layers, d, h, bias, batch_first, caches, given = cache
    bwd = {"rnn": _rec.rnn_backward, "lstm": _rec.lstm_backward, "gru": _rec.gru_backward}[mode]
    x0 = caches[0][0]  # the first layer's input as seen by the forward direction, (T, N, I)
    t_len, n = x0.shape[:2]
    n_states = 2 if mode == "lstm" else 1
    if grad_output is None:
        g = np.zeros((t_len, n, d * h), dtype=x0.dtype)
    else:
        g = np.asarray(grad_output, dtype=x0.dtype)
        g = g.swapaxes(0, 1) if batch_first else g
        if g.shape != (t_len, n, d * h):
            raise ValueError(f"grad_output must have shape {(t_len, n, d * h)} (time first), got {g.shape}")
    gh = grad_hn if mode == "lstm" else (grad_hn,)
    if gh is None:
        gh = (None, None)
    grads, dstates = {}, [[None] * (layers * d) for _ in range(n_states)]
    for layer in reversed(range(layers)):
        dx_layer = 0.0
        for di in range(d):
            idx = layer * d + di
            g_d = g[:, :, di * h:(di + 1) * h]
            g_d = g_d if di == 0 else g_d[::-1]
            g_fin = [None if s is None else np.asarray(s)[idx] for s in gh]
            res = bwd(g_d, *g_fin, caches[idx])
            dx_d, ds, dparams = res[0], res[1:1 + n_states], res[1 + n_states:]
            dx_layer = dx_layer + (dx_d if di == 0 else dx_d[::-1])
            for k in range(n_states):
                dstates[k][idx] = ds[k]
            sfx = _SUFFIX[di]
            names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
            for name, value in zip(names, dparams):
                grads[f"{name}_l{layer}{sfx}"] = value
        g = dx_layer
    dx = g.swapaxes(0, 1) if batch_first else g
    dhx = None
    if given:
        dhx = tuple(np.stack(ds) for ds in dstates)
        dhx = dhx if mode == "lstm" else dhx[0]
    return dx, dhx, grads


# ------------------------------------------------------------------------------- character language model
def _sub(params, prefix):
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def init_char_lm(vocab_size, *, embedding_dim=16, hidden_size=64, num_layers=1, rng):
    """Embedding (V, E) + LSTM + linear (V, H): keys embedding.weight, lstm.weight_ih_l0, ..., fc.weight,
    fc.bias, as an ``nn.Module`` with attributes ``embedding``, ``lstm``, ``fc`` (embedding N(0, 1) and
    linear U(-1/sqrt(H), 1/sqrt(H)), torch's defaults)."""
    v, e = _positive_int("vocab_size", vocab_size), _positive_int("embedding_dim", embedding_dim)
    params = {"embedding.weight": rng.standard_normal((v, e))}
    params.update({f"lstm.{k}": a for k, a in init_recurrent("lstm", e, hidden_size, num_layers=num_layers,
                                                              rng=rng).items()})
    k = 1.0 / np.sqrt(hidden_size)
    params["fc.weight"] = rng.uniform(-k, k, (v, hidden_size))
    params["fc.bias"] = rng.uniform(-k, k, v)
    return params


def _char_logits(params, codes, hx):
    emb = params["embedding.weight"][codes]  # (T, N, E)
    out, hn, cache = recurrent_forward(emb, hx, _sub(params, "lstm."), mode="lstm")
    logits = out @ params["fc.weight"].T + params["fc.bias"]  # (T, N, V)
    return logits, hn, (codes, out, cache)


def char_lm_loss(params, tokens, *, hx=None):
    """Mean cross-entropy of predicting tokens[t + 1] from tokens[0..t] (eq-recurrent-char-lm).

    tokens: integer codes (T + 1, N). Returns (loss, grads (a dict like params), (h_n, c_n)); the
    initial state hx (pair or None) gets no gradient (truncated backpropagation through time).
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[0] < 2 or tokens.dtype.kind not in "iu":
        raise ValueError(f"tokens must be integer codes of shape (T + 1, N) with T >= 1, got {tokens.shape}, "
                         f"{tokens.dtype}")
    inputs, targets = tokens[:-1], tokens[1:]
    logits, hn, (codes, out, cache) = _char_logits(params, inputs, hx)
    t_len, n, v = logits.shape
    loss, c_loss = cross_entropy_forward(logits.reshape(-1, v), targets.reshape(-1))
    d_logits = cross_entropy_backward(1.0, c_loss).reshape(t_len, n, v)
    grads = {"fc.weight": np.tensordot(d_logits, out, axes=([0, 1], [0, 1])), "fc.bias": d_logits.sum(axis=(0, 1))}
    d_out = d_logits @ params["fc.weight"]  # (T, N, H)
    d_emb, _, g_lstm = recurrent_backward(d_out, None, cache)
    grads.update({f"lstm.{k}": a for k, a in g_lstm.items()})
    d_table = np.zeros_like(params["embedding.weight"])
    np.add.at(d_table, codes, d_emb)  # rows of the table used several times add up
    grads["embedding.weight"] = d_table
    return float(loss), grads, hn


def char_lm_sample(params, prompt, length, *, temperature=1.0, rng):
    """``length`` codes sampled one at a time after the codes ``prompt`` (1-D, non-empty), with
    probabilities softmax(logits / temperature) (eq-recurrent-temperature). Returns int64 (length,)."""
    prompt = np.asarray(prompt)
    if prompt.ndim != 1 or prompt.size == 0 or prompt.dtype.kind not in "iu":
        raise ValueError(f"prompt must be a non-empty 1-D array of codes, got {prompt.shape}, {prompt.dtype}")
    if not (isinstance(temperature, numbers.Real) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    logits, hx, _ = _char_logits(params, prompt[:, None], None)  # the prompt, all at once
    last, out = logits[-1, 0], np.empty(length, dtype=np.int64)
    for k in range(length):
        p = softmax(last / temperature)
        out[k] = rng.choice(p.size, p=p)
        logits, hx, _ = _char_logits(params, out[k:k + 1, None], hx)  # one step from the carried state
        last = logits[-1, 0]
    return out


def train_char_lm(codes, vocab_size, *, steps, seq_len=32, batch_size=32, lr=0.01, hidden_size=64,
                  embedding_dim=16, max_norm=1.0, rng):
    """Adam on random windows of ``seq_len + 1`` codes of the 1-D array ``codes``, gradients clipped to
    norm ``max_norm``. Returns (params, losses (steps,))."""
    codes = np.asarray(codes)
    params = init_char_lm(vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size, rng=rng)
    states = {k: {} for k in params}
    losses = np.empty(steps)
    offsets = np.arange(seq_len + 1)
    for step in range(steps):
        starts = rng.integers(0, codes.size - seq_len - 1, size=batch_size)
        tokens = codes[starts[None, :] + offsets[:, None]]  # (seq_len + 1, batch)
        losses[step], grads, _ = char_lm_loss(params, tokens)
        keys = list(params)
        clipped, _ = clip_grad_norm([grads[k] for k in keys], max_norm)
        for k, gk in zip(keys, clipped):
            params[k], states[k] = adam_step(params[k], gk, states[k], lr=lr)
    return params, losses


# ------------------------------------------------------------------------------- the adding problem's model
def init_sequence_regressor(mode, input_size, hidden_size, *, rng):
    """A one-layer recurrent network (keys rnn.*) and a linear map of its last output to one number
    (fc.weight (1, H), fc.bias (1,)), torch's default initialization."""
    params = {f"rnn.{k}": a for k, a in init_recurrent(mode, input_size, hidden_size, rng=rng).items()}
    k = 1.0 / np.sqrt(hidden_size)
    params["fc.weight"] = rng.uniform(-k, k, (1, hidden_size))
    params["fc.bias"] = rng.uniform(-k, k, 1)
    return params


def sequence_regressor_loss(params, x, target, *, mode):
    """Mean squared error of y = fc(h_T) against ``target`` (N,), x (T, N, I). Returns (loss, grads, y)."""
    out, _, cache = recurrent_forward(x, None, _sub(params, "rnn."), mode=mode)
    last = out[-1]  # (N, H)
    y = last @ params["fc.weight"][0] + params["fc.bias"][0]  # (N,)
    r = y - target
    loss = float(np.mean(r ** 2))
    dy = 2.0 * r / r.size  # (N,)
    grads = {"fc.weight": (dy @ last)[None, :], "fc.bias": np.array([dy.sum()])}
    d_out = np.zeros_like(out)
    d_out[-1] = dy[:, None] * params["fc.weight"]  # only the last step is read
    _, _, g = recurrent_backward(d_out, None, cache)
    grads.update({f"rnn.{k}": a for k, a in g.items()})
    return loss, grads, y


def train_adding(mode, T, *, hidden_size=32, steps=600, batch_size=64, lr=0.01, max_norm=1.0, rng,
                 eval_size=1000):
    """Adam on fresh batches of the adding problem of length T; returns a dict with the training losses
    (steps,), the test MSE on ``eval_size`` new sequences and the parameters. Gradients clipped to
    ``max_norm``."""
    from dlmath.data import make_adding_problem

    params = init_sequence_regressor(mode, 2, hidden_size, rng=rng)
    states = {k: {} for k in params}
    losses = np.empty(steps)
    for step in range(steps):
        x, target = make_adding_problem(batch_size, T, rng=rng)
        losses[step], grads, _ = sequence_regressor_loss(params, x, target, mode=mode)
        keys = list(params)
        clipped, _ = clip_grad_norm([grads[k] for k in keys], max_norm)
        for k, gk in zip(keys, clipped):
            params[k], states[k] = adam_step(params[k], gk, states[k], lr=lr)
    x, target = make_adding_problem(eval_size, T, rng=rng)
    test = sequence_regressor_loss(params, x, target, mode=mode)[0]
    return {"losses": losses, "test_mse": test, "params": params}
