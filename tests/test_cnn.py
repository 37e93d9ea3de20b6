"""Tests of dlmath.models.cnn: central-difference gradient checks of the conv-BN-ReLU unit, the residual and
separable blocks and the digits CNN (float64, random upstream gradients, random BN scales and shifts);
PyTorch as the oracle for a residual block (identity and projection) and the digits CNN, forward and
backward with copied weights, running statistics included; shifts; a short training run."""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models import cnn

TOL = 1e-7  # relative error of the gradient checks (inputs drawn away from the ReLU kinks)


def _perturb(params, rng):
    """Random BN scales and shifts (not 1 and 0), so that every term of the backward pass matters."""
    out = dict(params)
    for k, v in params.items():
        if "bn" in k or k.startswith("downsample.1"):
            out[k] = v + 0.3 * rng.standard_normal(v.shape) + (0.2 if k.endswith("weight") else 0.1)
    return out


def _check_params(forward, backward, params, x, rng, tol=TOL):
    """Every parameter's and the input's gradient of L = sum(g * forward(params, x)) against central
    differences; returns the largest relative error."""
    out, cache = forward(params, x)
    g = rng.standard_normal(out.shape)
    grad_x, grads = backward(g, cache)
    assert set(grads) == set(params)
    errors = {}
    num_x = numerical_gradient(lambda xx: np.sum(g * forward(params, xx)[0]), x.copy())
    errors["x"] = relative_error(grad_x, num_x)
    for k, p in params.items():
        num = numerical_gradient(lambda pk, k=k: np.sum(g * forward({**params, k: pk}, x)[0]), p.copy())
        errors[k] = relative_error(grads[k], num)
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, (worst, errors[worst])
    return errors


@pytest.mark.parametrize("groups, relu", [(1, True), (1, False), (3, True)])
def test_conv_bn_relu_gradcheck(rng, groups, relu):
    x = rng.standard_normal((4, 3, 5, 5))
    w = rng.standard_normal((6, 3 // groups, 3, 3))
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)

    def fwd(params, xx):
        out, cache, _, _ = cnn.conv_bn_relu_forward(xx, params["w"], params["g"], params["b"], None, None,
                                                    padding=1, groups=groups, relu=relu, stride=2)
        return out, cache

    def bwd(grad, cache):
        gx, gw, gg, gb = cnn.conv_bn_relu_backward(grad, cache)
        return gx, {"w": gw, "g": gg, "b": gb}
    _check_params(fwd, bwd, {"w": w, "g": gamma, "b": beta}, x, rng)


@pytest.mark.parametrize("c_in, c_out, stride, identity", [(4, 4, 1, True), (3, 5, 2, True), (4, 4, 1, False)])
def test_residual_block_gradcheck(rng, c_in, c_out, stride, identity):
    params, buffers = cnn.init_residual_block(c_in, c_out, rng, stride=stride)
    params = _perturb(params, rng)
    x = rng.standard_normal((3, c_in, 6, 6))

    def fwd(p, xx):
        y, cache, _ = cnn.residual_block_forward(xx, p, buffers, stride=stride, identity=identity)
        return y, cache
    _check_params(fwd, cnn.residual_block_backward, params, x, rng)


def test_residual_identity_path_adds_the_upstream_gradient(rng):
    """eq-cnn-residual-grad: dL/dx of the residual block = dL/dx of the plain block + the adjoint of the sum
    (before the final ReLU, the identity path passes it unchanged)."""
    params, buffers = cnn.init_residual_block(4, 4, rng)
    x = rng.standard_normal((3, 4, 5, 5))
    g = rng.standard_normal((3, 4, 5, 5))
    y, cache, _ = cnn.residual_block_forward(x, params, buffers)
    gx_res, _ = cnn.residual_block_backward(g, cache)
    # the plain block's backward with the residual block's final-ReLU mask: drop the identity's term
    c1, c2, cs, c_out, _ = cache
    gx_plain, _ = cnn.residual_block_backward(g, (c1, c2, cs, c_out, False))
    assert np.allclose(gx_res - gx_plain, g * (y > 0), rtol=0, atol=1e-13)


@pytest.mark.parametrize("c_in, c_out, stride", [(3, 5, 1), (4, 2, 2)])
def test_separable_block_gradcheck(rng, c_in, c_out, stride):
    params, buffers = cnn.init_separable_block(c_in, c_out, rng)
    params = _perturb(params, rng)
    x = rng.standard_normal((3, c_in, 6, 6))

    def fwd(p, xx):
        y, cache, _ = cnn.separable_block_forward(xx, p, buffers, stride=stride)
        return y, cache
    _check_params(fwd, cnn.separable_block_backward, params, x, rng)


def test_digits_cnn_gradcheck(rng):
    stages = (("conv1", 3, False), ("conv2", 4, True), ("conv3", 3, True))
    params, buffers = cnn.init_digits_cnn(rng, stages=stages)
    params = _perturb(params, rng)
    params["fc.bias"] = params["fc.bias"] + 0.2
    x = rng.uniform(0, 1, (5, 1, 8, 8))

    def fwd(p, xx):
        logits, cache, _ = cnn.digits_cnn_forward(p, buffers, xx, stages=stages)
        return logits, cache
    _check_params(fwd, cnn.digits_cnn_backward, params, x, rng)


def test_loss_and_grads_is_the_cross_entropy_gradient(rng):
    stages = (("conv1", 2, False), ("conv2", 3, True), ("conv3", 2, True))
    params, buffers = cnn.init_digits_cnn(rng, stages=stages)
    x, y = rng.uniform(0, 1, (6, 64)), rng.integers(0, 10, 6)
    loss, grads, _ = cnn.digits_cnn_loss_and_grads(params, buffers, x, y, stages=stages)
    f = lambda w: cnn.digits_cnn_loss_and_grads({**params, "fc.weight": w}, buffers, x, y, stages=stages)[0]  # noqa: E731
    assert relative_error(grads["fc.weight"], numerical_gradient(f, params["fc.weight"].copy())) < 1e-7


# ------------------------------------------------------------------------------------------ torch oracle
def _torch_block(torch, params, c_in, c_out, stride):
    nn = torch.nn

    class BasicBlock(nn.Module):  # torchvision's BasicBlock, written out
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.downsample = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                               if "downsample.0.weight" in params else None)

        def forward(self, x):
            f = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(f + (x if self.downsample is None else self.downsample(x)))
    return BasicBlock().double()


@pytest.mark.parametrize("c_in, c_out, stride", [(4, 4, 1), (3, 6, 2)])
def test_residual_block_against_torch(rng, c_in, c_out, stride):
    torch = pytest.importorskip("torch")
    params, buffers = cnn.init_residual_block(c_in, c_out, rng, stride=stride)
    params = _perturb(params, rng)
    block = _torch_block(torch, params, c_in, c_out, stride)
    block.load_state_dict({k: torch.from_numpy(v) for k, v in {**params, **buffers}.items()}, strict=False)
    x = rng.standard_normal((4, c_in, 7, 7))
    g = rng.standard_normal((4, c_out) + ((7, 7) if stride == 1 else (4, 4)))
    xt = torch.tensor(x, requires_grad=True)
    yt = block(xt)
    yt.backward(torch.from_numpy(g))
    y, cache, new_buffers = cnn.residual_block_forward(x, params, buffers, stride=stride)
    gx, grads = cnn.residual_block_backward(g, cache)
    assert np.max(np.abs(y - yt.detach().numpy())) < 1e-10
    assert np.max(np.abs(gx - xt.grad.numpy())) < 1e-10
    named = dict(block.named_parameters())
    for k in params:
        assert np.max(np.abs(grads[k] - named[k].grad.numpy())) < 1e-10, k
    state = block.state_dict()
    for k, v in new_buffers.items():
        assert np.max(np.abs(v - state[k].numpy())) < 1e-12, k
    block.eval()
    y_eval, _, _ = cnn.residual_block_forward(x, params, new_buffers, stride=stride, training=False)
    assert np.max(np.abs(y_eval - block(torch.from_numpy(x)).detach().numpy())) < 1e-10


def _torch_digits(torch, stages):
    nn = torch.nn
    layers, c_in = [], 1
    names = []
    for name, c, pool in stages:
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        names += [f"{name}.weight", f"{name}_bn"]
        if pool:
            layers.append(nn.MaxPool2d(2))
        c_in = c
    size = 8 // 2 ** sum(p for _, _, p in stages)
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, 10)]
    return nn.Sequential(*layers).double()


def _state_dict_map(model, stages, torch):
    """Our names -> the Sequential's parameters and buffers."""
    mapping, i = {}, 0
    mods = list(model)
    for name, _, pool in stages:
        conv, bn = mods[i], mods[i + 1]
        mapping[f"{name}.weight"] = conv.weight
        for k in ("weight", "bias", "running_mean", "running_var"):
            mapping[f"{name}_bn.{k}"] = getattr(bn, k)
        i += 3 + int(pool)
    fc = mods[-1]
    mapping["fc.weight"], mapping["fc.bias"] = fc.weight, fc.bias
    return mapping


def test_digits_cnn_against_torch(rng):
    torch = pytest.importorskip("torch")
    stages = cnn.DIGITS_CNN_STAGES
    params, buffers = cnn.init_digits_cnn(rng)
    params = _perturb(params, rng)
    model = _torch_digits(torch, stages)
    mapping = _state_dict_map(model, stages, torch)
    with torch.no_grad():
        for k, v in {**params, **buffers}.items():
            mapping[k].copy_(torch.from_numpy(v))
    x, y = rng.uniform(0, 1, (16, 1, 8, 8)), rng.integers(0, 10, 16)
    xt = torch.tensor(x, requires_grad=True)
    logits_t = model(xt)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()
    loss, grads, new_buffers = cnn.digits_cnn_loss_and_grads(params, buffers, x, y)
    logits, cache, _ = cnn.digits_cnn_forward(params, buffers, x)
    assert np.max(np.abs(logits - logits_t.detach().numpy())) < 1e-10
    assert abs(loss - loss_t.item()) < 1e-12
    for k in params:
        assert np.max(np.abs(grads[k] - mapping[k].grad.numpy())) < 1e-10, k
    for k in buffers:
        assert np.max(np.abs(new_buffers[k] - mapping[k].detach().numpy())) < 1e-12, k
    # evaluation mode with the updated statistics
    model.eval()
    logits_eval, _, _ = cnn.digits_cnn_forward(params, new_buffers, x, training=False)
    assert np.max(np.abs(logits_eval - model(torch.from_numpy(x)).detach().numpy())) < 1e-10


# ------------------------------------------------------------------------------------------ the rest
def test_shift_images(rng):
    x = rng.uniform(0, 1, (50, 1, 8, 8))
    y = cnn.shift_images(x, rng, max_shift=1)
    assert y.shape == x.shape
    for n in range(50):  # each image is its original moved by one (dy, dx) in {-1, 0, 1}^2, zeros shifted in
        found = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                z = np.zeros((1, 10, 10))
                z[:, 1 + dy:9 + dy, 1 + dx:9 + dx] = x[n]
                found |= np.array_equal(z[:, 1:9, 1:9], y[n])
        assert found
    assert cnn.shift_images(x, rng, max_shift=0) is not x and np.array_equal(cnn.shift_images(x, rng, max_shift=0), x)


def test_forward_does_not_modify_inputs(rng):
    params, buffers = cnn.init_residual_block(3, 3, rng)
    copies = {k: v.copy() for k, v in {**params, **buffers}.items()}
    x = rng.standard_normal((2, 3, 4, 4))
    x0 = x.copy()
    cnn.residual_block_forward(x, params, buffers)
    assert np.array_equal(x, x0)
    assert all(np.array_equal(copies[k], v) for k, v in {**params, **buffers}.items())


def test_short_training_learns(rng):
    from dlmath.data import load_digits_split
    X_tr, y_tr, _, _, X_te, y_te = load_digits_split(seed=0)
    stages = (("conv1", 8, False), ("conv2", 16, True), ("conv3", 16, True))
    params, buffers, hist = cnn.train_digits_cnn(X_tr[:400], y_tr[:400], rng=rng, epochs=8, stages=stages,
                                                 max_shift=0)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert np.mean(cnn.predict(params, buffers, X_te, stages=stages) == y_te) > 0.8


def test_bad_input(rng):
    with pytest.raises(ValueError):
        cnn.init_residual_block(3, 3, "not a generator")
    with pytest.raises(ValueError):
        cnn.train_digits_cnn(np.zeros((4, 64)), np.zeros(4, int), rng=rng, epochs=0)
    params, buffers = cnn.init_residual_block(3, 3, rng)
    with pytest.raises(ValueError):
        cnn.residual_block_forward(np.zeros((2, 4, 5, 5)), params, buffers)  # 4 channels for a 3-channel block
