"""Chapter 14's statements about convolution, tested on the package beyond the chapter's own cases.

The gradients of a convolution are convolutions (the input gradient a convolution of the upstream gradient
with the flipped, channel-transposed kernel; the weight gradient a cross-correlation of the input with the
upstream gradient), a strided convolution's input gradient is a stride-1 convolution of the zero-upsampled
upstream gradient, the receptive-field formula matches the support of a gradient, a 1x1 convolution is a
linear layer on each pixel, and a separable pair is one convolution with a rank-one kernel.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.layers import conv as cv
from dlmath.layers.linear import linear_forward


@pytest.fixture
def rng():
    return np.random.default_rng(20261127)


# (kernel, padding, dilation) with padding at most the dilated kernel's span d (k - 1), so that the
# convolution of the upstream gradient is padded by d (k - 1) - p >= 0
FLIP_CASES = [(k, p, d) for k in [(3, 3), (3, 2), (1, 4)] for p in [(0, 0), (1, 0), (2, 1)] for d in [(1, 1), (2, 1)]
              if all(pi <= di * (ki - 1) for ki, pi, di in zip(k, p, d))]


@pytest.mark.parametrize("kernel, padding, dilation", FLIP_CASES)
def test_input_gradient_is_a_convolution_with_the_flipped_kernel(rng, kernel, padding, dilation):
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3) + kernel)
    y, cache = cv.conv2d_forward(x, w, padding=padding, dilation=dilation)
    dy = rng.standard_normal(y.shape)
    dx = cv.conv2d_backward(dy, cache)[0]
    w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_in, C_out, kH, kW)
    full = tuple(d * (k - 1) - p for k, p, d in zip(kernel, padding, dilation))
    dx_conv = cv.conv2d_forward(dy, w_flip, padding=full, dilation=dilation)[0]
    np.testing.assert_allclose(dx, dx_conv, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", [(0, 0), (1, 2)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 3)])
def test_weight_gradient_is_a_correlation_of_input_and_output_gradient(rng, padding, dilation):
    x = rng.standard_normal((3, 2, 10, 11))
    w = rng.standard_normal((5, 2, 3, 2))
    y, cache = cv.conv2d_forward(x, w, padding=padding, dilation=dilation)
    dy = rng.standard_normal(y.shape)
    dw = cv.conv2d_backward(dy, cache)[1]
    # dW[o, c, i, j] = sum_{n,u,v} dy[n, o, u, v] x_pad[n, c, u + d i, v + d j]: channels as the batch,
    # the batch as the channels, dy as the kernel, the dilation as the stride; the first k offsets kept
    corr = cv.conv2d_forward(np.ascontiguousarray(x.transpose(1, 0, 2, 3)),
                             np.ascontiguousarray(dy.transpose(1, 0, 2, 3)), padding=padding, stride=dilation)[0]
    np.testing.assert_allclose(dw, corr.transpose(1, 0, 2, 3)[:, :, :3, :2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("length", [11, 12, 13])
def test_strided_input_gradient_is_the_convolution_of_the_upsampled_gradient(rng, stride, length):
    x, w = rng.standard_normal(length), rng.standard_normal(4)
    y, cache = cv.conv2d_forward(x.reshape(1, 1, 1, -1), w.reshape(1, 1, 1, -1), stride=stride)
    dy = rng.standard_normal(y.shape)
    dx = cv.conv2d_backward(dy, cache)[0].ravel()
    z = np.zeros(length)
    z[::stride][:dy.size] = dy.ravel()
    expected = np.convolve(z, w)[:length]  # (z * w)_h = sum_i w_i z_{h-i}
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


def _receptive_field(ks, ss, ds):
    r, jump = 1, 1
    for k, s, d in zip(ks, ss, ds):
        r += d * (k - 1) * jump
        jump *= s
    return r


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4))
def test_receptive_field_is_the_support_of_the_gradient(layers):
    ks, ss, ds = zip(*layers)
    r = _receptive_field(ks, ss, ds)
    size = r + 40
    h, caches = np.zeros((1, 1, size, 3)), []
    for k, s, d in layers:
        h, cache = cv.conv2d_forward(h, np.ones((1, 1, k, 1)), stride=(s, 1), dilation=(d, 1))
        caches.append(cache)
    g = np.zeros_like(h)
    g[0, 0, h.shape[2] // 2, 1] = 1.0
    for cache in reversed(caches):
        g = cv.conv2d_backward(g, cache)[0]
    rows = np.flatnonzero(g[0, 0, :, 1])
    assert rows.max() - rows.min() + 1 == r


def test_one_by_one_convolution_is_a_linear_layer_on_each_pixel(rng):
    x, w, b = rng.standard_normal((3, 5, 4, 6)), rng.standard_normal((7, 5, 1, 1)), rng.standard_normal(7)
    y = cv.conv2d_forward(x, w, b)[0]
    lin = linear_forward(x.transpose(0, 2, 3, 1).reshape(-1, 5), w[:, :, 0, 0], b)[0]
    np.testing.assert_allclose(y, lin.reshape(3, 4, 6, 7).transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)


def test_separable_pair_is_a_convolution_with_a_rank_one_kernel(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    q, a = rng.standard_normal((3, 1, 3, 3)), rng.standard_normal((5, 3, 1, 1))
    two = cv.conv2d_forward(cv.conv2d_forward(x, q, padding=1, groups=3)[0], a)[0]
    one = cv.conv2d_forward(x, a[:, :, 0, 0][:, :, None, None] * q[:, 0][None], padding=1)[0]
    np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)
    assert q.size + a.size < (a[:, :, 0, 0][:, :, None, None] * q[:, 0][None]).size
