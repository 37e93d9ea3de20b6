"""Tests of checkpoint and checkpoint_sequential (dlmath.autograd.tensor) for the Tensor engine.

Gradients equal to the plain backward pass (bit for bit: the same operations run in the same order),
equal to torch.utils.checkpoint.checkpoint_sequential to 1e-12, the peak number of live graph nodes and
the number of layer evaluations counted, and the ValueError paths.
"""
import contextlib
import weakref

import numpy as np
import pytest

from dlmath.autograd import Tensor, checkpoint, checkpoint_sequential


@contextlib.contextmanager
def live_tensors():
    """Count Tensor objects created in the block and still alive; record the peak."""
    alive, stats = weakref.WeakSet(), {"peak": 0}
    init = Tensor.__init__

    def counting_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        alive.add(self)
        stats["peak"] = max(stats["peak"], len(alive))

    Tensor.__init__ = counting_init
    try:
        yield stats
    finally:
        Tensor.__init__ = init


def make_net(rng, L, d):
    """L layers h -> tanh(h W_l^T + b_l) with random weights and nonzero biases; a layer-call counter."""
    weights = [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]
    biases = [0.3 * rng.standard_normal(d) for _ in range(L)]
    W = [Tensor(w) for w in weights]
    b = [Tensor(v) for v in biases]
    calls = [0]

    def layer(Wl, bl):
        def f(h):
            calls[0] += 1
            return (h @ Wl.T + bl).tanh()          # two or more nodes per layer
        return f

    return weights, biases, W, b, [layer(Wl, bl) for Wl, bl in zip(W, b)], calls


def run(L, d, segments, seed):
    rng = np.random.default_rng(seed)
    weights, biases, W, b, layers, calls = make_net(rng, L, d)
    x0, seed_grad = rng.standard_normal((5, d)), rng.standard_normal((5, d))
    x = Tensor(x0)
    if segments is None:
        h = x
        for f in layers:
            h = f(h)
    else:
        h = checkpoint_sequential(layers, segments, x)
    h.backward(seed_grad)
    grads = [x.grad] + [w.grad for w in W] + [v.grad for v in b]
    return h.data, grads, calls[0], (weights, biases, x0, seed_grad)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L, segments", [(12, 1), (12, 2), (12, 3), (12, 5), (12, 12), (7, 3)])
def test_gradients_equal_plain_backward_exactly(L, segments, seed):
    out_plain, g_plain, _, _ = run(L, 6, None, seed)
    out_ck, g_ck, _, _ = run(L, 6, segments, seed)
    assert np.array_equal(out_plain, out_ck)
    for a, b in zip(g_plain, g_ck):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("segments", [1, 2, 4, 5])
def test_against_torch_checkpoint_sequential(segments, seed):
    torch = pytest.importorskip("torch")
    L, d = 10, 6
    _, grads, _, (weights, biases, x0, seed_grad) = run(L, d, segments, seed)
    mods = []
    for w, v in zip(weights, biases):
        lin = torch.nn.Linear(d, d).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(v))
        mods += [lin, torch.nn.Tanh()]
    net = torch.nn.Sequential(*mods)
    xt = torch.tensor(x0, requires_grad=True)
    out = torch.utils.checkpoint.checkpoint_sequential(net, segments, xt, use_reentrant=False)
    out.backward(torch.tensor(seed_grad))
    expected = ([xt.grad.numpy()] + [net[2 * i].weight.grad.numpy() for i in range(L)]
                + [net[2 * i].bias.grad.numpy() for i in range(L)])
    for ours, theirs in zip(grads, expected):
        assert np.abs(ours - theirs).max() <= 1e-12 * max(1.0, np.abs(theirs).max())


def count(L, segments, d=4):
    """Peak live graph nodes (beyond the parameters) and layer evaluations, layer h -> tanh(h W)."""
    rng = np.random.default_rng(0)
    W = [Tensor(rng.standard_normal((d, d)) / 2) for _ in range(L)]
    calls = [0]

    def layer(Wl):
        def f(h):
            calls[0] += 1
            return (h @ Wl).tanh()                 # exactly two nodes per layer
        return f

    layers = [layer(Wl) for Wl in W]
    with live_tensors() as stats:
        x = Tensor(rng.standard_normal((3, d)))
        h = x
        if segments is None:
            for f in layers:
                h = f(h)
        else:
            h = checkpoint_sequential(layers, segments, x)
        h.sum().backward()
        del x, h
    return stats["peak"], calls[0]


@pytest.mark.parametrize("L, k", [(16, 1), (16, 2), (16, 4), (16, 8), (36, 3), (36, 6), (64, 8)])
def test_memory_and_evaluations_counted(L, k):
    """L/k segments of k layers (two nodes each): the graph holds L/k - 1 segment outputs, the last
    segment's 2k nodes, and while a segment is recomputed its leaf and 2k nodes, plus x and the sum:
    L/k + 4k + 2 nodes at the peak, against 2L + 2 without checkpoints; 2L - k layer evaluations."""
    peak, evals = count(L, L // k)
    assert peak == L // k + 4 * k + 2
    assert evals == 2 * L - k
    peak_plain, evals_plain = count(L, None)
    assert (peak_plain, evals_plain) == (2 * L + 2, L)


def test_square_root_segment_length_minimizes_memory():
    L = 64
    peaks = {k: count(L, L // k)[0] for k in (1, 2, 4, 8, 16, 32)}
    best = min(peaks, key=peaks.get)
    assert best == 4                               # L/k + 4k is smallest at k = sqrt(L / 4) = 4
    assert peaks[best] < count(L, None)[0] / 3


def test_checkpoint_with_two_inputs_and_captured_parameter():
    rng = np.random.default_rng(3)
    a0, b0, w0, g0 = (rng.standard_normal((3, 4)) for _ in range(4))

    def grads(use_checkpoint):
        a, b, w = Tensor(a0), Tensor(b0), Tensor(w0)
        fn = lambda p, q: (p * q + w).tanh() * p   # noqa: E731  w is captured, not an argument
        out = checkpoint(fn, a, b) if use_checkpoint else fn(a, b)
        (out * out).backward(g0)
        return a.grad, b.grad, w.grad

    for plain, ck in zip(grads(False), grads(True)):
        assert np.array_equal(plain, ck)


def test_input_without_gradient_gets_none():
    w = Tensor(np.ones((2, 2)))
    x = Tensor(np.arange(4.0).reshape(2, 2), requires_grad=False)
    out = checkpoint(lambda h: (h @ w).tanh(), x)
    out.sum().backward()
    assert x.grad is None and w.grad is not None


@pytest.mark.parametrize("call, message", [
    (lambda: checkpoint(3, Tensor(1.0)), "needs a function"),
    (lambda: checkpoint(lambda h: h, np.ones(2)), "must be Tensors"),
    (lambda: checkpoint(lambda h: 1.0, Tensor(1.0)), "must return one Tensor"),
    (lambda: checkpoint_sequential([], 1, Tensor(1.0)), "at least one function"),
    (lambda: checkpoint_sequential([lambda h: h], 2, Tensor(1.0)), "segments must be"),
    (lambda: checkpoint_sequential([lambda h: h], True, Tensor(1.0)), "segments must be"),
    (lambda: checkpoint_sequential([lambda h: h], 1, np.ones(2)), "x must be a Tensor"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
