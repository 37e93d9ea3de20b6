"""The fast paths of conv2d's backward pass agree with the reference path and with PyTorch.

conv2d_backward computes the input gradient col2im(W_g^T dY_g) (eq-conv-backward) by one of two paths:
``_input_gradient`` (one GEMM per kernel row, then strided adds, in two GEMM layouts chosen by
``_PER_IMAGE_MIN``) and ``_input_gradient_flat`` (stride 1 and small images: dY placed on the padded grid,
the adds contiguous slices of the flattened gradient, chosen by ``_FLAT_MAX_WASTE``) and
``_input_gradient_correlation`` (groups 1, stride 1 and small images with C_in >= C_out: dY correlated with
the flipped kernel by a channels-last im2col and one GEMM). The small-image forward builds its columns
channels last (groups 1, ``_CHANNELS_LAST_MIN`` input channels) or channels first. Each path is forced
here through those module constants and compared with the reference: the public ``col2im`` of the column
gradient W_g^T dY_g, computed by an einsum (no GEMM layout, no flattening), and with torch where installed.
"""
import itertools

import numpy as np
import pytest

from dlmath.layers import conv
from dlmath.layers.conv import col2im, conv2d_backward, conv2d_forward

PATHS = ["strided_per_image", "strided_whole_batch", "flat", "correlation"]


def _correlation_valid(stride, pads, kernel, dilation, out, weight_shape, groups):
    """Where _input_gradient_correlation applies at all: groups 1, stride 1 and p <= d (k - 1) on each side."""
    return groups == 1 and tuple(stride) == (1, 1) and all(max(p) <= d * (k - 1) for p, d, k in zip(pads, dilation, kernel))


@pytest.fixture(params=["channels_last", "channels_first"])
def columns(request, monkeypatch):
    """Both column layouts of the small-image forward (the weight gradient reads the same columns)."""
    monkeypatch.setattr(conv, "_CHANNELS_LAST_MIN", 0 if request.param == "channels_last" else 10 ** 9)
    return request.param


@pytest.fixture(params=PATHS)
def path(request, monkeypatch, columns):
    """Force one input-gradient path where it applies (the reference strided path elsewhere), with either
    column layout of the forward."""
    never, always = {1: 0.0, 2: 0.0, 4: 0.0, 8: 0.0}, {1: np.inf, 2: np.inf, 4: np.inf, 8: np.inf}
    monkeypatch.setattr(conv, "_PER_IMAGE_MIN", 0 if request.param == "strided_per_image" else 10 ** 9)
    monkeypatch.setattr(conv, "_FLAT_MAX_WASTE", always if request.param == "flat" else never)
    monkeypatch.setattr(conv, "_correlation_input_gradient_fits",
                        _correlation_valid if request.param == "correlation" else lambda *args: False)
    return request.param


def _pads(padding, kernel, dilation):
    """((top, bottom), (left, right)) as conv2d reads ``padding`` (an int, a pair or 'same')."""
    if padding == "same":
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    p = (padding, padding) if isinstance(padding, int) else padding
    return tuple((q, q) for q in p)


def _reference_input_gradient(w, dy, x_shape, stride, padding, dilation, groups):
    """col2im(W_g^T dY_g) through the public col2im: the column gradient by an einsum, per group."""
    n, c_in, h, wd = x_shape
    c_out, cg, kh, kw = w.shape
    og = c_out // groups
    pads = _pads(padding, (kh, kw), dilation)
    hp, wp = h + sum(pads[0]), wd + sum(pads[1])
    ho, wo = dy.shape[2:]
    dcols = np.einsum("gocij,ngohw->ngcijhw", w.reshape(groups, og, cg, kh, kw), dy.reshape(n, groups, og, ho, wo))
    dcols = dcols.reshape(n, c_in, kh, kw, ho, wo)
    # col2im with zero padding on the padded grid (asymmetric 'same' padding: the grid is cropped after)
    full = col2im(dcols, (hp, wp), (kh, kw), stride=stride, padding=0, dilation=dilation)
    return full[:, :, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd]


CONFIGS = [  # (x shape, weight shape, stride, padding, dilation, groups)
    ((3, 4, 8, 8), (6, 4, 3, 3), 1, 1, 1, 1),  # a digits-CNN layer, scaled down
    ((2, 4, 4, 4), (4, 4, 3, 3), 1, 1, 1, 1),  # 4x4 images: the largest waste ratio of the digits CNN
    ((2, 4, 7, 6), (6, 2, 3, 2), 1, (2, 1), (1, 2), 2),  # non-square, dilation, groups
    ((2, 4, 9, 5), (8, 1, 2, 3), 1, "same", (1, 2), 4),  # asymmetric padding (0, 1), depthwise-like
    ((2, 3, 6, 7), (5, 3, 1, 1), 1, 0, 1, 1),  # 1x1 kernel
    ((2, 2, 5, 5), (3, 2, 5, 5), 1, 0, 1, 1),  # kernel as large as the image: one output cell
    ((2, 4, 8, 8), (6, 4, 3, 3), 2, 1, 1, 1),  # stride 2: the flat path does not apply
    ((2, 3, 4, 6), (4, 3, 1, 2), 1, (2, 1), 1, 1),  # padding wider than d (k - 1): the output outgrows the input
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,groups", CONFIGS)
def test_input_gradient_paths_match_col2im(rng, path, dtype, x_shape, w_shape, stride, padding, dilation, groups):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, cache = conv2d_forward(x.astype(dtype), w.astype(dtype), stride=stride, padding=padding, dilation=dilation,
                                groups=groups)
    dy = rng.standard_normal(out.shape)
    grad_x, _, _ = conv2d_backward(dy.astype(dtype), cache)
    assert grad_x.dtype == np.dtype(dtype) and grad_x.flags.c_contiguous
    expected = _reference_input_gradient(w, dy, x_shape, stride, padding, dilation, groups)  # float64
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_x, expected, **tol)


def test_flat_path_is_taken_where_it_was_measured_to_win():
    """Flat: 8x8 and 4x4 images with padding 1 in both dtypes (grids of 9x9 and 5x5, the padding shared by
    neighbours: waste 1.27 and 1.56); a waste of 2.25 in float32 only; never stride 2 or large images.
    Correlation: the digits CNN's conv3 (32 -> 32 channels, 4x4), not conv2 (16 -> 32)."""
    fits, grid = conv._flat_input_gradient_fits, conv._flat_grid
    assert grid((8, 8), ((1, 1), (1, 1)), (1, 1), (3, 3)) == (9, 9) and grid((4, 4), ((1, 1), (1, 1)), (1, 1), (3, 3)) == (5, 5)
    assert grid((4, 6), ((2, 2), (0, 1)), (1, 1), (1, 2)) == (8, 7)  # padding wider than d (k - 1): the output's size
    assert fits((1, 1), (9, 9), (8, 8), np.float32) and fits((1, 1), (9, 9), (8, 8), np.float64)
    assert fits((1, 1), (5, 5), (4, 4), np.float32) and fits((1, 1), (5, 5), (4, 4), np.float64)
    assert fits((1, 1), (6, 6), (4, 4), np.float32) and not fits((1, 1), (6, 6), (4, 4), np.float64)
    assert not fits((2, 2), (10, 10), (4, 4), np.float32)
    assert not fits((1, 1), (34, 34), (32, 32), np.float32)
    corr = conv._correlation_input_gradient_fits
    assert corr((1, 1), ((1, 1), (1, 1)), (3, 3), (1, 1), (4, 4), (32, 32, 3, 3), 1)
    assert not corr((1, 1), ((1, 1), (1, 1)), (3, 3), (1, 1), (8, 8), (32, 16, 3, 3), 1)
    assert not corr((1, 1), ((3, 3), (1, 1)), (3, 3), (1, 1), (4, 4), (32, 32, 3, 3), 1)  # p > d (k - 1)
    assert not corr((2, 2), ((1, 1), (1, 1)), (3, 3), (1, 1), (4, 4), (32, 32, 3, 3), 1)
    assert not corr((1, 1), ((1, 1), (1, 1)), (3, 3), (1, 1), (32, 32), (64, 64, 3, 3), 1)


def test_flat_path_is_what_the_backward_calls(rng, monkeypatch):
    """conv2d_backward dispatches to the flat path exactly when _flat_input_gradient_fits says so (and the
    correlation path does not apply: 3 -> 5 channels): 4x4 images with padding 1 (grid 5x5) in both
    dtypes, a 5x5 kernel with padding 2 (grid 6x6, waste 2.25) in float32 only."""
    calls = []
    real = conv._input_gradient_flat
    monkeypatch.setattr(conv, "_input_gradient_flat", lambda *a: calls.append(1) or real(*a))
    for dtype, padding, expected in (("float32", 1, 1), ("float64", 1, 1), ("float32", 2, 1), ("float64", 2, 0)):
        calls.clear()
        out, cache = conv2d_forward(rng.standard_normal((2, 3, 4, 4)).astype(dtype),
                                    rng.standard_normal((5, 3, 2 * padding + 1, 2 * padding + 1)).astype(dtype),
                                    padding=padding)
        conv2d_backward(np.ones(out.shape, dtype), cache)
        assert len(calls) == expected, (dtype, padding)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,groups", CONFIGS[:4])
def test_torch_input_gradient_paths(rng, path, x_shape, w_shape, stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out, cache = conv2d_forward(x, w, b, **opts)
    dy = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(tx, tw, tb, **opts).backward(torch.tensor(dy))
    for ours, theirs in zip(conv2d_backward(dy, cache), (tx, tw, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_every_path_gives_the_same_gradient(rng, monkeypatch):
    """All four paths and both column layouts on one digits-sized layer: outputs and gradients equal up to
    rounding (float64)."""
    x, w = rng.standard_normal((4, 6, 8, 8)), rng.standard_normal((8, 6, 3, 3))
    out, cache = conv2d_forward(x, w, padding=1)
    dy = rng.standard_normal(out.shape)
    results = []
    for per_image, waste, corr, last in itertools.product((0, 10 ** 9), (0.0, np.inf), (False, True), (0, 10 ** 9)):
        monkeypatch.setattr(conv, "_PER_IMAGE_MIN", per_image)
        monkeypatch.setattr(conv, "_CHANNELS_LAST_MIN", last)
        out, cache = conv2d_forward(x, w, padding=1)
        monkeypatch.setattr(conv, "_FLAT_MAX_WASTE", {8: waste, 4: waste})
        monkeypatch.setattr(conv, "_correlation_input_gradient_fits", lambda *args, corr=corr: corr)
        results.append(conv2d_backward(dy, cache)[:2] + (out,))
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("c_in,c_out", [(3, 5), (6, 4)])  # the flat path, then the correlation path
def test_an_infinite_weight_gives_the_gradient_torch_gives(rng, c_in, c_out):
    """The shortcuts multiply weights by structural zeros; with an infinite weight they would turn those
    zeros into NaN, so the backward takes the strided path and agrees with torch (NaN where torch has NaN)."""
    torch = pytest.importorskip("torch")
    x, w = rng.standard_normal((2, c_in, 5, 5)), rng.standard_normal((c_out, c_in, 3, 3))
    w[0, 0, 0, 0] = np.inf  # a corner: its products with the zeros around dY land inside the image
    out, cache = conv2d_forward(x, w, padding=1)
    dy = rng.standard_normal(out.shape)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    torch.nn.functional.conv2d(tx, tw, padding=1).backward(torch.tensor(dy))
    np.testing.assert_array_equal(np.isnan(conv2d_backward(dy, cache)[0]), np.isnan(tx.grad.numpy()))
    assert np.isfinite(tx.grad.numpy()[:, 1:]).all()  # channels the infinite weight does not touch


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kernel_size,stride,padding,dilation,ceil_mode", [
    (3, 2, 1, 1, False), (3, 1, 1, 1, False), ((3, 2), (2, 1), (1, 0), (1, 2), True), (2, 1, 0, 2, False), (5, 3, 2, 1, True)])
def test_max_pool_overlapping_backward_is_the_per_offset_scatter(rng, dtype, kernel_size, stride, padding, dilation,
                                                                  ceil_mode):
    """Overlapping windows: the one-pass scatter to the argmax (np.bincount) equals the reference sum over
    kernel offsets of g [idx == q] added into the strided cells of offset q, ties included."""
    x = rng.integers(0, 4, (2, 3, 11, 9)).astype(dtype)  # many ties
    y, cache = conv.max_pool2d_forward(x, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                       ceil_mode=ceil_mode)
    g = rng.standard_normal(y.shape).astype(dtype)
    x_shape, _, idx, kernel, stride_, pads, dilation_ = cache
    expected = conv._scatter_offsets(lambda i, j: g.astype(float) * (idx == i * kernel[1] + j), x_shape, kernel,
                                     stride_, pads, dilation_, np.float64)
    got = conv.max_pool2d_backward(g, cache)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=1e-12 if dtype == "float64" else 1e-6, atol=1e-12 if dtype == "float64" else 1e-6)


@pytest.mark.parametrize("kernel,stride,pads,dilation", [
    ((3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)), ((2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1)),
    ((3, 2), (3, 2), ((1, 2), (0, 1)), (2, 3)), ((4, 3), (1, 1), ((2, 1), (1, 1)), (1, 2)), ((2, 3), (2, 3), ((0, 1), (1, 0)), (3, 1))])
def test_offset_views_are_the_windows_on_the_output_cells(rng, kernel, stride, pads, dilation):
    """_offset_views (stride classes, one contiguous view per kernel offset) reads at every output cell
    what the strided window view reads there: x_pad[n, c, h s + i d, w s + j d]."""
    x = rng.standard_normal((2, 3, 11, 10))
    out = tuple(conv.conv2d_output_size(x.shape[2 + a], kernel[a], stride=stride[a], padding=pads[a],
                                        dilation=dilation[a]) for a in range(2))
    win = conv._windows(conv._pad(x, pads, -np.inf), kernel, stride, dilation, out)  # (N, C, kH, kW, Ho, Wo)
    views, grid = conv._offset_views(x, pads, -np.inf, kernel, stride, dilation)
    assert len(views) == kernel[0] * kernel[1] and all(v.flags.c_contiguous for v in views)
    for q, v in enumerate(views):
        np.testing.assert_array_equal(conv._on_outputs(v, grid, out), win[:, :, q // kernel[1], q % kernel[1]])
