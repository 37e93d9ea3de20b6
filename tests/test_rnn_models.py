"""Tests of dlmath.models.rnn: stacked and bidirectional RNN/LSTM/GRU with torch's parameter names,
the character language model and the adding-problem regressor.

PyTorch (nn.RNN, nn.LSTM, nn.GRU with num_layers 1 and 2, bidirectional or not, with and without
biases, given and zero initial states, float64) is the oracle for the stacked network: its state_dict
is loaded into the functions and the forward values and every gradient must agree to 1e-10. The models
are gradient-checked by central differences in every entry.
"""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models.rnn import (char_lm_loss, char_lm_sample, init_char_lm, init_recurrent, init_sequence_regressor,
                               recurrent_backward, recurrent_config, recurrent_forward, sequence_regressor_loss,
                               train_adding, train_char_lm)

MODES = ("rnn", "lstm", "gru")


def _states(r, mode, shape, given):
    if not given:
        return None
    return (r.standard_normal(shape), r.standard_normal(shape)) if mode == "lstm" else r.standard_normal(shape)


def _loss(mode, out, hn, go, gh):
    """The scalar sum(go * out) + sum(gh * hn) whose gradients recurrent_backward returns."""
    hs = hn if mode == "lstm" else (hn,)
    ghs = gh if mode == "lstm" else (gh,)
    return np.sum(go * out) + sum(np.sum(a * b) for a, b in zip(ghs, hs))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True), (2, False), (1, True)])
def test_finite_differences(mode, layers, bidirectional):
    r = np.random.default_rng(3)
    p = init_recurrent(mode, 3, 4, num_layers=layers, bidirectional=bidirectional, rng=r)
    d = 2 if bidirectional else 1
    x = r.standard_normal((4, 2, 3))
    hx = _states(r, mode, (layers * d, 2, 4), True)
    out, hn, cache = recurrent_forward(x, hx, p, mode=mode)
    go = r.standard_normal(out.shape)
    gh = _states(r, mode, (layers * d, 2, 4), True)
    dx, dhx, grads = recurrent_backward(go, gh, cache)

    def f_x(xv):
        o, h, _ = recurrent_forward(xv, hx, p, mode=mode)
        return _loss(mode, o, h, go, gh)
    assert relative_error(dx, numerical_gradient(f_x, x.copy())) < 1e-7
    for k in sorted(p):
        def f_p(v, k=k):
            o, h, _ = recurrent_forward(x, hx, {**p, k: v}, mode=mode)
            return _loss(mode, o, h, go, gh)
        assert relative_error(grads[k], numerical_gradient(f_p, p[k].copy())) < 1e-7, k
    states = hx if mode == "lstm" else (hx,)
    dstates = dhx if mode == "lstm" else (dhx,)
    for j, s in enumerate(states):
        def f_s(v, j=j):
            new = list(states)
            new[j] = v
            o, h, _ = recurrent_forward(x, tuple(new) if mode == "lstm" else new[0], p, mode=mode)
            return _loss(mode, o, h, go, gh)
        assert relative_error(dstates[j], numerical_gradient(f_s, s.copy())) < 1e-7


def test_batch_first_and_zero_state_equivalence():
    r = np.random.default_rng(4)
    p = init_recurrent("gru", 3, 5, num_layers=2, bidirectional=True, rng=r)
    x = r.standard_normal((6, 2, 3))
    out, hn, cache = recurrent_forward(x, None, p, mode="gru")
    out_bf, hn_bf, cache_bf = recurrent_forward(x.swapaxes(0, 1), None, p, mode="gru", batch_first=True)
    assert np.array_equal(out, out_bf.swapaxes(0, 1)) and np.array_equal(hn, hn_bf)
    out0, hn0, _ = recurrent_forward(x, np.zeros((4, 2, 5)), p, mode="gru")
    assert np.array_equal(out, out0) and np.array_equal(hn, hn0)
    go = r.standard_normal(out.shape)
    dx, dhx, g = recurrent_backward(go, None, cache)
    dx_bf, dhx_bf, g_bf = recurrent_backward(go.swapaxes(0, 1), None, cache_bf)
    assert dhx is None and dhx_bf is None
    assert np.allclose(dx, dx_bf.swapaxes(0, 1), rtol=0, atol=1e-14)


def test_reverse_direction_reads_backwards():
    """The reverse direction's output at step t depends only on x_t, ..., x_{T-1}; the forward one on x_0..x_t."""
    r = np.random.default_rng(5)
    p = init_recurrent("lstm", 2, 3, bidirectional=True, rng=r)
    x = r.standard_normal((5, 1, 2))
    out, _, _ = recurrent_forward(x, None, p, mode="lstm")
    x2 = x.copy()
    x2[4] += 1.0  # change only the last input
    out2, _, _ = recurrent_forward(x2, None, p, mode="lstm")
    assert np.array_equal(out[:4, :, :3], out2[:4, :, :3])  # forward half: steps before 4 unchanged
    assert not np.allclose(out[0, :, 3:], out2[0, :, 3:])  # reverse half at step 0 sees step 4


def test_config_and_bad_input():
    r = np.random.default_rng(6)
    p = init_recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, bias=False, rng=r)
    assert recurrent_config(p, "lstm") == (2, 2, 4, False)
    assert p["weight_ih_l1_reverse"].shape == (16, 8)
    with pytest.raises(ValueError, match="mode"):
        recurrent_forward(np.zeros((2, 1, 3)), None, p, mode="gru")
    with pytest.raises(ValueError, match="initial states"):
        recurrent_forward(np.zeros((2, 1, 3)), (np.zeros((2, 1, 4)), np.zeros((4, 1, 4))), p, mode="lstm")
    with pytest.raises(ValueError, match="exactly"):
        recurrent_forward(np.zeros((2, 1, 3)), None, {**p, "extra": np.zeros(1)}, mode="lstm")
    with pytest.raises(ValueError):
        init_recurrent("transformer", 3, 4, rng=r)


def _torch_module(torch, mode, layers, bidirectional, bias):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[mode]
    return cls(3, 4, num_layers=layers, bidirectional=bidirectional, bias=bias, dtype=torch.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("given", [True, False])
def test_torch_oracle(mode, layers, bidirectional, bias, given):
    torch = pytest.importorskip("torch")
    torch.manual_seed(layers * 7 + bidirectional * 3 + bias)
    m = _torch_module(torch, mode, layers, bidirectional, bias)
    p = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}  # torch -> numpy
    r = np.random.default_rng(11)
    d = 2 if bidirectional else 1
    x = r.standard_normal((5, 3, 3))
    hx = _states(r, mode, (layers * d, 3, 4), given)
    out, hn, cache = recurrent_forward(x, hx, p, mode=mode)
    xt = torch.tensor(x, requires_grad=True)
    hxt = None
    if given:
        hxt = (tuple(torch.tensor(a, requires_grad=True) for a in hx) if mode == "lstm"
               else torch.tensor(hx, requires_grad=True))
    ot, hnt = m(xt, hxt)
    hs, hts = (hn, hnt) if mode == "lstm" else ((hn,), (hnt,))
    assert np.abs(out - ot.detach().numpy()).max() < 1e-10
    for a, b in zip(hs, hts):
        assert np.abs(a - b.detach().numpy()).max() < 1e-10
    go = r.standard_normal(out.shape)
    gh = _states(r, mode, (layers * d, 3, 4), True)
    ghs = gh if mode == "lstm" else (gh,)
    total = (ot * torch.tensor(go)).sum() + sum((b * torch.tensor(g)).sum() for b, g in zip(hts, ghs))
    total.backward()
    dx, dhx, grads = recurrent_backward(go, gh, cache)
    assert np.abs(dx - xt.grad.numpy()).max() < 1e-10
    assert sorted(grads) == sorted(k for k, _ in m.named_parameters())
    for k, v in m.named_parameters():
        assert np.abs(grads[k] - v.grad.numpy()).max() < 1e-10, k
    if given:
        for a, b in zip(dhx if mode == "lstm" else (dhx,), hxt if mode == "lstm" else (hxt,)):
            assert np.abs(a - b.grad.numpy()).max() < 1e-10
    else:
        assert dhx is None
    # numpy -> torch: perturbed weights go back through load_state_dict and still agree
    p2 = {k: v + 0.01 * r.standard_normal(v.shape) for k, v in p.items()}
    m.load_state_dict({k: torch.from_numpy(v) for k, v in p2.items()})
    out2, _, _ = recurrent_forward(x, hx, p2, mode=mode)
    with torch.no_grad():
        ot2, _ = m(torch.tensor(x), None if hxt is None else hxt)
    assert np.abs(out2 - ot2.numpy()).max() < 1e-10


def test_torch_batch_first_relu():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", batch_first=True, dtype=torch.float64)
    p = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    x = np.random.default_rng(1).standard_normal((2, 6, 3))
    out, hn, _ = recurrent_forward(x, None, p, mode="rnn", batch_first=True, nonlinearity="relu")
    with torch.no_grad():
        ot, hnt = m(torch.tensor(x))
    assert np.abs(out - ot.numpy()).max() < 1e-10 and np.abs(hn - hnt.numpy()).max() < 1e-10


def _fd_errors(loss_fn, params, grads):
    """Relative error of every parameter's gradient against central differences (all entries; the step
    1e-5 balances the rounding of a mean loss near log V against the O(h^2) truncation)."""
    errs = {}
    for k in params:
        num = numerical_gradient(lambda v, k=k: loss_fn({**params, k: v}), params[k].copy(), h=1e-5)
        errs[k] = relative_error(grads[k], num)
    return errs


def test_char_lm_gradients():
    r = np.random.default_rng(7)
    p = init_char_lm(6, embedding_dim=3, hidden_size=5, rng=r)
    tokens = r.integers(0, 6, size=(5, 3))
    loss, grads, _ = char_lm_loss(p, tokens)
    assert sorted(grads) == sorted(p)
    errs = _fd_errors(lambda q: char_lm_loss(q, tokens)[0], p, grads)
    assert max(errs.values()) < 1e-7, errs


def test_torch_char_lm_loss():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(8)
    p = init_char_lm(7, embedding_dim=4, hidden_size=5, rng=r)
    tokens = r.integers(0, 7, size=(6, 3))
    loss, grads, _ = char_lm_loss(p, tokens)
    emb = torch.nn.Embedding(7, 4, dtype=torch.float64)
    lstm = torch.nn.LSTM(4, 5, dtype=torch.float64)
    fc = torch.nn.Linear(5, 7, dtype=torch.float64)
    model = torch.nn.ModuleDict({"embedding": emb, "lstm": lstm, "fc": fc})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in p.items()})
    tt = torch.tensor(tokens)
    logits = fc(lstm(emb(tt[:-1]))[0])
    lt = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), tt[1:].reshape(-1))
    lt.backward()
    assert abs(loss - lt.item()) < 1e-12
    for k, v in model.named_parameters():
        assert np.abs(grads[k] - v.grad.numpy()).max() < 1e-10, k


def test_char_lm_sampling_and_temperature():
    r = np.random.default_rng(9)
    p = init_char_lm(5, embedding_dim=3, hidden_size=4, rng=r)
    p["fc.bias"] = np.array([3.0, 0.0, 0.0, 0.0, 0.0])  # code 0 strongly preferred
    s_cold = char_lm_sample(p, np.array([1, 2]), 200, temperature=0.1, rng=np.random.default_rng(0))
    s_hot = char_lm_sample(p, np.array([1, 2]), 200, temperature=10.0, rng=np.random.default_rng(0))
    assert s_cold.shape == (200,) and s_cold.dtype == np.int64
    assert (s_cold == 0).mean() > (s_hot == 0).mean()
    assert len(set(s_hot.tolist())) == 5
    with pytest.raises(ValueError):
        char_lm_sample(p, np.array([1]), 3, temperature=0.0, rng=r)


def test_char_lm_learns_a_periodic_text():
    codes = np.tile(np.arange(4), 60)
    params, losses = train_char_lm(codes, 4, steps=60, seq_len=8, batch_size=8, hidden_size=8,
                                   embedding_dim=4, lr=0.05, rng=np.random.default_rng(0))
    assert losses[:5].mean() > 1.0 and losses[-5:].mean() < 0.1  # log 4 = 1.39 at the start
    out = char_lm_sample(params, np.array([0, 1]), 8, temperature=0.5, rng=np.random.default_rng(1))
    assert out.tolist() == [2, 3, 0, 1, 2, 3, 0, 1]


@pytest.mark.parametrize("mode", MODES)
def test_sequence_regressor_gradients(mode):
    r = np.random.default_rng(10)
    p = init_sequence_regressor(mode, 2, 4, rng=r)
    x, target = r.standard_normal((6, 3, 2)), r.standard_normal(3)
    loss, grads, y = sequence_regressor_loss(p, x, target, mode=mode)
    assert y.shape == (3,) and np.isclose(loss, np.mean((y - target) ** 2))
    errs = _fd_errors(lambda q: sequence_regressor_loss(q, x, target, mode=mode)[0], p, grads)
    assert max(errs.values()) < 1e-7, errs


def test_train_adding_short_sequences():
    """On sequences of length 6 the LSTM gets well below the variance baseline 1/6 in 300 steps."""
    res = train_adding("lstm", 6, hidden_size=16, steps=300, batch_size=32, lr=0.02, rng=np.random.default_rng(0),
                       eval_size=500)
    assert res["test_mse"] < 0.02 and res["losses"].shape == (300,)
