"""Tests of dlmath.layers.activations.

Value oracles computed entry by entry with the ``math`` module (independent of the vectorized code),
hypothesis-driven gradient checks (float64 central differences, random upstream gradients), edge cases
(empty arrays, NaN, infinities, dtypes), bad input, and PyTorch as an optional oracle: every test that
needs torch is named ``test_torch_*`` and skips through ``pytest.importorskip("torch")``.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlmath.gradcheck import check_backward
from dlmath.layers import activations as A

SQRT2 = math.sqrt(2.0)


# ------------------------------------------------------------------------- scalar oracles (math module)
def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softplus(v, beta=1.0, threshold=20.0):
    z = beta * v
    if z > threshold:
        return v
    return (math.log1p(math.exp(z)) if z < 30 else z + math.log1p(math.exp(-z))) / beta


def _gelu(v):
    return v * 0.5 * math.erfc(-v / SQRT2)


def _gelu_tanh(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))


# name -> (forward with its options bound, backward, scalar value oracle, scalar derivative oracle)
CASES = {
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward, _sigmoid, lambda v: _sigmoid(v) * (1 - _sigmoid(v))),
    "tanh": (A.tanh_forward, A.tanh_backward, math.tanh, lambda v: 1.0 / math.cosh(v) ** 2),
    "relu": (A.relu_forward, A.relu_backward, lambda v: v if v > 0 else 0.0, lambda v: 1.0 if v > 0 else 0.0),
    "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward,
                   lambda v: v if v > 0 else 0.01 * v, lambda v: 1.0 if v > 0 else 0.01),
    "leaky_relu_0.2": (lambda x: A.leaky_relu_forward(x, negative_slope=0.2), A.leaky_relu_backward,
                       lambda v: v if v > 0 else 0.2 * v, lambda v: 1.0 if v > 0 else 0.2),
    "leaky_relu_neg": (lambda x: A.leaky_relu_forward(x, negative_slope=-0.5), A.leaky_relu_backward,
                       lambda v: v if v > 0 else -0.5 * v, lambda v: 1.0 if v > 0 else -0.5),
    "softplus": (A.softplus_forward, A.softplus_backward, _softplus,
                 lambda v: 1.0 if v > 20.0 else _sigmoid(v)),
    "softplus_beta": (lambda x: A.softplus_forward(x, beta=2.5, threshold=3.0), A.softplus_backward,
                      lambda v: _softplus(v, 2.5, 3.0), lambda v: 1.0 if 2.5 * v > 3.0 else _sigmoid(2.5 * v)),
    "softplus_small_beta": (lambda x: A.softplus_forward(x, beta=0.3, threshold=1.0), A.softplus_backward,
                            lambda v: _softplus(v, 0.3, 1.0), lambda v: 1.0 if 0.3 * v > 1.0 else _sigmoid(0.3 * v)),
    "gelu": (A.gelu_forward, A.gelu_backward, _gelu,
             lambda v: 0.5 * math.erfc(-v / SQRT2) + v * math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (lambda x: A.gelu_forward(x, approximate="tanh"), A.gelu_backward, _gelu_tanh, None),
    "silu": (A.silu_forward, A.silu_backward, lambda v: v * _sigmoid(v),
             lambda v: _sigmoid(v) * (1.0 + v * (1.0 - _sigmoid(v)))),
    "elu": (A.elu_forward, A.elu_backward, lambda v: v if v > 0 else math.expm1(v),
            lambda v: 1.0 if v > 0 else math.exp(v)),
    "elu_0.5": (lambda x: A.elu_forward(x, alpha=0.5), A.elu_backward, lambda v: v if v > 0 else 0.5 * math.expm1(v),
                lambda v: 1.0 if v > 0 else 0.5 * math.exp(v)),
}
KINKS = {"relu": [0.0], "leaky_relu": [0.0], "leaky_relu_0.2": [0.0], "leaky_relu_neg": [0.0],
         # softplus switches to the identity at beta x = threshold: a jump there
         "softplus": [20.0], "softplus_beta": [3.0 / 2.5], "softplus_small_beta": [1.0 / 0.3],
         # GELU's stationary point: a zero derivative, where a relative error means nothing
         "gelu": [-0.7518], "gelu_tanh": [-0.7518],
         # SiLU's stationary point (x = -1.2785), ELU's kink (a jump of the derivative when alpha != 1)
         "silu": [-1.2785], "elu": [0.0], "elu_0.5": [0.0]}
# where the derivative is not negligible next to the value, so that a relative gradient check works
# (the tanh form of GELU computes 1 + tanh(u), which cancels for x << 0: its absolute error limits it to x > -3)
RANGE = {"sigmoid": (-5, 5), "tanh": (-3, 3), "gelu": (-6, 6), "gelu_tanh": (-3, 6),
         "silu": (-8, 25), "elu": (-4, 25), "elu_0.5": (-4, 25)}  # ELU saturates at -alpha for x << 0


def _grid():
    """Points on both sides of every kink and switch, in the saturated regions, and in between."""
    return np.concatenate([np.linspace(-12, 12, 97), [-40.0, -25.0, 19.99, 20.01, 25.0, 40.0],
                           [1.19, 1.21, 3.33, 3.34, -0.75, 1e-9, -1e-9, 0.0, -0.0]])


# ------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_math_module(name):
    forward, _, value, _ = CASES[name]
    x = _grid()
    expected = np.array([value(float(v)) for v in x])
    # the tanh form computes 1 + tanh(u) as written (so does torch): it cancels for x << 0, absolute error ~eps
    np.testing.assert_allclose(forward(x)[0], expected, rtol=1e-13, atol=1e-15 if name == "gelu_tanh" else 1e-300)


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][3] is not None))
def test_backward_matches_closed_form(name, rng):
    forward, backward, _, derivative = CASES[name]
    x = _grid()
    g = rng.standard_normal(x.shape)
    expected = g * np.array([derivative(float(v)) for v in x])
    # 1 - tanh(x)^2, as written (and as torch), cancels for |x| >> 1: absolute error ~eps there
    np.testing.assert_allclose(backward(g, forward(x)[1]), expected, rtol=1e-12,
                               atol=1e-15 * np.abs(g).max() if name == "tanh" else 1e-300)


def test_gelu_tanh_derivative_closed_form(rng):
    """d/dx of x/2 (1 + tanh(u)), u = c (x + a x^3): 1/2 (1 + tanh u) + x/2 sech^2(u) c (1 + 3 a x^2)."""
    c, a = math.sqrt(2.0 / math.pi), 0.044715
    x = _grid()
    g = rng.standard_normal(x.shape)
    u = [c * (v + a * v ** 3) for v in x]
    sech2 = [0.0 if abs(ui) > 350 else 1.0 / math.cosh(ui) ** 2 for ui in u]
    d = [0.5 * (1 + math.tanh(ui)) + 0.5 * v * c * (1 + 3 * a * v * v) * s2 for v, ui, s2 in zip(x, u, sech2)]
    _, cache = A.gelu_forward(x, approximate="tanh")
    np.testing.assert_allclose(A.gelu_backward(g, cache), g * np.array(d), rtol=1e-12, atol=1e-15 * np.abs(g).max())


def test_gelu_matches_math_erf_in_the_middle():
    """x (1 + erf(x / sqrt 2)) / 2 with math.erf, where 1 + erf keeps its digits (x > -3)."""
    x = np.linspace(-3, 8, 221)
    expected = np.array([v * 0.5 * (1.0 + math.erf(v / SQRT2)) for v in x])
    np.testing.assert_allclose(A.gelu_forward(x)[0], expected, rtol=1e-12, atol=1e-15)


def test_gelu_tail_keeps_relative_accuracy():
    """For x << 0, gelu(x) = x Phi(x) is tiny; erfc keeps its relative digits (1 + erf would not)."""
    x = np.array([-5.0, -8.0, -12.0, -20.0, -37.0])
    expected = np.array([v * 0.5 * math.erfc(-v / SQRT2) for v in x])
    assert np.all(expected < 0)
    np.testing.assert_allclose(A.gelu_forward(x)[0], expected, rtol=1e-13, atol=0)


def test_gelu_minimum():
    """GELU's minimum (chapter 6): gelu'(x) = 0 near x = -0.7518, value about -0.17."""
    x = np.linspace(-0.80, -0.70, 10001)
    out = A.gelu_forward(x)[0]
    i = int(np.argmin(out))
    assert abs(x[i] + 0.7518) < 2e-4 and abs(out[i] + 0.16997) < 1e-4


def test_softplus_switch_is_at_beta_x_equal_threshold():
    """The identity branch starts exactly where beta x > threshold, and returns x, not beta x."""
    beta, threshold = 2.0, 3.0
    below, above = np.nextafter(1.5, 0.0), np.nextafter(1.5, 2.0)
    x = np.array([below, 1.5, above, 4.0])
    out = A.softplus_forward(x, beta=beta, threshold=threshold)[0]
    soft = [math.log1p(math.exp(beta * v)) / beta for v in x]
    np.testing.assert_allclose(out[:2], soft[:2], rtol=1e-15, atol=0)
    assert out[2] == above and out[3] == 4.0
    g = np.array([0.5, -1.5, 2.0, 3.0])
    grad = A.softplus_backward(g, A.softplus_forward(x, beta=beta, threshold=threshold)[1])
    np.testing.assert_allclose(grad, g * np.array([_sigmoid(beta * below), _sigmoid(3.0), 1.0, 1.0]),
                               rtol=1e-15, atol=0)


def test_softplus_infinite_threshold_never_switches():
    x = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    out = A.softplus_forward(x, threshold=math.inf)[0]
    np.testing.assert_allclose(out, [0.0, math.log1p(math.exp(-30.0)), math.log(2.0), 30.0 + math.log1p(math.exp(-30.0)),
                                     800.0], rtol=1e-15, atol=1e-320)
    assert out[0] == 0.0 and out[1] > 0  # no log of an underflowed 0


def test_softplus_minus_infinite_threshold_is_identity():
    x = np.array([-3.0, -0.5, 0.25, 7.0])
    np.testing.assert_array_equal(A.softplus_forward(x, threshold=-math.inf)[0], x)


# ------------------------------------------------------------------------------------ gradient checks
def _away_from_kinks(name, x):
    for k in KINKS.get(name, []):
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), seed=st.integers(0, 2**32 - 1))
def test_gradcheck_hypothesis(name, shape, seed):
    """Central differences on random shapes and values, random upstream gradients; relative error < 1e-7."""
    forward, backward, _, _ = CASES[name]
    r = np.random.default_rng(seed)
    x = _away_from_kinks(name, r.uniform(*RANGE.get(name, (-25, 25)), shape))
    (err,) = check_backward(forward, backward, [x], r)
    assert err < 1e-7, err


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_large_inputs(name, rng):
    """Saturated regions (|x| up to 12) and both sides of the softplus switch; kinks kept away."""
    forward, backward, _, _ = CASES[name]
    x = _away_from_kinks(name, np.concatenate([np.linspace(-12, 12, 25), 3 * rng.standard_normal(10)]))
    (err,) = check_backward(forward, backward, [x], rng)
    assert err < 1e-7, err


# ------------------------------------------------------------------------------------ edge cases
def test_kink_conventions():
    """At x = 0 the derivative used is torch's: relu' = 0, leaky_relu' = negative_slope."""
    x = np.array([0.0, -0.0, 0.0])
    g = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(A.relu_backward(g, A.relu_forward(x)[1]), np.zeros(3))
    np.testing.assert_array_equal(A.leaky_relu_backward(g, A.leaky_relu_forward(x, negative_slope=0.3)[1]),
                                  0.3 * g)


def test_nan_conventions():
    """NaN in, NaN out; at NaN relu_backward passes grad_out and leaky_relu_backward scales it (as torch)."""
    x = np.array([np.nan, 1.0, -1.0])
    g = np.array([2.0, 3.0, 5.0])
    for name, (forward, _, _, _) in CASES.items():
        out = forward(x)[0]
        assert np.isnan(out[0]) and not np.any(np.isnan(out[1:])), name
    np.testing.assert_array_equal(A.relu_backward(g, A.relu_forward(x)[1]), [2.0, 3.0, 0.0])
    np.testing.assert_array_equal(A.leaky_relu_backward(g, A.leaky_relu_forward(x, negative_slope=0.5)[1]),
                                  [1.0, 3.0, 2.5])


def test_infinities():
    x = np.array([-np.inf, np.inf])
    np.testing.assert_array_equal(A.sigmoid_forward(x)[0], [0.0, 1.0])
    np.testing.assert_array_equal(A.tanh_forward(x)[0], [-1.0, 1.0])
    np.testing.assert_array_equal(A.relu_forward(x)[0], [0.0, np.inf])
    np.testing.assert_array_equal(A.softplus_forward(x)[0], [0.0, np.inf])
    np.testing.assert_array_equal(A.gelu_forward(x[1:])[0], [np.inf])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 2, 4)])
def test_empty_arrays(name, shape):
    forward, backward, _, _ = CASES[name]
    for dtype in (np.float64, np.float32):
        out, cache = forward(np.zeros(shape, dtype))
        grad = backward(np.zeros(shape, dtype), cache)
        assert out.shape == shape and grad.shape == shape, name
        assert out.dtype == dtype and grad.dtype == dtype, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_dim_input(name):
    forward, backward, value, _ = CASES[name]
    out, cache = forward(np.array(0.75))
    assert np.shape(out) == () and abs(float(out) - value(0.75)) <= 1e-15
    assert np.shape(backward(1.5, cache)) == ()


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    """float32 in, float32 out; a float64 grad_out is converted to float32 (as torch)."""
    forward, backward, value, _ = CASES[name]
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    out, cache = forward(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [value(float(v)) for v in x], rtol=2e-6, atol=1e-7)
    assert backward(np.ones(7, np.float32), cache).dtype == np.float32
    assert backward(np.ones(7, np.float64), cache).dtype == np.float32


def test_numpy_scalar_options_keep_float32():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    assert A.leaky_relu_forward(x, negative_slope=np.float64(0.2))[0].dtype == np.float32
    out, cache = A.softplus_forward(x, beta=np.float64(2.0), threshold=np.float64(5.0))
    assert out.dtype == np.float32 and A.softplus_backward(np.ones(7, np.float32), cache).dtype == np.float32


# ------------------------------------------------------------------------------------ properties
float_arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
    elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=30, deadline=None)
@given(x=float_arrays, name=st.sampled_from(sorted(CASES)))
def test_shape_finite_and_not_mutated(x, name):
    forward, backward, _, _ = CASES[name]
    x_copy = np.array(x, copy=True)
    g = np.full(np.shape(x), 0.7)
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
    np.testing.assert_allclose(A.tanh_forward(x)[0], 2.0 * A.sigmoid_forward(2.0 * np.asarray(x))[0] - 1.0,
                               rtol=0, atol=1e-15)
    # sigma(-x) = 1 - sigma(x)
    np.testing.assert_allclose(A.sigmoid_forward(-np.asarray(x))[0], 1.0 - s, rtol=0, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 10), elements=st.floats(-50, 50)),
       beta=st.floats(0.1, 10.0))
def test_softplus_identities(x, beta):
    sp_x = A.softplus_forward(x, beta=beta, threshold=math.inf)[0]
    sp_minus = A.softplus_forward(-x, beta=beta, threshold=math.inf)[0]
    np.testing.assert_allclose(sp_x - sp_minus, x, rtol=1e-12, atol=1e-12)  # softplus(x) - softplus(-x) = x
    relu = np.maximum(x, 0.0)
    tol = 1e-15 * np.abs(x)  # one rounding of (beta x) / beta
    assert np.all(sp_x >= relu - tol) and np.all(sp_x <= relu + math.log(2.0) / beta * (1 + 1e-15) + tol)


def test_derivative_bounds(rng):
    x = np.concatenate([np.linspace(-10, 10, 2001), 5 * rng.standard_normal(100)])
    ones = np.ones_like(x)
    ds = A.sigmoid_backward(ones, A.sigmoid_forward(x)[1])
    dt = A.tanh_backward(ones, A.tanh_forward(x)[1])
    assert ds.max() <= 0.25 and abs(ds.max() - 0.25) < 1e-12
    assert dt.max() <= 1.0 and abs(dt.max() - 1.0) < 1e-12


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_input_rejected(name):
    forward = CASES[name][0]
    with pytest.raises(ValueError, match="^x must be a floating-point array, got dtype int64"):
        forward(np.arange(4, dtype=np.int64))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_grad_shape_rejected(name):
    forward, backward, _, _ = CASES[name]
    _, cache = forward(np.linspace(-1, 1, 6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"^grad_out must have the forward output's shape \(2, 3\), got \(3, 2\)"):
        backward(np.ones((3, 2)), cache)


@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_grad_rejected(name):
    forward, backward, _, _ = CASES[name]
    _, cache = forward(np.zeros(3))
    with pytest.raises(ValueError, match="^grad_out must be a floating-point array, got dtype int64"):
        backward(np.ones(3, dtype=np.int64), cache)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        A.leaky_relu_forward(np.zeros(3), 0.2)
    with pytest.raises(TypeError):
        A.softplus_forward(np.zeros(3), 2.0)
    with pytest.raises(TypeError):
        A.gelu_forward(np.zeros(3), "tanh")


@pytest.mark.parametrize("approximate", ["erf", "Tanh", None, 1, ["tanh"]])
def test_bad_approximate_rejected(approximate):
    with pytest.raises(ValueError, match=r"^approximate must be 'none' or 'tanh', got"):
        A.gelu_forward(np.zeros(3), approximate=approximate)


@pytest.mark.parametrize("beta", [0.0, -1.0, -0.0, float("nan"), float("inf"), "1", None, True, [1.0]])
def test_bad_beta_rejected(beta):
    with pytest.raises(ValueError, match="^beta must be a finite positive number, got"):
        A.softplus_forward(np.zeros(3), beta=beta)


@pytest.mark.parametrize("threshold", [float("nan"), "20", None, False])
def test_bad_threshold_rejected(threshold):
    with pytest.raises(ValueError, match=r"^threshold must be a real number other than NaN, got"):
        A.softplus_forward(np.zeros(3), threshold=threshold)


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), -float("inf"), "0.1", [0.1], None, True])
def test_bad_negative_slope_rejected(slope):
    with pytest.raises(ValueError, match="^negative_slope must be a finite number, got"):
        A.leaky_relu_forward(np.zeros(3), negative_slope=slope)


def test_valid_option_edges_accepted():
    """Integers are numbers; a tiny positive beta is valid; any slope sign and any threshold sign."""
    x = np.array([-2.0, 3.0])
    np.testing.assert_array_equal(A.leaky_relu_forward(x, negative_slope=2)[0], [-4.0, 3.0])
    np.testing.assert_array_equal(A.leaky_relu_forward(x, negative_slope=0)[0], [0.0, 3.0])
    np.testing.assert_allclose(A.softplus_forward(x, beta=1e-3)[0], [_softplus(v, 1e-3) for v in x], rtol=1e-13, atol=0)
    np.testing.assert_allclose(A.softplus_forward(x, beta=2, threshold=-1)[0], [_softplus(v, 2.0, -1.0) for v in x],
                               rtol=1e-15, atol=0)


# ------------------------------------------------------------------------------------ PyTorch oracle
def _torch_functions(torch):
    F = torch.nn.functional
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "leaky_relu_0.2": lambda t: F.leaky_relu(t, negative_slope=0.2),
        "leaky_relu_neg": lambda t: F.leaky_relu(t, negative_slope=-0.5),
        "softplus": F.softplus,
        "softplus_beta": lambda t: F.softplus(t, beta=2.5, threshold=3.0),
        "softplus_small_beta": lambda t: F.softplus(t, beta=0.3, threshold=1.0),
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "silu": F.silu,
        "elu": F.elu,
        "elu_0.5": lambda t: F.elu(t, alpha=0.5),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_agrees(name, rng):
    torch = pytest.importorskip("torch")
    forward, backward, _, _ = CASES[name]
    # a wide range, exact zeros (kinks), NaN, infinities and large magnitudes included
    x = np.concatenate([6.0 * rng.standard_normal(200), np.linspace(-30, 30, 121),
                        [0.0, -0.0, 1e4, -1e4, np.nan, np.inf, -np.inf]])
    g = rng.standard_normal(x.shape)
    with np.errstate(invalid="ignore"):  # GELU at -inf: -inf * 0 = NaN, as torch
        out, cache = forward(x)
        grad = backward(g, cache)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = _torch_functions(torch)[name](xt)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-12, atol=1e-13, equal_nan=True)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-13, equal_nan=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_empty_and_float32(name):
    torch = pytest.importorskip("torch")
    forward, backward, _, _ = CASES[name]
    for shape in [(0,), (2, 0, 3)]:
        assert forward(np.zeros(shape))[0].shape == tuple(_torch_functions(torch)[name](torch.zeros(shape)).shape)
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    yt = _torch_functions(torch)[name](torch.tensor(x))
    out = forward(x)[0]
    assert str(yt.dtype) == "torch.float32" and out.dtype == np.float32
    np.testing.assert_allclose(out, yt.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), "1", None, True, [1.0]])
def test_bad_alpha_rejected(alpha):
    with pytest.raises(ValueError, match="^alpha must be a finite number, got"):
        A.elu_forward(np.zeros(3), alpha=alpha)


def test_silu_and_elu_properties():
    """SiLU: silu(x) - silu(-x) = x, minimum about -0.2785 at x = -1.2785; ELU with alpha = 1 is C^1 at 0
    and tends to -alpha; both tend to the identity for large x."""
    x = np.linspace(-30, 30, 6001)
    np.testing.assert_allclose(A.silu_forward(x)[0] - A.silu_forward(-x)[0], x, rtol=1e-14, atol=1e-14)
    i = np.argmin(A.silu_forward(x)[0])
    assert abs(x[i] + 1.2785) < 0.01 and abs(A.silu_forward(x)[0][i] + 0.2785) < 1e-3
    for alpha in (1.0, 0.5, 2.0):
        out, cache = A.elu_forward(np.array([-1e3, -1e-12, 1e-12]), alpha=alpha)
        assert out[0] == -alpha and abs(out[1]) < 1e-11
        d = A.elu_backward(np.ones(3), cache)
        assert d[2] == 1.0 and abs(d[1] - alpha) < 1e-11
