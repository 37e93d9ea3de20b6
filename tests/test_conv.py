"""Tests of dlmath.layers.conv.

An explicit-loop convolution (independent of im2col), finite-difference gradient checks with random
upstream gradients, the adjointness of im2col and col2im (hypothesis), the output-size formula against a
count of the windows, torch's tie rule for max pooling, validation, inputs not mutated, zero-size batches,
and PyTorch as an oracle on parametrized grids of stride, padding, dilation, groups, ceil_mode,
count_include_pad and divisor_override: every test that needs torch is named ``test_torch_*`` and skips
through ``pytest.importorskip("torch")``.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.gradcheck import check_backward
from dlmath.layers.conv import (
    avg_pool2d_backward, avg_pool2d_forward, col2im, conv2d_backward, conv2d_forward, conv2d_output_size,
    conv_transpose2d_backward, conv_transpose2d_forward, im2col, max_pool2d_backward, max_pool2d_forward,
)

TOL = dict(rtol=1e-10, atol=1e-12)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _conv_loops(x, w, b, stride, padding, dilation, groups):
    """conv2d by explicit sums, math.fsum per output entry (symmetric integer padding)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.zeros((n, c_in, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    out = np.zeros((n, c_out, ho, wo))
    og = c_out // groups
    for i, o, p, q in itertools.product(range(n), range(c_out), range(ho), range(wo)):
        g = o // og
        out[i, o, p, q] = math.fsum(w[o, c, a, e] * xp[i, g * cg + c, p * sh + a * dh, q * sw + e * dw]
                                    for c in range(cg) for a in range(kh) for e in range(kw)) + (b[o] if b is not None else 0)
    return out


# ------------------------------------------------------------------------------------ values without torch
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((2, 1), (1, 2), (2, 1), 2), (1, 1, 2, 4), (3, (0, 1), 1, 1)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_explicit_sums(rng, stride, padding, dilation, groups, with_bias):
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4 * (2 if groups < 4 else 1), 4 // groups, 3, 2))
    b = rng.standard_normal(w.shape[0]) + 0.5 if with_bias else None
    out, _ = conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(out, _conv_loops(x, w, b, stride, padding, dilation, groups), rtol=1e-12, atol=1e-13)


def test_conv_transpose_is_the_adjoint_of_conv(rng):
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the same stride, padding, dilation, groups."""
    opts = dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)
    x, w = rng.standard_normal((2, 4, 9, 11)), rng.standard_normal((6, 2, 3, 4))
    y, _ = conv2d_forward(x, w, **opts)
    c = rng.standard_normal(y.shape)
    # output_padding recovers the input size lost to the floor of the output-size formula
    op = tuple((x.shape[2 + a] + 2 * _pair(opts["padding"])[a] - _pair(opts["dilation"])[a] * (w.shape[2 + a] - 1) - 1)
               % _pair(opts["stride"])[a] for a in range(2))
    xt, _ = conv_transpose2d_forward(c, w, output_padding=op, **opts)
    assert xt.shape == x.shape
    assert math.isclose(np.vdot(y, c), np.vdot(x, xt), rel_tol=1e-12)


def test_max_pool_ties_go_to_the_first_maximum():
    """torch's rule: the whole gradient of a window goes to its first maximum in row-major order."""
    x = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [0.0, 2.0, 1.0]]]])
    out, cache = max_pool2d_forward(x, 2, stride=1)
    assert out.tolist() == [[[[2.0, 2.0], [2.0, 2.0]]]]
    dx = max_pool2d_backward(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]), cache)
    # windows: top-left -> (0, 1); top-right -> (0, 1); bottom-left -> (1, 0); bottom-right -> (1, 2)
    assert dx.tolist() == [[[[0.0, 11.0, 0.0], [100.0, 0.0, 1000.0], [0.0, 0.0, 0.0]]]]


def test_avg_pool_divisors_by_hand():
    x = np.ones((1, 1, 3, 3))
    out, _ = avg_pool2d_forward(x, 2, stride=2, padding=1, count_include_pad=True)
    assert out.tolist() == [[[[0.25, 0.5], [0.5, 1.0]]]]  # corner window: 1 real cell of 4
    out, _ = avg_pool2d_forward(x, 2, stride=2, padding=1, count_include_pad=False)
    assert out.tolist() == [[[[1.0, 1.0], [1.0, 1.0]]]]
    out, _ = avg_pool2d_forward(x, 3, divisor_override=2)
    assert out.tolist() == [[[[4.5]]]]


# ------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("size,k,s,p,d,ceil_mode", [
    case for case in itertools.product([1, 4, 7, 10], [1, 2, 3], [1, 2, 3], [0, 1, 2], [1, 2], [False, True])
    if not case[5] or case[3] <= case[1] // 2])  # ceil_mode is for pooling, whose padding is at most k/2
def test_output_size_counts_the_windows(size, k, s, p, d, ceil_mode):
    """floor((H + 2p - d(k-1) - 1)/s) + 1 is the number of window starts t = -p, -p + s, ... whose window
    ends inside the padded input; ceil_mode adds windows that start inside the input or its left padding."""
    span = d * (k - 1) + 1
    starts = range(-p, size + p, s)
    if span > size + 2 * p:
        expected = 0
    elif ceil_mode:  # the window may pass the right padding (by less than a stride), but starts before it
        expected = sum(1 for t in starts if t + span <= size + p + s - 1 and t < size)
    else:
        expected = sum(1 for t in starts if t + span <= size + p)
    assert conv2d_output_size(size, k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode) == expected


# ------------------------------------------------------------------------------------ gradient checks
def _bias(rng, n):
    return rng.standard_normal(n) + 0.5


@pytest.mark.parametrize("opts", [dict(), dict(stride=2, padding=1), dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2),
                                  dict(padding="same", dilation=2, groups=4)])
def test_gradcheck_conv2d(rng, opts):
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 4 // opts.get("groups", 1), 3, 2))
    errors = check_backward(lambda a, b, c: conv2d_forward(a, b, c, **opts), conv2d_backward, [x, w, _bias(rng, 4)], rng)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("opts", [dict(), dict(stride=2, padding=1, output_padding=1),
                                  dict(stride=(2, 1), padding=(0, 1), dilation=(1, 2), groups=2, output_padding=(1, 1))])
def test_gradcheck_conv_transpose2d(rng, opts):
    x, w = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((4, 3, 3, 2))
    errors = check_backward(lambda a, b, c: conv_transpose2d_forward(a, b, c, **opts), conv_transpose2d_backward,
                            [x, w, _bias(rng, 3 * opts.get("groups", 1))], rng)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                  dict(kernel_size=(3, 2), stride=1, dilation=(1, 2))])
def test_gradcheck_max_pool2d(rng, opts):
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1 + 0.01 * rng.standard_normal((2, 3, 7, 6))
    errors = check_backward(lambda a: max_pool2d_forward(a, **opts), max_pool2d_backward, [x], rng, h=1e-6)
    assert max(errors) < 1e-7, errors  # values 0.1 apart: no kink within h


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                                count_include_pad=False),
                                  dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), divisor_override=4)])
def test_gradcheck_avg_pool2d(rng, opts):
    errors = check_backward(lambda a: avg_pool2d_forward(a, **opts), avg_pool2d_backward,
                            [rng.standard_normal((2, 3, 7, 6))], rng)
    assert max(errors) < 1e-7, errors


# ------------------------------------------------------------------------------------ im2col / col2im
@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), p=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 2**32 - 1))
def test_im2col_col2im_adjoint_hypothesis(n, c, h, w, k, s, p, d, seed):
    """<im2col(x), C> = <x, col2im(C)> for every geometry with at least one window."""
    if any(conv2d_output_size((h, w)[a], k[a], stride=s[a], padding=p[a], dilation=d[a]) < 1 for a in range(2)):
        return
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, c, h, w))
    cols = im2col(x, k, stride=s, padding=p, dilation=d)
    cc = r.standard_normal(cols.shape)
    back = col2im(cc, (h, w), k, stride=s, padding=p, dilation=d)
    assert back.shape == x.shape
    assert math.isclose(np.vdot(cols, cc), np.vdot(x, back), rel_tol=1e-12, abs_tol=1e-12)


def test_im2col_is_a_read_only_view(rng):
    x = rng.standard_normal((1, 2, 5, 5))
    cols = im2col(x, 3)
    assert np.shares_memory(cols, x) and not cols.flags.writeable
    assert cols[0, 1, 2, 0, 1, 2] == x[0, 1, 1 + 2, 2 + 0]


# ------------------------------------------------------------------------------------ validation, dtypes, empties
@pytest.mark.parametrize("call,match", [
    (lambda: conv2d_forward(np.ones((1, 3, 5, 5)), np.ones((4, 2, 3, 3))), r"C_in = weight.shape\[1\] \* groups = 2.*\(1, 3, 5, 5\)"),
    (lambda: conv2d_forward(np.ones((3, 5, 5)), np.ones((4, 3, 3, 3))), r"\(N, C_in, H, W\), got shape \(3, 5, 5\)"),
    (lambda: conv2d_forward(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2), r"multiple of groups = 2.*\(3, 2, 3, 3\)"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3)), np.ones(3)), r"\(C_out,\) = \(4,\), got shape \(3,\)"),
    (lambda: conv2d_forward(np.ones((1, 2, 2, 5)), np.ones((4, 2, 3, 3))), r"too small"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3)), stride=0), r"stride must be >= 1"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3)), padding="same", stride=2), r"stride 1"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3)), padding=(1, 2, 3)), r"pair of ints"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3), dtype=np.float32)), r"one dtype"),
    (lambda: conv2d_forward(np.ones((1, 2, 5, 5), dtype=int), np.ones((4, 2, 3, 3))), r"floating-point"),
    (lambda: conv_transpose2d_forward(np.ones((1, 3, 5, 5)), np.ones((4, 2, 3, 3))), r"C_in = weight.shape\[0\] = 4"),
    (lambda: conv_transpose2d_forward(np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3)), stride=2, output_padding=2),
     r"output_padding must be smaller"),
    (lambda: max_pool2d_forward(np.ones((1, 1, 5, 5)), 2, padding=2), r"at most half"),
    (lambda: avg_pool2d_forward(np.ones((1, 1, 5, 5)), 2, divisor_override=0), r"nonzero int"),
    (lambda: conv2d_backward(np.ones((1, 4, 3, 4)), conv2d_forward(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3)))[1]),
     r"shape \(1, 4, 3, 3\), got \(1, 4, 3, 4\)"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _all_ops(rng):
    """(forward, inputs, backward, kwargs) for each op."""
    x = rng.standard_normal((2, 4, 6, 5))
    return [(conv2d_forward, [x, rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)], conv2d_backward,
             dict(stride=2, padding=1, groups=2)),
            (conv_transpose2d_forward, [x, rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(6)],
             conv_transpose2d_backward, dict(stride=2, padding=1, groups=2, output_padding=1)),
            (max_pool2d_forward, [x, 3], max_pool2d_backward, dict(stride=2, padding=1, ceil_mode=True)),
            (avg_pool2d_forward, [x, 3], avg_pool2d_backward, dict(stride=2, padding=1, ceil_mode=True))]


def test_inputs_not_mutated(rng):
    for forward, inputs, backward, opts in _all_ops(rng):
        before = [np.copy(a) for a in inputs]
        out, cache = forward(*inputs, **opts)
        g = rng.standard_normal(out.shape)
        g0 = g.copy()
        backward(g, cache)
        for a, b in zip(inputs, before):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(g, g0)


def test_float32_stays_float32(rng):
    for forward, inputs, backward, opts in _all_ops(rng):
        inputs = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in inputs]
        out, cache = forward(*inputs, **opts)
        grads = backward(np.ones(out.shape), cache)  # a float64 grad_out is converted, as autograd does
        assert out.dtype == np.float32
        assert all(gr.dtype == np.float32 for gr in (grads if isinstance(grads, tuple) else (grads,)))


def test_zero_size_batch(rng):
    for forward, inputs, backward, opts in _all_ops(rng):
        inputs = [a[:0] if i == 0 else a for i, a in enumerate(inputs)]
        out, cache = forward(*inputs, **opts)
        assert out.shape[0] == 0
        grads = backward(np.zeros(out.shape), cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        assert grads[0].shape == inputs[0].shape
        for gr, a in zip(grads[1:], inputs[1:]):
            np.testing.assert_array_equal(gr, np.zeros(np.shape(a)))


# ------------------------------------------------------------------------------------ PyTorch oracle
def _torch_check(torch, f_np, b_np, f_t, arrays, opts, rng, tol=TOL):
    """Forward and backward (autograd, a random upstream gradient) in float64 against torch; returns errors."""
    tensors = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in arrays]
    try:
        expected = f_t(*tensors, **opts)
    except RuntimeError:
        with pytest.raises(ValueError):
            f_np(*arrays, **opts)
        return None
    out, cache = f_np(*arrays, **opts)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tol)
    g = rng.standard_normal(out.shape)
    expected.backward(torch.tensor(g))
    grads = b_np(g, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for gr, t in zip(grads, [t for t in tensors if hasattr(t, "grad")]):
        if gr is None:
            continue
        np.testing.assert_allclose(gr, t.grad.numpy(), **tol)


CONV_GRID = list(itertools.product([1, 2, (2, 1)], [0, 1, (2, 0), "same", "valid"], [1, (1, 2)], [1, 2, 4]))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_GRID)
@pytest.mark.parametrize("with_bias", [True, False])
def test_torch_conv2d(rng, stride, padding, dilation, groups, with_bias):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    if padding == "same" and stride != 1:
        with pytest.raises(ValueError):
            conv2d_forward(np.ones((1, 4, 5, 5)), np.ones((4, 4 // groups, 3, 3)), stride=stride, padding="same", groups=groups)
        return
    c_out = 8 if groups < 4 else 4  # groups = 4 = C_in: depthwise
    arrays = [rng.standard_normal((3, 4, 9, 7)), rng.standard_normal((c_out, 4 // groups, 3, 2))]
    arrays.append(rng.standard_normal(c_out) if with_bias else None)
    _torch_check(torch, conv2d_forward, conv2d_backward, F.conv2d, arrays,
                 dict(stride=stride, padding=padding, dilation=dilation, groups=groups), rng)


@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups",
                         list(itertools.product([1, 2, (2, 3)], [0, 1, (1, 0)], [0, 1, (0, 2)], [1, 2], [1, 2])))
@pytest.mark.parametrize("with_bias", [True, False])
def test_torch_conv_transpose2d(rng, stride, padding, output_padding, dilation, groups, with_bias):
    torch = pytest.importorskip("torch")
    arrays = [rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 2))]
    arrays.append(rng.standard_normal(3 * groups) if with_bias else None)
    _torch_check(torch, conv_transpose2d_forward, conv_transpose2d_backward, torch.nn.functional.conv_transpose2d, arrays,
                 dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups), rng)


@pytest.mark.parametrize("kernel_size,stride,padding,dilation",
                         list(itertools.product([1, 2, 3, (3, 2)], [None, 1, 2, (2, 3)], [0, 1, (1, 0)], [1, 2, (1, 2)])))
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_torch_max_pool2d(rng, kernel_size, stride, padding, dilation, ceil_mode):
    torch = pytest.importorskip("torch")
    _torch_check(torch, max_pool2d_forward, max_pool2d_backward, torch.nn.functional.max_pool2d,
                 [rng.standard_normal((2, 3, 9, 8)), kernel_size],
                 dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode), rng)


@pytest.mark.parametrize("kernel_size,stride,padding", list(itertools.product([1, 2, 3, (3, 2)], [None, 1, 2, (2, 3)], [0, 1, (1, 0)])))
@pytest.mark.parametrize("ceil_mode,count_include_pad,divisor_override",
                         list(itertools.product([False, True], [True, False], [None, 3])))
def test_torch_avg_pool2d(rng, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    torch = pytest.importorskip("torch")
    _torch_check(torch, avg_pool2d_forward, avg_pool2d_backward, torch.nn.functional.avg_pool2d,
                 [rng.standard_normal((2, 3, 9, 8)), kernel_size],
                 dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                      divisor_override=divisor_override), rng)


@pytest.mark.parametrize("kernel_size,stride,padding,dilation,ceil_mode",
                         [(2, 1, 0, 1, False), (3, 2, 1, 1, True), ((3, 2), 1, (1, 0), (2, 1), False), (3, 1, 1, 1, False)])
def test_torch_max_pool2d_ties_and_nan(rng, kernel_size, stride, padding, dilation, ceil_mode):
    """Integer-valued inputs with many ties, and a few NaN: the gradient goes where torch sends it."""
    torch = pytest.importorskip("torch")
    x = rng.integers(0, 3, (2, 2, 7, 6)).astype(float)
    opts = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    _torch_check(torch, max_pool2d_forward, max_pool2d_backward, torch.nn.functional.max_pool2d, [x, kernel_size], opts, rng)
    x[0, 1, :3, :3] = -np.inf  # windows of -inf only, next to the padding
    _torch_check(torch, max_pool2d_forward, max_pool2d_backward, torch.nn.functional.max_pool2d, [x, kernel_size], opts, rng)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[1, 1, 4, 3] = np.nan
    _torch_check(torch, max_pool2d_forward, max_pool2d_backward, torch.nn.functional.max_pool2d, [x, kernel_size], opts, rng,
                 tol=dict(rtol=1e-10, atol=1e-12, equal_nan=True))


def test_torch_im2col_is_unfold_and_col2im_is_fold(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 8, 7))
    opts = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    cols = im2col(x, (3, 2), **opts)
    n, c, kh, kw, ho, wo = cols.shape
    np.testing.assert_array_equal(cols.reshape(n, c * kh * kw, ho * wo), F.unfold(torch.tensor(x), (3, 2), **opts).numpy())
    cc = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(col2im(cc, (8, 7), (3, 2), **opts),
                               F.fold(torch.tensor(cc.reshape(n, -1, ho * wo)), (8, 7), (3, 2), **opts).numpy(), **TOL)


def test_torch_zero_size_batch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch_ops = [F.conv2d, F.conv_transpose2d, F.max_pool2d, F.avg_pool2d]
    for (forward, inputs, _, opts), f_t in zip(_all_ops(rng), torch_ops):
        inputs = [a[:0] if i == 0 else a for i, a in enumerate(inputs)]
        expected = f_t(*[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in inputs], **opts)
        assert forward(*inputs, **opts)[0].shape == tuple(expected.shape)


@pytest.mark.parametrize("op", range(4))
def test_torch_float32(rng, op):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    forward, inputs, backward, opts = _all_ops(rng)[op]
    inputs = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in inputs]
    _torch_check(torch, forward, backward, [F.conv2d, F.conv_transpose2d, F.max_pool2d, F.avg_pool2d][op], inputs, opts,
                 rng, tol=dict(rtol=1e-5, atol=1e-5))


# ------------------------------------------------------------------------------------ fast paths
@pytest.fixture(params=["per_image", "whole_batch", "channels_last"])
def gemm_layout(request, monkeypatch):
    """The three GEMM layouts of conv2d: one product per image (large images), one per group (small ones)
    or, for small images with groups 1, one over channels-last columns (the others run the whole-batch one)."""
    from dlmath.layers import conv
    monkeypatch.setattr(conv, "_PER_IMAGE_MIN", 0 if request.param == "per_image" else 10 ** 9)
    monkeypatch.setattr(conv, "_CHANNELS_LAST_MIN", 0 if request.param == "channels_last" else 10 ** 9)
    return request.param


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((2, 1), (1, 2), (2, 1), 2), (1, 1, 2, 4), (3, (0, 1), 1, 1)])
def test_conv2d_layouts_match_explicit_sums(rng, gemm_layout, stride, padding, dilation, groups):
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4 * (2 if groups < 4 else 1), 4 // groups, 3, 2))
    b = rng.standard_normal(w.shape[0]) + 0.5
    out, _ = conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(out, _conv_loops(x, w, b, stride, padding, dilation, groups), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("opts", [dict(padding=1), dict(stride=2, padding=(1, 0), dilation=(1, 2), groups=2)])
def test_gradcheck_conv2d_layouts(rng, gemm_layout, opts):
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 4 // opts.get("groups", 1), 3, 2))
    errors = check_backward(lambda a, b, c: conv2d_forward(a, b, c, **opts), conv2d_backward, [x, w, _bias(rng, 6)], rng)
    assert max(errors) < 1e-7, errors


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 1, 1, 1), (1, "same", (1, 2), 2), (2, (2, 0), 1, 4), ((2, 1), 0, (1, 2), 1)])
def test_torch_conv2d_layouts(rng, gemm_layout, stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    c_out = 8 if groups < 4 else 4
    arrays = [rng.standard_normal((3, 4, 9, 7)), rng.standard_normal((c_out, 4 // groups, 3, 2)), rng.standard_normal(c_out)]
    _torch_check(torch, conv2d_forward, conv2d_backward, torch.nn.functional.conv2d, arrays,
                 dict(stride=stride, padding=padding, dilation=dilation, groups=groups), rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_conv2d_benchmark_sized(rng, dtype):
    """A layer as the benchmark's (images of 16 x 12, past the per-image threshold, 3x3, padding 1)."""
    torch = pytest.importorskip("torch")
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((4, 6, 16, 12), (10, 6, 3, 3), (10,)))
    tol = TOL if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    _torch_check(torch, conv2d_forward, conv2d_backward, torch.nn.functional.conv2d, [x, w, b], dict(padding=1), rng, tol)


@pytest.mark.parametrize("shape,kernel_size", [((2, 3, 8, 6), 2), ((2, 3, 8, 6), (4, 3)), ((1, 2, 6, 6), 3), ((2, 1, 8, 6), (2, 1))])
def test_torch_pools_that_tile_the_input(rng, shape, kernel_size):
    """stride = kernel and no padding, the input an exact multiple: each cell written once (no zero fill)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.integers(0, 3, shape).astype(float)  # ties
    _torch_check(torch, max_pool2d_forward, max_pool2d_backward, F.max_pool2d, [x, kernel_size], {}, rng)
    _torch_check(torch, avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d, [rng.standard_normal(shape), kernel_size], {}, rng)


@pytest.mark.parametrize("opts", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_torch_max_pool2d_nonfinite_upstream_gradient(rng, opts):
    """An inf in the upstream gradient reaches the argmax only: the other cells of its window stay 0."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((1, 2, 6, 4))
    y, cache = max_pool2d_forward(x, **opts)
    g = rng.standard_normal(y.shape)
    g[0, 1, 1, 1] = np.inf
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, **opts).backward(torch.tensor(g))
    np.testing.assert_allclose(max_pool2d_backward(g, cache), xt.grad.numpy(), **TOL)


def test_pool_windows_that_do_not_overlap_assign_each_cell_once(rng):
    """With stride > kernel the windows leave gaps; the gradient there is exactly zero, the rest as torch."""
    x = rng.standard_normal((2, 2, 9, 9))
    y, cache = max_pool2d_forward(x, 2, stride=3)
    g = rng.standard_normal(y.shape)
    gx = max_pool2d_backward(g, cache)
    assert np.all(gx[:, :, 2::3, :] == 0) and np.all(gx[:, :, :, 2::3] == 0)
    np.testing.assert_allclose(gx.sum(axis=(2, 3)), g.sum(axis=(2, 3)), rtol=1e-12)


# ------------------------------------------------------------------------------------ the benchmark table
def test_benchmark_rows_and_table_without_torch(monkeypatch):
    """The table chapter 14 prints at build time: one row per layer and dtype, torch columns 'not installed'
    when torch cannot be imported, and a GEMM fraction for the convolutions only."""
    from dlmath.book import benchmarks
    monkeypatch.setattr(benchmarks, "_torch", lambda: None)
    monkeypatch.setattr(benchmarks, "_conv_cases", lambda size: [
        ("conv2d 2x3x6x6 -> 4", "conv2d", (2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1}),
        ("max_pool2d 2x2 on 2x3x6x6", "max_pool2d", (2, 3, 6, 6), None, {"kernel_size": 2})])
    rows = benchmarks.conv_benchmark_rows("small", ("float64", "float32"), repeats=2)
    assert [(r["layer"][:6], r["dtype"]) for r in rows] == [("conv2d", "float64"), ("conv2d", "float32"),
                                                            ("max_po", "float64"), ("max_po", "float32")]
    assert all(r["torch_ms"] is None and r["ratio"] is None and r["dlmath_ms"] > 0 for r in rows)
    assert rows[0]["gflop"] == pytest.approx(3 * 2 * 4 * 27 * 2 * 36 / 1e9) and rows[2]["gflop"] is None
    table = benchmarks.rows_to_markdown(rows).splitlines()
    assert len(table) == 2 + len(rows) and table[2].count("not installed") == 4 and table[4].endswith("| - | not installed |")
    with pytest.raises(ValueError):
        benchmarks.conv_benchmark_rows("huge")


def test_benchmark_clock_is_cpu_time_with_one_thread_else_wall_time(monkeypatch):
    """One thread: the process's CPU time (other processes do not inflate it); more threads: wall time."""
    import time

    from dlmath.book import benchmarks
    monkeypatch.setattr(benchmarks, "_blas", lambda: (1, "BLAS"))
    fine = time.get_clock_info("process_time").resolution <= 1e-6
    assert benchmarks._clock() == ((time.process_time, "cpu") if fine else (time.perf_counter, "wall"))
    monkeypatch.setattr(benchmarks, "_blas", lambda: (2, "BLAS"))
    assert benchmarks._clock() == (time.perf_counter, "wall")
    busy = benchmarks._times_ms(lambda: sum(range(20000)), 3, min_seconds=0.0, clock=time.process_time)
    asleep = benchmarks._times_ms(lambda: time.sleep(0.02), 3, min_seconds=0.0, clock=time.process_time)
    if fine:  # sleeping costs no CPU time: the CPU clock does not count what the process did not compute
        assert min(busy) > 0 and max(asleep) < 10
