"""Activation functions as forward/backward pairs (chapter 6).

``<name>_forward(x, *, options) -> (out, cache)`` and ``<name>_backward(grad_out, cache) -> grad_x``,
for ``x`` a float array of any shape (activations act entry by entry); options are keyword-only with
torch.nn.functional's names and defaults. At a kink the derivative is torch's: relu' = 0 for x <= 0
(and grad_out passes where x is NaN), leaky_relu' = negative_slope for x <= 0.
This file imports only NumPy and the standard library: copy it alone and it works.
"""
import math
import numbers

import numpy as np

__all__ = [
    "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "softplus_forward", "softplus_backward",
    "gelu_forward", "gelu_backward", "silu_forward", "silu_backward", "elu_forward", "elu_backward",
]


# ------------------------------------------------------------------------------------------ validation
def _real(test):
    return lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and test(float(v))


_OPTIONS = {  # name: (test of a valid value, what a valid value is)
    "negative_slope": (_real(math.isfinite), "a finite number"),
    "beta": (_real(lambda v: 0.0 < v < math.inf), "a finite positive number"),
    "threshold": (_real(lambda v: not math.isnan(v)), "a real number other than NaN"),
    "approximate": (lambda v: isinstance(v, str) and v in ("none", "tanh"), "'none' or 'tanh'"),
    "alpha": (_real(math.isfinite), "a finite number"),
}


def _check(x, **options):
    """x as a float array and each option valid (else ValueError); returns x, or x and the options."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"x must be a floating-point array, got dtype {x.dtype}")
    for name, value in options.items():
        valid, what = _OPTIONS[name]
        if not valid(value):
            raise ValueError(f"{name} must be {what}, got {value!r}")
    # numbers as Python floats, so that a float32 x stays float32 (NumPy's scalar promotion)
    return (x, *(v if isinstance(v, str) else float(v) for v in options.values())) if options else x


def _check_grad(grad_out, like):
    """grad_out as a float array of the shape of ``like``, converted to its dtype (as torch does)."""
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f":
        raise ValueError(f"grad_out must be a floating-point array, got dtype {grad_out.dtype}")
    if grad_out.shape != like.shape:
        raise ValueError(f"grad_out must have the forward output's shape {like.shape}, got {grad_out.shape}")
    return grad_out.astype(like.dtype, copy=False)


# ---------------------------------------------------------------------------------------------- sigmoid
def sigmoid_forward(x):
    """sigmoid(x) = 1 / (1 + exp(-x)) (eq-activations-sigmoid), without overflow for any x."""
    x = _check(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


def sigmoid_backward(grad_out, cache):
    """sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)) (eq-activations-sigmoid-derivative)."""
    (out,) = cache
    grad_out = _check_grad(grad_out, out)
    return grad_out * out * (1.0 - out)


# ------------------------------------------------------------------------------------------------- tanh
def tanh_forward(x):
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x) (eq-activations-tanh)."""
    out = np.tanh(_check(x))
    return out, (out,)


def tanh_backward(grad_out, cache):
    """tanh'(x) = 1 - tanh(x)^2 (eq-activations-tanh-derivative)."""
    (out,) = cache
    grad_out = _check_grad(grad_out, out)
    return grad_out * (1.0 - out * out)


# ------------------------------------------------------------------------------------------------- ReLU
def relu_forward(x):
    """relu(x) = max(0, x) (eq-activations-relu)."""
    x = _check(x)
    return np.maximum(x, 0.0), (x,)


def relu_backward(grad_out, cache):
    """relu'(x) = 0 for x <= 0 and 1 otherwise: 0 at the kink, and grad_out passes at NaN (as torch)."""
    (x,) = cache
    grad_out = _check_grad(grad_out, x)
    return np.where(x <= 0, 0.0, grad_out)


def leaky_relu_forward(x, *, negative_slope=0.01):
    """leaky_relu(x) = x for x > 0, negative_slope * x otherwise (eq-activations-leaky-relu)."""
    x, negative_slope = _check(x, negative_slope=negative_slope)
    out = np.where(x > 0, x, negative_slope * x)
    return out, (x, negative_slope)


def leaky_relu_backward(grad_out, cache):
    """Derivative 1 for x > 0 and negative_slope for x <= 0 (torch's choice at x = 0 and at NaN)."""
    x, negative_slope = cache
    grad_out = _check_grad(grad_out, x)
    return np.where(x > 0, grad_out, negative_slope * grad_out)


# --------------------------------------------------------------------------------------------- softplus
def softplus_forward(x, *, beta=1.0, threshold=20.0):
    """softplus(x) = log(1 + exp(beta x)) / beta (eq-activations-softplus), computed stably.

    As torch.nn.functional.softplus, it returns x itself where beta x > threshold; the error of that
    switch is log(1 + e^-threshold) / beta, about 2e-9 for the defaults.
    """
    x, beta, threshold = _check(x, beta=beta, threshold=threshold)
    z = beta * x
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, no loss of digits for z << 0.
    soft = (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta
    out = np.where(z > threshold, x, soft)
    return out, (x, beta, threshold)


def softplus_backward(grad_out, cache):
    """softplus'(x) = sigmoid(beta x) (eq-activations-softplus-derivative); 1 where beta x > threshold."""
    x, beta, threshold = cache
    grad_out = _check_grad(grad_out, x)
    s, _ = sigmoid_forward(beta * x)
    return grad_out * np.where(beta * x > threshold, 1.0, s)


# ------------------------------------------------------------------------------------------------- GELU
_erfc = np.vectorize(math.erfc, otypes=[np.float64])  # NumPy has no erf; the standard library's, entry by entry


def _std_normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2, in the dtype of x; erfc keeps the digits of the left tail."""
    return (0.5 * _erfc(-x / math.sqrt(2.0))).astype(x.dtype)


_GELU_TANH_C = math.sqrt(2.0 / math.pi)


def gelu_forward(x, *, approximate="none"):
    """gelu(x) = x Phi(x), Phi the standard normal CDF (eq-activations-gelu).

    approximate="tanh": x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (eq-activations-gelu-tanh).
    Hendrycks & Gimpel (2016).
    """
    x, approximate = _check(x, approximate=approximate)
    if approximate == "none":
        cdf = _std_normal_cdf(x)
        return x * cdf, (x, approximate, cdf)
    t = np.tanh(_GELU_TANH_C * (x + 0.044715 * x ** 3))
    return 0.5 * x * (1.0 + t), (x, approximate, t)


def gelu_backward(grad_out, cache):
    """gelu'(x) = Phi(x) + x phi(x) (eq-activations-gelu-derivative), or the derivative of the tanh form."""
    x, approximate, aux = cache
    grad_out = _check_grad(grad_out, x)
    if approximate == "none":
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)  # phi(x)
        return grad_out * (aux + x * pdf)
    t = aux
    dinner = _GELU_TANH_C * (1.0 + 3 * 0.044715 * x * x)
    return grad_out * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)


# --------------------------------------------------------------------------------------------- SiLU, ELU
def silu_forward(x):
    """silu(x) = x sigmoid(x) (eq-activations-silu), the Swish of Ramachandran et al. (2017) with beta = 1."""
    x = _check(x)
    s, _ = sigmoid_forward(x)
    return x * s, (x, s)


def silu_backward(grad_out, cache):
    """silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x))) (eq-activations-silu)."""
    x, s = cache
    grad_out = _check_grad(grad_out, x)
    return grad_out * (s * (1.0 + x * (1.0 - s)))


def elu_forward(x, *, alpha=1.0):
    """elu(x) = x for x > 0, alpha (exp(x) - 1) for x <= 0 (eq-activations-elu), Clevert et al. (2016).

    expm1 keeps the digits of exp(x) - 1 near 0; exp of a non-positive number never overflows.
    """
    x, alpha = _check(x, alpha=alpha)
    neg = alpha * np.expm1(np.minimum(x, 0.0))
    return np.where(x > 0, x, neg), (x, alpha)


def elu_backward(grad_out, cache):
    """elu'(x) = 1 for x > 0, alpha exp(x) for x <= 0 (eq-activations-elu); torch's values at the kink x = 0
    (alpha) and at NaN (grad_out passes, as the test x <= 0 fails)."""
    x, alpha = cache
    grad_out = _check_grad(grad_out, x)
    return grad_out * np.where(x <= 0, alpha * np.exp(np.minimum(x, 0.0)), 1.0)
