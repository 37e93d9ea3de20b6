"""Classic convolutional architectures as plain data, and their parameter and multiply-add counts (chapter 15).

An architecture is a list of layer specs, each a dict with a ``"type"`` and the layer's options, in the order
of an ``nn.Sequential``; a residual block is one spec holding two such lists (``"body"`` and ``"shortcut"``,
an empty shortcut being the identity). Nothing here runs a network: :func:`layer_table` propagates the
shape ``(C, H, W)`` through the specs with the output-size formula
H_out = floor((H + 2p - d (k - 1) - 1) / s) + 1 (eq-conv-output-size) and counts, per layer,

* parameters: a convolution C_out (C_in / groups) kH kW weights plus C_out biases (eq-cnn-conv-params); with
  LeNet-5's connection table, each output map counts the inputs it is connected to; a linear layer
  in * out + out; batch normalization 2 C (its scale and shift; the running statistics are buffers, not
  parameters, as in ``sum(p.numel() for p in model.parameters())``); LeNet-5's subsampling 2 C;
* multiply-adds (MACs): a convolution C_out (C_in / groups) kH kW H_out W_out (eq-cnn-conv-macs), a linear
  layer in * out; normalization, activations, pooling and additions are not counted, as in the papers'
  figures.

Definitions: LeNet-5 (LeCun et al. 1998), AlexNet as in torchvision and as in the paper's two-GPU network
(Krizhevsky et al. 2012), VGG-16 (configuration D, Simonyan & Zisserman 2015), ResNet-18 (He et al. 2016),
MobileNet v1 1.0-224 (Howard et al. 2017). This module imports only the standard library.
"""
from __future__ import annotations

__all__ = [
    "conv", "linear", "bn", "act", "max_pool", "avg_pool", "adaptive_avg_pool", "flatten", "subsample",
    "residual", "rbf", "output_size", "layer_table", "count_parameters", "count_macs", "summary",
    "lenet5", "LENET5_C3_TABLE", "alexnet", "vgg16", "resnet18", "mobilenet_v1", "ARCHITECTURES",
]


# ------------------------------------------------------------------------------------------ layer specs
def conv(out, kernel, *, stride=1, padding=0, groups=1, bias=True, table=None, name=""):
    """A 2-D convolution with ``out`` output channels (``table``: per output map, the input maps it sees)."""
    return {"type": "conv", "out": out, "kernel": kernel, "stride": stride, "padding": padding,
            "groups": groups, "bias": bias, "table": table, "name": name}


def linear(out, *, bias=True, name=""):
    return {"type": "linear", "out": out, "bias": bias, "name": name}


def bn(name=""):
    return {"type": "bn", "name": name}


def act(kind="relu", name=""):
    return {"type": "act", "kind": kind, "name": name}


def max_pool(kernel, *, stride=None, padding=0, ceil_mode=False, name=""):
    return {"type": "max_pool", "kernel": kernel, "stride": stride or kernel, "padding": padding,
            "ceil_mode": ceil_mode, "name": name}


def avg_pool(kernel, *, stride=None, padding=0, name=""):
    return {"type": "avg_pool", "kernel": kernel, "stride": stride or kernel, "padding": padding, "name": name}


def adaptive_avg_pool(size, name=""):
    return {"type": "adaptive_avg_pool", "size": size, "name": name}


def flatten(name=""):
    return {"type": "flatten", "name": name}


def subsample(kernel=2, name=""):
    """LeNet-5's subsampling: the sum of each k x k block times a trained coefficient, plus a trained bias."""
    return {"type": "subsample", "kernel": kernel, "name": name}


def residual(body, shortcut=(), name=""):
    """y = body(x) + shortcut(x); an empty shortcut is the identity (He et al. 2016)."""
    return {"type": "residual", "body": list(body), "shortcut": list(shortcut), "name": name}


def rbf(out, *, trainable=False, name=""):
    """LeNet-5's output: ``out`` Euclidean radial basis units with fixed (not trained) centres."""
    return {"type": "rbf", "out": out, "trainable": trainable, "name": name}


# ------------------------------------------------------------------------------------------ counting
def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """floor((H + 2p - d (k - 1) - 1) / s) + 1, or ceil with ceil_mode (eq-conv-output-size)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"a window of {kernel} with stride {stride}, padding {padding} does not fit an input of "
                         f"size {size}")
    return out


def _layer(spec, shape):
    """(output shape, parameters, trainable parameters, MACs, connections) of one spec on input shape."""
    t = spec["type"]
    if t == "conv":
        c, h, w = shape
        k, s, p, g = spec["kernel"], spec["stride"], spec["padding"], spec["groups"]
        if c % g or spec["out"] % g:
            raise ValueError(f"conv: groups {g} must divide C_in {c} and C_out {spec['out']}")
        ho, wo = output_size(h, k, s, p), output_size(w, k, s, p)
        if spec["table"] is not None:  # LeNet-5's C3: output map j sees the input maps table[j]
            if len(spec["table"]) != spec["out"]:
                raise ValueError(f"conv: the table must list {spec['out']} output maps, got {len(spec['table'])}")
            weights = sum(len(ins) for ins in spec["table"]) * k * k
        else:
            weights = spec["out"] * (c // g) * k * k  # eq-cnn-conv-params
        params = weights + (spec["out"] if spec["bias"] else 0)
        return (spec["out"], ho, wo), params, params, weights * ho * wo, params * ho * wo  # eq-cnn-conv-macs
    if t == "linear":
        if len(shape) != 1:
            raise ValueError(f"linear needs a flat input, got shape {shape}: add flatten()")
        params = shape[0] * spec["out"] + (spec["out"] if spec["bias"] else 0)
        return (spec["out"],), params, params, shape[0] * spec["out"], params
    if t == "bn":
        return shape, 2 * shape[0], 2 * shape[0], 0, 0
    if t == "act":
        return shape, 0, 0, 0, 0
    if t in ("max_pool", "avg_pool", "subsample"):
        c, h, w = shape
        k = spec["kernel"]
        s, p = spec.get("stride", k), spec.get("padding", 0)
        ho = output_size(h, k, s, p, ceil_mode=spec.get("ceil_mode", False))
        wo = output_size(w, k, s, p, ceil_mode=spec.get("ceil_mode", False))
        if t == "subsample":  # k*k inputs and a bias per output unit; a coefficient and a bias per map
            return (c, ho, wo), 2 * c, 2 * c, 0, c * ho * wo * (k * k + 1)
        return (c, ho, wo), 0, 0, 0, 0
    if t == "adaptive_avg_pool":
        return (shape[0],) + tuple(spec["size"]), 0, 0, 0, 0
    if t == "flatten":
        n = 1
        for d in shape:
            n *= d
        return (n,), 0, 0, 0, 0
    if t == "rbf":  # out centres of the input's length; fixed by hand in LeNet-5
        params = shape[0] * spec["out"]
        return (spec["out"],), params, params if spec["trainable"] else 0, shape[0] * spec["out"], params
    if t == "residual":
        body, shortcut = _propagate(spec["body"], shape), _propagate(spec["shortcut"], shape)
        out_b = body[-1][1] if body else shape
        out_s = shortcut[-1][1] if shortcut else shape
        if out_b != out_s:
            raise ValueError(f"residual: the body gives {out_b}, the shortcut {out_s}")
        rows = body + shortcut
        return (out_b,) + tuple(sum(r[i] for r in rows) for i in (2, 3, 4, 5))
    raise ValueError(f"unknown layer type {t!r}")


def _propagate(specs, shape):
    rows = []
    for spec in specs:
        out, params, trainable, macs, connections = _layer(spec, shape)
        rows.append((spec, out, params, trainable, macs, connections))
        shape = out
    return rows


def layer_table(arch, input_shape):
    """One row per top-level spec: dicts with name, type, output shape, parameters, trainable, MACs,
    connections, for an input of shape (C, H, W)."""
    return [{"name": spec.get("name", ""), "type": spec["type"], "output": out, "params": params,
             "trainable": trainable, "macs": macs, "connections": connections}
            for spec, out, params, trainable, macs, connections in _propagate(arch, tuple(input_shape))]


def count_parameters(arch, input_shape, *, trainable_only=False):
    """The number of parameters (or of trainable parameters) of the architecture on this input."""
    key = "trainable" if trainable_only else "params"
    return sum(row[key] for row in layer_table(arch, input_shape))


def count_macs(arch, input_shape):
    """Multiply-adds of one forward pass of one example (convolutions and linear layers)."""
    return sum(row["macs"] for row in layer_table(arch, input_shape))


def summary(name):
    """``(parameters, MACs, input shape)`` of one of ``ARCHITECTURES``."""
    build, shape = ARCHITECTURES[name]
    arch = build()
    return count_parameters(arch, shape), count_macs(arch, shape), shape


# ------------------------------------------------------------------------------------------ LeNet-5
# LeCun et al. (1998), Table I: X marks which S2 maps (columns 0-5) each C3 map (0-15) is connected to.
LENET5_C3_TABLE = [
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
]


def lenet5():
    """LeNet-5 as published, for a 1 x 32 x 32 input: C1, S2, C3 (partial table), S4, C5, F6, RBF output.
    The squashing function is the scaled tanh A tanh(S a), A = 1.7159, S = 2/3."""
    return [conv(6, 5, name="C1"), act("scaled_tanh"), subsample(2, name="S2"), act("scaled_tanh"),
            conv(16, 5, table=LENET5_C3_TABLE, name="C3"), act("scaled_tanh"), subsample(2, name="S4"),
            act("scaled_tanh"), conv(120, 5, name="C5"), act("scaled_tanh"), flatten(),
            linear(84, name="F6"), act("scaled_tanh"), rbf(10, name="output")]


# ------------------------------------------------------------------------------------------ AlexNet
def alexnet(version="torchvision"):
    """AlexNet for 3 x 224 x 224. ``"torchvision"``: the single-tower torchvision model (64, 192, 384, 256, 256
    channels, conv1 padding 2, adaptive pooling to 6 x 6). ``"paper"``: the two-GPU network of Krizhevsky et al.
    (2012), 96, 256, 384, 384, 256 kernels, conv2, conv4, conv5 split in two groups (each half sees only its
    GPU's maps), on a 227-pixel input so that conv1 gives 55 x 55."""
    if version == "torchvision":
        features = [conv(64, 11, stride=4, padding=2, name="conv1"), act(), max_pool(3, stride=2),
                    conv(192, 5, padding=2, name="conv2"), act(), max_pool(3, stride=2),
                    conv(384, 3, padding=1, name="conv3"), act(), conv(256, 3, padding=1, name="conv4"), act(),
                    conv(256, 3, padding=1, name="conv5"), act(), max_pool(3, stride=2), adaptive_avg_pool((6, 6))]
    elif version == "paper":
        features = [conv(96, 11, stride=4, name="conv1"), act(), max_pool(3, stride=2),
                    conv(256, 5, padding=2, groups=2, name="conv2"), act(), max_pool(3, stride=2),
                    conv(384, 3, padding=1, name="conv3"), act(), conv(384, 3, padding=1, groups=2, name="conv4"),
                    act(), conv(256, 3, padding=1, groups=2, name="conv5"), act(), max_pool(3, stride=2)]
    else:
        raise ValueError(f"version must be 'torchvision' or 'paper', got {version!r}")
    return features + [flatten(), linear(4096, name="fc6"), act(), linear(4096, name="fc7"), act(),
                       linear(1000, name="fc8")]


# ------------------------------------------------------------------------------------------ VGG-16
def vgg16():
    """VGG-16 (configuration D of Simonyan & Zisserman 2015) for 3 x 224 x 224: thirteen 3 x 3 convolutions
    with padding 1 in five stages of 64, 128, 256, 512, 512 channels, each stage ended by a 2 x 2 max pool;
    three fully connected layers (as torchvision, with adaptive pooling to 7 x 7 before them)."""
    layers, c_stage = [], ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
    for s, (c, n) in enumerate(c_stage, start=1):
        for i in range(1, n + 1):
            layers += [conv(c, 3, padding=1, name=f"conv{s}_{i}"), act()]
        layers.append(max_pool(2))
    return layers + [adaptive_avg_pool((7, 7)), flatten(), linear(4096, name="fc6"), act(),
                     linear(4096, name="fc7"), act(), linear(1000, name="fc8")]


# ------------------------------------------------------------------------------------------ ResNet-18
def _basic_block(c_out, stride, c_in, name):
    """He et al.'s basic block: two 3 x 3 conv-BN, ReLU between; a 1 x 1 conv-BN projection when the
    shape changes. The ReLU after the addition is a separate spec."""
    body = [conv(c_out, 3, stride=stride, padding=1, bias=False), bn(), act(),
            conv(c_out, 3, padding=1, bias=False), bn()]
    shortcut = [conv(c_out, 1, stride=stride, bias=False), bn()] if (stride != 1 or c_in != c_out) else []
    return [residual(body, shortcut, name=name), act()]


def resnet18():
    """ResNet-18 (He et al. 2016, Table 1) for 3 x 224 x 224, as torchvision builds it."""
    layers = [conv(64, 7, stride=2, padding=3, bias=False, name="conv1"), bn(), act(),
              max_pool(3, stride=2, padding=1)]
    c_in = 64
    for stage, c in enumerate((64, 128, 256, 512), start=2):
        for b in range(2):
            stride = 2 if (b == 0 and stage > 2) else 1
            layers += _basic_block(c, stride, c_in, f"conv{stage}_{b + 1}")
            c_in = c
    return layers + [adaptive_avg_pool((1, 1)), flatten(), linear(1000, name="fc")]


# ------------------------------------------------------------------------------------------ MobileNet v1
MOBILENET_V1_BODY = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                     (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet_v1(width=1.0):
    """MobileNet v1 (Howard et al. 2017, Table 1) for 3 x 224 x 224: a 3 x 3 conv of stride 2, then thirteen
    depthwise-separable blocks (3 x 3 depthwise conv-BN-ReLU, 1 x 1 pointwise conv-BN-ReLU), average
    pooling and a 1000-way linear layer. ``width`` is the width multiplier alpha."""
    ch = lambda c: int(c * width)  # noqa: E731
    layers = [conv(ch(32), 3, stride=2, padding=1, bias=False, name="conv1"), bn(), act()]
    c_in = ch(32)
    for i, (c, s) in enumerate(MOBILENET_V1_BODY, start=1):
        layers += [conv(c_in, 3, stride=s, padding=1, groups=c_in, bias=False, name=f"dw{i}"), bn(), act(),
                   conv(ch(c), 1, bias=False, name=f"pw{i}"), bn(), act()]
        c_in = ch(c)
    return layers + [adaptive_avg_pool((1, 1)), flatten(), linear(1000, name="fc")]


# name -> (builder, input shape)
ARCHITECTURES = {
    "LeNet-5": (lenet5, (1, 32, 32)),
    "AlexNet (torchvision)": (lambda: alexnet("torchvision"), (3, 224, 224)),
    "AlexNet (paper, two GPUs)": (lambda: alexnet("paper"), (3, 227, 227)),
    "VGG-16": (vgg16, (3, 224, 224)),
    "ResNet-18": (resnet18, (3, 224, 224)),
    "MobileNet v1 1.0-224": (mobilenet_v1, (3, 224, 224)),
}
