"""Tests of dlmath.layers.activations: gradient checks, PyTorch float64 oracle, properties, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlmath.gradcheck import check_backward, relative_error
from dlmath.layers import activations as A

# name -> (forward with its hyperparameters bound, backward)
CASES = {
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward),
    "tanh": (A.tanh_forward, A.tanh_backward),
    "relu": (A.relu_forward, A.relu_backward),
    "leaky_relu_default": (A.leaky_relu_forward, A.leaky_relu_backward),
    "leaky_relu_0.2": (lambda x: A.leaky_relu_forward(x, negative_slope=0.2), A.leaky_relu_backward),
    "leaky_relu_neg": (lambda x: A.leaky_relu_forward(x, negative_slope=-0.5), A.leaky_relu_backward),
    "softplus": (A.softplus_forward, A.softplus_backward),
    "softplus_beta": (lambda x: A.softplus_forward(x, beta=2.5, threshold=3.0), A.softplus_backward),
    "softplus_small_beta": (lambda x: A.softplus_forward(x, beta=0.3, threshold=1.0), A.softplus_backward),
    "gelu": (A.gelu_forward, A.gelu_backward),
    "gelu_tanh": (lambda x: A.gelu_forward(x, approximate="tanh"), A.gelu_backward),
}
KINKED = {"relu", "leaky_relu_default", "leaky_relu_0.2", "leaky_relu_neg"}
# softplus with a threshold switches to the identity at beta x = threshold: a jump there, keep away.
SWITCHES = {"softplus": 20.0, "softplus_beta": 3.0 / 2.5, "softplus_small_beta": 1.0 / 0.3}


def _inputs_away_from_kinks(name, rng, shape=(4, 5)):
    x = 3.0 * rng.standard_normal(shape)
    if name in KINKED:
        x = np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-3) * 0.2, x)
    if name in SWITCHES:
        s = SWITCHES[name]
        x = np.where(np.abs(x - s) < 0.1, x + 0.3, x)
    return x


# ------------------------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name, rng):
    forward, backward = CASES[name]
    x = _inputs_away_from_kinks(name, rng)
    (err,) = check_backward(forward, backward, [x], rng)
    assert err < (1e-5 if name in KINKED else 1e-7), err


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_large_inputs(name, rng):
    """Saturated regions (|x| up to 12) and the softplus switch on both sides."""
    forward, backward = CASES[name]
    x = _inputs_away_from_kinks(name, rng, (3, 7)) * 4.0
    x = np.where(np.abs(x) < 0.1, 0.5, x)
    if name in SWITCHES:
        s = SWITCHES[name]
        x = np.where(np.abs(x - s) < 0.1, x + 0.3, x)
    (err,) = check_backward(forward, backward, [x], rng)
    assert err < (1e-5 if name in KINKED else 1e-7), err


def test_kink_conventions():
    """At x = 0 the derivative used is torch's: relu' = 0, leaky_relu' = negative_slope."""
    x = np.zeros(3)
    g = np.array([1.0, -2.0, 0.5])
    assert np.all(A.relu_backward(g, A.relu_forward(x)[1]) == 0.0)
    assert np.allclose(A.leaky_relu_backward(g, A.leaky_relu_forward(x, 0.3)[1]), 0.3 * g)


# ------------------------------------------------------------------------------------ PyTorch oracle
def _torch_pairs(torch):
    F = torch.nn.functional
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu_default": F.leaky_relu,
        "leaky_relu_0.2": lambda t: F.leaky_relu(t, negative_slope=0.2),
        "leaky_relu_neg": lambda t: F.leaky_relu(t, negative_slope=-0.5),
        "softplus": F.softplus,
        "softplus_beta": lambda t: F.softplus(t, beta=2.5, threshold=3.0),
        "softplus_small_beta": lambda t: F.softplus(t, beta=0.3, threshold=1.0),
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_torch(name, rng):
    torch = pytest.importorskip("torch")
    forward, backward = CASES[name]
    # a wide range, exact zeros (kinks) and large magnitudes included
    x = np.concatenate([6.0 * rng.standard_normal(200), np.linspace(-30, 30, 121), [0.0, -0.0, 1e4, -1e4]])
    g = rng.standard_normal(x.shape)
    out, cache = forward(x)
    grad = backward(g, cache)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = _torch_pairs(torch)[name](xt)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    assert np.allclose(out, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    assert np.allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_erf_agrees_with_math_erf():
    x = np.concatenate([np.linspace(-8, 8, 3201), [-40.0, 40.0, 0.0, 1.999999, 2.0, 2.000001]])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(A.erf(x) - expected)) < 3e-15


def test_gelu_tail_keeps_relative_accuracy():
    """For x << 0, gelu(x) = x Phi(x) is tiny; the erfc tail keeps its relative digits."""
    x = np.array([-5.0, -8.0, -12.0, -20.0])
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    assert relative_error(A.gelu_forward(x)[0], expected) < 1e-13
    assert np.all(np.abs(A.gelu_forward(x)[0] - expected) <= 1e-13 * np.abs(expected))


# ------------------------------------------------------------------------------------ properties
float_arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
    elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=30, deadline=None)
@given(x=float_arrays, name=st.sampled_from(sorted(CASES)))
def test_shape_finite_and_not_mutated(x, name):
    forward, backward = CASES[name]
    x_copy = np.array(x, copy=True)
    g = np.ones(np.shape(x)) * 0.7
    g_copy = g.copy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is harmless
        out, cache = forward(x)
        grad = backward(g, cache)
    assert np.shape(out) == np.shape(x) and np.shape(grad) == np.shape(x)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    assert np.array_equal(x, x_copy) and np.array_equal(g, g_copy)


@settings(max_examples=30, deadline=None)
@given(x=float_arrays)
def test_sigmoid_range_and_tanh_identity(x):
    s = A.sigmoid_forward(x)[0]
    assert np.all((s >= 0.0) & (s <= 1.0))
    # tanh(x) = 2 sigma(2x) - 1 (eq-activations-tanh-sigmoid)
    assert np.allclose(A.tanh_forward(x)[0], 2.0 * A.sigmoid_forward(2.0 * np.asarray(x))[0] - 1.0, atol=1e-15)
    # sigma(-x) = 1 - sigma(x)
    assert np.allclose(A.sigmoid_forward(-np.asarray(x))[0], 1.0 - s, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 10), elements=st.floats(-50, 50)))
def test_softplus_identities(x):
    sp_x = A.softplus_forward(x, threshold=1e9)[0]
    sp_minus = A.softplus_forward(-x, threshold=1e9)[0]
    assert np.allclose(sp_x - sp_minus, x, atol=1e-12)  # softplus(x) - softplus(-x) = x
    assert np.all(sp_x >= np.maximum(x, 0.0)) and np.all(sp_x <= np.maximum(x, 0.0) + math.log(2.0) + 1e-15)


def test_derivative_bounds(rng):
    x = np.concatenate([np.linspace(-10, 10, 2001), 5 * rng.standard_normal(100)])
    ones = np.ones_like(x)
    ds = A.sigmoid_backward(ones, A.sigmoid_forward(x)[1])
    dt = A.tanh_backward(ones, A.tanh_forward(x)[1])
    assert ds.max() <= 0.25 and abs(ds.max() - 0.25) < 1e-12
    assert dt.max() <= 1.0 and abs(dt.max() - 1.0) < 1e-12


def test_float32_in_float32_out():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    for name, (forward, backward) in CASES.items():
        out, cache = forward(x)
        assert out.dtype == np.float32, name
        assert backward(np.ones(7, np.float32), cache).dtype == np.float32, name


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_input_rejected(name):
    forward, _ = CASES[name]
    with pytest.raises(ValueError, match="floating-point"):
        forward(np.arange(4))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_grad_shape_rejected(name):
    forward, backward = CASES[name]
    _, cache = forward(np.linspace(-1, 1, 6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"grad_out must have .*\(2, 3\).*got \(3, 2\)"):
        backward(np.ones((3, 2)), cache)


def test_integer_grad_rejected():
    _, cache = A.sigmoid_forward(np.zeros(3))
    with pytest.raises(ValueError, match="grad_out must be a floating-point"):
        A.sigmoid_backward(np.ones(3, dtype=np.int64), cache)


def test_bad_approximate_rejected():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'erf'"):
        A.gelu_forward(np.zeros(3), approximate="erf")


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan")])
def test_non_positive_beta_rejected(beta):
    with pytest.raises(ValueError, match="beta must be positive"):
        A.softplus_forward(np.zeros(3), beta=beta)


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), "0.1", [0.1]])
def test_bad_negative_slope_rejected(slope):
    with pytest.raises(ValueError, match="negative_slope must be a finite number"):
        A.leaky_relu_forward(np.zeros(3), negative_slope=slope)


@pytest.mark.parametrize("beta", ["1", None, True])
def test_non_numeric_beta_rejected(beta):
    with pytest.raises(ValueError, match="beta must be positive"):
        A.softplus_forward(np.zeros(3), beta=beta)


@pytest.mark.parametrize("threshold", [float("nan"), "20", None])
def test_bad_threshold_rejected(threshold):
    with pytest.raises(ValueError, match="threshold must be a real number"):
        A.softplus_forward(np.zeros(3), threshold=threshold)
