"""Tests of dlmath.models.transformer: embedding and feed-forward pairs by finite differences, the block
(post- and pre-norm, relu and gelu, with a causal mask) and the whole model gradient-checked, PyTorch's
TransformerEncoderLayer / TransformerEncoder with copied weights as the oracle (forward and backward,
float64), permutation equivariance of a block without positions, causality under a causal mask, and a
short training run on sequence reversal that must fit."""
import math

import numpy as np
import pytest

from dlmath.gradcheck import check_backward, numerical_gradient, relative_error
from dlmath.models import transformer as T


def _block(rng, d=8, h=2, f=12):
    p = T.init_transformer_block(d, h, f, rng)
    return {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in p.items()}  # nonzero biases, scales != 1


def test_embedding_gradient_and_repeats(rng):
    w = rng.standard_normal((5, 3))
    idx = np.array([[0, 4, 0], [2, 2, 2]])
    out, cache = T.embedding_forward(idx, w)
    np.testing.assert_array_equal(out[1, 2], w[2])
    g = rng.standard_normal(out.shape)
    dw = T.embedding_backward(g, cache)
    np.testing.assert_allclose(dw[2], g[1].sum(axis=0))
    np.testing.assert_allclose(dw[0], g[0, 0] + g[0, 2])
    assert np.all(dw[[1, 3]] == 0)
    with pytest.raises(ValueError, match="indices"):
        T.embedding_forward(np.array([5]), w)
    with pytest.raises(ValueError, match="integer"):
        T.embedding_forward(np.array([0.0]), w)


def test_feed_forward_gradient(rng):
    x, w1, b1 = rng.standard_normal((2, 3, 4)), rng.standard_normal((6, 4)), rng.standard_normal(6)
    w2, b2 = rng.standard_normal((4, 6)), rng.standard_normal(4)
    errs = check_backward(lambda *a: T.feed_forward_forward(*a, activation="gelu"), T.feed_forward_backward,
                          [x, w1, b1, w2, b2], rng)
    assert max(errs) < 1e-7


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("causal", [False, True])
def test_block_gradient(rng, norm_first, activation, causal):
    p = _block(rng)
    x = rng.standard_normal((2, 4, 8))
    mask = np.triu(np.ones((4, 4), dtype=bool), 1) if causal else None
    kw = dict(norm_first=norm_first, activation=activation, attn_mask=mask)
    out, cache = T.transformer_block_forward(x, p, 2, **kw)
    g = rng.standard_normal(out.shape)
    dx, grads = T.transformer_block_backward(g, cache)
    loss = lambda: float(np.sum(g * T.transformer_block_forward(x, p, 2, **kw)[0]))
    assert relative_error(dx, numerical_gradient(lambda _: loss(), x)) < 1e-6
    for k in ("self_attn.in_proj_weight", "self_attn.out_proj.bias", "linear1.weight", "norm1.weight", "norm2.bias"):
        assert relative_error(grads[k], numerical_gradient(lambda _: loss(), p[k])) < 1e-6, k


def test_block_is_permutation_equivariant(rng):
    """Without positions or masks, permuting the tokens permutes the block's outputs (and nothing else)."""
    p = _block(rng)
    x = rng.standard_normal((1, 6, 8))
    perm = rng.permutation(6)
    for nf in (False, True):
        y = T.transformer_block_forward(x, p, 2, norm_first=nf)[0]
        yp = T.transformer_block_forward(x[:, perm], p, 2, norm_first=nf)[0]
        np.testing.assert_allclose(yp, y[:, perm], atol=1e-12)


def test_causal_block_ignores_the_future(rng):
    p = _block(rng)
    x = rng.standard_normal((1, 5, 8))
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    y = T.transformer_block_forward(x, p, 2, attn_mask=mask, norm_first=True)[0]
    x2 = x.copy()
    x2[0, 3:] = rng.standard_normal((2, 8))
    y2 = T.transformer_block_forward(x2, p, 2, attn_mask=mask, norm_first=True)[0]
    np.testing.assert_allclose(y2[0, :3], y[0, :3], atol=1e-13)
    assert not np.allclose(y2[0, 3:], y[0, 3:])


@pytest.mark.parametrize("norm_first", [False, True])
def test_model_gradient(rng, norm_first):
    p = T.init_transformer(7, 8, 2, 2, 16, rng, norm_first=norm_first)
    tokens = rng.integers(0, 7, (3, 5))
    target = rng.integers(0, 7, (3, 5))
    loss, grads = T.transformer_loss_and_grads(tokens, target, p, 2)
    assert set(grads) == set(p)
    f = lambda: T.transformer_loss_and_grads(tokens, target, p, 2)[0]
    for k in ("embedding.weight", "layers.0.self_attn.in_proj_weight", "layers.1.linear2.weight", "head.bias"):
        assert relative_error(grads[k], numerical_gradient(lambda _: f(), p[k])) < 1e-6, k
    assert T.num_parameters(p) == sum(v.size for v in p.values())


def test_block_parameter_count():
    """4 d^2 + 4 d in attention, 2 d f + d + f in the feed-forward network, 4 d in the two norms."""
    d, f = 16, 40
    p = T.init_transformer_block(d, 4, f, np.random.default_rng(0))
    assert T.num_parameters(p) == 4 * d * d + 4 * d + 2 * d * f + d + f + 4 * d


# ------------------------------------------------------------------------------------------ PyTorch oracle
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("causal", [False, True])
def test_torch_encoder_layer(rng, norm_first, activation, causal):
    torch = pytest.importorskip("torch")
    d, h, f = 8, 2, 12
    p = _block(rng, d, h, f)
    layer = torch.nn.TransformerEncoderLayer(d, h, f, dropout=0.0, activation=activation, batch_first=True,
                                             norm_first=norm_first, dtype=torch.float64)
    names = list(layer.state_dict())
    assert sorted(names) == sorted(T.BLOCK_KEYS)
    layer.load_state_dict({k: torch.tensor(p[k]) for k in names})
    x, g = rng.standard_normal((3, 5, d)), rng.standard_normal((3, 5, d))
    mask = np.triu(np.ones((5, 5), dtype=bool), 1) if causal else None
    y, cache = T.transformer_block_forward(x, p, h, norm_first=norm_first, activation=activation, attn_mask=mask)
    dx, grads = T.transformer_block_backward(g, cache)
    xt = torch.tensor(x, requires_grad=True)
    yt = layer(xt, src_mask=None if mask is None else torch.tensor(mask))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for k, prm in layer.named_parameters():
        np.testing.assert_allclose(grads[k], prm.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_whole_model(rng, norm_first):
    """Embedding + sinusoidal table + nn.TransformerEncoder (final LayerNorm when pre-norm) + Linear head."""
    torch = pytest.importorskip("torch")
    from dlmath.layers.positional import sinusoidal_positional_encoding
    V, d, h, f, n_layers = 6, 8, 2, 12, 2
    p = T.init_transformer(V, d, h, n_layers, f, rng, norm_first=norm_first)
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in p.items()}
    emb = torch.nn.Embedding(V, d, dtype=torch.float64)
    layer = torch.nn.TransformerEncoderLayer(d, h, f, dropout=0.0, batch_first=True, norm_first=norm_first,
                                             dtype=torch.float64)
    enc = torch.nn.TransformerEncoder(layer, n_layers, norm=torch.nn.LayerNorm(d, dtype=torch.float64)
                                      if norm_first else None, enable_nested_tensor=False)
    head = torch.nn.Linear(d, V, dtype=torch.float64)
    emb.weight.data = torch.tensor(p["embedding.weight"])
    enc.load_state_dict({k: torch.tensor(p[k]) for k in enc.state_dict()})
    head.weight.data, head.bias.data = torch.tensor(p["head.weight"]), torch.tensor(p["head.bias"])
    tokens, target = rng.integers(0, V, (3, 5)), rng.integers(0, V, (3, 5))
    loss, grads = T.transformer_loss_and_grads(tokens, target, p, h)
    tt = torch.tensor(tokens)
    logits = head(enc(emb(tt) + torch.tensor(sinusoidal_positional_encoding(5, d))))
    lt = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.tensor(target).reshape(-1))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    named = {**{f"{k}": v for k, v in enc.named_parameters()}, "embedding.weight": emb.weight,
             "head.weight": head.weight, "head.bias": head.bias}
    assert set(named) == set(p)
    for k, prm in named.items():
        np.testing.assert_allclose(grads[k], prm.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


def test_training_reverses_sequences():
    """A one-layer model learns to reverse 6-digit sequences: held-out sequence accuracy >= 0.99."""
    rng = np.random.default_rng(0)
    p = T.init_transformer(10, 32, 2, 1, 64, rng)

    def sample(r, n=64):
        x = r.integers(0, 10, (n, 6))
        return x, x[:, ::-1].copy()

    p, losses = T.train_transformer(p, sample, 2, rng, steps=150, lr=5e-3, warmup=50)
    assert losses[-10:].mean() < 0.1 * losses[:10].mean()
    test = np.random.default_rng(1).integers(0, 10, (500, 6))
    assert (T.predict(test, p, 2) == test[:, ::-1]).all(axis=1).mean() >= 0.99


def test_bad_input(rng):
    p = _block(rng)
    with pytest.raises(ValueError, match="params lacks"):
        T.transformer_block_forward(np.zeros((1, 2, 8)), {k: v for k, v in p.items() if k != "norm1.bias"}, 2)
    with pytest.raises(ValueError, match=r"\(N, T, d\)"):
        T.transformer_block_forward(np.zeros((2, 8)), p, 2)
    with pytest.raises(ValueError, match="activation"):
        T.transformer_block_forward(np.zeros((1, 2, 8)), p, 2, activation="tanh")
    with pytest.raises(ValueError, match="nhead"):
        T.init_transformer_block(6, 4, 8, rng)
