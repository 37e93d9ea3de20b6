"""Tests of dlmath.gradcheck: numerical gradients against known analytic gradients, the error measure,
the directional and backward checks (they accept right gradients and reject wrong ones), the measured
orders of the forward and central differences, the error bound and optimal step, and bad input.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlmath import gradcheck as gc
from dlmath.book.experiments import difference_error_bound, optimal_step
from dlmath.gradcheck import (
    central_difference, check_backward, directional_check, forward_difference,
    numerical_gradient, relative_error,
)


# ----------------------------------------------------------------------------- numerical_gradient
def _known_functions(rng):
    """(f, analytic gradient, x) triples for functions whose gradients are known in closed form."""
    n = 5
    a = rng.standard_normal(n)
    A = rng.standard_normal((n, n))          # not symmetric on purpose
    B = rng.standard_normal((4, n))
    b = rng.standard_normal(4)
    M = rng.standard_normal((3, 3))
    X = rng.standard_normal((3, 3)) + 3 * np.eye(3)   # det > 0
    w = rng.standard_normal(n)
    lse = lambda x: np.log(np.sum(np.exp(x - x.max()))) + x.max()
    return [
        (lambda x: a @ x, lambda x: a, rng.standard_normal(n)),
        (lambda x: x @ A @ x, lambda x: (A + A.T) @ x, rng.standard_normal(n)),
        (lambda x: np.sum((B @ x - b) ** 2), lambda x: 2 * B.T @ (B @ x - b), rng.standard_normal(n)),
        (lambda x: lse(x), lambda x: np.exp(x - lse(x)), rng.standard_normal(n)),
        (lambda x: np.sum(np.sin(x) * np.exp(x)), lambda x: (np.cos(x) + np.sin(x)) * np.exp(x), rng.standard_normal(n)),
        (lambda Y: np.trace(M @ Y), lambda Y: M.T, rng.standard_normal((3, 3))),
        (lambda Y: np.trace(Y.T @ M @ Y), lambda Y: (M + M.T) @ Y, rng.standard_normal((3, 2))),
        (lambda Y: np.linalg.slogdet(Y)[1], lambda Y: np.linalg.inv(Y).T, X),
        (lambda W: np.sum(np.tanh(W @ w)), lambda W: np.outer(1 - np.tanh(W @ w) ** 2, w), rng.standard_normal((3, n))),
    ]


def test_numerical_gradient_matches_known_gradients(rng):
    for f, grad, x in _known_functions(rng):
        num = numerical_gradient(f, x.copy())
        assert num.shape == x.shape
        assert relative_error(num, grad(x)) < 1e-8


def test_numerical_gradient_restores_x_and_handles_views(rng):
    x = rng.standard_normal((4, 3))
    before = x.copy()
    view = x.T                                # non-contiguous: must be perturbed in place all the same
    num = numerical_gradient(lambda z: np.sum(z ** 3), view)
    assert relative_error(num, 3 * view ** 2) < 1e-8
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises(rng):
    x = rng.standard_normal(3)
    before = x.copy()

    def f(z):
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_closure_reading_x_in_place(rng):
    """Callers may ignore the argument and read the array they passed (it is perturbed in place)."""
    W = rng.standard_normal((2, 3))
    v = rng.standard_normal(3)
    num = numerical_gradient(lambda _: np.sum((W @ v) ** 2), W)
    assert relative_error(num, 2 * np.outer(W @ v, v)) < 1e-8


# ----------------------------------------------------------------------------- relative_error
arrays = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                    elements=st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(arrays, st.floats(-1e3, 1e3).filter(lambda c: abs(c) > 1e-3))
def test_relative_error_properties(a, c):
    b = np.flip(a)                            # same shape, usually different
    e = relative_error(a, b)
    assert relative_error(a, a) == 0.0
    assert e == relative_error(b, a)                                  # symmetric
    assert 0.0 <= e <= 2.0                                            # ||a - b|| <= ||a|| + ||b||
    assert relative_error(c * a, c * b) == pytest.approx(e, rel=1e-12, abs=1e-15)  # scale-free


def test_relative_error_values():
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-12])) == pytest.approx(1e-12)
    assert relative_error(np.array([1.0]), np.array([-1.0])) == pytest.approx(2.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0


def test_relative_error_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.zeros(3), np.zeros((3, 1)))


# ----------------------------------------------------------------------------- directional_check
def test_directional_check_accepts_right_and_rejects_wrong(rng):
    A = rng.standard_normal((6, 6))
    f = lambda x: x @ A @ x + np.sum(np.sin(x))
    x = rng.standard_normal(6)
    right = (A + A.T) @ x + np.cos(x)
    wrong_transpose = 2 * A @ x + np.cos(x)      # the classic mistake for a non-symmetric A
    wrong_one_entry = right.copy()
    wrong_one_entry[3] += 0.5
    for _ in range(5):
        assert directional_check(f, x, right, rng) < 1e-8
        assert directional_check(f, x, wrong_transpose, rng) > 1e-3
        assert directional_check(f, x, wrong_one_entry, rng) > 1e-4


def test_directional_check_shape_mismatch(rng):
    with pytest.raises(ValueError, match="shape of x"):
        directional_check(lambda x: np.sum(x), np.zeros(3), np.zeros(4), rng)


# ----------------------------------------------------------------------------- check_backward
def _tanh_linear_forward(x, W):
    z = x @ W.T                                   # (N, m)
    out = np.tanh(z)
    return out, (x, W, out)


def _tanh_linear_backward(dout, cache):
    x, W, out = cache
    dz = dout * (1 - out ** 2)                     # (N, m)
    return dz @ W, dz.T @ x                       # (N, d), (m, d)


def _tanh_linear_backward_wrong(dout, cache):
    x, W, out = cache
    dz = dout * (1 - out ** 2)
    return dz @ W, (dz.T @ x) * 1.01              # 1 % off in the weight gradient


def _tanh_linear_backward_forgot_activation(dout, cache):
    x, W, _ = cache
    return dout @ W, dout.T @ x                   # forgets tanh'


def test_check_backward_correct_pair(rng):
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    errs = check_backward(_tanh_linear_forward, _tanh_linear_backward, [x, W], rng)
    assert len(errs) == 2 and max(errs) < 1e-8


def test_check_backward_wrong_pairs(rng):
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    errs = check_backward(_tanh_linear_forward, _tanh_linear_backward_wrong, [x, W], rng)
    assert errs[0] < 1e-8 and errs[1] > 1e-3
    errs = check_backward(_tanh_linear_forward, _tanh_linear_backward_forgot_activation, [x, W], rng)
    assert min(errs) > 1e-2


def test_check_backward_wrong_number_of_grads(rng):
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="gradients for 2 inputs"):
        check_backward(_tanh_linear_forward, lambda d, c: _tanh_linear_backward(d, c)[0], [x, W], rng)


def test_check_backward_wrong_grad_shape(rng):
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="same shape"):
        check_backward(_tanh_linear_forward, lambda d, c: (_tanh_linear_backward(d, c)[0], np.zeros((3, 2))),
                       [x, W], rng)


def test_check_backward_does_not_modify_inputs(rng):
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    x0, W0 = x.copy(), W.copy()
    check_backward(_tanh_linear_forward, _tanh_linear_backward, [x, W], rng)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(W, W0)


# ----------------------------------------------------------------------------- one-variable differences
def _slope(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)[0]


@pytest.mark.parametrize("f, df, x0", [(np.exp, np.exp, 1.0), (np.sin, np.cos, 0.7), (np.log1p, lambda t: 1 / (1 + t), 0.3)])
def test_difference_orders(f, df, x0):
    """In the truncation regime, log error against log h has slope 1 (forward) and 2 (central)."""
    h = np.geomspace(1e-4, 1e-2, 9)
    err_f = np.abs(forward_difference(f, x0, h) - df(x0))
    err_c = np.abs(central_difference(f, x0, h) - df(x0))
    assert _slope(h, err_f) == pytest.approx(1.0, abs=0.05)
    assert _slope(h, err_c) == pytest.approx(2.0, abs=0.05)


def test_difference_leading_error_constants():
    """The leading errors are h f''(x) / 2 and h^2 f'''(x) / 6 (here f = exp, all derivatives e^x)."""
    x0, h = 0.5, 1e-4
    assert (forward_difference(np.exp, x0, h) - np.exp(x0)) / h == pytest.approx(np.exp(x0) / 2, rel=1e-3)
    assert (central_difference(np.exp, x0, 1e-3) - np.exp(x0)) / 1e-6 == pytest.approx(np.exp(x0) / 6, rel=1e-3)


def test_scalar_and_array_steps_agree():
    hs = np.array([1e-2, 1e-4])
    for diff in (forward_difference, central_difference):
        arr = diff(np.sin, 0.4, hs)
        assert arr.shape == (2,)
        assert arr[0] == diff(np.sin, 0.4, 1e-2) and arr[1] == diff(np.sin, 0.4, 1e-4)
        assert isinstance(diff(np.sin, 0.4, 1e-3), float)


def test_default_steps_are_near_optimal():
    assert abs(forward_difference(np.exp, 0.0) - 1.0) < 1e-7
    assert abs(central_difference(np.exp, 0.0) - 1.0) < 1e-9


def test_too_small_step_is_worse_than_optimal():
    """Round-off: shrinking h below the optimum makes the error grow again (the V shape)."""
    x0 = 1.0
    h_opt, _ = optimal_step("central", f_bound=np.e, deriv_bound=np.e)
    err_opt = abs(central_difference(np.exp, x0, h_opt) - np.e)
    err_tiny = np.median(np.abs(central_difference(np.exp, x0, np.geomspace(1e-13, 2e-13, 9)) - np.e))
    assert err_tiny > 100 * err_opt


def test_measured_error_within_bound():
    x0 = 1.0  # |f|, |f''|, |f'''| <= e^1.01 on the small intervals used
    M = np.exp(1.01)
    h = np.geomspace(1e-12, 1e-2, 41)
    for scheme, diff in (("forward", forward_difference), ("central", central_difference)):
        err = np.abs(diff(np.exp, x0, h) - np.e)
        bound = difference_error_bound(scheme, h, f_bound=M, deriv_bound=M)
        assert np.all(err <= bound)


def test_optimal_step_minimizes_bound():
    for scheme in ("forward", "central"):
        for m0, m in [(1.0, 1.0), (3.0, 0.2), (0.5, 40.0)]:
            h_star, e_star = optimal_step(scheme, m0, m)
            grid = h_star * np.geomspace(0.2, 5, 2001)
            bounds = difference_error_bound(scheme, grid, m0, m)
            assert e_star <= bounds.min() * (1 + 1e-12)
            assert e_star == pytest.approx(difference_error_bound(scheme, h_star, m0, m))
    eps = gc.EPS
    assert optimal_step("forward")[0] == pytest.approx(2 * np.sqrt(eps))
    assert optimal_step("forward")[1] == pytest.approx(2 * np.sqrt(eps))
    assert optimal_step("central")[0] == pytest.approx((3 * eps) ** (1 / 3))
    assert optimal_step("central")[1] == pytest.approx((3 * eps) ** (2 / 3) / 2)


# ----------------------------------------------------------------------------- bad input
def test_non_float64_inputs_raise(rng):
    x32 = rng.standard_normal(3).astype(np.float32)
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda z: np.sum(z), x32)
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda z: np.sum(z), np.arange(3))
    with pytest.raises(ValueError, match="float64"):
        directional_check(lambda z: np.sum(z), x32, np.ones(3), rng)
    with pytest.raises(ValueError, match="float64"):
        forward_difference(np.sin, np.float32(1.0), 1e-3)
    with pytest.raises(ValueError, match="float64"):
        central_difference(np.sin, 1, 1e-3)


def test_bad_scalar_inputs_raise():
    with pytest.raises(ValueError, match="scalar"):
        forward_difference(np.sin, np.array([1.0, 2.0]), 1e-3)
    with pytest.raises(ValueError, match="positive and finite"):
        central_difference(np.sin, 1.0, 0.0)
    with pytest.raises(ValueError, match="positive and finite"):
        forward_difference(np.sin, 1.0, np.array([1e-3, -1e-3]))
    with pytest.raises(ValueError, match="must return a scalar"):
        numerical_gradient(lambda z: z * 2, np.ones(3))
    with pytest.raises(ValueError, match="scheme must be"):
        optimal_step("backward")
    with pytest.raises(ValueError, match="deriv_bound must be positive"):
        optimal_step("central", 1.0, 0.0)
    with pytest.raises(ValueError, match="step h must be positive"):
        difference_error_bound("forward", np.array([1e-3, 0.0]))


def test_directional_check_costs_two_evaluations(rng):
    calls = []
    A = rng.standard_normal((50, 50))

    def f(z):
        calls.append(1)
        return z @ A @ z
    x = rng.standard_normal(50)
    assert directional_check(f, x, (A + A.T) @ x, rng) < 1e-8
    assert len(calls) == 2


def test_check_backward_works_in_float64_for_other_dtypes(rng):
    """check_backward converts its inputs to float64 copies, so float32 inputs are checked in float64."""
    x = rng.standard_normal((4, 3)).astype(np.float32)
    W = rng.standard_normal((2, 3)).astype(np.float32)
    seen = []

    def forward(x_, W_):
        seen.append((x_.dtype, W_.dtype))
        return _tanh_linear_forward(x_, W_)
    errs = check_backward(forward, _tanh_linear_backward, [x, W], rng)
    assert max(errs) < 1e-8
    assert all(dx == np.float64 and dw == np.float64 for dx, dw in seen)
    assert x.dtype == np.float32 and W.dtype == np.float32


# ----------------------------------------------------------------------------- exact steps, x far from 0
@pytest.mark.parametrize("x0", [1.0, 10.0, 100.0, -37.5])
def test_measured_error_within_bound_far_from_zero(x0):
    """With exact steps the bound holds at x = 10 and 100 too, where forming x + h would round: there
    the naive quotient (step h, not the step taken) exceeds the bound."""
    M = np.exp(x0 + 0.1)       # bounds |f|, |f''|, |f'''| on [x0 - h, x0 + h] for h <= 0.1
    h = np.geomspace(4 * np.spacing(abs(x0)), 1e-1, 300)
    for scheme, diff in (("forward", forward_difference), ("central", central_difference)):
        step = gc.exact_step(x0, h)
        err = np.abs(diff(np.exp, x0, h) - np.exp(x0))
        assert np.all(err <= difference_error_bound(scheme, step, f_bound=M, deriv_bound=M))
    if abs(x0) >= 10:
        naive = np.abs((np.exp(x0 + h) - np.exp(x0 - h)) / (2 * h) - np.exp(x0))
        assert np.max(naive / difference_error_bound("central", h, f_bound=M, deriv_bound=M)) > 2


def test_exact_step_is_exact():
    rng = np.random.default_rng(3)
    for x0 in np.concatenate([rng.uniform(-1e3, 1e3, 50), [0.0, 1.0, 100.0]]):
        for h in np.geomspace(1e-12, 1e-1, 12):
            if h < 2 * np.spacing(abs(x0)):
                continue
            s = gc.exact_step(x0, h)
            assert (x0 + s) - x0 == s and x0 - ((x0 - s)) == s       # both neighbours representable
            assert abs(s - h) <= np.spacing(abs(x0) + h)
    with pytest.raises(ValueError, match="lost"):
        gc.exact_step(100.0, 1e-15)


# ----------------------------------------------------------------------------- hvp
def test_hvp_matches_hessian_products(rng):
    n = 6
    A = rng.standard_normal((n, n))
    c = rng.standard_normal(n)
    f_grad = lambda x: (A + A.T) @ x + np.exp(x) * c           # f = x^T A x + sum c_i e^{x_i}
    hess = lambda x: A + A.T + np.diag(np.exp(x) * c)
    for _ in range(5):
        x, v = rng.standard_normal(n), rng.standard_normal(n)
        assert relative_error(gc.hvp(f_grad, x, v), hess(x) @ v) < 1e-8
    wrong = lambda x: (A + A.T) @ x                             # misses the exponential term
    x, v = rng.standard_normal(n), rng.standard_normal(n)
    assert relative_error(gc.hvp(wrong, x, v), hess(x) @ v) > 1e-3


def test_hvp_torch_oracle(rng):
    torch = pytest.importorskip("torch")
    W = rng.standard_normal((4, 5))
    f_t = lambda x: torch.sum(torch.tanh(torch.as_tensor(W) @ x) ** 2)

    def grad_np(x):
        xt = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(f_t(xt), xt)
        return g.numpy()
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    _, hv = torch.autograd.functional.hvp(f_t, torch.tensor(x), torch.tensor(v))
    assert relative_error(gc.hvp(grad_np, x, v), hv.numpy()) < 1e-8


def test_hvp_bad_input(rng):
    with pytest.raises(ValueError, match="shape of x"):
        gc.hvp(lambda x: x, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="float64"):
        gc.hvp(lambda x: x, np.zeros(3, dtype=np.float32), np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        gc.hvp(lambda x: x, np.zeros(3), np.zeros(3), h=0.0)
