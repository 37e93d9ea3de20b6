"""Convolution and pooling as functional pairs (chapter 14), vectorized through im2col.

Images are NCHW. ``conv2d_forward(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1)``
is torch.nn.functional.conv2d (a cross-correlation, LeCun et al. 1998): x (N, C_in, H, W), weight
(C_out, C_in/groups, kH, kW), bias (C_out,) -> out (N, C_out, H_out, W_out), with
H_out = floor((H + 2p - d (k - 1) - 1) / s) + 1 (eq-conv-output-size). ``conv_transpose2d_forward`` is
its adjoint with respect to the input (F.conv_transpose2d, weight (C_in, C_out/groups, kH, kW); Dumoulin &
Visin 2016). ``max_pool2d_forward`` and ``avg_pool2d_forward`` are F.max_pool2d and F.avg_pool2d, with
torch's ceil_mode rule (the last window must start inside the input or its left padding).

How: ``im2col`` is a strided *view* (N, C, kH, kW, H_out, W_out) of the padded input (no copy, no loop);
a convolution is then one matrix product per group (a stacked np.matmul over the groups). ``col2im``, its
adjoint, scatters columns back by strided adds, one per kernel offset: the only Python loops here run
over the kH*kW kernel offsets and the s_H*s_W stride classes of a pooling (never over the batch, the
channels or the pixels). Small images with groups 1 build their columns channels last (runs of kW C_in
numbers); max pooling reads each kernel offset as one contiguous slice of a stride class (_offset_views)
and scatters overlapping windows' gradients with one np.bincount.
Each ``<op>_backward(grad_out, cache)`` returns the gradients in argument order; a bias gradient is None
without a bias. This file imports only NumPy and the standard library: copy it alone and it works.
"""
import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "im2col", "col2im", "conv2d_output_size",
    "conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
]


# ------------------------------------------------------------------------------------------ validation
def _pair(value, name, low):
    """An int or a pair of ints, each >= low, as a tuple (a, b)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(value) < low:
        raise ValueError(f"{name} must be >= {low} in each dimension, got {value!r}")
    return int(value[0]), int(value[1])


def _floats(x, x_shape, **others):
    """x (and the other arrays, None skipped) as float arrays of one dtype, x with x_shape's rank."""
    arrays = {"x": np.asarray(x), **{k: np.asarray(v) for k, v in others.items() if v is not None}}
    for name, a in arrays.items():
        if a.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if len({a.dtype for a in arrays.values()}) > 1:
        raise ValueError("the arrays must have one dtype, got " + ", ".join(f"{k} {a.dtype}" for k, a in arrays.items()))
    if arrays["x"].ndim != 4:
        raise ValueError(f"x must have shape {x_shape}, got shape {arrays['x'].shape}")
    return arrays


def conv2d_output_size(size, kernel, *, stride=1, padding=0, dilation=1, ceil_mode=False):
    """floor((H + 2p - d (k - 1) - 1) / s) + 1 (eq-conv-output-size), ceil with ceil_mode; torch's rule
    drops a last window that would start in the right padding. ``padding`` may be a (left, right) pair."""
    lo, hi = (padding, padding) if isinstance(padding, numbers.Integral) else padding
    span = size + lo + hi - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    out = -(-span // stride) + 1 if ceil_mode else span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + lo:
        out -= 1
    return out


def _geometry(hw, kernel, stride, pads, dilation, ceil_mode=False, what="input"):
    """(H_out, W_out) for the spatial size hw; ValueError if an output size is below 1."""
    out = tuple(conv2d_output_size(hw[i], kernel[i], stride=stride[i], padding=pads[i], dilation=dilation[i],
                                   ceil_mode=ceil_mode) for i in range(2))
    if min(out) < 1:
        raise ValueError(f"the {what} of spatial size {hw} is too small for kernel {kernel} with padding "
                         f"{pads}, dilation {dilation} and stride {stride}: output size {out}")
    return out


def _check_conv(x, weight, bias, stride, padding, dilation, groups):
    """Shapes and options of conv2d; returns x, weight, bias, stride, pads ((t, b), (l, r)), dilation, out."""
    a = _floats(x, "(N, C_in, H, W)", weight=weight, bias=bias)
    x, weight = a["x"], a["weight"]
    if not (isinstance(groups, numbers.Integral) and not isinstance(groups, bool) and groups >= 1):
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if weight.ndim != 4 or weight.shape[0] % groups or weight.shape[0] == 0:
        raise ValueError(f"weight must have shape (C_out, C_in/groups, kH, kW) with C_out a positive multiple "
                         f"of groups = {groups}, got shape {weight.shape}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"x must have shape (N, C_in, H, W) with C_in = weight.shape[1] * groups = "
                         f"{weight.shape[1] * groups}, got x of shape {x.shape}")
    if bias is not None and a["bias"].shape != (weight.shape[0],):
        raise ValueError(f"bias must have shape (C_out,) = ({weight.shape[0]},), got shape {a['bias'].shape}")
    stride, dilation = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    kernel = weight.shape[2:]
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    elif padding == "same":  # torch: total d (k - 1), the odd one on the bottom/right; stride 1 only
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
        pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    else:
        pads = tuple((p, p) for p in _pair(padding, "padding", 0))
    out = _geometry(x.shape[2:], kernel, stride, pads, dilation)
    return x, weight, a.get("bias"), stride, pads, dilation, out


def _check_grad(grad_out, shape, dtype):
    """grad_out as a float array of the forward output's shape, converted to the forward's dtype."""
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != tuple(shape):
        raise ValueError(f"grad_out must have the forward output's shape {tuple(shape)}, got {grad_out.shape}")
    return grad_out.astype(dtype, copy=False)


# ------------------------------------------------------------------------------------------ im2col / col2im
def _pad(x, pads, value=0.0):
    """x (N, C, H, W) padded by pads ((top, bottom), (left, right)) with ``value``; x itself if no padding."""
    if not any(pads[0] + pads[1]):
        return x
    (top, bottom), (left, right) = pads
    out = np.full(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right), value, dtype=x.dtype)
    out[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    return out


def _windows(xp, kernel, stride, dilation, out):
    """The read-only view cols[n, c, i, j, h, w] = xp[n, c, h s_H + i d_H, w s_W + j d_W]:
    (N, C, kH, kW, H_out, W_out), no copy (eq-conv-im2col)."""
    sn, sc, sh, sw = xp.strides
    shape = xp.shape[:2] + tuple(kernel) + tuple(out)
    strides = (sn, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw)
    return as_strided(xp, shape, strides, writeable=False)


def _scatter(cols, padded_hw, stride, dilation):
    """col2im on the padded grid: out[n, c, h s + i d, w s + j d] += cols[n, c, i, j, h, w].
    One strided add per kernel offset (i, j): the loop runs over kH*kW offsets, nothing else."""
    n, c, kh, kw, ho, wo = cols.shape
    out = np.zeros((n, c) + tuple(padded_hw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            h0, w0 = i * dilation[0], j * dilation[1]
            out[:, :, h0:h0 + stride[0] * (ho - 1) + 1:stride[0],
                w0:w0 + stride[1] * (wo - 1) + 1:stride[1]] += cols[:, :, i, j]
    return out


def _group_columns(win, groups):
    """The im2col matrix of each group from the window view (N, C, kH, kW, Ho, Wo): a copy, (G, K, N Ho Wo)
    with K = C/G kH kW, rows in (c, i, j) order and columns in (n, h, w) order."""
    n, c, kh, kw, ho, wo = win.shape
    return (win.reshape(n, groups, c // groups, kh, kw, ho, wo).transpose(1, 2, 3, 4, 0, 5, 6)
            .reshape(groups, c // groups * kh * kw, n * ho * wo))


def _columns_last(x, kernel, stride, pads, dilation, out):
    """The im2col matrix in channels-last order, a copy (N Ho Wo, kH kW C): row (n, h, w), column (i, j, c)
    holds x_pad[n, c, h s + i d, w s + j d] (eq-conv-im2col, transposed). x is moved to (N, Hp, Wp, C) while
    it is padded, so that the kW C entries of one window row are a contiguous run (dilation 1) and the copy
    reads runs of kW C numbers, not of W_out as the (C, kH, kW, N, Ho, Wo) order does on small images."""
    n, c, h, w = x.shape
    (top, bottom), (left, right) = pads
    if any(pads[0] + pads[1]):
        xt = np.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)  # (N, Hp, Wp, C)
        xt[:, top:top + h, left:left + w] = x.transpose(0, 2, 3, 1)
    else:
        xt = x.transpose(0, 2, 3, 1)  # a view: the window view takes any strides
    sn, sh, sw, sc = xt.strides
    shape = (n,) + tuple(out) + tuple(kernel) + (c,)
    strides = (sn, stride[0] * sh, stride[1] * sw, dilation[0] * sh, dilation[1] * sw, sc)
    if dilation[1] == 1 and sw == c * sc:  # (j, c) is one run of kW C numbers
        shape, strides = shape[:4] + (kernel[1] * c,), strides[:4] + (sc,)
    return as_strided(xt, shape, strides, writeable=False).reshape(n * out[0] * out[1], kernel[0] * kernel[1] * c)


def _channels_last_fits(out, groups, c_in):
    """Whether conv2d's forward builds its columns channels last: groups 1, small images (under
    _PER_IMAGE_MIN output positions) and at least _CHANNELS_LAST_MIN input channels (with one input
    channel there is no run to gain, and the (C, kH, kW, N Ho Wo) order is faster)."""
    return groups == 1 and out[0] * out[1] < _PER_IMAGE_MIN and c_in >= _CHANNELS_LAST_MIN


# Below this many output positions per image, one GEMM over the whole batch (and a transpose) beats one
# small GEMM per image, whose per-call cost then dominates.
_PER_IMAGE_MIN = 256
# Fewer input channels than this: the small-image forward keeps the (C, kH, kW, N Ho Wo) columns.
_CHANNELS_LAST_MIN = 2


def _per_image(cols, n):
    """cols (G, K, N M) as the view (N, G, K, M): image n's block of columns, a (K, M) matrix with row
    stride N M that BLAS reads as it is (no copy)."""
    g, k, nm = cols.shape
    return cols.reshape(g, k, n, nm // n if n else 0).transpose(2, 0, 1, 3)


def _columns_product(w, cols, n):
    """W_g cols_g for w (G, O, K) and cols (G, K, N M), returned as (N, G, O, M), i.e. in NCHW order: one
    GEMM per image on the strided view of its columns, or one per group and a transpose for small images."""
    g, k, nm = cols.shape
    m = nm // n if n else 0
    if m >= _PER_IMAGE_MIN:
        return np.matmul(w, _per_image(cols, n))
    return np.matmul(w, cols).reshape(g, w.shape[1], n, m).transpose(2, 0, 1, 3)


def _weight_gradient(cols, dy):
    """dW_g = sum_n dY[n, g] cols_g[:, n]^T for cols (G, K, N M) and dY (N, G, O, M): (G, O, K). Computed
    as (cols dY^T)^T, one product per image then summed (or one per group for small images): OpenBLAS is
    much faster in this order."""
    n, g, o, m = dy.shape
    if m >= _PER_IMAGE_MIN:
        return np.matmul(_per_image(cols, n), dy.transpose(0, 1, 3, 2)).sum(axis=0).transpose(0, 2, 1)
    return np.matmul(cols, dy.transpose(1, 0, 3, 2).reshape(g, n * m, o)).transpose(0, 2, 1)


def _input_gradient(weight, dy, x_shape, stride, pads, dilation):
    """col2im(dcols) with dcols_g = W_g^T dY_g (eq-conv-backward), built one kernel row i at a time: the
    rows (c, i, j) of dcols for one i and every j are W[:, c, i, j]^T dY, one (kW C_in/G, C_out/G) @
    (C_out/G, Ho Wo) product per image and group, whose kW blocks are then added into the strided cells of
    the padded input they were read from. The full column matrix is never built: one buffer of
    kW N C_in Ho Wo numbers serves every kernel row. (A product per kernel row, not per offset: its kW
    times taller left factor keeps OpenBLAS near its peak; per offset the products were half as fast.)"""
    n, c_in, h, w = x_shape
    c_out, cg, kh, kw = weight.shape
    g, ho, wo = dy.shape[1], *_geometry((h, w), (kh, kw), stride, pads, dilation)
    # w_r[i, g] is (kW C_in/G, C_out/G), rows in (j, c) order: W_g[:, :, i, :]^T
    w_r = np.ascontiguousarray(weight.reshape(g, c_out // g, cg, kh, kw).transpose(3, 0, 4, 2, 1)
                               .reshape(kh, g, kw * cg, c_out // g))
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    if ho * wo >= _PER_IMAGE_MIN:  # one GEMM per image and group, the gradient in NCHW order
        grad = np.zeros((n, c_in) + padded, dtype=weight.dtype)
        cells = grad.reshape(n, g, cg, *padded)  # (N, G, C_in/G, Hp, Wp)
        buf = np.empty((n, g, kw * cg, ho * wo), dtype=weight.dtype)
        part = buf.reshape(n, g, kw, cg, ho, wo).transpose(2, 0, 1, 3, 4, 5)  # part[j]: (N, G, C_in/G, Ho, Wo)
    else:  # small images: one GEMM per group over the whole batch, the gradient in (C_in, N, H, W) order
        dy = dy.transpose(1, 2, 0, 3).reshape(g, c_out // g, n * ho * wo)
        grad = np.zeros((c_in, n) + padded, dtype=weight.dtype)
        cells = grad.reshape(g, cg, n, *padded)  # (G, C_in/G, N, Hp, Wp)
        buf = np.empty((g, kw * cg, n * ho * wo), dtype=weight.dtype)
        part = buf.reshape(g, kw, cg, n, ho, wo).transpose(1, 0, 2, 3, 4, 5)  # part[j]: (G, C_in/G, N, Ho, Wo)
    for i in range(kh):
        np.matmul(w_r[i], dy, out=buf)  # the rows (c, i, j) of dcols, every j
        for j in range(kw):
            h0, w0 = i * dilation[0], j * dilation[1]
            cells[..., h0:h0 + stride[0] * (ho - 1) + 1:stride[0], w0:w0 + stride[1] * (wo - 1) + 1:stride[1]] += part[j]
    grad = _crop(grad, pads, (h, w))
    return np.ascontiguousarray(grad if ho * wo >= _PER_IMAGE_MIN else grad.transpose(1, 0, 2, 3))


def _input_gradient_correlation(weight, grad_out, x_shape, pads, dilation):
    """The input gradient of a stride-1 conv2d (groups 1) as a convolution (eq-conv-backward): dx is the
    correlation of dY, zero-padded by d (k - 1) - p on each side, with the kernel flipped in both spatial
    axes and its input and output channels swapped, W'[c, o, i, j] = W[o, c, kH - 1 - i, kW - 1 - j].
    So it is the forward's channels-last im2col and one GEMM, (N H W, kH kW C_out) @ (kH kW C_out, C_in),
    with no col2im and no adds. Taken for small images when C_in >= C_out (then the product has at least
    as many columns as the forward's; with fewer input channels the flattened col2im is faster).
    Needs p <= d (k - 1) on each side. Returns grad_x (N, C_in, H, W)."""
    n, c_in, h, w = x_shape
    c_out, _, kh, kw = weight.shape
    full = tuple((d * (k - 1) - lo, d * (k - 1) - hi) for (lo, hi), d, k in zip(pads, dilation, (kh, kw)))
    cols = _columns_last(grad_out, (kh, kw), (1, 1), full, dilation, (h, w))  # (N H W, kH kW C_out)
    flipped = weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * c_out, c_in)  # rows (i, j, o)
    return np.ascontiguousarray(np.matmul(cols, flipped).reshape(n, h, w, c_in).transpose(0, 3, 1, 2))


def _correlation_input_gradient_fits(stride, pads, kernel, dilation, out, weight_shape, groups):
    """Whether _input_gradient_correlation is taken: groups 1, stride 1, p <= d (k - 1), small images and
    at least as many input as output channels."""
    return (groups == 1 and tuple(stride) == (1, 1) and out[0] * out[1] < _PER_IMAGE_MIN
            and all(max(p) <= d * (k - 1) for p, d, k in zip(pads, dilation, kernel))
            and weight_shape[1] >= weight_shape[0])


# The flattened input gradient computes on the whole padded grid, Hp Wp positions per image for Ho Wo
# outputs: it is taken (stride 1, small images) while that waste ratio Hp Wp / (Ho Wo) is at most this,
# by the itemsize (float32 products are about twice as fast, so wasted columns cost half as much).
_FLAT_MAX_WASTE = {8: 2.0, 4: 3.0}


def _flat_grid(hw, pads, dilation, kernel):
    """(Hp, Wp) of _input_gradient_flat's grid: per axis H + max(p_lo, p_hi) (padding shared with the
    neighbour), or H_out where a padding wider than d (k - 1) makes the output larger (stride 1)."""
    return tuple(max(n + max(p), n + sum(p) - d * (k - 1)) for n, p, d, k in zip(hw, pads, dilation, kernel))


def _flat_input_gradient_fits(stride, padded, out, dtype):
    """Whether _input_gradient_flat is taken: stride 1, small images, a waste ratio within _FLAT_MAX_WASTE."""
    waste = padded[0] * padded[1] / (out[0] * out[1])
    return (tuple(stride) == (1, 1) and out[0] * out[1] < _PER_IMAGE_MIN
            and waste <= _FLAT_MAX_WASTE.get(np.dtype(dtype).itemsize, 2.0))


def _input_gradient_flat(weight, dy, x_shape, pads, dilation):
    """The input gradient of a stride-1 conv2d as _input_gradient (col2im of dcols_g = W_g^T dY_g,
    eq-conv-backward), with every strided add replaced by a contiguous one (implicit col2im).

    The trick: place dY on the padded grid, dY_ext[o, n, h, w] = dY[n, o, h, w] for h < Ho, w < Wo and 0
    on the other Hp Wp - Ho Wo cells, and flatten (N, Hp, Wp) to one axis of length L = N Hp Wp. With
    stride 1 the output cell (n, h, w) was read from the padded cell (n, h + i d_H, w + j d_W), i.e. flat
    index s + i d_H Wp + j d_W for s = (n Hp + h) Wp + w: one shift for the whole batch. So the rows
    (c, i, j) of dcols, a (kW C_in/G, C_out/G) @ (C_out/G, L) product per kernel row i, are added as kW
    contiguous slices of length L into the flattened padded gradient. Real cells never wrap into the next
    row or image (h + i d_H <= Hp - 1, w + j d_W <= Wp - 1); the zero cells of dY_ext add zeros.
    Neighbouring images and rows share their padding (_flat_grid): a grid row holds W + max(p_left, p_right)
    cells, an image H + max(p_top, p_bottom) rows, since the gap between two images' data need only be as
    wide as the wider of the two paddings it stands for; what lands there belongs to padding and is cropped.
    The price is the GEMM over Hp Wp instead of Ho Wo columns per image (_FLAT_MAX_WASTE); for small images
    (the digits CNN) the long contiguous adds more than pay for it. Returns grad_x (N, C_in, H, W)."""
    n, c_in, h, w = x_shape
    c_out, cg, kh, kw = weight.shape
    g, og = dy.shape[1], c_out // dy.shape[1]
    hp, wp = _flat_grid((h, w), pads, dilation, (kh, kw))
    ho, wo = h + sum(pads[0]) - dilation[0] * (kh - 1), w + sum(pads[1]) - dilation[1] * (kw - 1)
    length = n * hp * wp
    ext = np.zeros((g, og, n, hp, wp), dtype=weight.dtype)  # dY on the padded grid, zeros elsewhere
    ext[..., :ho, :wo] = dy.reshape(n, g, og, ho, wo).transpose(1, 2, 0, 3, 4)
    ext = ext.reshape(g, og, length)
    # w_r[i, g] is (kW C_in/G, C_out/G), rows in (j, c) order: W_g[:, :, i, :]^T
    w_r = np.ascontiguousarray(weight.reshape(g, og, cg, kh, kw).transpose(3, 0, 4, 2, 1).reshape(kh, g, kw * cg, og))
    slack = dilation[0] * (kh - 1) * wp + dilation[1] * (kw - 1)  # the last shifts reach past L
    grad = np.zeros((g, cg, length + slack), dtype=weight.dtype)  # the flattened padded gradient
    buf = np.empty((g, kw * cg, length), dtype=weight.dtype)
    part = buf.reshape(g, kw, cg, length)
    for i in range(kh):
        np.matmul(w_r[i], ext, out=buf)  # the rows (c, i, j) of dcols, every j, on the padded grid
        for j in range(kw):
            shift = i * dilation[0] * wp + j * dilation[1]
            grad[:, :, shift:shift + length] += part[:, j]
    grad = grad[:, :, :length].reshape(c_in, n, hp, wp)
    return np.ascontiguousarray(grad[:, :, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w].transpose(1, 0, 2, 3))


def _crop(xp, pads, hw):
    """The inverse of _pad: the (H, W) window of xp that starts after the top/left padding."""
    return xp[:, :, pads[0][0]:pads[0][0] + hw[0], pads[1][0]:pads[1][0] + hw[1]]


def im2col(x, kernel_size, *, stride=1, padding=0, dilation=1):
    """x (N, C, H, W) -> cols (N, C, kH, kW, H_out, W_out), cols[n, c, i, j, h, w] =
    x_pad[n, c, h s + i d, w s + j d] (eq-conv-im2col); a read-only view of the (padded) input.
    ``cols.reshape(N, C*kH*kW, H_out*W_out)`` is torch.nn.functional.unfold."""
    x = _floats(x, "(N, C, H, W)")["x"]
    kernel, stride = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    pads, dilation = tuple((p, p) for p in _pair(padding, "padding", 0)), _pair(dilation, "dilation", 1)
    out = _geometry(x.shape[2:], kernel, stride, pads, dilation)
    return _windows(_pad(x, pads), kernel, stride, dilation, out)


def col2im(cols, input_size, kernel_size, *, stride=1, padding=0, dilation=1):
    """The adjoint of im2col: cols (N, C, kH, kW, H_out, W_out) -> (N, C, H, W) with input_size = (H, W),
    each column entry added back where it was read, <im2col(x), c> = <x, col2im(c)> (eq-conv-col2im).
    With cols reshaped to (N, C*kH*kW, L) it is torch.nn.functional.fold."""
    cols = np.asarray(cols)
    hw, kernel = _pair(input_size, "input_size", 0), _pair(kernel_size, "kernel_size", 1)
    stride, dilation = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    pads = tuple((p, p) for p in _pair(padding, "padding", 0))
    out = _geometry(hw, kernel, stride, pads, dilation)
    if cols.dtype.kind != "f" or cols.ndim != 6 or cols.shape[2:] != kernel + out:
        raise ValueError(f"cols must be a float array of shape (N, C, {kernel[0]}, {kernel[1]}, {out[0]}, "
                         f"{out[1]}), got dtype {cols.dtype} and shape {cols.shape}")
    padded = (hw[0] + 2 * pads[0][0], hw[1] + 2 * pads[1][0])
    return _crop(_scatter(cols, padded, stride, dilation), pads, hw).copy()


# ---------------------------------------------------------------------------------------------- conv2d
def conv2d_forward(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """out[n, o] = b_o + sum_{c, i, j} W[o, c, i, j] x_pad[n, c, h s + i d, w s + j d] (eq-conv-forward),
    c over the o's group; x (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW) -> (N, C_out, H_out, W_out).
    One GEMM per group: W_g (C_out/G, K) @ cols_g (K, N H_out W_out), K = C_in/G kH kW (for small images
    with groups 1, its transpose: cols^T (N H_out W_out, K) @ W^T, the columns built channels last)."""
    x, weight, bias, stride, pads, dilation, (ho, wo) = _check_conv(x, weight, bias, stride, padding,
                                                                    dilation, groups)
    n = x.shape[0]
    c_out, cg, kh, kw = weight.shape
    g = groups
    if _channels_last_fits((ho, wo), g, x.shape[1]):  # small images: (N Ho Wo, K) @ (K, C_out), K = kH kW C_in
        cols = _columns_last(x, (kh, kw), stride, pads, dilation, (ho, wo))  # (N Ho Wo, K), the one copy
        out = np.matmul(cols, weight.transpose(2, 3, 1, 0).reshape(-1, c_out)).reshape(n, ho, wo, c_out).transpose(0, 3, 1, 2)
        out = np.add(out, bias[:, None, None]) if bias is not None else np.ascontiguousarray(out)  # NCHW
    else:
        win = _windows(_pad(x, pads), (kh, kw), stride, dilation, (ho, wo))  # (N, C_in, kH, kW, Ho, Wo) view
        cols = _group_columns(win, g)  # (G, K, N Ho Wo), the one copy
        out = _columns_product(weight.reshape(g, c_out // g, -1), cols, n)  # W_g cols_g, (N, G, C_out/G, Ho Wo)
        if bias is None:
            out = np.ascontiguousarray(out)
        elif out.flags.c_contiguous:
            out += bias.reshape(g, -1, 1)
        else:  # small images: the bias added while the transposed product is copied into NCHW order
            out = np.add(out, bias.reshape(g, -1, 1))
        out = out.reshape(n, c_out, ho, wo)
    return out, (x.shape, weight, cols, stride, pads, dilation, bias is not None)


def conv2d_backward(grad_out, cache):
    """dW_g = dY_g cols_g^T, dcols_g = W_g^T dY_g then dx = col2im(dcols), db = sum of dY over n, h, w
    (eq-conv-backward). Returns (grad_x, grad_weight, grad_bias or None)."""
    x_shape, weight, cols, stride, pads, dilation, has_bias = cache
    n, c_in, h, w = x_shape
    c_out, cg, kh, kw = weight.shape
    g = c_in // cg
    ho, wo = _geometry((h, w), (kh, kw), stride, pads, dilation)
    grad_out = _check_grad(grad_out, (n, c_out, ho, wo), weight.dtype)
    dy = grad_out.reshape(n, g, c_out // g, ho * wo)  # (N, G, C_out/G, Ho Wo): dY_g, image by image
    if cols.ndim == 2:  # channels-last columns (N Ho Wo, kH kW C_in): dW = dY cols, then (C_out, C_in, kH, kW)
        grad_weight = np.matmul(grad_out.transpose(1, 0, 2, 3).reshape(c_out, -1), cols).reshape(c_out, kh, kw, cg)
        grad_weight = np.ascontiguousarray(grad_weight.transpose(0, 3, 1, 2))
    else:
        grad_weight = _weight_gradient(cols, dy).reshape(weight.shape)  # dY_g cols_g^T
    padded = _flat_grid((h, w), pads, dilation, (kh, kw))  # the flat path's grid
    # the two shortcuts multiply weights by structural zeros (padding of dY, wasted grid cells): with an
    # infinite or NaN weight, 0 * inf would put NaN where autograd has none, so they need finite weights
    finite = bool(np.isfinite(weight).all())
    if finite and _correlation_input_gradient_fits(stride, pads, (kh, kw), dilation, (ho, wo), weight.shape, g):
        grad_x = _input_gradient_correlation(weight, grad_out, x_shape, pads, dilation)  # dY with flipped W
    elif finite and _flat_input_gradient_fits(stride, padded, (ho, wo), weight.dtype):  # col2im, implicit
        grad_x = _input_gradient_flat(weight, dy, x_shape, pads, dilation)
    else:  # col2im(W_g^T dY_g) by strided adds
        grad_x = _input_gradient(weight, dy, x_shape, stride, pads, dilation)
    # db: over the batch first (contiguous adds), then over the pixels; 2x faster than sum(axis=(0, 2, 3))
    grad_bias = grad_out.sum(axis=0).reshape(c_out, ho * wo).sum(axis=1) if has_bias else None
    return grad_x, grad_weight, grad_bias


# ------------------------------------------------------------------------------------- conv_transpose2d
def _check_conv_t(x, weight, bias, stride, padding, output_padding, groups, dilation):
    """Shapes and options of conv_transpose2d; returns x, weight, bias, stride, pads, dilation, out size."""
    a = _floats(x, "(N, C_in, H, W)", weight=weight, bias=bias)
    x, weight = a["x"], a["weight"]
    if not (isinstance(groups, numbers.Integral) and not isinstance(groups, bool) and groups >= 1):
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if weight.ndim != 4 or weight.shape[0] % groups or weight.shape[0] == 0:
        raise ValueError(f"weight must have shape (C_in, C_out/groups, kH, kW) with C_in a positive multiple "
                         f"of groups = {groups}, got shape {weight.shape}")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"x must have shape (N, C_in, H, W) with C_in = weight.shape[0] = {weight.shape[0]}, "
                         f"got x of shape {x.shape}")
    c_out = weight.shape[1] * groups
    if bias is not None and a["bias"].shape != (c_out,):
        raise ValueError(f"bias must have shape (C_out,) = ({c_out},), got shape {a['bias'].shape}")
    stride, dilation = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    padding, output_padding = _pair(padding, "padding", 0), _pair(output_padding, "output_padding", 0)
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"output_padding must be smaller than stride or dilation, got output_padding "
                         f"{output_padding}, stride {stride}, dilation {dilation}")
    # H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1 (eq-conv-transpose-output-size)
    out = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.shape[2 + i] - 1)
                + output_padding[i] + 1 for i in range(2))
    if min(out) < 1:
        raise ValueError(f"conv_transpose2d of x of shape {x.shape} with weight {weight.shape}, stride {stride}, "
                         f"padding {padding}, dilation {dilation}: output size {out} is below 1")
    pads = tuple((p, p + op) for p, op in zip(padding, output_padding))  # the full grid, cropped
    return x, weight, a.get("bias"), stride, pads, dilation, out


def conv_transpose2d_forward(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                             dilation=1):
    """The adjoint of conv2d in x: out = col2im(W_g^T x_g) + b (eq-conv-transpose); x (N, C_in, H, W),
    weight (C_in, C_out/groups, kH, kW) -> (N, C_out, H_out, W_out), torch's F.conv_transpose2d."""
    x, weight, bias, stride, pads, dilation, out = _check_conv_t(x, weight, bias, stride, padding,
                                                                 output_padding, groups, dilation)
    n, c_in, h, w = x.shape
    _, cog, kh, kw = weight.shape
    g = groups
    xg = x.reshape(n, g, c_in // g, h * w).transpose(1, 2, 0, 3).reshape(g, c_in // g, n * h * w)
    wg = weight.reshape(g, c_in // g, cog * kh * kw)
    cols = np.matmul(wg.transpose(0, 2, 1), xg)  # (G, C_out/G kH kW, N H W), one GEMM per group
    cols = cols.reshape(g * cog, kh, kw, n, h, w).transpose(0, 3, 1, 2, 4, 5)  # (C_out, N, kH, kW, H, W)
    full = (out[0] + sum(pads[0]), out[1] + sum(pads[1]))
    y = _crop(_scatter(cols, full, stride, dilation), pads, out).transpose(1, 0, 2, 3)  # (N, C_out, Ho, Wo)
    if bias is not None:
        y = y + bias[:, None, None]
    return np.ascontiguousarray(y), (x, weight, g, stride, pads, dilation, out, bias is not None)


def conv_transpose2d_backward(grad_out, cache):
    """dx = conv2d(dY, W) on the full grid, dW = x_g im2col(dY)_g^T, db = sum of dY over n, h, w
    (eq-conv-transpose-backward). Returns (grad_x, grad_weight, grad_bias or None)."""
    x, weight, g, stride, pads, dilation, out, has_bias = cache
    n, c_in, h, w = x.shape
    _, cog, kh, kw = weight.shape
    grad_out = _check_grad(grad_out, (n, g * cog) + tuple(out), x.dtype)
    win = _windows(_pad(grad_out, pads), (kh, kw), stride, dilation, (h, w))  # (N, C_out, kH, kW, H, W)
    cols = (win.reshape(n, g, cog, kh, kw, h, w).transpose(1, 2, 3, 4, 0, 5, 6)
            .reshape(g, cog * kh * kw, n * h * w))  # (G, K, N H W)
    xg = x.reshape(n, g, c_in // g, h * w).transpose(1, 2, 0, 3).reshape(g, c_in // g, n * h * w)
    wg = weight.reshape(g, c_in // g, cog * kh * kw)
    grad_x = np.matmul(wg, cols).reshape(c_in, n, h, w).transpose(1, 0, 2, 3)  # (N, C_in, H, W)
    grad_weight = np.matmul(cols, xg.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(weight.shape)  # x_g cols_g^T
    grad_bias = grad_out.sum(axis=(0, 2, 3)) if has_bias else None
    return np.ascontiguousarray(grad_x), grad_weight, grad_bias


# ------------------------------------------------------------------------------------------------ pooling
def _check_pool(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Pooling options as pairs, torch's padding rule (p <= k / 2), and the padded geometry."""
    x = _floats(x, "(N, C, H, W)")["x"]
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", 1)
    padding, dilation = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding must be at most half of kernel_size {kernel}, got {padding}")
    if not isinstance(ceil_mode, bool):
        raise ValueError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    out = _geometry(x.shape[2:], kernel, stride, [(p, p) for p in padding], dilation, ceil_mode)
    # with ceil_mode the last window may pass the right padding: pad the bottom/right further
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for p, o, s, d, k, n in zip(padding, out, stride, dilation, kernel, x.shape[2:]))
    return x, kernel, stride, pads, dilation, out


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False):
    """out[n, c, h, w] = max_{i, j} x_pad[n, c, h s + i d, w s + j d], padding -inf (eq-conv-max-pool);
    x (N, C, H, W) -> (N, C, H_out, W_out). The argmax kept for the backward is torch's: the first
    maximum in row-major window order (the last NaN if the window holds one; the first cell inside the
    input if every entry is -inf)."""
    x, kernel, stride, pads, dilation, out = _check_pool(x, kernel_size, stride, padding, dilation, ceil_mode)
    views, grid = _offset_views(x, pads, -np.inf, kernel, stride, dilation)  # kH kW contiguous views
    y, idx = _window_max(views, nan=False)  # idx: i kW + j of the max
    if np.isnan(y).any():  # a window holds a NaN (the maximum propagates it): torch's argmax is its last NaN
        y, idx = _window_max(views, nan=True)
    y, idx = _on_outputs(y, grid, out), _on_outputs(idx, grid, out)  # (N, C, Ho, Wo)
    if np.isneginf(y).any():  # a window of -inf only: torch keeps its first cell inside the input
        inside = _windows(_pad(np.ones((1, 1) + x.shape[2:], bool), pads, False), kernel, stride, dilation, out)
        idx = np.where(np.isneginf(y), inside.reshape(1, 1, -1, *out).argmax(axis=2), idx).astype(idx.dtype)
    return y, (x.shape, x.dtype, idx, kernel, stride, pads, dilation)


def max_pool2d_backward(grad_out, cache):
    """The whole upstream gradient of a window goes to its argmax (eq-conv-max-pool-backward); a pixel
    in several windows collects the sum. Returns grad_x (N, C, H, W)."""
    x_shape, dtype, idx, kernel, stride, pads, dilation = cache
    grad_out = _check_grad(grad_out, idx.shape, dtype)
    if not all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel)):  # windows overlap
        return _scatter_to_argmax(grad_out, idx, x_shape, kernel, stride, pads, dilation)
    if np.isfinite(grad_out).all():  # g [idx == q]: a product, much faster than a select
        def part(i, j):
            return grad_out * (idx == i * kernel[1] + j)
    else:  # inf * 0 would be NaN: select instead
        def part(i, j):
            return np.where(idx == i * kernel[1] + j, grad_out, np.zeros((), dtype))
    return _scatter_offsets(part, x_shape, kernel, stride, pads, dilation, dtype)


def _scatter_to_argmax(grad_out, idx, x_shape, kernel, stride, pads, dilation):
    """grad_x (N, C, H, W) for overlapping windows: output (n, c, h, w) read its maximum at the cell
    (h s_H + i d_H - p_top, w s_W + j d_W - p_left) of plane (n, c), q = i kW + j = idx, always a cell of the
    input (max_pool2d_forward never keeps a padding cell); every upstream entry is added there in one pass,
    np.bincount summing the weights that share a flat index (in float64, then rounded to the dtype),
    instead of one masked product and strided add per kernel offset."""
    n, c, h, w = x_shape
    ho, wo = idx.shape[2:]
    q = np.arange(kernel[0] * kernel[1])
    offset = (q // kernel[1]) * dilation[0] * w + (q % kernel[1]) * dilation[1]  # flat offset of q in a window
    corner = ((np.arange(n * c) * h).reshape(n, c, 1, 1) + (np.arange(ho) * stride[0] - pads[0][0])[:, None]) * w \
        + np.arange(wo) * stride[1] - pads[1][0]  # (N, C, Ho, Wo): the flat index of each window's corner
    target = corner + offset[idx]  # (N, C, Ho, Wo): the flat index of each argmax, in [0, N C H W)
    grad = np.bincount(target.ravel(), weights=grad_out.ravel(), minlength=n * c * h * w)
    return grad.reshape(x_shape).astype(grad_out.dtype, copy=False)


def _offset_views(x, pads, value, kernel, stride, dilation):
    """The pooling windows as kH kW contiguous 1-D views, one per kernel offset q = i kW + j, over a grid
    (N, C, Hg, Wg): views[q][((n C + c) Hg + h) Wg + w] = x_pad[n, c, h s_H + i d_H, w s_W + j d_W] for every
    output cell (h < Ho, w < Wo); the grid's other cells hold values of no window (cropped by _on_outputs).

    How: x is padded with ``value`` and split at once into s_H s_W stride classes, class (r, t) holding the
    padded cells (h s_H + r, w s_W + t) as a (N, C, Hg, Wg) array, one flat buffer each. Offset (i, j) reads
    class (i d_H mod s_H, j d_W mod s_W) shifted by (i d_H div s_H) rows and (j d_W div s_W) columns: on the
    flattened grid, one shift of a contiguous slice (the flat trick of _input_gradient_flat). So every
    operation of the pooling loop runs over long contiguous arrays instead of strided rows of W_out numbers.
    Returns (views, (N, C, Hg, Wg))."""
    n, c, h, w = x.shape
    (top, bottom), (left, right) = pads
    (s0, s1), (d0, d1) = stride, dilation
    hg, wg = -(-(h + top + bottom) // s0), -(-(w + left + right) // s1)  # the padded size, in strides
    length = n * c * hg * wg
    slack = (d0 * (kernel[0] - 1) // s0) * wg + d1 * (kernel[1] - 1) // s1  # the largest shift
    buf = np.full((s0, s1, length + slack), value, dtype=x.dtype)
    classes = buf[:, :, :length].reshape(s0, s1, n, c, hg, wg)
    for r in range(s0):  # the input rows h with (h + top) mod s_H = r, the columns likewise
        h0 = (r - top) % s0
        for t in range(s1):
            w0 = (t - left) % s1
            rows, cols = len(range(h0, h, s0)), len(range(w0, w, s1))
            g0, f0 = (h0 + top) // s0, (w0 + left) // s1
            classes[r, t, :, :, g0:g0 + rows, f0:f0 + cols] = x[:, :, h0::s0, w0::s1]
    views = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            shift = (i * d0 // s0) * wg + j * d1 // s1
            views.append(buf[i * d0 % s0, j * d1 % s1, shift:shift + length])
    return views, (n, c, hg, wg)


def _on_outputs(a, grid, out):
    """The output cells (N, C, Ho, Wo), a contiguous copy, of a flat array on the grid of _offset_views."""
    return np.ascontiguousarray(a.reshape(grid)[:, :, :out[0], :out[1]])


def _window_max(views, nan):
    """The maximum over the kernel offsets of views (kH kW arrays of one shape, as _offset_views gives) and
    the row-major offset q = i kW + j where torch finds it, by a loop over the offsets: q replaces the best
    so far when its value is larger, or is NaN (nan: whether a window holds a NaN). Returns (max, q), q of
    the smallest int dtype. As q grows through the loop, "q where better, else the old index" is
    max(old index, q [better])."""
    y = views[0].copy()
    dtype = np.min_scalar_type(len(views) - 1)
    idx = np.zeros(y.shape, dtype)
    for q in range(1, len(views)):
        v = views[q]
        better = v > y
        if nan:
            better |= np.isnan(v)
        np.maximum(y, v, out=y)  # NaN propagates, as in torch
        np.maximum(idx, better * dtype.type(q), out=idx)
    return y, idx


def _scatter_offsets(part, x_shape, kernel, stride, pads, dilation, dtype):
    """grad_x (N, C, H, W) with grad_x_pad[n, c, h s + i d, w s + j d] += part(i, j)[n, c, h, w], one strided
    assignment or add per kernel offset (i, j). Windows that do not overlap (s >= d (k - 1) + 1) write
    disjoint cells: then each offset assigns instead of adding."""
    n, c, h, w = x_shape
    ho, wo = conv2d_output_size(h, kernel[0], stride=stride[0], padding=pads[0], dilation=dilation[0]), \
        conv2d_output_size(w, kernel[1], stride=stride[1], padding=pads[1], dilation=dilation[1])
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel))
    tiled = disjoint and tuple(stride) == tuple(kernel) and (ho * kernel[0], wo * kernel[1]) == padded
    grad = (np.empty if tiled else np.zeros)((n, c) + padded, dtype)  # tiled: every cell is written
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            h0, w0 = i * dilation[0], j * dilation[1]
            cells = grad[:, :, h0:h0 + stride[0] * (ho - 1) + 1:stride[0], w0:w0 + stride[1] * (wo - 1) + 1:stride[1]]
            if disjoint:
                cells[...] = part(i, j)
            else:
                cells += part(i, j)
    return grad if not any(pads[0] + pads[1]) else np.ascontiguousarray(_crop(grad, pads, (h, w)))


def _pool_divisor(size, kernel, stride, pad, out, count_include_pad):
    """Per output row: the window's length counted as torch does (eq-conv-avg-pool-divisor):
    clipped to [-p, H + p) with count_include_pad, else to [0, H)."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                       divisor_override=None):
    """out[n, c, h, w] = (1 / D_hw) sum_{i, j} x_pad[n, c, h s + i, w s + j] (eq-conv-avg-pool), D_hw the
    window size counted as torch does, or divisor_override; x (N, C, H, W) -> (N, C, H_out, W_out)."""
    x, kernel, stride, pads, dilation, out = _check_pool(x, kernel_size, stride, padding, 1, ceil_mode)
    if not isinstance(count_include_pad, bool):
        raise ValueError(f"count_include_pad must be a bool, got {count_include_pad!r}")
    if divisor_override is not None and not (isinstance(divisor_override, numbers.Integral)
                                             and not isinstance(divisor_override, bool) and divisor_override != 0):
        raise ValueError(f"divisor_override must be None or a nonzero int, got {divisor_override!r}")
    if divisor_override is not None:
        div = np.full(out, float(divisor_override))
    else:
        rows, cols = (_pool_divisor(x.shape[2 + a], kernel[a], stride[a], pads[a][0], out[a], count_include_pad)
                      for a in range(2))
        div = np.outer(rows, cols).astype(float)  # (Ho, Wo)
    div = div.astype(x.dtype)
    win = _windows(_pad(x, pads), kernel, stride, dilation, out)  # (N, C, kH, kW, Ho, Wo) view
    y = win[:, :, 0, 0].copy()
    for q in range(1, kernel[0] * kernel[1]):  # the sum over the window, one kernel offset at a time
        y += win[:, :, q // kernel[1], q % kernel[1]]
    y /= div
    return y, (x.shape, div, kernel, stride, pads)


def avg_pool2d_backward(grad_out, cache):
    """Each window spreads grad_out / D_hw evenly over its cells (eq-conv-avg-pool-backward)."""
    x_shape, div, kernel, stride, pads = cache
    grad_out = _check_grad(grad_out, x_shape[:2] + div.shape, div.dtype)
    g = grad_out / div  # (N, C, Ho, Wo)
    return _scatter_offsets(lambda i, j: g, x_shape, kernel, stride, pads, (1, 1), div.dtype)
