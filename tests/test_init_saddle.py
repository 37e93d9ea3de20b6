"""Zero initialization is a saddle point (chapter 11, section "Zero initialization is a saddle point").

Checked with the package's layers, losses and optimizers, independently of the chapter's own NumPy code:

* a network of any width and depth whose weights and biases are all zero (ReLU or tanh) gets exactly zero
  gradients for every weight and hidden bias, and stays there under SGD, momentum and Adam; only the output
  bias moves, to the mean target;
* for the two-layer scalar model w2 w1 x with the package's mean squared error (no factor 1/2, as the
  chapter's eq-initialization-scalar-loss and F.mse_loss), the gradient at zero is zero and the Hessian, by
  central second differences, is [[0, -2c], [-2c, 0]] with c = mean(x y) (eq-initialization-zero-hessian):
  one negative eigenvalue, a strict saddle;
* one step of the package's SGD multiplies w1 + w2 and w1 - w2 by 1 + 2 eta c - 2 eta c_xx w1 w2 and
  1 - 2 eta c + 2 eta c_xx w1 w2, exactly (eq-initialization-saddle-modes);
* gradient descent from scale s leaves the saddle after a number of steps whose slope against log(1/s) is
  1/log(1 + 2 eta c), within 2%, and not the 1/log(1 + eta c) of a loss written with 1/2;
* with three layers w3 w2 w1 x (exercise ex-initialization-deep-saddle) gradient and Hessian vanish at zero,
  equal weights stay equal, and the escape from equal weights s needs at least (1/s - 1/w_esc)/(2 eta c)
  steps, close to it for small s.
"""
import math

import numpy as np
import pytest

from dlmath import optim as O
from dlmath.layers.linear import linear_backward, linear_forward
from dlmath.layers.losses import mse_loss_backward, mse_loss_forward
from dlmath.models.mlp import mlp_backward, mlp_forward

SEEDS = (0, 1, 2)


def zero_params(sizes):
    """All-zero weights (out, in) and biases for layer sizes [d, n_1, ..., n_L]."""
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"], params[f"b{l}"] = np.zeros((n_out, n_in)), np.zeros(n_out)
    return params


def regression_data(seed, n=50, d=3, k=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))                                     # (N, d)
    y = np.tanh(x @ rng.standard_normal((d, k))) + 0.3 + 0.1 * rng.standard_normal((n, k))   # (N, k), mean != 0
    return x, y


def grads_of(params, x, y, activation):
    out, cache = mlp_forward(params, x, activation=activation)
    loss, lcache = mse_loss_forward(out, y)
    return loss, mlp_backward(mse_loss_backward(1.0, lcache), cache)


# ------------------------------------------------------------------------- zero weights, any width
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("hidden", [[1], [7], [16, 16], [5, 9, 4]])
@pytest.mark.parametrize("seed", SEEDS)
def test_zero_weights_have_zero_gradients(activation, hidden, seed):
    x, y = regression_data(seed)
    sizes = [x.shape[1], *hidden, y.shape[1]]
    params = zero_params(sizes)
    _, grads = grads_of(params, x, y, activation)
    last = len(sizes) - 1
    for name, g in grads.items():
        if name == f"b{last}":
            # the output bias is the only parameter with a gradient: d mean((b - y)^2) / db = -2 mean(y) / k
            np.testing.assert_allclose(g, -2 * y.mean(axis=0) / y.shape[1], rtol=1e-12)
            assert np.all(g != 0)
        else:
            assert np.all(g == 0), f"{name} has a nonzero gradient at zero initialization"


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_zero_weights_never_move(optimizer, activation):
    x, y = regression_data(3)
    sizes = [x.shape[1], 12, 12, y.shape[1]]
    params = zero_params(sizes)
    states = {k: None for k in params}
    step = {"sgd": lambda p, g, s: O.sgd_step(p, g, s, lr=0.05),
            "momentum": lambda p, g, s: O.sgd_step(p, g, s, lr=0.05, momentum=0.9),
            "adam": lambda p, g, s: O.adam_step(p, g, s, lr=0.01)}[optimizer]
    for _ in range(300):
        loss, grads = grads_of(params, x, y, activation)
        for k in params:
            params[k], states[k] = step(params[k], grads[k], states[k])
    for k, v in params.items():
        if k != "b3":
            assert np.all(v == 0), f"{k} moved away from zero"
    # the output bias has learned the mean target, so the loss is the variance of the targets
    np.testing.assert_allclose(params["b3"], y.mean(axis=0), rtol=1e-3)
    np.testing.assert_allclose(loss, y.var(axis=0).mean(), rtol=1e-3)


# ------------------------------------------------------------------------- the scalar model w2 w1 x
def scalar_data(seed, n=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1))
    y = 1.5 * x + 0.5 * rng.standard_normal((n, 1))
    return x, y


def scalar_loss(w1, w2, x, y):
    """The package's mean squared error of w2 w1 x, through two bias-free linear layers."""
    h, _ = linear_forward(x, np.array([[w1]], dtype=float))
    out, _ = linear_forward(h, np.array([[w2]], dtype=float))
    return mse_loss_forward(out, y)[0]


def scalar_grad(w1, w2, x, y):
    """(dL/dw1, dL/dw2) by the package's backward passes."""
    W1, W2 = np.array([[w1]], dtype=float), np.array([[w2]], dtype=float)
    h, c1 = linear_forward(x, W1)
    out, c2 = linear_forward(h, W2)
    _, lc = mse_loss_forward(out, y)
    gh, gW2, _ = linear_backward(mse_loss_backward(1.0, lc), c2)
    _, gW1, _ = linear_backward(gh, c1)
    return gW1[0, 0], gW2[0, 0]


@pytest.mark.parametrize("seed", SEEDS)
def test_scalar_model_zero_is_a_strict_saddle(seed):
    x, y = scalar_data(seed)
    c = float(np.mean(x * y))
    assert scalar_grad(0.0, 0.0, x, y) == (0.0, 0.0)
    h = 1e-3
    f = lambda a, b: scalar_loss(a, b, x, y)
    d11 = (f(h, 0) - 2 * f(0, 0) + f(-h, 0)) / h**2
    d22 = (f(0, h) - 2 * f(0, 0) + f(0, -h)) / h**2
    d12 = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h**2)
    hess = np.array([[d11, d12], [d12, d22]])
    # eq-initialization-zero-hessian: the loss has no factor 1/2, so the off-diagonal entry is -2c, not -c
    np.testing.assert_allclose(hess, [[0, -2 * c], [-2 * c, 0]], atol=1e-6 * abs(c))
    lo, hi = np.linalg.eigvalsh(hess)
    assert lo < 0 < hi
    np.testing.assert_allclose([lo, hi], [-2 * abs(c), 2 * abs(c)], rtol=1e-6)
    # a step along (1, sign c) lowers the loss; along (1, -sign c) it raises it
    t = 1e-2
    assert f(t, t * np.sign(c)) < f(0, 0) < f(t, -t * np.sign(c))


def escape_steps(seed, scale, eta, direction, max_steps=20_000):
    """Gradient descent with the package (sgd_step) from scale * direction until the loss has made half of
    its possible decrease; the minimum over the product p = w1 w2 is at p = c / mean(x^2)."""
    x, y = scalar_data(seed)
    c, cxx = float(np.mean(x * y)), float(np.mean(x * x))
    l0 = scalar_loss(0.0, 0.0, x, y)
    lstar = l0 - c**2 / cxx                                   # no factor 1/2 in the package's loss
    w = scale * np.asarray(direction, dtype=float)
    state = None
    for k in range(1, max_steps + 1):
        g = np.array(scalar_grad(w[0], w[1], x, y))
        w, state = O.sgd_step(w, g, state, lr=eta)
        if scalar_loss(w[0], w[1], x, y) - lstar <= 0.5 * (l0 - lstar):
            return k, c
    raise AssertionError(f"no escape from scale {scale} in {max_steps} steps")


@pytest.mark.parametrize("seed", SEEDS)
def test_escape_time_grows_like_log_one_over_scale(seed):
    eta = 0.025
    direction = np.random.default_rng(100 + seed).standard_normal(2)
    scales = 10.0 ** -np.arange(2, 9)
    runs = [escape_steps(seed, s, eta, direction) for s in scales]
    steps = np.array([k for k, _ in runs], dtype=float)
    c = runs[0][1]
    slope = np.polyfit(np.log(1 / scales), steps, 1)[0]
    predicted = 1 / math.log(1 + 2 * eta * c)                 # the gradient of the MSE carries a factor 2
    assert abs(slope / predicted - 1) < 0.02, (slope, predicted)
    assert abs(slope * math.log(1 + eta * c) - 1) > 0.3       # the prediction without the 2 is far off
    assert np.all(np.diff(steps) > 0)                         # closer to the saddle, always slower


def test_exactly_at_the_saddle_gradient_descent_stays():
    x, y = scalar_data(0)
    w, state = np.zeros(2), None
    for _ in range(500):
        w, state = O.sgd_step(w, np.array(scalar_grad(w[0], w[1], x, y)), state, lr=0.05, momentum=0.9)
    assert np.all(w == 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_one_step_multiplies_the_eigen_coordinates(seed):
    """eq-initialization-saddle-modes: the package's gradient and sgd_step, anywhere (not only near zero)."""
    x, y = scalar_data(seed)
    c, cxx = float(np.mean(x * y)), float(np.mean(x * x))
    rng = np.random.default_rng(200 + seed)
    for eta in (0.01, 0.025, 0.1):
        w = rng.standard_normal(2)
        g = np.array(scalar_grad(w[0], w[1], x, y))
        # eq-initialization-scalar-gradient: 2 (c_xx w1 w2 - c) (w2, w1)
        np.testing.assert_allclose(g, 2 * (cxx * w[0] * w[1] - c) * w[::-1], rtol=1e-10, atol=1e-12)
        new, _ = O.sgd_step(w, g, None, lr=eta)
        p = w[0] * w[1]
        np.testing.assert_allclose(new[0] + new[1], (1 + 2 * eta * c - 2 * eta * cxx * p) * (w[0] + w[1]),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(new[0] - new[1], (1 - 2 * eta * c + 2 * eta * cxx * p) * (w[0] - w[1]),
                                   rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------- three layers: w3 w2 w1 x
def deep_loss(ws, x, y):
    """The package's mean squared error of w3 w2 w1 x (three bias-free linear layers)."""
    h = x
    for w in ws:
        h, _ = linear_forward(h, np.array([[w]], dtype=float))
    return mse_loss_forward(h, y)[0]


def deep_grad(ws, x, y):
    """(dL/dw1, dL/dw2, dL/dw3) by the package's backward passes."""
    h, caches = x, []
    for w in ws:
        h, cache = linear_forward(h, np.array([[w]], dtype=float))
        caches.append(cache)
    _, lc = mse_loss_forward(h, y)
    g, grads = mse_loss_backward(1.0, lc), []
    for cache in reversed(caches):
        g, gW, _ = linear_backward(g, cache)
        grads.append(gW[0, 0])
    return np.array(grads[::-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_three_layers_degenerate_saddle(seed):
    x, y = scalar_data(seed)
    c, cxx = float(np.mean(x * y)), float(np.mean(x * x))
    assert np.all(deep_grad([0.0, 0.0, 0.0], x, y) == 0)
    # every second difference at zero vanishes (the loss has no term of degree 2)
    h, f = 1e-3, (lambda v: deep_loss(v, x, y))
    e = np.eye(3)
    for i in range(3):
        for j in range(3):
            d = (f(h * (e[i] + e[j])) - f(h * (e[i] - e[j])) - f(h * (e[j] - e[i])) + f(-h * (e[i] + e[j]))) / (4 * h**2)
            assert abs(d) < 1e-4 * abs(c), (i, j, d)
    # but zero is not a minimizer: along (t, t, t) with the sign of c the loss falls like -2 c t^3
    t = 1e-2 * np.sign(c)
    drop = f([t, t, t]) - f([0.0, 0.0, 0.0])
    np.testing.assert_allclose(drop, -2 * c * t**3 + cxx * t**6, rtol=1e-8)
    assert drop < 0
    # the gradient at a random point: 2 (c_xx p - c) times the product of the two other weights
    w = np.random.default_rng(300 + seed).standard_normal(3)
    p = np.prod(w)
    np.testing.assert_allclose(deep_grad(w, x, y), 2 * (cxx * p - c) * np.array([w[1] * w[2], w[0] * w[2], w[0] * w[1]]),
                               rtol=1e-10)


@pytest.mark.parametrize("sigma", [1e-1, 1e-2])
def test_three_layers_escape_bound(sigma):
    x, y = scalar_data(0)
    c, cxx = float(np.mean(x * y)), float(np.mean(x * x))
    assert c > 0
    eta = 0.025
    w_esc = (0.5 * c / cxx) ** (1 / 3)                         # p = w^3 at half of its optimum c / c_xx
    w, state, k = np.full(3, sigma), None, 0
    while np.prod(w) < 0.5 * c / cxx:
        w, state = O.sgd_step(w, deep_grad(w, x, y), state, lr=eta)
        k += 1
        np.testing.assert_allclose(w, w[0], rtol=1e-12)        # equal weights stay equal (up to rounding)
        assert k < 10_000
    bound = (1 / sigma - 1 / w_esc) / (2 * eta * c)
    assert k >= bound                                          # the exercise's lower bound holds ...
    assert k <= 1.2 * bound + 10                               # ... and is nearly reached: no room for a factor 2
