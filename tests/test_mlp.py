"""Tests of dlmath.models.mlp: whole-network gradient check, PyTorch oracle, training, bad input."""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models.mlp import (init_mlp, mlp_backward, mlp_forward, mlp_loss_and_grads, num_parameters,
                               predict, sgd_update, train)


@pytest.mark.parametrize("activation, tol", [("tanh", 1e-7), ("sigmoid", 1e-7), ("relu", 1e-5), ("identity", 1e-7)])
def test_whole_mlp_gradcheck(rng, activation, tol):
    params = init_mlp([5, 7, 6, 4], rng, init="xavier")
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}  # nonzero biases
    x = rng.standard_normal((8, 5))
    y = rng.integers(0, 4, size=8)
    _, grads = mlp_loss_and_grads(params, x, y, activation)
    assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for key, p in params.items():
        def f(pk, key=key):
            return mlp_loss_and_grads({**params, key: pk}, x, y, activation)[0]
        num = numerical_gradient(f, p.copy())
        assert relative_error(grads[key], num) < tol, key


def test_backward_with_random_upstream_gradient(rng):
    params = init_mlp([3, 4, 2], rng)
    params["b1"] = params["b1"] + 0.3
    x = rng.standard_normal((6, 3))
    logits, cache = mlp_forward(params, x, "tanh")
    g = rng.standard_normal(logits.shape)
    grads = mlp_backward(g, cache)
    for key, p in params.items():
        num = numerical_gradient(lambda pk: np.sum(g * mlp_forward({**params, key: pk}, x, "tanh")[0]), p.copy())
        assert relative_error(grads[key], num) < 1e-7


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_torch_oracle_two_layer(rng, activation):
    torch = pytest.importorskip("torch")
    params = init_mlp([6, 5, 3], rng)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((7, 6))
    y = rng.integers(0, 3, size=7)
    logits, _ = mlp_forward(params, x, activation)
    loss, grads = mlp_loss_and_grads(params, x, y, activation)

    act = {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid()}[activation]
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), act, torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for l, idx in ((1, 0), (2, 2)):
            net[idx].weight.copy_(torch.tensor(params[f"W{l}"]))
            net[idx].bias.copy_(torch.tensor(params[f"b{l}"]))
    tlogits = net(torch.tensor(x))
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(y))
    tloss.backward()
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert abs(loss - tloss.item()) < 1e-12
    for l, idx in ((1, 0), (2, 2)):
        np.testing.assert_allclose(grads[f"W{l}"], net[idx].weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads[f"b{l}"], net[idx].bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_momentum_matches_torch(rng):
    torch = pytest.importorskip("torch")
    p = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3)}
    tp = [torch.tensor(p["W1"], requires_grad=True), torch.tensor(p["b1"], requires_grad=True)]
    opt = torch.optim.SGD(tp, lr=0.1, momentum=0.9)
    v = {k: np.zeros_like(a) for k, a in p.items()}
    for _ in range(4):
        g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
        p, v = sgd_update(p, g, v, lr=0.1, momentum=0.9)
        opt.zero_grad()
        tp[0].grad, tp[1].grad = torch.tensor(g["W1"]), torch.tensor(g["b1"])
        opt.step()
    np.testing.assert_allclose(p["W1"], tp[0].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(p["b1"], tp[1].detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("sizes", [[64, 10], [64, 128, 10], [2, 3, 4, 5, 6]])
def test_parameter_count_formula(rng, sizes):
    params = init_mlp(sizes, rng)
    expected = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    assert num_parameters(params) == expected
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        assert params[f"W{l}"].shape == (o, i) and params[f"b{l}"].shape == (o,)


def test_init_variances():
    r = np.random.default_rng(0)
    he = init_mlp([400, 300], r, "he")["W1"]
    xa = init_mlp([400, 300], r, "xavier")["W1"]
    assert abs(he.var() / (2 / 400) - 1) < 0.02
    assert abs(xa.var() / (2 / 700) - 1) < 0.02


def test_training_on_digits_reaches_accuracy():
    pytest.importorskip("sklearn")
    from dlmath.data import load_digits_split
    X_tr, y_tr, X_va, y_va, X_te, y_te = load_digits_split()
    r = np.random.default_rng(0)
    p0 = init_mlp([64, 64, 10], r)
    p0_copy = {k: v.copy() for k, v in p0.items()}
    params, hist = train(p0, X_tr, y_tr, X_va, y_va, epochs=15, batch_size=32, lr=0.05, momentum=0.9, rng=r)
    assert len(hist["train_loss"]) == len(hist["val_acc"]) == 15
    assert hist["train_loss"][-1] < 0.2 * hist["train_loss"][0]
    assert np.mean(predict(params, X_te) == y_te) > 0.93  # chance is 0.1
    assert hist["val_acc"][-1] > 0.93
    for k in p0:
        np.testing.assert_array_equal(p0[k], p0_copy[k])  # train does not modify its input


def test_xor_is_learned():
    from dlmath.data import make_xor
    X, y = make_xor()
    r = np.random.default_rng(0)
    params, _ = train(init_mlp([2, 8, 2], r), X, y, X, y, epochs=300, batch_size=4, lr=0.1, momentum=0.9, rng=r,
                      activation="tanh")
    np.testing.assert_array_equal(predict(params, X, "tanh"), y)


def test_value_errors(rng):
    with pytest.raises(ValueError, match="layer_sizes must be at least two positive integers"):
        init_mlp([5], rng)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        init_mlp([5, 3], 0)
    with pytest.raises(ValueError, match="init must be 'he' or 'xavier'"):
        init_mlp([5, 3], rng, init="lecun")
    params = init_mlp([5, 3], rng)
    x = rng.standard_normal((2, 5))
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_forward(params, x, activation="swish")
    with pytest.raises(ValueError, match="params must hold W1, b1"):
        mlp_forward({"W1": params["W1"]}, x)
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(params, x, y, x, y, epochs=0, batch_size=2, lr=0.1, rng=rng)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        train(params, x, y, x, y, epochs=1, batch_size=2, lr=-0.1, rng=rng)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        train(params, x, y, x, y, epochs=1, batch_size=2, lr=0.1, momentum=1.0, rng=rng)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        train(params, x, y, x, y, epochs=1, batch_size=2, lr=0.1, rng=None)
