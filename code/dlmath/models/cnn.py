"""Convolutional networks built from the functional layers (chapter 15).

Three building blocks and one network, each a forward/backward pair written with the layers of
``dlmath.layers`` (conv2d, batch_norm, relu, max_pool2d, linear):

* ``conv_bn_relu_forward``: convolution without bias, batch normalization, optional ReLU, the unit of
  every modern CNN (a bias before batch normalization would be removed again by the mean, Ioffe & Szegedy 2015);
* ``residual_block_forward``: He et al.'s (2016) basic block, y = relu(F(x) + S(x)) with
  F = conv-BN-ReLU-conv-BN and S the identity (or a 1 x 1 conv-BN projection when the shape changes)
  (eq-cnn-residual); ``identity=False`` drops the shortcut (a "plain" block with the same layers);
* ``separable_block_forward``: MobileNet's (Howard et al. 2017) depthwise 3 x 3 conv-BN-ReLU followed by
  a pointwise 1 x 1 conv-BN-ReLU (eq-cnn-separable-ratio);
* the digits CNN: three conv-BN-ReLU stages (two followed by a 2 x 2 max pool) and a linear layer, for the
  8 x 8 digits, trained with Adam (``train_digits_cnn``).

Parameters and buffers are dicts named as the state_dict of the matching torch module (``"conv1.weight"``,
``"bn1.weight"``, ``"bn1.running_mean"``, ...), so that weights move between the two. A forward pass returns
``(out, cache, new_buffers)`` (the running statistics are returned, never written in place); a backward pass
returns ``(grad_x, grads)`` with ``grads`` keyed like the parameters.
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from dlmath.init import kaiming_normal, kaiming_uniform
from dlmath.layers.activations import relu_backward, relu_forward
from dlmath.layers.conv import conv2d_backward, conv2d_forward, max_pool2d_backward, max_pool2d_forward
from dlmath.layers.linear import linear_backward, linear_forward
from dlmath.layers.losses import cross_entropy_backward, cross_entropy_forward
from dlmath.layers.normalization import batch_norm_backward, batch_norm_forward
from dlmath.optim import adam_step

__all__ = [
    "conv_bn_relu_forward", "conv_bn_relu_backward", "init_residual_block", "residual_block_forward",
    "residual_block_backward", "init_separable_block", "separable_block_forward", "separable_block_backward",
    "DIGITS_CNN_STAGES", "init_digits_cnn", "digits_cnn_forward", "digits_cnn_backward", "digits_cnn_loss_and_grads",
    "num_parameters", "predict", "shift_images", "train_digits_cnn",
]


# ------------------------------------------------------------------------------------------ helpers
def _bn_params(c):
    return {"weight": np.ones(c), "bias": np.zeros(c)}


def _bn_buffers(c):
    return {"running_mean": np.zeros(c), "running_var": np.ones(c)}


def _sub(d, prefix):
    """The entries of d under ``prefix.``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in d.items() if k.startswith(prefix + ".")}


def _add(d, prefix, sub):
    d.update({f"{prefix}.{k}": v for k, v in sub.items()})


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


# ------------------------------------------------------------------------------------------ conv-BN-ReLU
def conv_bn_relu_forward(x, weight, bn_weight, bn_bias, running_mean, running_var, *, stride=1, padding=0,
                         groups=1, relu=True, training=True, momentum=0.1, eps=1e-5):
    """relu(BN(conv(x))): x (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW), BN parameters and
    statistics (C_out,). Returns ``(out, cache, new_running_mean, new_running_var)``."""
    z, c_conv = conv2d_forward(x, weight, None, stride=stride, padding=padding, groups=groups)
    a, c_bn, rm, rv = batch_norm_forward(z, running_mean, running_var, bn_weight, bn_bias, training=training,
                                         momentum=momentum, eps=eps)
    c_relu = None
    if relu:
        a, c_relu = relu_forward(a)
    return a, (c_conv, c_bn, c_relu), rm, rv


def conv_bn_relu_backward(grad_out, cache):
    """The three backward passes in reverse order: returns ``(grad_x, grad_weight, grad_bn_weight, grad_bn_bias)``."""
    c_conv, c_bn, c_relu = cache
    g = relu_backward(grad_out, c_relu) if c_relu is not None else grad_out
    g, d_gamma, d_beta = batch_norm_backward(g, c_bn)
    grad_x, grad_weight, _ = conv2d_backward(g, c_conv)
    return grad_x, grad_weight, d_gamma, d_beta


def _cbr_forward(x, params, buffers, prefix_conv, prefix_bn, training, new_buffers, **options):
    out, cache, rm, rv = conv_bn_relu_forward(
        x, params[f"{prefix_conv}.weight"], params[f"{prefix_bn}.weight"], params[f"{prefix_bn}.bias"],
        buffers[f"{prefix_bn}.running_mean"], buffers[f"{prefix_bn}.running_var"], training=training, **options)
    new_buffers[f"{prefix_bn}.running_mean"], new_buffers[f"{prefix_bn}.running_var"] = rm, rv
    return out, cache


def _cbr_backward(grad_out, cache, prefix_conv, prefix_bn, grads):
    grad_x, grads[f"{prefix_conv}.weight"], grads[f"{prefix_bn}.weight"], grads[f"{prefix_bn}.bias"] = \
        conv_bn_relu_backward(grad_out, cache)
    return grad_x


# ------------------------------------------------------------------------------------------ residual block
def init_residual_block(c_in, c_out, rng, *, stride=1):
    """Parameters and buffers of a basic block, torchvision's names; He-normal convolutions (fan_out, as
    torchvision), BN scale 1 and shift 0. A projection ``downsample`` when stride != 1 or c_in != c_out."""
    _check_rng(rng)
    conv = lambda shape: kaiming_normal(shape, mode="fan_out", nonlinearity="relu", rng=rng)  # noqa: E731
    params = {"conv1.weight": conv((c_out, c_in, 3, 3)), "conv2.weight": conv((c_out, c_out, 3, 3))}
    buffers = {}
    names = ["bn1", "bn2"]
    if stride != 1 or c_in != c_out:
        params["downsample.0.weight"] = conv((c_out, c_in, 1, 1))
        names.append("downsample.1")
    for name in names:
        _add(params, name, _bn_params(c_out))
        _add(buffers, name, _bn_buffers(c_out))
    return params, buffers


def residual_block_forward(x, params, buffers, *, stride=1, training=True, identity=True):
    """y = relu(F(x) + S(x)) (eq-cnn-residual), F(x) = BN(conv(relu(BN(conv(x))))), S the identity or the
    1 x 1 projection ``downsample`` (He et al. 2016). ``identity=False``: the plain block y = relu(F(x)).
    x (N, C_in, H, W) -> y (N, C_out, H', W'). Returns ``(y, cache, new_buffers)``."""
    new_buffers = dict(buffers)
    h, c1 = _cbr_forward(x, params, buffers, "conv1", "bn1", training, new_buffers, stride=stride, padding=1)
    f, c2 = _cbr_forward(h, params, buffers, "conv2", "bn2", training, new_buffers, padding=1, relu=False)
    cs = None
    if not identity:
        s = 0.0
    elif "downsample.0.weight" in params:
        s, cs = _cbr_forward(x, params, buffers, "downsample.0", "downsample.1", training, new_buffers,
                             stride=stride, relu=False)
    else:
        s = x
    y, c_out = relu_forward(f + s)
    return y, (c1, c2, cs, c_out, identity), new_buffers


def residual_block_backward(grad_y, cache):
    """dL/dx = dL/dF J_F + dL/dS J_S, the two paths added (eq-cnn-residual-grad). Returns ``(grad_x, grads)``."""
    c1, c2, cs, c_out, identity = cache
    grads = {}
    g = relu_backward(grad_y, c_out)  # the adjoint of F(x) + S(x), shared by both paths
    grad_x = _cbr_backward(_cbr_backward(g, c2, "conv2", "bn2", grads), c1, "conv1", "bn1", grads)
    if cs is not None:
        grad_x = grad_x + _cbr_backward(g, cs, "downsample.0", "downsample.1", grads)
    elif identity:
        grad_x = grad_x + g  # the identity path: the adjoint passes unchanged
    return grad_x, grads


# ------------------------------------------------------------------------------------------ separable block
def init_separable_block(c_in, c_out, rng, *, kernel_size=3):
    """Depthwise (c_in, 1, k, k) and pointwise (c_out, c_in, 1, 1) weights, He-normal (fan_out), BN 1 and 0."""
    _check_rng(rng)
    conv = lambda shape: kaiming_normal(shape, mode="fan_out", nonlinearity="relu", rng=rng)  # noqa: E731
    params = {"dw.weight": conv((c_in, 1, kernel_size, kernel_size)), "pw.weight": conv((c_out, c_in, 1, 1))}
    buffers = {}
    for name, c in (("bn1", c_in), ("bn2", c_out)):
        _add(params, name, _bn_params(c))
        _add(buffers, name, _bn_buffers(c))
    return params, buffers


def separable_block_forward(x, params, buffers, *, stride=1, training=True):
    """relu(BN(pw(relu(BN(dw(x)))))): dw a depthwise k x k conv (groups = C_in, padding k // 2), pw a
    1 x 1 conv (Howard et al. 2017). x (N, C_in, H, W) -> (N, C_out, H', W'). Returns ``(y, cache, new_buffers)``."""
    new_buffers = dict(buffers)
    w = params["dw.weight"]
    h, c1 = _cbr_forward(x, params, buffers, "dw", "bn1", training, new_buffers, stride=stride,
                         padding=w.shape[-1] // 2, groups=w.shape[0])
    y, c2 = _cbr_forward(h, params, buffers, "pw", "bn2", training, new_buffers)
    return y, (c1, c2), new_buffers


def separable_block_backward(grad_y, cache):
    """Backward through the pointwise then the depthwise unit. Returns ``(grad_x, grads)``."""
    c1, c2 = cache
    grads = {}
    grad_x = _cbr_backward(_cbr_backward(grad_y, c2, "pw", "bn2", grads), c1, "dw", "bn1", grads)
    return grad_x, grads


# ------------------------------------------------------------------------------------------ the digits CNN
# (name, output channels, 2 x 2 max pool after it): 1 x 8 x 8 -> C1 x 8 x 8 -> C2 x 4 x 4 -> C3 x 2 x 2 -> 10
DIGITS_CNN_STAGES = (("conv1", 16, False), ("conv2", 32, True), ("conv3", 32, True))


def init_digits_cnn(rng, *, stages=DIGITS_CNN_STAGES, n_classes=10):
    """Parameters and buffers of the digits CNN: per stage ``<name>.weight`` (3 x 3, no bias) and the batch
    norm ``<name>_bn.*``; the classifier ``fc.weight`` (n_classes, C * 2 * 2) and ``fc.bias``. He-normal
    convolutions; the linear layer as torch's default (uniform, bound 1 / sqrt(fan_in))."""
    _check_rng(rng)
    params, buffers, c_in, size = {}, {}, 1, 8
    for name, c, pool in stages:
        params[f"{name}.weight"] = kaiming_normal((c, c_in, 3, 3), mode="fan_out", nonlinearity="relu", rng=rng)
        _add(params, f"{name}_bn", _bn_params(c))
        _add(buffers, f"{name}_bn", _bn_buffers(c))
        c_in, size = c, size // 2 if pool else size
    fan_in = c_in * size * size
    params["fc.weight"] = kaiming_uniform((n_classes, fan_in), a=np.sqrt(5), rng=rng)
    params["fc.bias"] = rng.uniform(-1 / np.sqrt(fan_in), 1 / np.sqrt(fan_in), n_classes)
    return params, buffers


def digits_cnn_forward(params, buffers, x, *, training=True, stages=DIGITS_CNN_STAGES):
    """Logits (N, 10) of images x (N, 1, 8, 8) (or (N, 64), reshaped); returns ``(logits, cache, new_buffers)``.

    Each stage: conv 3 x 3 (padding 1) - BN - ReLU, then a 2 x 2 max pool where the stage has one; then
    flatten and a linear layer. ``stages`` must be those the parameters were made with."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x.reshape(-1, 1, 8, 8)
    new_buffers = dict(buffers)
    caches, h = [], x
    for name, _, pool in stages:
        h, c = _cbr_forward(h, params, buffers, name, f"{name}_bn", training, new_buffers, padding=1)
        cp = None
        if pool:
            h, cp = max_pool2d_forward(h, 2)
        caches.append((name, c, cp))
    shape = h.shape
    logits, c_fc = linear_forward(h.reshape(len(h), -1), params["fc.weight"], params["fc.bias"])
    return logits, (caches, shape, c_fc), new_buffers


def digits_cnn_backward(grad_logits, cache):
    """Gradients of every parameter given dL/d(logits) (N, 10): the stages' backward passes in reverse.
    Returns ``(grad_x, grads)``."""
    caches, shape, c_fc = cache
    grads = {}
    g, grads["fc.weight"], grads["fc.bias"] = linear_backward(grad_logits, c_fc)
    g = g.reshape(shape)
    for name, c, cp in reversed(caches):
        if cp is not None:
            g = max_pool2d_backward(g, cp)
        g = _cbr_backward(g, c, name, f"{name}_bn", grads)
    return g, grads


def digits_cnn_loss_and_grads(params, buffers, x, target, *, training=True, stages=DIGITS_CNN_STAGES):
    """Mean cross-entropy of the logits, its gradients and the new buffers: ``(loss, grads, new_buffers)``."""
    logits, cache, new_buffers = digits_cnn_forward(params, buffers, x, training=training, stages=stages)
    loss, c_loss = cross_entropy_forward(logits, target)
    _, grads = digits_cnn_backward(cross_entropy_backward(np.float64(1.0), c_loss), cache)
    return float(loss), grads, new_buffers


def num_parameters(params):
    return int(sum(np.size(v) for v in params.values()))


def predict(params, buffers, x, *, batch_size=512, stages=DIGITS_CNN_STAGES):
    """Predicted classes in evaluation mode (running statistics), in batches."""
    x = np.asarray(x)
    out = [digits_cnn_forward(params, buffers, x[i:i + batch_size], training=False, stages=stages)[0].argmax(axis=1)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def shift_images(x, rng, *, max_shift=1):
    """Each image (N, 1, H, W) moved by its own random (dy, dx) in [-max_shift, max_shift]^2, zeros shifted in.
    Vectorized: one padded copy, then one gather of the shifted windows."""
    n, c, h, w = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))
    dy, dx = rng.integers(-m, m + 1, n), rng.integers(-m, m + 1, n)
    rows = (np.arange(h)[None, :] + m - dy[:, None])[:, None, :, None]  # (N, 1, H, 1)
    cols = (np.arange(w)[None, :] + m - dx[:, None])[:, None, None, :]  # (N, 1, 1, W)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def train_digits_cnn(X_train, y_train, *, rng, epochs=20, batch_size=64, lr=3e-3, max_shift=1,
                     stages=DIGITS_CNN_STAGES, X_val=None, y_val=None):
    """Adam (torch's defaults but ``lr``) with a cosine learning-rate decay to 0 over the run, mini-batches of
    ``batch_size``, each batch shifted by up to ``max_shift`` pixels (0: no augmentation).
    Returns ``(params, buffers, history)``; history holds the per-epoch mean training loss, the validation
    accuracy (if X_val is given) and the training time in seconds."""
    _check_rng(rng)
    if not (isinstance(epochs, numbers.Integral) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    x = np.asarray(X_train, dtype=np.float64).reshape(-1, 1, 8, 8)
    y = np.asarray(y_train)
    params, buffers = init_digits_cnn(rng, stages=stages)
    state = {k: {} for k in params}
    history = {"train_loss": [], "val_acc": []}
    steps_per_epoch = -(-len(x) // batch_size)
    total, t = epochs * steps_per_epoch, 0
    start = time.perf_counter()
    for _ in range(epochs):
        order, losses = rng.permutation(len(x)), []
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:  # batch norm needs two values per channel
                continue
            xb = shift_images(x[idx], rng, max_shift=max_shift) if max_shift else x[idx]
            loss, grads, buffers = digits_cnn_loss_and_grads(params, buffers, xb, y[idx], stages=stages)
            step_lr = 0.5 * lr * (1 + np.cos(np.pi * t / total))
            for k in params:
                params[k], state[k] = adam_step(params[k], grads[k], state[k], lr=step_lr)
            losses.append(loss)
            t += 1
        history["train_loss"].append(float(np.mean(losses)))
        if X_val is not None:
            history["val_acc"].append(float(np.mean(predict(params, buffers, X_val, stages=stages) == np.asarray(y_val))))
    history["time"] = time.perf_counter() - start
    return params, buffers, history
