"""Tests of dlmath.autograd.tensor: Tensor (reverse mode over float64 arrays) and unbroadcast.

Every operation, with broadcasting shapes, against central differences and PyTorch float64; seeded
random expression graphs against torch autograd; properties of unbroadcast; accumulation; the
ValueError paths; inputs never mutated.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlmath.autograd.tensor import Tensor, unbroadcast
from dlmath.gradcheck import numerical_gradient, relative_error

# name -> (function of one or two tensors, input shapes, how to draw inputs)
OPS = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "add-col": (lambda a, b: a + b, [(3, 1), (1, 4)]),
    "sub": (lambda a, b: a - b, [(2, 3, 4), (3, 1)]),
    "mul": (lambda a, b: a * b, [(3, 4), (1, 4)]),
    "mul-scalar-shape": (lambda a, b: a * b, [(2, 3), ()]),
    "div": (lambda a, b: a / b, [(3, 4), (3, 1)]),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    "matmul-vec-right": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "matmul-vec-left": (lambda a, b: a @ b, [(4,), (4, 2)]),
    "matmul-dot": (lambda a, b: a @ b, [(4,), (4,)]),
    "matmul-batch": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "matmul-batch-bcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    "pow2": (lambda a: a ** 2, [(3, 4)]),
    "pow3": (lambda a: a ** 3, [(3, 4)]),
    "pow-frac": (lambda a: a ** 1.5, [(3, 4)]),
    "neg": (lambda a: -a, [(3, 4)]),
    "sum-all": (lambda a: a.sum(), [(3, 4)]),
    "sum-axis0": (lambda a: a.sum(0), [(3, 4)]),
    "sum-axis-keep": (lambda a: a.sum(dim=1, keepdim=True), [(3, 4)]),
    "sum-axes": (lambda a: a.sum(dim=(0, 2)), [(2, 3, 4)]),
    "mean-all": (lambda a: a.mean(), [(3, 4)]),
    "mean-axis": (lambda a: a.mean(dim=-1), [(2, 3, 4)]),
    "mean-axis-keep": (lambda a: a.mean(dim=(0, 2), keepdim=True), [(2, 3, 4)]),
    "exp": (lambda a: a.exp(), [(3, 4)]),
    "log": (lambda a: a.log(), [(3, 4)]),
    "tanh": (lambda a: a.tanh(), [(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), [(3, 4)]),
    "relu": (lambda a: a.relu(), [(3, 4)]),
    "reshape": (lambda a: a.reshape(4, 3), [(3, 4)]),
    "reshape-tuple": (lambda a: a.reshape((2, 6)), [(3, 4)]),
    "T": (lambda a: a.T, [(3, 4)]),
    "permute": (lambda a: a.permute(1, 2, 0), [(2, 3, 4)]),
    "transpose-swap": (lambda a: a.transpose(0, 2), [(2, 3, 4)]),
    "max-all": (lambda a: a.max(), [(3, 4)]),
    "amax-all": (lambda a: a.amax(), [(3, 4)]),
    "amax-axis": (lambda a: a.amax(1), [(3, 4)]),
    "amax-axes-keep": (lambda a: a.amax(dim=(0, 2), keepdim=True), [(2, 3, 4)]),
    "logsumexp": (lambda a: a.logsumexp(dim=-1), [(3, 4)]),
    "logsumexp-keep": (lambda a: a.logsumexp(dim=0, keepdim=True), [(3, 4)]),
    "radd-array": (lambda a: np.linspace(-1, 1, 4) + a, [(3, 4)]),
    "rsub": (lambda a: 2.0 - a, [(3, 4)]),
    "rmul": (lambda a: 2.0 * a, [(3, 4)]),
    "rdiv": (lambda a: 2.0 / a, [(3, 4)]),
    "pow0": (lambda a: a ** 0, [(3, 4)]),
    "rmatmul-array": (lambda a: np.arange(12.0).reshape(3, 4) / 7 @ a, [(4, 4)]),
    "rmatmul-list": (lambda a: [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]] @ a, [(3, 3)]),
}


def _inputs(name, rng):
    shapes = OPS[name][1]
    if name in ("log", "pow-frac"):
        return [rng.uniform(0.5, 2.0, size=s) for s in shapes]
    if name in ("div", "rdiv"):   # |x| in [0.5, 2], either sign
        return [rng.uniform(0.5, 2.0, size=s) * rng.choice([-1.0, 1.0], size=s) for s in shapes]
    xs = [rng.standard_normal(s) for s in shapes]
    if name == "relu":
        xs = [x + 0.2 * np.sign(x) for x in xs]  # away from the kink
    return xs


def _backward(fn, arrays, seed):
    ts = [Tensor(a) for a in arrays]
    out = fn(*ts)
    out.backward(seed)
    return out, ts


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradient_matches_central_difference(name, rng):
    fn, _ = OPS[name]
    xs = _inputs(name, rng)
    out = fn(*[Tensor(x) for x in xs])
    seed = rng.standard_normal(out.shape) + 0.3  # random upstream gradient, never all ones
    _, ts = _backward(fn, xs, seed)
    for i, x in enumerate(xs):
        def scalar(xi, i=i):
            args = [Tensor(a) for a in xs]
            args[i] = Tensor(xi)
            return np.sum(seed * fn(*args).data)
        num = numerical_gradient(scalar, x.copy())
        assert ts[i].grad.shape == x.shape
        tol = 1e-5 if name.startswith(("relu", "max", "amax")) else 1e-7
        assert relative_error(ts[i].grad, num) < tol, (name, i)


def _torch_fn(name, torch):
    """The same operation written with torch's own functions (checks semantics, not just our lambdas)."""
    special = {
        "sum-axis0": lambda a: a.sum(dim=0),
        "sum-axis-keep": lambda a: a.sum(dim=1, keepdim=True),
        "sum-axes": lambda a: a.sum(dim=(0, 2)),
        "mean-axis": lambda a: a.mean(dim=-1),
        "mean-axis-keep": lambda a: a.mean(dim=(0, 2), keepdim=True),
        "permute": lambda a: a.permute(1, 2, 0),
        "transpose-swap": lambda a: a.transpose(0, 2),
        "max-all": lambda a: a.max(),
        "amax-all": lambda a: a.amax(),
        "amax-axis": lambda a: a.amax(dim=1),
        "amax-axes-keep": lambda a: a.amax(dim=(0, 2), keepdim=True),
        "rmatmul-array": lambda a: torch.tensor(np.arange(12.0).reshape(3, 4) / 7) @ a,
        "rmatmul-list": lambda a: torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.float64) @ a,
        "logsumexp": lambda a: torch.logsumexp(a, dim=-1),
        "logsumexp-keep": lambda a: torch.logsumexp(a, dim=0, keepdim=True),
        "radd-array": lambda a: torch.linspace(-1, 1, 4, dtype=torch.float64) + a,
    }
    return special.get(name, OPS[name][0])


@pytest.mark.parametrize("name", sorted(OPS))
def test_against_torch(name, rng):
    torch = pytest.importorskip("torch")
    fn, _ = OPS[name]
    xs = _inputs(name, rng)
    out = fn(*[Tensor(x) for x in xs])
    seed = rng.standard_normal(out.shape)
    out, ts = _backward(fn, xs, seed)
    tts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tout = _torch_fn(name, torch)(*tts)
    tout.backward(torch.tensor(seed))
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    for t, tt in zip(ts, tts):
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_random_expression_graphs_against_torch(rng):
    """Seeded random graphs with broadcasting and reused nodes, compared with torch autograd."""
    torch = pytest.importorskip("torch")
    shapes = [(3, 4), (4,), (3, 1), (1, 4), ()]
    binary = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b]
    unary = [lambda a: a.tanh(), lambda a: a.sigmoid(), lambda a: (a * 0.3).exp(), lambda a: a ** 2,
             lambda a: -a, lambda a: (a * a + 1.0).log()]
    for trial in range(25):
        xs = [rng.standard_normal(s) for s in shapes]
        pool = [[Tensor(x) for x in xs], [torch.tensor(x, requires_grad=True) for x in xs]]
        leaves = [list(pool[0]), list(pool[1])]
        for _ in range(12):
            if rng.random() < 0.5:
                i, j = rng.integers(len(pool[0]), size=2)
                f = binary[rng.integers(len(binary))]
                for p in pool:
                    p.append(f(p[i], p[j]))
            else:
                i = rng.integers(len(pool[0]))
                f = unary[rng.integers(len(unary))]
                for p in pool:
                    p.append(f(p[i]))
        w, zeros = rng.standard_normal((4, 2)), np.zeros((3, 4))
        consts = [(Tensor(w, requires_grad=False), Tensor(zeros, requires_grad=False)),
                  (torch.tensor(w), torch.tensor(zeros))]
        outs = []
        for p, (wk, zk) in zip(pool, consts):
            last = p[-1] + p[-2] * p[-3] + zk      # broadcasts to (3, 4)
            outs.append((last @ wk).tanh().sum())
        outs[0].backward()
        outs[1].backward()
        assert abs(outs[0].data - outs[1].item()) < 1e-10
        for a, b in zip(*leaves):
            tg = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
            ag = np.zeros(a.shape) if a.grad is None else a.grad
            np.testing.assert_allclose(ag, tg, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ unbroadcast properties
@st.composite
def broadcast_pair(draw):
    """A shape, and a shape it broadcasts to (extra leading axes, 1s stretched)."""
    target = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    k = draw(st.integers(0, len(target)))
    small = list(target[len(target) - k:])
    small = tuple(1 if draw(st.booleans()) else n for n in small)
    return small, target


@settings(max_examples=60, deadline=None)
@given(broadcast_pair(), st.integers(0, 2**32 - 1))
def test_unbroadcast_is_adjoint_of_broadcast(pair, seed):
    """<broadcast(a), G> = <a, unbroadcast(G)>: unbroadcast is the transpose of broadcasting."""
    small, target = pair
    r = np.random.default_rng(seed)
    a = r.standard_normal(small)
    G = r.standard_normal(target)
    u = unbroadcast(G, small)
    assert u.shape == small
    lhs = np.sum(np.broadcast_to(a, target) * G)
    assert np.isclose(lhs, np.sum(a * u), rtol=1e-12, atol=1e-12)
    assert np.isclose(np.sum(u), np.sum(G), rtol=1e-12, atol=1e-12)   # total mass preserved


@settings(max_examples=30, deadline=None)
@given(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
def test_unbroadcast_identity_on_same_shape(shape):
    g = np.arange(int(np.prod(shape)), dtype=float).reshape(shape)
    np.testing.assert_array_equal(unbroadcast(g, shape), g)


def test_unbroadcast_rejects_incompatible():
    with pytest.raises(ValueError, match="cannot come from broadcasting"):
        unbroadcast(np.ones((3, 4)), (2, 4))
    with pytest.raises(ValueError, match="cannot come from broadcasting"):
        unbroadcast(np.ones((4,)), (3, 4))


# ------------------------------------------------------------------------------ semantics
def test_reused_node_and_repeated_backward(rng):
    x0 = rng.standard_normal((2, 3))
    x = Tensor(x0)
    y = (x * x + x).sum()              # gradient 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x0 + 1, rtol=1e-15)
    y.backward()                       # accumulates like torch
    np.testing.assert_allclose(x.grad, 2 * (2 * x0 + 1), rtol=1e-15)
    y.zero_grad()
    assert x.grad is None
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x0 + 1, rtol=1e-15)


def test_non_scalar_backward_needs_gradient(rng):
    x = Tensor(rng.standard_normal((2, 3)))
    y = x.tanh()
    with pytest.raises(ValueError, match="needs an explicit gradient"):
        y.backward()
    with pytest.raises(ValueError, match=r"seed gradient must have shape \(2, 3\)"):
        y.backward(np.ones(3))
    Tensor(rng.standard_normal((1, 1))).sum().backward()   # one element: fine


def test_requires_grad_false_gets_no_gradient(rng):
    a = Tensor(rng.standard_normal(3), requires_grad=False)
    b = Tensor(rng.standard_normal(3))
    (a * b).sum().backward()
    assert a.grad is None and b.grad is not None
    with pytest.raises(ValueError, match="does not require a gradient"):
        (a * 2.0).sum().backward()


def test_inputs_not_mutated(rng):
    xs = [rng.standard_normal((3, 4)), rng.standard_normal((4,))]
    copies = [x.copy() for x in xs]
    seed = rng.standard_normal((3,))
    seed_copy = seed.copy()
    a, b = Tensor(xs[0]), Tensor(xs[1])
    out = ((a * b).tanh() @ b + (a ** 2).sum(dim=1))
    out.backward(seed)
    out.backward(seed)
    for x, c in zip(xs, copies):
        np.testing.assert_array_equal(x, c)
    np.testing.assert_array_equal(seed, seed_copy)
    assert not np.shares_memory(a.data, xs[0])


def test_deep_chain_without_recursion():
    x = Tensor(np.array([1.0, 2.0]))
    z = x
    for _ in range(10000):
        z = z * 1.0001 + 0.0
    z.sum().backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 10000, rtol=1e-12)


def test_stable_at_extreme_inputs():
    x = Tensor(np.array([-1e4, 0.0, 1e4]))
    for f in (lambda t: t.sigmoid(), lambda t: t.tanh(), lambda t: t.logsumexp()):
        out = f(x)
        assert np.all(np.isfinite(out.data))
        out.sum().backward()
        assert np.all(np.isfinite(x.grad))
        x.zero_grad()


def test_bad_input_raises():
    with pytest.raises(ValueError, match="real numbers"):
        Tensor(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="real numbers"):
        Tensor(np.array([1 + 2j]))
    with pytest.raises(ValueError, match="do not broadcast"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match="inner dimensions"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least one dimension"):
        Tensor(np.ones((2, 3))) @ Tensor(2.0)
    with pytest.raises(ValueError, match="operand of a Tensor"):
        Tensor(np.ones(2)) + "x"
    with pytest.raises(ValueError, match="exponent"):
        Tensor(np.ones(2)) ** Tensor(np.ones(2))
    with pytest.raises(ValueError, match="positive entries"):
        Tensor(np.array([1.0, 0.0])).log()
    with pytest.raises(ValueError, match="zero entry"):
        Tensor(np.ones(2)) / np.array([1.0, 0.0])
    with pytest.raises(ValueError, match="no real power"):
        Tensor(np.array([-1.0])) ** 0.5
    with pytest.raises(ValueError, match="cannot reshape"):
        Tensor(np.ones(6)).reshape(4, 2)
    with pytest.raises(ValueError, match="permutation"):
        Tensor(np.ones((2, 3))).permute(0, 0)
    with pytest.raises(ValueError, match="out of range"):
        Tensor(np.ones((2, 3))).sum(dim=2)


# ------------------------------------------------------------------ hypothesis: every op, any size
def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))  # fine for the moderate inputs drawn here


def _lse_ref(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _normal(rng, shape, scale):
    return scale * rng.standard_normal(shape)


def _away_from_zero(rng, shape, scale):
    """|x| >= 0.05 scale: away from the kink of relu and the pole of division."""
    return scale * (0.05 + np.abs(rng.standard_normal(shape))) * rng.choice([-1.0, 1.0], size=shape)


def _moderate(rng, shape, scale):
    """|x| <= 2: away from saturation, where tanh' and sigma' are so small that the rounding error of central
    differences (about eps |f| / h) is no longer below 1e-7 of them (hypothesis found tanh at x = -4.6)."""
    return rng.uniform(-2.0, 2.0, size=shape) * min(scale, 1.0)


def _positive(rng, shape, scale):
    return rng.uniform(0.5, 2.5, size=shape) * min(scale, 1.0) + 0.2


def _distinct(rng, shape, scale):
    """Entries at least 0.1 scale apart, so no two tie and the maximum has no kink nearby."""
    size = int(np.prod(shape))
    return (scale * 0.1 * (rng.permutation(size) - size / 2) + 0.01 * scale * rng.random(size)).reshape(shape)


# name -> (Tensor expression, the same expression in plain NumPy, input shapes from the side n, inputs)
H_OPS = {
    "add-row": (lambda a, b: a + b, lambda a, b: a + b, lambda n: [(n, n), (n,)], _normal),
    "add-col": (lambda a, b: a + b, lambda a, b: a + b, lambda n: [(n, 1), (1, n)], _normal),
    "sub-bcast": (lambda a, b: a - b, lambda a, b: a - b, lambda n: [(2, n, n), (n, 1)], _normal),
    "rsub": (lambda a: 1.5 - a, lambda a: 1.5 - a, lambda n: [(n, n)], _normal),
    "mul-bcast": (lambda a, b: a * b, lambda a, b: a * b, lambda n: [(n, n), (1, n)], _normal),
    "mul-scalar": (lambda a, b: a * b, lambda a, b: a * b, lambda n: [(n, n), ()], _normal),
    "rmul": (lambda a: -0.7 * a, lambda a: -0.7 * a, lambda n: [(n, n)], _normal),
    "div-bcast": (lambda a, b: a / b, lambda a, b: a / b, lambda n: [(n, n), (n, 1)], _away_from_zero),
    "rdiv": (lambda a: 1.3 / a, lambda a: 1.3 / a, lambda n: [(n, n)], _away_from_zero),
    "neg": (lambda a: -a, lambda a: -a, lambda n: [(n, n)], _normal),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b, lambda n: [(n, n), (n, n)], _normal),
    "matmul-vec": (lambda a, b: a @ b, lambda a, b: a @ b, lambda n: [(n, n), (n,)], _normal),
    "vec-matmul": (lambda a, b: a @ b, lambda a, b: a @ b, lambda n: [(n,), (n, n)], _normal),
    "matmul-batch": (lambda a, b: a @ b, lambda a, b: a @ b, lambda n: [(2, n, n), (n, n)], _normal),
    "matmul-batch-both": (lambda a, b: a @ b, lambda a, b: a @ b, lambda n: [(2, 1, n, n), (3, n, n)], _normal),
    "rmatmul": (lambda a: np.linspace(-1.0, 2.0, a.shape[0] ** 2).reshape(a.shape) @ a,
                lambda a: np.linspace(-1.0, 2.0, a.shape[0] ** 2).reshape(a.shape) @ a,
                lambda n: [(n, n)], _normal),
    "pow2": (lambda a: a ** 2, lambda a: a ** 2, lambda n: [(n, n)], _normal),
    "pow3": (lambda a: a ** 3, lambda a: a ** 3, lambda n: [(n, n)], _normal),
    "pow-neg": (lambda a: a ** -1.5, lambda a: a ** -1.5, lambda n: [(n, n)], _positive),
    "pow-frac": (lambda a: a ** 0.5, lambda a: np.sqrt(a), lambda n: [(n, n)], _positive),
    "pow0": (lambda a: a ** 0, lambda a: np.ones_like(a), lambda n: [(n, n)], _normal),
    "sum-all": (lambda a: a.sum(), lambda a: np.sum(a), lambda n: [(n, n)], _normal),
    "sum-dim": (lambda a: a.sum(1), lambda a: np.sum(a, axis=1), lambda n: [(n, n)], _normal),
    "sum-dims-keep": (lambda a: a.sum(dim=(0, 2), keepdim=True), lambda a: np.sum(a, axis=(0, 2), keepdims=True),
                      lambda n: [(2, n, n)], _normal),
    "mean-all": (lambda a: a.mean(), lambda a: np.mean(a), lambda n: [(n, n)], _normal),
    "mean-dim": (lambda a: a.mean(dim=0), lambda a: np.mean(a, axis=0), lambda n: [(n, n)], _normal),
    "mean-keep": (lambda a: a.mean(dim=-1, keepdim=True), lambda a: np.mean(a, axis=-1, keepdims=True),
                  lambda n: [(2, n, n)], _normal),
    "mean-all-keep": (lambda a: a.mean(keepdim=True), lambda a: np.mean(a, keepdims=True),
                      lambda n: [(n, n)], _normal),
    "amax-all": (lambda a: a.amax(), lambda a: np.max(a), lambda n: [(n, n)], _distinct),
    "max": (lambda a: a.max(), lambda a: np.max(a), lambda n: [(n, n)], _distinct),
    "amax-dim": (lambda a: a.amax(0), lambda a: np.max(a, axis=0), lambda n: [(n, n)], _distinct),
    "amax-keep": (lambda a: a.amax(dim=(1, 2), keepdim=True), lambda a: np.max(a, axis=(1, 2), keepdims=True),
                  lambda n: [(2, n, n)], _distinct),
    "logsumexp": (lambda a: a.logsumexp(dim=1), lambda a: _lse_ref(a, 1, False), lambda n: [(n, n)], _normal),
    "logsumexp-keep": (lambda a: a.logsumexp(dim=0, keepdim=True), lambda a: _lse_ref(a, 0, True),
                       lambda n: [(n, n)], _normal),
    "logsumexp-all": (lambda a: a.logsumexp(), lambda a: _lse_ref(a, None, False), lambda n: [(n, n)], _normal),
    "exp": (lambda a: a.exp(), np.exp, lambda n: [(n, n)], _normal),
    "log": (lambda a: a.log(), np.log, lambda n: [(n, n)], _positive),
    "tanh": (lambda a: a.tanh(), np.tanh, lambda n: [(n, n)], _moderate),
    "sigmoid": (lambda a: a.sigmoid(), _sigmoid_ref, lambda n: [(n, n)], _moderate),
    "relu": (lambda a: a.relu(), lambda a: np.maximum(a, 0.0), lambda n: [(n, n)], _away_from_zero),
    "reshape": (lambda a: a.reshape(a.shape[0] ** 2), lambda a: a.reshape(-1), lambda n: [(n, n)], _normal),
    "reshape-tuple": (lambda a: a.reshape((a.shape[0], 1, a.shape[1])), lambda a: a[:, None, :],
                      lambda n: [(n, n)], _normal),
    "T": (lambda a: a.T, lambda a: a.swapaxes(0, 1), lambda n: [(n, n)], _normal),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: np.moveaxis(a, 2, 0), lambda n: [(2, n, n)], _normal),
    "transpose": (lambda a: a.transpose(1, 2), lambda a: np.swapaxes(a, 1, 2), lambda n: [(2, n, n)], _normal),
}


def test_every_tensor_op_is_in_the_hypothesis_table():
    """Each public differentiable method of Tensor appears in at least one entry of H_OPS."""
    import inspect
    methods = {"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
               "__pow__", "__neg__", "__matmul__", "__rmatmul__", "sum", "mean", "amax", "max", "logsumexp",
               "reshape", "permute", "transpose", "T", "exp", "log", "tanh", "sigmoid", "relu"}
    defined = {n for n, _ in inspect.getmembers(Tensor) if not n.startswith("_") or n.endswith("__")}
    assert methods <= defined
    source = " ".join(inspect.getsource(v[0]) for v in H_OPS.values())
    for m in ("sum(", "mean(", "amax(", "max(", "logsumexp(", "reshape(", "permute(", "transpose(", ".T", "exp(",
              "log(", "tanh(", "sigmoid(", "relu(", " @ ", " ** ", " / ", " * ", " - ", " + ", "-a"):
        assert m in source, m


@pytest.mark.parametrize("name", sorted(H_OPS))
@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), scale=st.floats(0.3, 2.5))
def test_hypothesis_gradient_against_numpy_central_differences(name, n, seed, scale):
    """Forward against the NumPy expression, backward against central differences of that NumPy expression
    (not of the Tensor code), with a random upstream gradient, for square shapes of side n."""
    tfn, npfn, shapes, draw = H_OPS[name]
    r = np.random.default_rng(seed)
    xs = [draw(r, s, scale) for s in shapes(n)]
    ts = [Tensor(x) for x in xs]
    out = tfn(*ts)
    expected = npfn(*xs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    seed_grad = r.standard_normal(out.shape) + 0.5   # random, never all ones
    out.backward(seed_grad)
    for i, x in enumerate(xs):
        def f(xi, i=i):
            args = list(xs)
            args[i] = xi
            return np.sum(seed_grad * npfn(*args))
        num = numerical_gradient(f, x.copy())
        assert ts[i].grad.shape == x.shape
        if np.all(num == 0):                          # x ** 0: the gradient is exactly zero
            np.testing.assert_array_equal(ts[i].grad, 0.0)
        else:
            assert relative_error(ts[i].grad, num) < 1e-7, (name, i)


# ------------------------------------------------------------------ paths the table alone does not pin down
def _amax_grad_by_counting(x, g, dims):
    """The adjoint of amax over ``dims`` written out slice by slice: g / (number of maxima) at each maximum."""
    keep = [a for a in range(x.ndim) if a not in dims]
    grad = np.zeros_like(x)
    g = np.asarray(g).reshape([x.shape[a] for a in keep])
    for kept in np.ndindex(*[x.shape[a] for a in keep]):
        index = [slice(None)] * x.ndim
        for a, k in zip(keep, kept):
            index[a] = k
        block = x[tuple(index)]
        hits = block == block.max()
        grad_block = np.where(hits, g[kept] / hits.sum(), 0.0)
        grad[tuple(index)] = grad_block
    return grad


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_ties_share_the_adjoint_equally(rng, dim, keepdim):
    """Ties (integer entries in 0..2, so most rows tie) split the adjoint evenly, as torch.amax does."""
    x = rng.integers(0, 3, size=(4, 5)).astype(float)
    x[0, :] = 2.0                                      # a whole row tied
    t = Tensor(x)
    out = t.amax(dim, keepdim=keepdim)
    g = rng.standard_normal(out.shape) + 0.5
    out.backward(g)
    dims = tuple(range(2)) if dim is None else tuple(d % 2 for d in np.atleast_1d(dim))
    np.testing.assert_allclose(t.grad, _amax_grad_by_counting(x, g, dims), rtol=1e-15, atol=0)
    np.testing.assert_allclose(t.grad.sum(), np.sum(g), rtol=1e-12)   # nothing lost, nothing doubled


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_amax_ties_match_torch(rng, dim):
    torch = pytest.importorskip("torch")
    x = rng.integers(0, 3, size=(4, 5)).astype(float)
    t = Tensor(x)
    out = t.amax(dim)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tt = torch.tensor(x, requires_grad=True)
    tout = tt.amax() if dim is None else tt.amax(dim=dim)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-15, atol=0)


def test_max_without_dim_matches_torch_max_with_ties():
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, -2.0]])
    t = Tensor(x)
    t.max().backward(np.float64(0.6))
    tt = torch.tensor(x, requires_grad=True)
    (tt.max() * 0.6).backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(t.grad, [[0.0, 0.2, 0.2], [0.2, 0.0, 0.0]], rtol=1e-15, atol=0)


SIGMOID_POINTS = np.array([-1e4, -800.0, -745.0, -709.0, -40.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 40.0, 709.0, 800.0, 1e4])


def _sigmoid_exact(x):
    """sigma(x) and sigma'(x) in 60-digit arithmetic, rounded to float64: a closed form the code does not share."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    sig = [1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))) for v in x]
    sig_neg = [1 / (1 + mpmath.exp(mpmath.mpf(float(v)))) for v in x]   # 1 - sigma(x), without cancellation
    return np.array([float(v) for v in sig]), np.array([float(u * v) for u, v in zip(sig, sig_neg)])


def test_tensor_sigmoid_values_at_extreme_inputs_without_overflow():
    expected, expected_grad = _sigmoid_exact(SIGMOID_POINTS)
    t = Tensor(SIGMOID_POINTS)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # an exp that overflows fails here
        out = t.sigmoid()
        g = np.linspace(0.5, 1.5, SIGMOID_POINTS.size)
        out.backward(g)
    np.testing.assert_allclose(out.data, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(t.grad, g * expected_grad, rtol=1e-14, atol=1e-300)   # atol: subnormals only
    assert out.data[0] == 0.0 and out.data[-1] == 1.0   # e^-10000 is below the smallest float64


def test_rmatmul_with_arrays_and_lists(rng):
    """array @ Tensor and list @ Tensor go through Tensor.__rmatmul__ and give A^T G as the gradient."""
    A = rng.standard_normal((3, 3))
    B = rng.standard_normal((3, 3))
    G = rng.standard_normal((3, 3))
    b = Tensor(B)
    out = A @ b
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, np.einsum("ij,jk->ik", A, B), rtol=1e-14, atol=0)
    out.backward(G)
    np.testing.assert_allclose(b.grad, np.einsum("ji,jk->ik", A, G), rtol=1e-14, atol=0)
    v = Tensor(B[0])
    out = A.tolist() @ v                                 # a nested list
    assert isinstance(out, Tensor) and out.shape == (3,)
    out.backward(G[0])
    np.testing.assert_allclose(v.grad, np.einsum("ji,j->i", A, G[0]), rtol=1e-14, atol=0)


def test_mean_keepdim_value_shape_and_gradient(rng):
    x = rng.standard_normal((2, 3, 4))
    t = Tensor(x)
    out = t.mean(dim=(0, 2), keepdim=True)
    assert out.shape == (1, 3, 1)
    np.testing.assert_allclose(out.data[0, :, 0], [x[:, j, :].sum() / 8 for j in range(3)], rtol=1e-14, atol=0)
    g = rng.standard_normal((1, 3, 1))
    out.backward(g)
    expected = np.empty_like(x)
    for i, j, k in np.ndindex(*x.shape):
        expected[i, j, k] = g[0, j, 0] / 8
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15, atol=0)
    t2 = Tensor(x)
    out2 = t2.mean(keepdim=True)
    assert out2.shape == (1, 1, 1)
    out2.backward(np.full((1, 1, 1), 0.3))
    np.testing.assert_allclose(t2.grad, np.full(x.shape, 0.3 / 24), rtol=1e-15, atol=0)


def test_pow_zero_is_one_with_zero_gradient_even_at_zero():
    x = np.array([[-2.0, 0.0], [0.5, 3.0]])
    t = Tensor(x)
    out = t ** 0
    np.testing.assert_array_equal(out.data, np.ones((2, 2)))
    out.backward(np.array([[1.0, 2.0], [-1.0, 0.5]]))
    np.testing.assert_array_equal(t.grad, np.zeros((2, 2)))
    torch = pytest.importorskip("torch")
    tt = torch.tensor(x, requires_grad=True)
    (tt ** 0).backward(torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64))
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


def test_requires_grad_is_keyword_only_and_names_follow_torch():
    with pytest.raises(TypeError):
        Tensor(np.ones(2), False)
    t = Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError):
        t.sum(0, True)
    with pytest.raises(TypeError):
        t.sum(axis=0)
    with pytest.raises(ValueError, match="dims 0 and 5"):
        t.transpose(0, 5)


def test_topological_order_is_the_same_function_in_both_engines():
    """Each engine file carries its own copy (so it can be copied alone); the two copies must not drift."""
    import inspect

    from dlmath.autograd import scalar, tensor
    assert inspect.getsource(scalar.topological_order) == inspect.getsource(tensor.topological_order)
    a = Tensor(np.ones(2))
    b = a * 2.0
    c = (b + a).sum()
    order = tensor.topological_order(c)
    assert order[-1] is c and len(order) == len({id(n) for n in order})
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for p in node.parents:
            assert position[id(p)] < position[id(node)]
    assert {id(n) for n in order} >= {id(a), id(b), id(c)}


ERRORS = [  # (call, the exact message)
    (lambda: unbroadcast(np.ones((3, 4)), (2, 4)), "a gradient of shape (3, 4) cannot come from broadcasting shape (2, 4)"),
    (lambda: Tensor(np.array(["a"])), "Tensor data must be real numbers (converted to float64), got dtype <U1"),
    (lambda: Tensor(np.ones((2, 3))).sum(dim=2), "dim 2 is out of range for a tensor with 2 dimensions"),
    (lambda: Tensor(np.ones(2)) + "x", "an operand of a Tensor must be a Tensor, an array or a real number, got str"),
    (lambda: Tensor(np.ones((2, 3))) * np.ones(4), "*: shapes (2, 3) and (4,) do not broadcast"),
    (lambda: Tensor(np.ones(2)) / np.array([1.0, 0.0]), "division of a Tensor by an array with a zero entry"),
    (lambda: Tensor(np.ones(2)) ** "2", "the exponent of a Tensor must be a real number, got str"),
    (lambda: Tensor(np.array([-1.0])) ** 0.5, "a negative entry with the non-integer exponent 0.5 has no real power"),
    (lambda: Tensor(np.array([0.0])) ** 0.5, "x**0.5 has no finite derivative at a zero entry"),
    (lambda: Tensor(np.ones(2)) @ Tensor(2.0), "@ needs operands with at least one dimension, got shapes (2,) and ()"),
    (lambda: Tensor(np.ones((2, 3))) @ np.ones((2, 3)), "@: inner dimensions differ, (2, 3) and (2, 3)"),
    (lambda: Tensor(np.ones((0, 3))).mean(dim=0), "mean over an empty axis"),
    (lambda: Tensor(np.ones((0, 3))).amax(), "max of an empty tensor"),
    (lambda: Tensor(np.ones(6)).reshape(4, 2), "cannot reshape a tensor of shape (6,) into (4, 2)"),
    (lambda: Tensor(np.ones((2, 3))).permute(0, 0), "permute needs a permutation of the 2 axes, got (0, 0)"),
    (lambda: Tensor(np.ones((2, 3))).transpose(0, 2), "transpose: dims 0 and 2 are not axes of a tensor with 2 dimensions"),
    (lambda: Tensor(np.array([1.0, -1.0])).log(), "log needs positive entries"),
    (lambda: Tensor(np.ones(2), requires_grad=False).sum().backward(),
     "backward() on a tensor that does not require a gradient"),
    (lambda: Tensor(np.ones((2, 3))).backward(), "backward() of a tensor of shape (2, 3) needs an explicit gradient"),
    (lambda: Tensor(np.ones((2, 3))).backward(np.ones(3)), "the seed gradient must have shape (2, 3), got (3,)"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_error_messages_exactly(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_repr_shape_and_node_fields():
    t = Tensor([[1.0, 2.5]], label="w")
    assert t.shape == (1, 2) and t.ndim == 2 and t.size == 2 and t.label == "w" and t.op == ""
    assert repr(t) == "Tensor(shape=(1, 2), op='', data=[[1.  2.5]])"
    u = t * 2.0
    assert u.op == "*" and u.parents[0] is t and u.parents[1].requires_grad is False
    assert repr(u) == "Tensor(shape=(1, 2), op='*', data=[[2. 5.]])"


def test_negative_dims_down_to_minus_ndim(rng):
    """dim = -ndim is the first axis (valid); dim = ndim and dim = -ndim - 1 are out of range."""
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(Tensor(x).sum(dim=-2).data, x.sum(axis=0), rtol=1e-15, atol=0)
    np.testing.assert_allclose(Tensor(x).amax(dim=(-2, -1)).data, x.max(), rtol=0, atol=0)
    for bad in (2, -3):
        with pytest.raises(ValueError, match="out of range"):
            Tensor(x).mean(dim=bad)


def test_op_names_recorded_for_drawing():
    """Each operation records its name in .op (the graph drawing labels nodes with it)."""
    a, b = Tensor(np.ones((2, 2))), Tensor(np.full((2, 2), 2.0))
    assert Tensor(1.0).label == "" and Tensor(1.0).op == "" and Tensor(1.0).parents == ()
    cases = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "@": a @ b, "**2": a ** 2, "**0.5": b ** 0.5,
             "neg": -a, "sum": a.sum(), "amax": a.amax(), "logsumexp": a.logsumexp(), "reshape": a.reshape(4),
             "permute": a.permute(1, 0), "exp": a.exp(), "log": b.log(), "tanh": a.tanh(), "sigmoid": a.sigmoid(),
             "relu": a.relu()}
    for op, node in cases.items():
        assert node.op == op


@pytest.mark.parametrize("op, f", [("+", lambda a, b: a + b), ("-", lambda a, b: a - b),
                                   ("*", lambda a, b: a * b), ("/", lambda a, b: a / b)])
def test_broadcast_error_names_the_operation(op, f):
    with pytest.raises(ValueError) as info:
        f(Tensor(np.ones((2, 3))), np.ones((4,)))
    assert str(info.value) == f"{op}: shapes (2, 3) and (4,) do not broadcast"


def test_zero_dim_tensor_reductions():
    """A 0-d tensor: sum, mean and amax over no axes are the value itself, with gradient 1 (as torch)."""
    for reduce in (lambda t: t.sum(), lambda t: t.mean(), lambda t: t.amax(), lambda t: t.logsumexp()):
        t = Tensor(3.0)
        out = reduce(t)
        assert out.shape == ()
        out.backward()
        np.testing.assert_allclose(out.data, 3.0, rtol=1e-15, atol=0)
        np.testing.assert_allclose(t.grad, 1.0, rtol=1e-15, atol=0)


def test_fractional_power_at_zero_above_one():
    """x ** 1.5 at x = 0 is 0 with derivative 0: zero entries are fine for exponents >= 1."""
    t = Tensor(np.array([0.0, 4.0]))
    out = t ** 1.5
    out.backward(np.array([1.0, 1.0]))
    np.testing.assert_allclose(out.data, [0.0, 8.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(t.grad, [0.0, 3.0], rtol=1e-15, atol=0)


def test_relu_derivative_at_zero_is_zero_as_torch():
    t = Tensor(np.array([-1.0, 0.0, 2.0]))
    t.relu().backward(np.array([5.0, 5.0, 5.0]))
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 5.0])
    torch = pytest.importorskip("torch")
    tt = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(tt).backward(torch.full((3,), 5.0, dtype=torch.float64))
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


# ------------------------------------------------------ forward over reverse: DualArray and tensor_hvp
from dlmath.autograd.tensor import DualArray, tensor_hvp  # noqa: E402


@pytest.mark.parametrize("name", sorted(OPS))
def test_tensor_hvp_of_every_op_against_torch(name, rng):
    """H v of sum(R * tanh(op(inputs))) (curved even where op is linear) against torch's hvp."""
    torch = pytest.importorskip("torch")
    fn, _ = OPS[name]
    xs = _inputs(name, rng)
    R = rng.standard_normal(fn(*[Tensor(x) for x in xs]).shape)
    vs = [rng.standard_normal(x.shape) for x in xs]
    _, _, hv = tensor_hvp(lambda *ts: (fn(*ts).tanh() * R).sum(), xs, vs)
    tfn = _torch_fn(name, torch)
    _, hv_t = torch.autograd.functional.hvp(
        lambda *ts: (torch.tanh(tfn(*ts)) * torch.tensor(R)).sum(),
        tuple(torch.tensor(x) for x in xs), tuple(torch.tensor(v) for v in vs))
    hv_t = hv_t if isinstance(hv_t, tuple) else (hv_t,)
    ours = np.concatenate([h.ravel() for h in hv])
    theirs = np.concatenate([h.numpy().ravel() for h in hv_t])
    assert relative_error(ours, theirs) < 1e-10, name


def _mlp_loss(X, onehot):
    def loss(W1, b1, W2, b2):
        h = (X @ W1.T + b1).tanh()                                     # (N, H)
        logits = h @ W2.T + b2                                         # (N, K)
        return (logits.logsumexp(dim=1) - (logits * onehot).sum(dim=1)).mean()
    return loss


@pytest.mark.parametrize("seed", range(3))
def test_tensor_hvp_of_an_mlp_against_torch_and_the_gradient(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    N, d, H, K = 6, 4, 5, 3
    X, onehot = rng.standard_normal((N, d)), np.eye(K)[rng.integers(0, K, N)]
    params = [0.5 * rng.standard_normal((H, d)), 0.1 * rng.standard_normal(H),
              0.5 * rng.standard_normal((K, H)), 0.1 * rng.standard_normal(K)]
    vs = [rng.standard_normal(p.shape) for p in params]
    loss = _mlp_loss(X, onehot)
    value, grads, hv = tensor_hvp(loss, params, vs)
    ts = [Tensor(p) for p in params]
    out = loss(*ts)
    out.backward()
    assert value == float(out.data)
    for g, t in zip(grads, ts):
        assert np.array_equal(g, t.grad)                              # the same float operations
    Xt, ot = torch.tensor(X), torch.tensor(onehot)
    loss_t = lambda W1, b1, W2, b2: (torch.logsumexp(logits := torch.tanh(Xt @ W1.T + b1) @ W2.T + b2, 1)  # noqa: E731
                                     - (logits * ot).sum(1)).mean()
    _, hv_t = torch.autograd.functional.hvp(loss_t, tuple(map(torch.tensor, params)),
                                            tuple(map(torch.tensor, vs)))
    ours = np.concatenate([h.ravel() for h in hv])
    theirs = np.concatenate([h.numpy().ravel() for h in hv_t])
    assert relative_error(ours, theirs) < 1e-10


def test_tensor_hvp_columns_are_the_explicit_hessian():
    """n products with unit vectors give torch.autograd.functional.hessian, a symmetric matrix."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    A, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    f = lambda t: ((A @ t).tanh() ** 2).sum() + (t * t).sum().exp() * 0.1       # noqa: E731
    H = np.column_stack([tensor_hvp(f, [x], [e])[2][0] for e in np.eye(3)])
    H_t = torch.autograd.functional.hessian(
        lambda t: (torch.tanh(torch.tensor(A) @ t) ** 2).sum() + torch.exp((t * t).sum()) * 0.1,
        torch.tensor(x)).numpy()
    assert np.allclose(H, H.T, rtol=0, atol=1e-14)
    assert relative_error(H, H_t) < 1e-12


def test_dual_array_arithmetic_and_refusals():
    a = DualArray([1.0, 2.0], [1.0, 0.0])
    b = a * a + 3.0 / a                                  # d/da (a^2 + 3/a) = 2a - 3/a^2
    assert np.allclose(b.value, [4.0, 5.5]) and np.allclose(b.tangent, [2.0 - 3.0, 0.0])
    assert np.array_equal(a > 1.5, [False, True])        # comparisons read the value
    with pytest.raises(TypeError, match="does not support"):
        np.sin(a)
    with pytest.raises(TypeError, match="does not support"):
        np.cumsum(a)
    with pytest.raises(TypeError, match="constant scalar exponent"):
        a ** a


@pytest.mark.parametrize("call, message", [
    (lambda: tensor_hvp(lambda t: t.sum(), [np.ones(2)], []), "same length"),
    (lambda: tensor_hvp(lambda t: t.sum(), [np.ones(2)], [np.ones(3)]), "input's shape"),
    (lambda: tensor_hvp(lambda t: t * 2.0, [np.ones(2)], [np.ones(2)]), "one-element Tensor"),
])
def test_tensor_hvp_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
