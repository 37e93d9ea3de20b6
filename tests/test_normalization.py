"""Tests of dlmath.layers.normalization.

Value oracles written with explicit per-channel / per-example loops (statistics by math.fsum, independent of
the vectorized code); float64 central-difference gradient checks with random upstream gradients and
square shapes (N = C, D = number of examples) so that a mixed-up axis fails; hypothesis shape and
no-mutation properties; every ValueError; PyTorch as an optional float64 oracle (forward, backward through
autograd, running statistics over several steps, 2-D and 4-D inputs): every test that needs torch is named
``test_torch_*`` and skips through ``pytest.importorskip("torch")``.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import check_backward
from dlmath.layers import normalization as Nm

RTOL = 1e-12


def _stats(values):
    """Mean and biased variance of a flat list by math.fsum."""
    m = math.fsum(values) / len(values)
    return m, math.fsum((v - m) ** 2 for v in values) / len(values)


def _bn_loops(x, w, b, eps):
    """Training-mode batch norm channel by channel, with explicit statistics."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        vals = x[:, c].ravel().tolist()
        m, v = _stats(vals)
        out[:, c] = (x[:, c] - m) / math.sqrt(v + eps) * w[c] + b[c]
    return out


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2), (3, 2, 5)])
def test_batch_norm_training_values_and_running_stats(shape):
    rng = _rng(1)
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    out, _, nrm, nrv = Nm.batch_norm_forward(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3)
    np.testing.assert_allclose(out, _bn_loops(x, w, b, 1e-3), rtol=1e-11, atol=1e-12)
    m = x.size // c
    for ch in range(c):
        mean, var = _stats(x[:, ch].ravel().tolist())
        assert math.isclose(nrm[ch], 0.7 * rm[ch] + 0.3 * mean, rel_tol=1e-12, abs_tol=1e-14)
        assert math.isclose(nrv[ch], 0.7 * rv[ch] + 0.3 * var * m / (m - 1), rel_tol=1e-12)


def test_batch_norm_eval_uses_running_stats_and_returns_them_unchanged():
    rng = _rng(2)
    x = rng.standard_normal((3, 4))
    rm, rv, w, b = rng.standard_normal(4), rng.random(4) + 0.1, rng.standard_normal(4), rng.standard_normal(4)
    out, cache, nrm, nrv = Nm.batch_norm_forward(x, rm, rv, w, b, training=False)
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-5) * w + b, rtol=RTOL)
    assert np.array_equal(nrm, rm) and np.array_equal(nrv, rv)
    dy = rng.standard_normal(x.shape)
    dx, dw, db = Nm.batch_norm_backward(dy, cache)
    np.testing.assert_allclose(dx, dy * w / np.sqrt(rv + 1e-5), rtol=RTOL)


def test_batch_norm_output_has_zero_mean_unit_variance_per_channel():
    x = _rng(3).standard_normal((6, 2, 3, 3)) * 5 - 2
    out, *_ = Nm.batch_norm_forward(x, None, None, None, None, training=True, eps=0.0)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_layer_group_rms_values_by_loops():
    rng = _rng(4)
    x = rng.standard_normal((3, 4, 2, 2)) * 2 + 0.5
    w4, b4 = rng.standard_normal(4), rng.standard_normal(4)
    # group norm, two groups of two channels
    out, _ = Nm.group_norm_forward(x, 2, w4, b4, eps=1e-4)
    for n in range(3):
        for g in range(2):
            m, v = _stats(x[n, 2 * g:2 * g + 2].ravel().tolist())
            for ch in (2 * g, 2 * g + 1):
                np.testing.assert_allclose(out[n, ch], (x[n, ch] - m) / math.sqrt(v + 1e-4) * w4[ch] + b4[ch], rtol=1e-11)
    # layer norm over (2, 2)
    wl, bl = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    out, _ = Nm.layer_norm_forward(x, (2, 2), wl, bl, eps=1e-4)
    for n in range(3):
        for ch in range(4):
            m, v = _stats(x[n, ch].ravel().tolist())
            np.testing.assert_allclose(out[n, ch], (x[n, ch] - m) / math.sqrt(v + 1e-4) * wl + bl, rtol=1e-11)
    # rms norm over the last axis
    out, _ = Nm.rms_norm_forward(x, 2, wl[0], eps=1e-4)
    for idx in np.ndindex(x.shape[:-1]):
        r = math.sqrt(math.fsum(v * v for v in x[idx]) / 2 + 1e-4)
        np.testing.assert_allclose(out[idx], x[idx] / r * wl[0], rtol=1e-12)


def test_rms_norm_default_eps_is_machine_epsilon():
    x = np.full((2, 4), 1e-5, dtype=np.float32)
    out, _ = Nm.rms_norm_forward(x, 4, None)
    expected = 1e-5 / math.sqrt(1e-10 + float(np.finfo(np.float32).eps))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_layer_norm_equals_batch_norm_of_the_transpose():
    x = _rng(5).standard_normal((4, 6))
    ln, _ = Nm.layer_norm_forward(x, 6, None, None)
    bn, *_ = Nm.batch_norm_forward(x.T.copy(), None, None, None, None, training=True)
    np.testing.assert_allclose(ln, bn.T, rtol=1e-12)


# ------------------------------------------------------------------------------------ gradients
def _bn_pair(training, with_params=True):
    def fwd(x, rm, rv, w, b):
        out, cache, _, _ = Nm.batch_norm_forward(x, rm, rv, w, b, training=training, eps=1e-3)
        return out, cache

    def bwd(dy, cache):
        dx, dw, db = Nm.batch_norm_backward(dy, cache)
        return dx, np.zeros(dx.shape[1]), np.zeros(dx.shape[1]), dw, db
    return fwd, bwd


@pytest.mark.parametrize("shape", [(4, 4), (3, 3, 2, 2), (5, 5, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batch_norm(shape, training):
    rng = _rng(6)
    c = shape[1]
    x = rng.standard_normal(shape)
    inputs = [x, rng.standard_normal(c), rng.random(c) + 0.5, rng.standard_normal(c) + 1, rng.standard_normal(c)]
    fwd, bwd = _bn_pair(training)
    errors = check_backward(fwd, bwd, inputs, rng)
    # running stats do not influence training output: their numerical gradient is 0 in training
    for i in (0, 3, 4):
        assert errors[i] < 1e-7, errors
    if training:
        assert errors[1] == 0 and errors[2] == 0


@pytest.mark.parametrize("shape,ns", [((4, 4), (4,)), ((3, 3, 3), (3, 3)), ((2, 5, 5), (5,))])
def test_gradcheck_layer_norm_and_rms_norm(shape, ns):
    rng = _rng(7)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(ns) + 1, rng.standard_normal(ns)
    errors = check_backward(lambda x, w, b: Nm.layer_norm_forward(x, ns, w, b, eps=1e-3), Nm.layer_norm_backward,
                            [x, w, b], rng)
    assert max(errors) < 1e-7, errors
    errors = check_backward(lambda x, w: Nm.rms_norm_forward(x, ns, w, eps=1e-3), Nm.rms_norm_backward, [x, w], rng)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("shape,groups", [((4, 4, 2, 2), 2), ((3, 6, 3), 3), ((2, 4), 1), ((3, 3, 2), 3)])
def test_gradcheck_group_norm(shape, groups):
    rng = _rng(8)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(shape[1]) + 1, rng.standard_normal(shape[1])
    errors = check_backward(lambda x, w, b: Nm.group_norm_forward(x, groups, w, b, eps=1e-3),
                            Nm.group_norm_backward, [x, w, b], rng)
    assert max(errors) < 1e-7, errors


def test_backward_without_affine_parameters():
    rng = _rng(9)
    x = rng.standard_normal((4, 4))
    for fwd, bwd in [(lambda x: Nm.layer_norm_forward(x, 4, None, None, eps=1e-3), Nm.layer_norm_backward),
                     (lambda x: Nm.group_norm_forward(x, 2, None, None, eps=1e-3), Nm.group_norm_backward),
                     (lambda x: Nm.rms_norm_forward(x, 4, None, eps=1e-3), Nm.rms_norm_backward),
                     (lambda x: Nm.batch_norm_forward(x, None, None, None, None, training=True, eps=1e-3)[:2],
                      Nm.batch_norm_backward)]:
        grads = bwd(rng.standard_normal((4, 4)), fwd(x)[1])
        assert all(g is None for g in grads[1:])
        err = check_backward(fwd, lambda dy, c, bwd=bwd: bwd(dy, c)[0], [x], rng)
        assert err[0] < 1e-7


# ------------------------------------------------------------------------------------ properties
@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 4), c=st.integers(1, 4), spatial=st.lists(st.integers(1, 3), max_size=2),
       groups_pick=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_hypothesis_shapes_and_no_mutation(n, c, spatial, groups_pick, seed):
    rng = _rng(seed)
    shape = (n, c, *spatial)
    x = rng.standard_normal(shape)
    w, b, rm, rv = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.random(c) + 0.1
    copies = [a.copy() for a in (x, w, b, rm, rv)]
    dy = rng.standard_normal(shape)
    dy0 = dy.copy()
    out, cache, nrm, nrv = Nm.batch_norm_forward(x, rm, rv, w, b, training=True)
    dx, dw, db = Nm.batch_norm_backward(dy, cache)
    assert out.shape == dx.shape == shape and dw.shape == db.shape == nrm.shape == nrv.shape == (c,)
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    g = divisors[groups_pick % len(divisors)]
    out, cache = Nm.group_norm_forward(x, g, w, b)
    assert [a.shape for a in Nm.group_norm_backward(dy, cache)] == [shape, (c,), (c,)]
    ns = shape[1:]
    out, cache = Nm.layer_norm_forward(x, ns, None, None)
    assert out.shape == Nm.layer_norm_backward(dy, cache)[0].shape == shape
    out, cache = Nm.rms_norm_forward(x, ns[-1:], None)
    assert out.shape == Nm.rms_norm_backward(dy, cache)[0].shape == shape
    for a, a0 in zip((x, w, b, rm, rv, dy), copies + [dy0]):
        assert np.array_equal(a, a0)
    # the gradient of a normalized output is orthogonal to constant shifts of each channel's input
    np.testing.assert_allclose(dx.sum(axis=(0,) + tuple(range(2, x.ndim))), 0.0, rtol=0, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(shift=st.floats(-100, 100), scale=st.floats(0.1, 10), seed=st.integers(0, 2**16))
def test_hypothesis_shift_and_scale_invariance(shift, scale, seed):
    x = _rng(seed).standard_normal((5, 3))
    a, *_ = Nm.batch_norm_forward(x, None, None, None, None, training=True, eps=0.0)
    b, *_ = Nm.batch_norm_forward(scale * x + shift, None, None, None, None, training=True, eps=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------------------------ validation
def test_validation_errors():
    x = np.zeros((4, 3))
    c3 = np.ones(3)
    bad = [
        lambda: Nm.batch_norm_forward(np.zeros(3), None, None, None, None, training=True),
        lambda: Nm.batch_norm_forward(x, np.ones(2), c3, None, None, training=True),
        lambda: Nm.batch_norm_forward(x, c3, None, None, None, training=True),
        lambda: Nm.batch_norm_forward(x, None, None, None, None, training=False),
        lambda: Nm.batch_norm_forward(x, c3, c3, np.ones(4), None, training=True),
        lambda: Nm.batch_norm_forward(x, c3, c3, None, np.ones((3, 1)), training=True),
        lambda: Nm.batch_norm_forward(np.zeros((1, 3)), c3, c3, None, None, training=True),
        lambda: Nm.batch_norm_forward(x, c3, c3, None, None, training=True, momentum=None),
        lambda: Nm.batch_norm_forward(x, c3, c3, None, None, training=True, momentum=1.5),
        lambda: Nm.batch_norm_forward(x, c3, c3, None, None, training=1),
        lambda: Nm.batch_norm_forward(x, c3, c3, None, None, training=True, eps=-1.0),
        lambda: Nm.batch_norm_forward(x.astype(np.int64), None, None, None, None, training=True),
        lambda: Nm.batch_norm_forward(x, c3.astype(np.float32), c3, None, None, training=True),
        lambda: Nm.layer_norm_forward(x, 4, None, None),
        lambda: Nm.layer_norm_forward(x, (), None, None),
        lambda: Nm.layer_norm_forward(x, 3, np.ones(4), None),
        lambda: Nm.layer_norm_forward(x, 3, None, np.ones(4)),
        lambda: Nm.layer_norm_forward(x, 3, None, None, eps=None),
        lambda: Nm.group_norm_forward(x, 2, None, None),
        lambda: Nm.group_norm_forward(x, 0, None, None),
        lambda: Nm.group_norm_forward(np.zeros(3), 1, None, None),
        lambda: Nm.group_norm_forward(x, 3, np.ones(2), None),
        lambda: Nm.rms_norm_forward(x, 2, None),
        lambda: Nm.rms_norm_forward(x, 3, np.ones(2)),
        lambda: Nm.rms_norm_forward(x, 3, None, eps="small"),
    ]
    for i, f in enumerate(bad):
        with pytest.raises(ValueError):
            f()
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        Nm.layer_norm_forward(x, 4, None, None)
    _, cache, _, _ = Nm.batch_norm_forward(x + np.arange(4)[:, None], None, None, None, None, training=True)
    with pytest.raises(ValueError, match="shape"):
        Nm.batch_norm_backward(np.zeros((3, 3)), cache)
    with pytest.raises(ValueError, match="floating"):
        Nm.batch_norm_backward(np.zeros((4, 3), dtype=np.int64), cache)
    for fwd, bwd in [(Nm.layer_norm_forward(x, 3, None, None), Nm.layer_norm_backward),
                     (Nm.group_norm_forward(x, 1, None, None), Nm.group_norm_backward),
                     (Nm.rms_norm_forward(x, 3, None), Nm.rms_norm_backward)]:
        with pytest.raises(ValueError, match="shape"):
            bwd(np.zeros((4, 4)), fwd[1])


# ------------------------------------------------------------------------------------ torch oracle
def _t(a, grad=True):
    torch = pytest.importorskip("torch")
    return None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _max_diff(ours, theirs):
    return max(float(np.max(np.abs(np.asarray(o) - t.detach().numpy()))) if o is not None else 0.0
               for o, t in zip(ours, theirs))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5), (6, 2, 7)])
@pytest.mark.parametrize("affine", [True, False])
def test_torch_batch_norm_steps(shape, affine):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = _rng(10)
    c = shape[1]
    w = rng.standard_normal(c) + 1 if affine else None
    b = rng.standard_normal(c) if affine else None
    rm, rv = np.zeros(c), np.ones(c)
    trm, trv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
    worst = 0.0
    for step in range(20):
        x = rng.standard_normal(shape) * 2 + step * 0.1
        dy = rng.standard_normal(shape)
        training = step % 5 != 4  # every fifth step in evaluation mode
        out, cache, rm, rv = Nm.batch_norm_forward(x, rm, rv, w, b, training=training, momentum=0.2)
        grads = Nm.batch_norm_backward(dy, cache)
        tx, tw, tb = _t(x), _t(w), _t(b)
        tout = F.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.2, eps=1e-5)
        tout.backward(torch.tensor(dy))
        worst = max(worst, _max_diff([out, rm, rv], [tout, trm, trv]),
                    _max_diff(grads, [tx.grad, tw.grad if affine else None, tb.grad if affine else None]))
    assert worst < 1e-10, worst


def test_torch_layer_group_rms_norm():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = _rng(11)
    x = rng.standard_normal((4, 6, 3, 3)) * 3 + 1
    dy = rng.standard_normal(x.shape)
    for ns in [(3,), (3, 3), (6, 3, 3)]:
        w, b = rng.standard_normal(ns), rng.standard_normal(ns)
        out, cache = Nm.layer_norm_forward(x, ns, w, b)
        tx, tw, tb = _t(x), _t(w), _t(b)
        tout = F.layer_norm(tx, ns, tw, tb, eps=1e-5)
        tout.backward(torch.tensor(dy))
        assert _max_diff([out, *Nm.layer_norm_backward(dy, cache)], [tout, tx.grad, tw.grad, tb.grad]) < 1e-10
        for eps in (None, 1e-6):
            out, cache = Nm.rms_norm_forward(x, ns, w, eps=eps)
            tx, tw = _t(x), _t(w)
            tout = F.rms_norm(tx, ns, tw, eps=eps)
            tout.backward(torch.tensor(dy))
            assert _max_diff([out, *Nm.rms_norm_backward(dy, cache)], [tout, tx.grad, tw.grad]) < 1e-10
    for groups in (1, 2, 3, 6):
        w, b = rng.standard_normal(6), rng.standard_normal(6)
        out, cache = Nm.group_norm_forward(x, groups, w, b)
        tx, tw, tb = _t(x), _t(w), _t(b)
        tout = F.group_norm(tx, groups, tw, tb, eps=1e-5)
        tout.backward(torch.tensor(dy))
        assert _max_diff([out, *Nm.group_norm_backward(dy, cache)], [tout, tx.grad, tw.grad, tb.grad]) < 1e-10


def test_torch_rejects_what_we_reject():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    with pytest.raises((ValueError, RuntimeError)):
        F.batch_norm(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                     torch.ones(3, dtype=torch.float64), training=True)
    with pytest.raises(ValueError):
        Nm.batch_norm_forward(np.zeros((1, 3)), np.zeros(3), np.ones(3), None, None, training=True)
