"""Tests of dlmath.models.logistic_regression: gradients by central differences, the Hessian against
the finite-difference Jacobian of the gradient and against PyTorch, convexity (the Hessian is positive
semidefinite, the loss convex along random segments), the binary case as two-class softmax, training
by gradient descent, and bad input. Tests that need torch are named ``test_torch_*`` and skip without it.
"""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models import logistic_regression as LR


def _softmax_case(seed, n=7, d=3, k=4, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    W, b = scale * rng.standard_normal((k, d)), scale * rng.standard_normal(k)
    return X, y, W, b


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_softmax_grad_matches_central_differences(seed, weight_decay):
    X, y, W, b = _softmax_case(seed)
    gW, gb = LR.softmax_regression_grad(X, y, W, b, weight_decay=weight_decay)
    nW = numerical_gradient(lambda W_: LR.softmax_regression_loss(X, y, W_, b, weight_decay=weight_decay), W.copy())
    nb = numerical_gradient(lambda b_: LR.softmax_regression_loss(X, y, W, b_, weight_decay=weight_decay), b.copy())
    assert relative_error(gW, nW) < 1e-7 and relative_error(gb, nb) < 1e-7


def test_softmax_grad_is_p_minus_y_transpose_x_over_n():
    """grad_W = (P - Y)^T X / N written out with an explicit one-hot matrix, independently of the code."""
    X, y, W, b = _softmax_case(5, n=9, d=2, k=3)
    Z = X @ W.T + b
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    Y = np.eye(3)[y]
    gW, gb = LR.softmax_regression_grad(X, y, W, b)
    np.testing.assert_allclose(gW, (P - Y).T @ X / 9, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb, (P - Y).sum(axis=0) / 9, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_softmax_hessian_is_jacobian_of_gradient(seed):
    X, y, W, b = _softmax_case(seed, n=6, d=2, k=3)
    k, d = W.shape
    theta = np.hstack([W, b[:, None]]).ravel()  # row-major [W b]

    def grad_flat(t):
        T = t.reshape(k, d + 1)
        gW, gb = LR.softmax_regression_grad(X, y, T[:, :d].copy(), T[:, d].copy())
        return np.hstack([gW, gb[:, None]]).ravel()

    h = 1e-6
    J = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        J[:, i] = (grad_flat(theta + e) - grad_flat(theta - e)) / (2 * h)
    H = LR.softmax_regression_hessian(X, W, b)
    assert relative_error(H, J) < 1e-7
    np.testing.assert_allclose(H, H.T, atol=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_softmax_hessian_psd_and_shift_direction_in_kernel(seed):
    """Convexity: eigenvalues >= 0; adding the same vector to every row of [W b] (a shift of all logits by
    the same amount for each example) is a direction of zero curvature, so the Hessian is singular."""
    X, y, W, b = _softmax_case(seed, n=20, d=3, k=4, scale=2.0)
    H = LR.softmax_regression_hessian(X, W, b)
    eig = np.linalg.eigvalsh(H)
    assert eig.min() > -1e-12 * eig.max()
    v = np.random.default_rng(seed).standard_normal(4)
    shift = np.tile(v, 4)  # every class row gets the same (d + 1)-vector
    assert np.linalg.norm(H @ shift) < 1e-12 * np.linalg.norm(H) * np.linalg.norm(shift)


def test_softmax_loss_convex_along_segments():
    rng = np.random.default_rng(0)
    X, y, W0, b0 = _softmax_case(1, n=15, d=3, k=3, scale=3.0)
    for _ in range(20):
        W1, b1 = 3 * rng.standard_normal(W0.shape), 3 * rng.standard_normal(b0.shape)
        lam = rng.uniform()
        mid = LR.softmax_regression_loss(X, y, lam * W0 + (1 - lam) * W1, lam * b0 + (1 - lam) * b1)
        ends = lam * LR.softmax_regression_loss(X, y, W0, b0) + (1 - lam) * LR.softmax_regression_loss(X, y, W1, b1)
        assert mid <= ends + 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_logistic_grad_and_hessian(seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((8, 3)), rng.uniform(0, 1, 8)
    w, b = rng.standard_normal(3), float(rng.standard_normal())
    gw, gb = LR.logistic_regression_grad(X, y, w, b, weight_decay=0.2)
    nw = numerical_gradient(lambda w_: LR.logistic_regression_loss(X, y, w_, b, weight_decay=0.2), w.copy())
    nb = numerical_gradient(lambda b_: LR.logistic_regression_loss(X, y, w, float(b_[0]), weight_decay=0.2),
                            np.array([b]))
    assert relative_error(gw, nw) < 1e-7 and relative_error([gb], nb) < 1e-7
    theta = np.append(w, b)
    grad_of = lambda t: np.append(*LR.logistic_regression_grad(X, y, t[:3].copy(), float(t[3])))  # noqa: E731
    J = np.column_stack([(grad_of(theta + 1e-6 * e) - grad_of(theta - 1e-6 * e)) / 2e-6 for e in np.eye(4)])
    H = LR.logistic_regression_hessian(X, w, b)
    assert relative_error(H, J) < 1e-7 and np.linalg.eigvalsh(H).min() > -1e-14


def test_logistic_is_two_class_softmax():
    """Softmax regression with rows (0, 0) and (w, b) is logistic regression with (w, b): same loss and predictions."""
    rng = np.random.default_rng(3)
    X, t = rng.standard_normal((12, 2)), rng.integers(0, 2, 12)
    w, b = rng.standard_normal(2), 0.4
    W2, b2 = np.vstack([np.zeros(2), w]), np.array([0.0, b])
    assert abs(LR.softmax_regression_loss(X, t, W2, b2) - LR.logistic_regression_loss(X, t.astype(float), w, b)) < 1e-14
    np.testing.assert_array_equal(LR.softmax_regression_predict(X, W2, b2), LR.logistic_regression_predict(X, w, b))


def test_fit_decreases_loss_and_separates():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.5 * rng.standard_normal((300, 2))
    W, b, losses = LR.fit_softmax_regression(X, y, 3, lr=0.5, n_steps=300)
    assert np.all(np.diff(losses) <= 1e-15)  # lr below 2 / L: monotone descent
    assert np.mean(LR.softmax_regression_predict(X, W, b) == y) > 0.97
    w, b1, l1 = LR.fit_logistic_regression(X, (y == 0).astype(float), lr=0.5, n_steps=300, weight_decay=0.01)
    assert l1[-1] < l1[0] and np.mean(LR.logistic_regression_predict(X, w, b1) == (y == 0)) > 0.97
    gw, gb = LR.logistic_regression_grad(X, (y == 0).astype(float), w, b1, weight_decay=0.01)
    assert np.linalg.norm(gw) < 1e-2 and abs(gb) < 1e-2  # near the unique minimizer of the regularized loss


def test_stable_at_huge_logits():
    X, y, W, b = _softmax_case(0, scale=1e4)
    assert np.isfinite(LR.softmax_regression_loss(X, y, W, b))
    assert all(np.all(np.isfinite(g)) for g in LR.softmax_regression_grad(X, y, W, b))
    assert np.all(np.isfinite(LR.softmax_regression_hessian(X, W, b)))
    assert np.isfinite(LR.logistic_regression_loss(X, (y > 1).astype(float), W[0], 1e4))


def test_inputs_not_modified():
    X, y, W, b = _softmax_case(2)
    copies = [a.copy() for a in (X, y, W, b)]
    LR.softmax_regression_grad(X, y, W, b, weight_decay=0.1)
    LR.softmax_regression_hessian(X, W, b)
    for a, c in zip((X, y, W, b), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("call", [
    lambda X, y, W, b: LR.softmax_regression_loss(X.astype(int), y, W, b),
    lambda X, y, W, b: LR.softmax_regression_loss(X, y, W[:, :2], b),
    lambda X, y, W, b: LR.softmax_regression_loss(X, y, W, b[:2]),
    lambda X, y, W, b: LR.softmax_regression_loss(X, y.astype(float), W, b),
    lambda X, y, W, b: LR.softmax_regression_loss(X, y + 4, W, b),
    lambda X, y, W, b: LR.softmax_regression_loss(X, y[:3], W, b),
    lambda X, y, W, b: LR.softmax_regression_grad(X, y, W.astype(np.float32), b),
    lambda X, y, W, b: LR.fit_softmax_regression(X, y, 0, lr=0.1, n_steps=1),
    lambda X, y, W, b: LR.fit_softmax_regression(X, y, 4, lr=-0.1, n_steps=1),
    lambda X, y, W, b: LR.fit_softmax_regression(X, y, 4, lr=0.1, n_steps=0),
    lambda X, y, W, b: LR.fit_softmax_regression(X, y, 4, lr=0.1, n_steps=1, weight_decay=-1.0),
    lambda X, y, W, b: LR.logistic_regression_loss(X, (y > 1).astype(float), W[0][:2], 0.0),
    lambda X, y, W, b: LR.logistic_regression_loss(X, 2.0 * y, W[0], 0.0),
    lambda X, y, W, b: LR.logistic_regression_loss(X, (y > 1), W[0], 0.0),
])
def test_bad_input_raises(call):
    X, y, W, b = _softmax_case(0)
    with pytest.raises(ValueError):
        call(X, y, W, b)


def test_torch_softmax_regression_loss_grad_hessian():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    X, y, W, b = _softmax_case(7, n=10, d=3, k=4, scale=1.5)
    k, d = W.shape
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def loss_of(theta):
        T = theta.reshape(k, d + 1)
        return F.cross_entropy(F.linear(Xt, T[:, :d], T[:, d]), yt)

    theta = torch.tensor(np.hstack([W, b[:, None]]).ravel(), requires_grad=True)
    loss = loss_of(theta)
    loss.backward()
    gW, gb = LR.softmax_regression_grad(X, y, W, b)
    assert abs(loss.item() - LR.softmax_regression_loss(X, y, W, b)) < 1e-12
    np.testing.assert_allclose(np.hstack([gW, gb[:, None]]).ravel(), theta.grad.numpy(), rtol=1e-10, atol=1e-13)
    H_torch = torch.autograd.functional.hessian(loss_of, theta.detach()).numpy()
    np.testing.assert_allclose(LR.softmax_regression_hessian(X, W, b), H_torch, rtol=1e-10, atol=1e-13)


def test_torch_logistic_regression_loss_grad_hessian():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((10, 3)), rng.uniform(0, 1, 10)
    w, b = rng.standard_normal(3), -0.7
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def loss_of(theta):
        return F.binary_cross_entropy_with_logits(Xt @ theta[:3] + theta[3], yt)

    theta = torch.tensor(np.append(w, b), requires_grad=True)
    loss = loss_of(theta)
    loss.backward()
    gw, gb = LR.logistic_regression_grad(X, y, w, b)
    assert abs(loss.item() - LR.logistic_regression_loss(X, y, w, b)) < 1e-12
    np.testing.assert_allclose(np.append(gw, gb), theta.grad.numpy(), rtol=1e-10, atol=1e-13)
    H_torch = torch.autograd.functional.hessian(loss_of, theta.detach()).numpy()
    np.testing.assert_allclose(LR.logistic_regression_hessian(X, w, b), H_torch, rtol=1e-10, atol=1e-13)
