"""Tests of dlmath.models.architectures: the counts against the published figures, and against torch.nn
modules built independently from the same definitions (parameters by sum of numel, multiply-adds and
shapes by forward hooks on the meta device)."""
import pytest

from dlmath.models import architectures as A

# Published figures. LeNet-5: LeCun et al. (1998), section II.B (trainable parameters and connections per
# layer). torchvision's model cards: AlexNet 61,100,840, VGG-16 138,357,544, ResNet-18 11,689,512 parameters.
# Papers: VGG-16 about 15.5 G multiply-adds; ResNet-18 1.8e9 FLOPs (He et al. 2016, Table 1, counted as
# multiply-adds); MobileNet v1 1.0-224: 569 M mult-adds, 4.2 M parameters (Howard et al. 2017, its comparison tables).
LENET5_PUBLISHED = {"C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600), "S4": (32, 2_000),
                    "C5": (48_120, 48_120), "F6": (10_164, 10_164)}


def test_lenet5_layers_match_the_paper():
    rows = {r["name"]: r for r in A.layer_table(A.lenet5(), (1, 32, 32)) if r["name"]}
    for name, (params, connections) in LENET5_PUBLISHED.items():
        assert (rows[name]["params"], rows[name]["connections"]) == (params, connections), name
    assert rows["C1"]["output"] == (6, 28, 28) and rows["S2"]["output"] == (6, 14, 14)
    assert rows["C3"]["output"] == (16, 10, 10) and rows["S4"]["output"] == (16, 5, 5)
    assert rows["C5"]["output"] == (120, 1, 1) and rows["output"]["output"] == (10,)
    assert A.count_parameters(A.lenet5(), (1, 32, 32), trainable_only=True) == 60_000
    assert rows["output"]["trainable"] == 0 and rows["output"]["params"] == 840  # fixed RBF centres


def test_lenet5_c3_table():
    sizes = [len(t) for t in A.LENET5_C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert len(set(A.LENET5_C3_TABLE)) == 16 and all(len(set(t)) == len(t) for t in A.LENET5_C3_TABLE)
    # every S2 map feeds exactly 10 of the 16 C3 maps (each row of Table I has ten X)
    assert all(sum(i in t for t in A.LENET5_C3_TABLE) == 10 for i in range(6))


@pytest.mark.parametrize("name, params, macs, rel", [
    ("AlexNet (torchvision)", 61_100_840, None, 0),
    ("VGG-16", 138_357_544, 15.5e9, 0.005),
    ("ResNet-18", 11_689_512, 1.8e9, 0.01),
])
def test_published_exact_parameters(name, params, macs, rel):
    p, m, _ = A.summary(name)
    assert p == params
    if macs is not None:
        assert abs(m - macs) / macs < rel  # the published figure, rounded
        assert round(m / 1e9, 1) == round(macs / 1e9, 1)


def test_mobilenet_v1_matches_table():
    p, m, _ = A.summary("MobileNet v1 1.0-224")
    assert round(m / 1e6) == 569
    assert round(p / 1e6, 1) == 4.2


def test_alexnet_paper_version():
    p, m, _ = A.summary("AlexNet (paper, two GPUs)")
    assert round(p / 1e6) == 61 and 60e6 < p < 61e6 + 1  # "60 million parameters", the grouped network
    rows = {r["name"]: r for r in A.layer_table(A.alexnet("paper"), (3, 227, 227)) if r["name"]}
    assert rows["conv1"]["output"] == (96, 55, 55)
    assert rows["conv5"]["output"] == (256, 13, 13)
    assert rows["fc6"]["params"] == 256 * 6 * 6 * 4096 + 4096


def test_separable_ratio_in_mobilenet():
    """A depthwise-separable pair costs 1/C_out + 1/k^2 of the full convolution it replaces."""
    arch = A.mobilenet_v1()
    rows = A.layer_table(arch, (3, 224, 224))
    by_name = {r["name"]: (i, r) for i, r in enumerate(rows) if r["name"]}
    for b in range(1, 14):
        i_dw, dw = by_name[f"dw{b}"]
        _, pw = by_name[f"pw{b}"]
        c_in, c_out = rows[i_dw - 1]["output"][0], pw["output"][0]
        ho, wo = dw["output"][1:]
        full_macs = c_out * c_in * 9 * ho * wo
        assert (dw["macs"] + pw["macs"]) / full_macs == pytest.approx(1 / c_out + 1 / 9, rel=1e-12)
        assert (dw["params"] + pw["params"]) / (c_out * c_in * 9) == pytest.approx(1 / c_out + 1 / 9, rel=1e-12)


def test_output_size_and_errors():
    assert A.output_size(224, 7, 2, 3) == 112 and A.output_size(112, 3, 2, 1) == 56
    assert A.output_size(13, 3, 2, ceil_mode=True) == 6 and A.output_size(14, 3, 2, ceil_mode=True) == 7
    with pytest.raises(ValueError):
        A.output_size(2, 5)
    with pytest.raises(ValueError):
        A.layer_table([A.linear(3)], (1, 4, 4))
    with pytest.raises(ValueError):
        A.layer_table([A.conv(4, 3, groups=3)], (4, 8, 8))
    with pytest.raises(ValueError):
        A.layer_table([A.residual([A.conv(4, 3)])], (4, 8, 8))  # body 6x6, identity 8x8
    with pytest.raises(ValueError):
        A.layer_table([{"type": "unknown"}], (1, 2, 2))


# ------------------------------------------------------------------------------------------ torch.nn
def _torch_module(specs, c_in, nn):
    """An nn.Sequential from the specs, built on the meta device (no memory, shapes and counts only)."""
    mods = []
    for s in specs:
        t = s["type"]
        if t == "conv":
            mods.append(nn.Conv2d(c_in, s["out"], s["kernel"], stride=s["stride"], padding=s["padding"],
                                  groups=s["groups"], bias=s["bias"], device="meta"))
            c_in = s["out"]
        elif t == "bn":
            mods.append(nn.BatchNorm2d(c_in, device="meta"))
        elif t == "act":
            mods.append(nn.ReLU())
        elif t == "max_pool":
            mods.append(nn.MaxPool2d(s["kernel"], s["stride"], s["padding"], ceil_mode=s["ceil_mode"]))
        elif t == "adaptive_avg_pool":
            mods.append(nn.AdaptiveAvgPool2d(s["size"]))
        elif t == "flatten":
            mods.append(nn.Flatten())
        elif t == "linear":
            mods.append(nn.LazyLinear(s["out"], bias=s["bias"], device="meta"))
        elif t == "residual":
            body, c_out = _torch_module(s["body"], c_in, nn)
            short, _ = _torch_module(s["shortcut"], c_in, nn)
            mods.append(_Residual(body, short, nn))
            c_in = c_out
        else:
            raise AssertionError(t)
    return nn.Sequential(*mods), c_in


class _Residual:
    def __new__(cls, body, short, nn):
        class Residual(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.short = body, short

            def forward(self, x):
                return self.body(x) + self.short(x)
        return Residual()


def _torch_counts(name):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    build, shape = A.ARCHITECTURES[name]
    model, _ = _torch_module(build(), shape[0], nn)
    macs = []

    def hook(mod, inputs, out):
        if isinstance(mod, nn.Conv2d):
            macs.append(out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1])
        elif isinstance(mod, nn.Linear):
            macs.append(mod.in_features * mod.out_features)
    for m in model.modules():
        m.register_forward_hook(hook)
    out = model(torch.empty((1,) + shape, device="meta"))  # also materializes the lazy linear layers
    return sum(p.numel() for p in model.parameters()), sum(macs), tuple(out.shape)


@pytest.mark.parametrize("name", [n for n in A.ARCHITECTURES if n != "LeNet-5"])
def test_counts_against_torch_modules(name):
    params, macs, out_shape = _torch_counts(name)
    p, m, _ = A.summary(name)
    assert (p, m) == (params, macs)
    assert out_shape == (1, 1000)


def test_resnet18_block_structure_against_torch():
    torch = pytest.importorskip("torch")
    model, _ = _torch_module(A.resnet18(), 3, torch.nn)
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert (n_conv, n_bn) == (20, 20)  # 1 + 16 + 3 projections; "18" counts 17 convs and the fc layer


def test_lenet5_against_torch_module():
    """LeNet-5 in torch.nn, C3 as sixteen small convolutions over their input maps, S2/S4 as a coefficient and
    a bias per map, the RBF centres a buffer (fixed): trainable parameters 60,000."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Subsample(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.coef, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.s2 = nn.Conv2d(1, 6, 5), Subsample(6)
            self.c3 = nn.ModuleList(nn.Conv2d(len(t), 1, 5) for t in A.LENET5_C3_TABLE)
            self.s4, self.c5, self.f6 = Subsample(16), nn.Conv2d(16, 120, 5), nn.Linear(120, 84)
            self.register_buffer("centres", torch.zeros(10, 84))

    model = LeNet5()
    assert sum(p.numel() for p in model.parameters()) == A.count_parameters(A.lenet5(), (1, 32, 32),
                                                                             trainable_only=True) == 60_000
    assert sum(p.numel() for p in model.c3.parameters()) == 1516
