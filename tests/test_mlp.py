"""Tests of dlmath.models.mlp: whole-network gradient check for every activation and loss, PyTorch oracle
(forward, backward, SGD trajectories), the XOR network of chapter 6, training, bad input."""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.data import make_xor
from dlmath.models.mlp import (ACTIVATIONS, LOSSES, init_mlp, mlp_backward, mlp_forward, mlp_loss_and_grads,
                               num_parameters, predict, sgd_update, train)

KINKED = ("relu", "leaky_relu")  # tolerance 1e-5 for these (DESIGN.md), 1e-7 for the smooth ones


def _random_params(rng, sizes):
    """Xavier weights plus a random perturbation, so biases are nonzero and no two entries coincide."""
    params = init_mlp(sizes, rng, init="xavier")
    return {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}


def _targets(loss, rng, n, c):
    if loss == "cross_entropy":
        return rng.integers(0, c, size=n)
    if loss == "binary_cross_entropy_with_logits":
        return rng.uniform(0.0, 1.0, size=(n, c))  # soft targets in [0, 1]
    return rng.standard_normal((n, c))


@pytest.mark.parametrize("activation, tol", [("tanh", 1e-7), ("sigmoid", 1e-7), ("relu", 1e-5), ("identity", 1e-7)])
def test_whole_mlp_gradcheck(rng, activation, tol):
    params = init_mlp([5, 7, 6, 4], rng, init="xavier")
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}  # nonzero biases
    x = rng.standard_normal((8, 5))
    y = rng.integers(0, 4, size=8)
    _, grads = mlp_loss_and_grads(params, x, y, activation=activation)
    assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for key, p in params.items():
        def f(pk, key=key):
            return mlp_loss_and_grads({**params, key: pk}, x, y, activation=activation)[0]
        num = numerical_gradient(f, p.copy())
        assert relative_error(grads[key], num) < tol, key


def test_backward_with_random_upstream_gradient(rng):
    params = init_mlp([3, 4, 2], rng)
    params["b1"] = params["b1"] + 0.3
    x = rng.standard_normal((6, 3))
    logits, cache = mlp_forward(params, x, activation="tanh")
    g = rng.standard_normal(logits.shape)
    grads = mlp_backward(g, cache)
    for key, p in params.items():
        num = numerical_gradient(lambda pk: np.sum(g * mlp_forward({**params, key: pk}, x, activation="tanh")[0]), p.copy())
        assert relative_error(grads[key], num) < 1e-7


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_torch_oracle_two_layer_cross_entropy(rng, activation):
    torch = pytest.importorskip("torch")
    params = init_mlp([6, 5, 3], rng)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((7, 6))
    y = rng.integers(0, 3, size=7)
    logits, _ = mlp_forward(params, x, activation=activation)
    loss, grads = mlp_loss_and_grads(params, x, y, activation=activation)

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
    he = init_mlp([400, 300], r, init="he")["W1"]
    xa = init_mlp([400, 300], r, init="xavier")["W1"]
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
    np.testing.assert_array_equal(predict(params, X, activation="tanh"), y)


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


# ------------------------------------------------------------------ every activation, every loss
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_loss_and_grads_match_central_differences(rng, activation, loss):
    """The gradient of each loss through each activation, against float64 central differences."""
    params = _random_params(rng, [4, 5, 3])
    x = rng.standard_normal((6, 4))
    target = _targets(loss, rng, 6, 3)
    value, grads = mlp_loss_and_grads(params, x, target, activation=activation, loss=loss)
    tol = 1e-5 if activation in KINKED else 1e-7
    for key, p in params.items():
        def f(pk, key=key):
            return mlp_loss_and_grads({**params, key: pk}, x, target, activation=activation, loss=loss)[0]
        num = numerical_gradient(f, p.copy())
        assert relative_error(grads[key], num) < tol, (activation, loss, key)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_backward_every_activation_random_upstream(rng, activation):
    """mlp_backward gives the gradient of sum(G * logits) for a random G, through every activation."""
    params = _random_params(rng, [3, 4, 4, 2])
    x = rng.standard_normal((5, 3))
    logits, cache = mlp_forward(params, x, activation=activation)
    g = rng.standard_normal(logits.shape) + 0.5
    grads = mlp_backward(g, cache)
    tol = 1e-5 if activation in KINKED else 1e-7
    for key, p in params.items():
        def f(pk, key=key):
            return np.sum(g * mlp_forward({**params, key: pk}, x, activation=activation)[0])
        assert relative_error(grads[key], numerical_gradient(f, p.copy())) < tol, (activation, key)


def _torch_net(torch, params, activation):
    act = {"relu": torch.nn.ReLU(), "leaky_relu": torch.nn.LeakyReLU(0.01), "tanh": torch.nn.Tanh(),
           "sigmoid": torch.nn.Sigmoid(), "softplus": torch.nn.Softplus(), "gelu": torch.nn.GELU(),
           "identity": torch.nn.Identity()}[activation]
    n = len(params) // 2
    layers = []
    for l in range(1, n + 1):
        out_f, in_f = params[f"W{l}"].shape
        layers.append(torch.nn.Linear(in_f, out_f))
        if l < n:
            layers.append(act)
    net = torch.nn.Sequential(*layers).double()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for l, lin in enumerate(linears, start=1):
            lin.weight.copy_(torch.tensor(params[f"W{l}"]))
            lin.bias.copy_(torch.tensor(params[f"b{l}"]))
    return net, linears


def _torch_loss(torch, loss, logits, target):
    F = torch.nn.functional
    if loss == "cross_entropy":
        return F.cross_entropy(logits, torch.tensor(target))
    t = torch.tensor(np.asarray(target, dtype=np.float64)).reshape(logits.shape)
    if loss == "binary_cross_entropy_with_logits":
        return F.binary_cross_entropy_with_logits(logits, t)
    return F.mse_loss(logits, t)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_torch_oracle_every_activation_and_loss(rng, activation, loss):
    torch = pytest.importorskip("torch")
    params = _random_params(rng, [5, 4, 3])
    x = rng.standard_normal((7, 5))
    target = _targets(loss, rng, 7, 3)
    value, grads = mlp_loss_and_grads(params, x, target, activation=activation, loss=loss)
    net, linears = _torch_net(torch, params, activation)
    tloss = _torch_loss(torch, loss, net(torch.tensor(x)), target)
    tloss.backward()
    np.testing.assert_allclose(value, tloss.item(), rtol=1e-12, atol=0)
    for l, lin in enumerate(linears, start=1):
        np.testing.assert_allclose(grads[f"W{l}"], lin.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(grads[f"b{l}"], lin.bias.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss", ["binary_cross_entropy_with_logits", "mse_loss"])
def test_one_output_takes_targets_of_shape_n(rng, loss):
    """With one output unit a target of shape (N,) means the same as one of shape (N, 1)."""
    params = _random_params(rng, [2, 3, 1])
    x = rng.standard_normal((5, 2))
    target = rng.uniform(0.0, 1.0, size=5)
    v1, g1 = mlp_loss_and_grads(params, x, target, activation="tanh", loss=loss)
    v2, g2 = mlp_loss_and_grads(params, x, target[:, None], activation="tanh", loss=loss)
    logits = mlp_forward(params, x, activation="tanh")[0][:, 0]
    if loss == "mse_loss":
        expected = np.mean((logits - target) ** 2)
    else:  # -[t log s + (1 - t) log(1 - s)], s the sigmoid of the logit
        s = 1 / (1 + np.exp(-logits))
        expected = -np.mean(target * np.log(s) + (1 - target) * np.log(1 - s))
    np.testing.assert_allclose(v1, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(v2, expected, rtol=1e-12, atol=0)
    for k in params:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-15, atol=0)


def test_mse_gradient_of_the_output_bias_is_twice_the_mean_residual(rng):
    """d/db_L of mean((z - t)^2) is 2 mean(z - t) per output: a closed form, independent of the code."""
    params = _random_params(rng, [3, 4, 2])
    x = rng.standard_normal((6, 3))
    target = rng.standard_normal((6, 2))
    _, grads = mlp_loss_and_grads(params, x, target, activation="tanh", loss="mse_loss")
    h = np.tanh(x @ params["W1"].T + params["b1"])
    z = h @ params["W2"].T + params["b2"]
    np.testing.assert_allclose(grads["b2"], 2 * (z - target).sum(axis=0) / z.size, rtol=1e-12, atol=0)
    np.testing.assert_allclose(grads["W2"], 2 * (z - target).T @ h / z.size, rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------ SGD
def test_sgd_update_without_momentum_is_one_plain_step(rng):
    """momentum = 0: p <- p - lr g exactly (the learning rate applied once), v = g."""
    p = {"W1": rng.standard_normal((3, 3)), "b1": rng.standard_normal(3)}
    g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
    v0 = {k: rng.standard_normal(a.shape) for k, a in p.items()}  # ignored without momentum
    p_copy = {k: a.copy() for k, a in p.items()}
    new_p, new_v = sgd_update(p, g, v0, lr=0.3, momentum=0.0)
    for k in p:
        np.testing.assert_allclose(new_p[k], p_copy[k] - 0.3 * g[k], rtol=1e-15, atol=0)
        np.testing.assert_allclose(new_v[k], g[k], rtol=0, atol=0)
        np.testing.assert_array_equal(p[k], p_copy[k])  # inputs not modified


def test_sgd_update_with_momentum_closed_form(rng):
    p = {"W1": rng.standard_normal((2, 2))}
    g = {"W1": rng.standard_normal((2, 2))}
    v = {"W1": rng.standard_normal((2, 2))}
    new_p, new_v = sgd_update(p, g, v, lr=0.2, momentum=0.7)
    np.testing.assert_allclose(new_v["W1"], 0.7 * v["W1"] + g["W1"], rtol=1e-15, atol=0)
    np.testing.assert_allclose(new_p["W1"], p["W1"] - 0.2 * (0.7 * v["W1"] + g["W1"]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_sgd_update_matches_torch_sgd(rng, momentum, weight_decay):
    torch = pytest.importorskip("torch")
    p = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3)}
    tp = [torch.tensor(p["W1"], requires_grad=True), torch.tensor(p["b1"], requires_grad=True)]
    opt = torch.optim.SGD(tp, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    v = {k: np.zeros_like(a) for k, a in p.items()}
    for _ in range(4):
        g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
        p, v = sgd_update(p, g, v, lr=0.1, momentum=momentum, weight_decay=weight_decay)
        opt.zero_grad()
        tp[0].grad, tp[1].grad = torch.tensor(g["W1"]), torch.tensor(g["b1"])
        opt.step()
    np.testing.assert_allclose(p["W1"], tp[0].detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p["b1"], tp[1].detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_full_batch_training_matches_torch_steps(rng, loss):
    """train with batch_size = N and no momentum is plain gradient descent: after each of three
    one-epoch calls, the same parameters and loss as torch's SGD on the same network and loss."""
    torch = pytest.importorskip("torch")
    params = _random_params(rng, [3, 4, 2])
    x = rng.standard_normal((8, 3))
    target = _targets(loss, rng, 8, 2)
    net, linears = _torch_net(torch, params, "tanh")
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    p = params
    for step in range(3):
        p, hist = train(p, x, target, x, target, epochs=1, batch_size=8, lr=0.3,
                        rng=np.random.default_rng(step), activation="tanh", loss=loss)
        opt.zero_grad()
        _torch_loss(torch, loss, net(torch.tensor(x)), target).backward()
        opt.step()
        for l, lin in enumerate(linears, start=1):
            np.testing.assert_allclose(p[f"W{l}"], lin.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(p[f"b{l}"], lin.bias.detach().numpy(), rtol=1e-12, atol=1e-14)
        with torch.no_grad():
            tl = _torch_loss(torch, loss, net(torch.tensor(x)), target).item()
        np.testing.assert_allclose(hist["train_loss"][-1], tl, rtol=1e-12, atol=0)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_momentum_training_matches_torch_over_epochs(rng, loss):
    """Several epochs of full-batch steps with momentum keep the velocity across epochs, as torch does."""
    torch = pytest.importorskip("torch")
    params = _random_params(rng, [3, 4, 2])
    x = rng.standard_normal((6, 3))
    target = _targets(loss, rng, 6, 2)
    p, hist = train(params, x, target, x, target, epochs=4, batch_size=6, lr=0.2, momentum=0.8,
                    rng=np.random.default_rng(0), activation="sigmoid", loss=loss)
    net, linears = _torch_net(torch, params, "sigmoid")
    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.8)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        _torch_loss(torch, loss, net(torch.tensor(x)), target).backward()
        opt.step()
        with torch.no_grad():
            losses.append(_torch_loss(torch, loss, net(torch.tensor(x)), target).item())
    for l, lin in enumerate(linears, start=1):
        np.testing.assert_allclose(p[f"W{l}"], lin.weight.detach().numpy(), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(p[f"b{l}"], lin.bias.detach().numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(hist["train_loss"], losses, rtol=1e-11, atol=0)


def test_history_keys_per_loss(rng):
    params = init_mlp([2, 3, 1], rng)
    x = rng.standard_normal((4, 2))
    y = rng.standard_normal(4)
    _, hist = train(params, x, y, x, y, epochs=2, batch_size=2, lr=0.1, rng=rng, loss="mse_loss")
    assert sorted(hist) == ["time", "train_loss", "val_loss"]
    assert len(hist["train_loss"]) == 2
    labels = np.array([0, 1, 1, 0])
    _, hist = train(params, x, labels, x, labels, epochs=3, batch_size=4, lr=0.1, rng=rng,
                    loss="binary_cross_entropy_with_logits")
    assert sorted(hist) == ["time", "train_acc", "train_loss", "val_acc", "val_loss"]
    assert len(hist["val_acc"]) == 3


def test_binary_accuracy_in_history_counts_positive_logits(rng):
    """After training, the recorded accuracy is the fraction of examples with (logit > 0) == label."""
    params = _random_params(rng, [2, 3, 1])
    x = rng.standard_normal((9, 2))
    labels = rng.integers(0, 2, size=9)
    p, hist = train(params, x, labels, x, labels, epochs=1, batch_size=9, lr=0.05, rng=rng,
                    activation="tanh", loss="binary_cross_entropy_with_logits")
    logit = np.tanh(x @ p["W1"].T + p["b1"]) @ p["W2"][0] + p["b2"][0]
    assert hist["train_acc"][0] == pytest.approx(np.mean((logit > 0) == (labels == 1)), abs=0)


def test_predict_with_one_output_thresholds_the_logit_at_zero():
    params = {"W1": np.array([[1.0, -1.0]]), "b1": np.array([0.5])}
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.5]])  # logits 0.5, 2.5, -1.5, 0.0
    np.testing.assert_array_equal(predict(params, x), [1, 1, 0, 0])
    params2 = {"W1": np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), "b1": np.zeros(3)}
    np.testing.assert_array_equal(predict(params2, np.array([[2.0, 1.0], [0.0, 3.0], [-1.0, -2.0]])), [0, 1, 2])


# ------------------------------------------------------------------------------- the XOR network
def test_two_layer_network_solves_xor_with_binary_cross_entropy():
    """Chapter 6's network: 2 -> 4 tanh -> 1 logit, full-batch gradient descent on the mean BCE."""
    X, y = make_xor()
    r = np.random.default_rng(0)
    params, hist = train(init_mlp([2, 4, 1], r), X, y, X, y, epochs=2000, batch_size=4, lr=1.0, rng=r,
                         activation="tanh", loss="binary_cross_entropy_with_logits")
    np.testing.assert_array_equal(predict(params, X, activation="tanh"), y)
    assert hist["train_loss"][-1] < 0.01 * hist["train_loss"][0]
    assert hist["train_acc"][-1] == 1.0
    logits = mlp_forward(params, X, activation="tanh")[0]
    assert logits.shape == (4, 1)


def test_two_layer_network_fits_xor_by_squared_error():
    X, y = make_xor()
    r = np.random.default_rng(1)
    params, hist = train(init_mlp([2, 8, 1], r), X, y.astype(float), X, y.astype(float), epochs=3000,
                         batch_size=4, lr=0.2, rng=r, activation="tanh", loss="mse_loss")
    out = mlp_forward(params, X, activation="tanh")[0][:, 0]
    assert hist["train_loss"][-1] < 1e-3
    np.testing.assert_array_equal((out > 0.5).astype(int), y)


def test_loss_value_errors(rng):
    params = init_mlp([2, 3, 1], rng)
    x, y = make_xor()
    with pytest.raises(ValueError, match="loss must be one of"):
        mlp_loss_and_grads(params, x, y, loss="hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        train(params, x, y, x, y, epochs=1, batch_size=4, lr=0.1, rng=rng, loss="bce")
    with pytest.raises(TypeError):
        mlp_forward(params, x, "tanh")  # options are keyword-only
    with pytest.raises(TypeError):
        sgd_update(params, params, params, 0.1)


def _messages_cases():
    r = np.random.default_rng(0)
    p = init_mlp([2, 3, 2], r)
    x, y = make_xor()
    return [
        (lambda: mlp_forward(p, x, activation="swish"),
         "activation must be one of ['gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'softplus', 'tanh'], "
         "got 'swish'"),
        (lambda: mlp_loss_and_grads(p, x, y, loss="hinge"),
         "loss must be one of ['binary_cross_entropy_with_logits', 'cross_entropy', 'mse_loss'], got 'hinge'"),
        (lambda: mlp_forward({"W1": p["W1"], "b2": p["b2"]}, x), "params must hold W1, b1, ..., WL, bL, got keys ['W1', 'b2']"),
        (lambda: init_mlp([2, 0], r), "layer_sizes must be at least two positive integers [d, ..., C], got [2, 0]"),
        (lambda: init_mlp([2, 3], 5), "rng must be a numpy.random.Generator, got int"),
        (lambda: init_mlp([2, 3], r, init="lecun"), "init must be 'he' or 'xavier', got 'lecun'"),
        (lambda: train(p, x, y, x, y, epochs=1.5, batch_size=4, lr=0.1, rng=r), "epochs must be a positive integer, got 1.5"),
        (lambda: train(p, x, y, x, y, epochs=1, batch_size=4, lr=0, rng=r), "lr must be a positive number, got 0"),
        (lambda: train(p, x, y, x, y, epochs=1, batch_size=4, lr=0.1, momentum=-0.1, rng=r),
         "momentum must be in [0, 1), got -0.1"),
        (lambda: train(p, x, y, x, y, epochs=1, batch_size=4, lr=0.1, rng="seed"),
         "rng must be a numpy.random.Generator, got str"),
    ]


def test_error_messages_exactly():
    for call, message in _messages_cases():
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message


def test_validation_boundaries(rng):
    """The smallest valid values pass: one epoch, momentum 0, a network without hidden layers."""
    x, y = make_xor()
    p = init_mlp([2, 2], rng)                               # one Linear layer
    assert list(p) == ["W1", "b1"]
    p2, hist = train(p, x, y, x, y, epochs=1, batch_size=1, lr=1e-3, momentum=0.0, rng=rng)
    assert len(hist["train_loss"]) == 1 and p2["W1"].shape == (2, 2)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(p, x, y, x, y, epochs=True, batch_size=1, lr=1e-3, rng=rng)   # a bool is not an epoch count
    with pytest.raises(ValueError, match="layer_sizes"):
        init_mlp([2, True], rng)


def test_defaults_are_relu_and_cross_entropy(rng):
    """Without options: ReLU hidden layers and the mean cross-entropy, checked against NumPy written out here."""
    params = _random_params(rng, [3, 5, 4])
    x = rng.standard_normal((6, 3))
    y = rng.integers(0, 4, size=6)
    h = np.maximum(x @ params["W1"].T + params["b1"], 0.0)
    z = h @ params["W2"].T + params["b2"]
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    expected = -logp[np.arange(6), y].mean()
    np.testing.assert_allclose(mlp_forward(params, x)[0], z, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(mlp_loss_and_grads(params, x, y)[0], expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(predict(params, x), z.argmax(axis=1))
    _, hist = train(params, x, y, x, y, epochs=1, batch_size=6, lr=1e-12, rng=rng)
    np.testing.assert_allclose(hist["train_loss"][0], expected, rtol=1e-9, atol=0)


def test_cross_entropy_history_accuracy_is_the_fraction_predicted_right(rng):
    params = _random_params(rng, [3, 4, 3])
    x = rng.standard_normal((12, 3))
    y = rng.integers(0, 3, size=12)
    xv = rng.standard_normal((5, 3))
    yv = rng.integers(0, 3, size=5)
    p, hist = train(params, x, y, xv, yv, epochs=2, batch_size=5, lr=0.1, rng=rng, activation="tanh")
    for X_, y_, key in ((x, y, "train_acc"), (xv, yv, "val_acc")):
        z = np.tanh(X_ @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
        assert hist[key][-1] == pytest.approx(np.mean(z.argmax(axis=1) == y_), abs=0)
    assert len(hist["train_acc"]) == len(hist["val_loss"]) == 2


def test_binary_accuracy_thresholds_logits_at_zero_and_targets_at_one_half():
    """Logits 0.3, -0.3, 2, -2 (one Linear layer, a learning rate too small to move them); soft targets
    0.6, 0.4, 0.4, 0.6 read as 1, 0, 0, 1: right, right, wrong, wrong."""
    params = {"W1": np.array([[1.0, 0.0]]), "b1": np.array([0.0])}
    x = np.array([[0.3, 0.0], [-0.3, 0.0], [2.0, 0.0], [-2.0, 0.0]])
    t = np.array([0.6, 0.4, 0.4, 0.6])
    _, hist = train(params, x, t, x, t, epochs=1, batch_size=4, lr=1e-12, rng=np.random.default_rng(0),
                    loss="binary_cross_entropy_with_logits")
    assert hist["train_acc"] == [0.5] and hist["val_acc"] == [0.5]


def test_weight_decay_is_the_gradient_of_an_l2_penalty(rng):
    """sgd_update with weight_decay = the plain step on the loss plus weight_decay / 2 ||p||^2; bad values raise."""
    p = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3)}
    g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
    v0 = {k: np.zeros_like(a) for k, a in p.items()}
    with_wd, _ = sgd_update(p, g, v0, lr=0.2, weight_decay=0.3)
    by_hand, _ = sgd_update(p, {k: g[k] + 0.3 * p[k] for k in p}, v0, lr=0.2)
    for k in p:
        np.testing.assert_allclose(with_wd[k], by_hand[k], rtol=1e-15, atol=0)
    for bad in (-0.1, "0.1", None):
        with pytest.raises(ValueError):
            sgd_update(p, g, v0, lr=0.2, weight_decay=bad)
