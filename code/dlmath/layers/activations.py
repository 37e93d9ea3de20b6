"""Activation functions as forward/backward pairs (chapter 6).

Each ``<name>_forward(x, ...)`` returns ``(out, cache)`` and ``<name>_backward(grad_out, cache)`` returns
``grad_x`` of the same shape as ``x``. Any shape works: activations act entry by entry. Conventions
follow ``torch.nn.functional``: the derivative used at a kink is the one torch uses (ReLU: 0 at x = 0;
leaky ReLU: the slope at x = 0). Equations: eq-activations-sigmoid, -tanh, -relu, -leaky-relu,
-softplus, -gelu and their derivatives. This file imports only NumPy and the standard library.
"""
import math
import numbers

import numpy as np

__all__ = [
    "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "softplus_forward", "softplus_backward",
    "gelu_forward", "gelu_backward", "erf",
]


def _check_float(x, name="x"):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def _check_grad(grad_out, shape):
    grad_out = _check_float(grad_out, "grad_out")
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the forward output's shape {shape}, got {grad_out.shape}")
    return grad_out


# ---------------------------------------------------------------------------------------------- sigmoid
def sigmoid_forward(x):
    """sigma(x) = 1 / (1 + exp(-x)) (eq-activations-sigmoid), without overflow for any x."""
    x = _check_float(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


def sigmoid_backward(grad_out, cache):
    """sigma'(x) = sigma(x) (1 - sigma(x)) (eq-activations-sigmoid-derivative)."""
    (out,) = cache
    grad_out = _check_grad(grad_out, out.shape)
    return grad_out * out * (1.0 - out)


# ------------------------------------------------------------------------------------------------- tanh
def tanh_forward(x):
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x) (eq-activations-tanh)."""
    out = np.tanh(_check_float(x))
    return out, (out,)


def tanh_backward(grad_out, cache):
    """tanh'(x) = 1 - tanh(x)^2 (eq-activations-tanh-derivative)."""
    (out,) = cache
    grad_out = _check_grad(grad_out, out.shape)
    return grad_out * (1.0 - out * out)


# ------------------------------------------------------------------------------------------------- ReLU
def relu_forward(x):
    """relu(x) = max(0, x) (eq-activations-relu)."""
    x = _check_float(x)
    return np.maximum(x, 0.0).astype(x.dtype, copy=False), (x,)


def relu_backward(grad_out, cache):
    """relu'(x) = 1 for x > 0 and 0 for x <= 0 (the value 0 at the kink, as torch)."""
    (x,) = cache
    grad_out = _check_grad(grad_out, x.shape)
    return np.where(x > 0, grad_out, 0.0).astype(grad_out.dtype, copy=False)


def leaky_relu_forward(x, negative_slope=0.01):
    """leaky_relu(x) = x for x > 0, negative_slope * x otherwise (eq-activations-leaky-relu)."""
    x = _check_float(x)
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) \
            or not math.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be a finite number, got {negative_slope!r}")
    out = np.where(x > 0, x, negative_slope * x).astype(x.dtype, copy=False)
    return out, (x, negative_slope)


def leaky_relu_backward(grad_out, cache):
    """Derivative 1 for x > 0 and negative_slope for x <= 0 (torch's choice at x = 0)."""
    x, negative_slope = cache
    grad_out = _check_grad(grad_out, x.shape)
    return np.where(x > 0, grad_out, negative_slope * grad_out).astype(grad_out.dtype, copy=False)


# --------------------------------------------------------------------------------------------- softplus
def softplus_forward(x, beta=1.0, threshold=20.0):
    """softplus(x) = log(1 + exp(beta x)) / beta (eq-activations-softplus), computed stably.

    As ``torch.nn.functional.softplus``, it returns x itself where beta * x > threshold; the
    error of that switch is log(1 + e^-threshold) / beta, about 2e-9 for the defaults.
    """
    x = _check_float(x)
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0:
        raise ValueError(f"beta must be positive, got {beta!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or math.isnan(threshold):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    z = beta * x
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, no loss of digits for z << 0.
    soft = (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta
    out = np.where(z > threshold, x, soft)
    return out, (x, beta, threshold)


def softplus_backward(grad_out, cache):
    """softplus'(x) = sigma(beta x) (eq-activations-softplus-derivative).

    The derivative is 1 where beta x > threshold, where the forward pass returned x itself.
    """
    x, beta, threshold = cache
    grad_out = _check_grad(grad_out, x.shape)
    s, _ = sigmoid_forward(beta * x)
    return grad_out * np.where(beta * x > threshold, 1.0, s)


# ------------------------------------------------------------------------------------------------- GELU
_SQRT_PI = math.sqrt(math.pi)


def _erfc_positive(z):
    """erfc(z) for z >= 2 by its continued fraction, evaluated from the tail (60 levels suffice there)."""
    t = z.copy()
    for k in range(60, 0, -1):
        t = z + (0.5 * k) / t
    return np.exp(-z * z) / (_SQRT_PI * t)


def _erf_small(z):
    """erf(z) for |z| < 2 by the series 2/sqrt(pi) e^-z^2 sum_n (2 z^2)^n z / (2n+1)!!, all terms positive."""
    term = z.copy()
    total = z.copy()
    two_z2 = 2.0 * z * z
    for n in range(1, 80):
        term = term * two_z2 / (2 * n + 1)
        total = total + term
    return 2.0 / _SQRT_PI * np.exp(-z * z) * total


def erf(x):
    """The error function, vectorized, accurate to about 1e-15 (NumPy has no erf of its own)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    small = a < 2.0
    out = np.empty_like(a)
    out[small] = _erf_small(a[small])
    out[~small] = 1.0 - _erfc_positive(np.minimum(a[~small], 30.0))
    return np.sign(x) * out


def _std_normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, with the left tail from erfc so that it keeps its digits."""
    z = np.asarray(x, dtype=np.float64) / math.sqrt(2.0)
    out = np.array(0.5 * (1.0 + erf(z)))  # np.array: 0-d input stays an assignable array
    far_left = z <= -2.0
    out[far_left] = 0.5 * _erfc_positive(np.minimum(-z[far_left], 30.0))
    return out


_GELU_TANH_C = math.sqrt(2.0 / math.pi)


def gelu_forward(x, approximate="none"):
    """gelu(x) = x Phi(x), Phi the standard normal CDF (eq-activations-gelu).

    ``approximate="tanh"`` gives x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    (eq-activations-gelu-tanh). Hendrycks & Gimpel (2016).
    """
    x = _check_float(x)
    if approximate == "none":
        cdf = _std_normal_cdf(x)
        out = x * cdf
        return out.astype(x.dtype, copy=False), (x, approximate, cdf)
    if approximate == "tanh":
        t = np.tanh(_GELU_TANH_C * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1.0 + t), (x, approximate, t)
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_backward(grad_out, cache):
    """gelu'(x) = Phi(x) + x phi(x) (eq-activations-gelu-derivative).

    With ``approximate="tanh"``, the derivative of the tanh form (eq-activations-gelu-tanh).
    """
    x, approximate, aux = cache
    grad_out = _check_grad(grad_out, x.shape)
    if approximate == "none":
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        # cdf is float64; keep float32 in, float32 out
        dtype = np.result_type(grad_out.dtype, x.dtype)
        return (grad_out * (aux + x * pdf)).astype(dtype, copy=False)
    t = aux
    dinner = _GELU_TANH_C * (1.0 + 3 * 0.044715 * x * x)
    return grad_out * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)
