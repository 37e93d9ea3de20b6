"""Initialization schemes (chapter 11, Initialization and gradient flow).

The functions of ``torch.nn.init`` with PyTorch's names, option names, defaults and arithmetic, as pure
functions: each takes the *shape* of the tensor to fill (``(out, in)`` for a linear weight,
``(C_out, C_in/groups, kH, kW)`` for a convolution) and returns a new float64 array. Randomness comes from
an explicit ``numpy.random.Generator`` passed as ``rng`` (keyword-only, required), where torch takes an
optional ``generator``. The values cannot match torch's bit for bit; the distributions are the same
(the tests check bounds exactly and variances statistically).

``fan_in_and_fan_out`` is ``torch.nn.init._calculate_fan_in_and_fan_out``: for a shape
``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
This file imports only NumPy and the standard library.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["calculate_gain", "fan_in_and_fan_out", "uniform", "normal", "constant", "ones", "zeros",
           "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check(shape, rng=None, min_dim=0, need_rng=True, mode=None, **reals):
    """shape as a tuple of ints >= 0 with at least ``min_dim`` entries, rng a Generator, each
    keyword a finite real number (else ValueError); returns the shape."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}")
    if len(shape) < min_dim:
        raise ValueError(f"shape must have at least {min_dim} dimensions, got {shape!r} ({len(shape)})")
    if need_rng and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if mode is not None and mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    for name, v in reals.items():
        if not (_real(v) and math.isfinite(v)):
            raise ValueError(f"{name} must be a finite real number, got {v!r}")
    return tuple(int(s) for s in shape)


# ----------------------------------------------------------------------------------------- gain and fans
def calculate_gain(nonlinearity, param=None):
    """The gain psi of torch.nn.init.calculate_gain: the factor that restores unit mean square after the
    nonlinearity (eq-initialization-he-forward, eq-initialization-gain-leaky).

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2)) with slope
    ``param`` (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif _real(param):
            slope = param
        else:
            raise ValueError(f"negative_slope {param!r} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as torch computes them:
    fan_in = in * prod(kernel), fan_out = out * prod(kernel) (eq-initialization-fan-in, eq-initialization-fan-out).
    For a grouped convolution (C_out, C_in/groups, kH, kW), fan_in counts one group's C_in/groups inputs,
    while fan_out is C_out kH kW, not divided by groups."""
    shape = _check(shape, min_dim=2, need_rng=False)
    receptive_field = math.prod(shape[2:])  # 1 for a linear weight
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(shape, mode):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


# --------------------------------------------------------------------------------------- plain fillers
def uniform(shape, *, a=0.0, b=1.0, rng):
    """Entries i.i.d. U(a, b) (torch.nn.init.uniform_)."""
    shape = _check(shape, rng, a=a, b=b)
    return rng.uniform(a, b, size=shape)


def normal(shape, *, mean=0.0, std=1.0, rng):
    """Entries i.i.d. N(mean, std^2) (torch.nn.init.normal_)."""
    shape = _check(shape, rng, mean=mean, std=std)
    return mean + std * rng.standard_normal(shape)


def constant(shape, val):
    """Every entry equal to ``val`` (torch.nn.init.constant_)."""
    shape = _check(shape, need_rng=False, val=val)
    return np.full(shape, float(val))


def ones(shape):
    """All ones (torch.nn.init.ones_)."""
    return np.ones(_check(shape, need_rng=False))


def zeros(shape):
    """All zeros (torch.nn.init.zeros_): every unit of a layer computes the same thing, see chapter 11."""
    return np.zeros(_check(shape, need_rng=False))


# ------------------------------------------------------------------------------------- Xavier and He
def xavier_uniform(shape, *, gain=1.0, rng):
    """U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)), variance gain^2 2 / (fan_in + fan_out)
    (eq-initialization-xavier, eq-initialization-xavier-uniform; Glorot and Bengio 2010)."""
    shape = _check(shape, rng, min_dim=2, gain=gain)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # U(-a, a) has variance a^2 / 3
    return rng.uniform(-a, a, size=shape)


def xavier_normal(shape, *, gain=1.0, rng):
    """N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out)) (eq-initialization-xavier)."""
    shape = _check(shape, rng, min_dim=2, gain=gain)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return std * rng.standard_normal(shape)


def kaiming_uniform(shape, *, a=0, mode="fan_in", nonlinearity="leaky_relu", rng):
    """U(-bound, bound) with bound = sqrt(3) gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)
    (eq-initialization-he-forward; He et al. 2015). With a = sqrt(5), torch's default for nn.Linear and
    nn.Conv*, the bound is 1 / sqrt(fan_in) (eq-initialization-torch-default)."""
    shape = _check(shape, rng, min_dim=2, mode=mode, a=a)
    if 0 in shape:  # torch warns and leaves an empty tensor as it is
        return np.zeros(shape)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, size=shape)


def kaiming_normal(shape, *, a=0, mode="fan_in", nonlinearity="leaky_relu", rng):
    """N(0, std^2) with std = gain / sqrt(fan) (eq-initialization-he-forward, eq-initialization-he-backward)."""
    shape = _check(shape, rng, min_dim=2, mode=mode, a=a)
    if 0 in shape:
        return np.zeros(shape)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return std * rng.standard_normal(shape)


# ------------------------------------------------------------------------------------------ orthogonal
def orthogonal(shape, *, gain=1, rng):
    """A (semi-)orthogonal matrix times ``gain`` (torch.nn.init.orthogonal_; Saxe et al. 2014).

    The shape is flattened to (rows, cols) = (shape[0], prod(shape[1:])); a Gaussian matrix of that shape
    (transposed when rows < cols) is factored A = QR, and the columns of Q are multiplied by the signs of
    diag(R), which makes Q Haar-distributed (eq-initialization-qr-sign). Rows (or columns, whichever are
    fewer) are orthonormal: every singular value equals gain.
    """
    shape = _check(shape, rng, min_dim=2, gain=gain)
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows * cols == 0:
        return np.zeros(shape)
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T                          # (cols, rows): tall
    q, r = np.linalg.qr(flat)                  # q: (tall, short) with orthonormal columns
    q = q * np.sign(np.diag(r))                # column j times sign(R_jj)
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)
