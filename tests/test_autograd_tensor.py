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
    "sum-axis0": (lambda a: a.sum(axis=0), [(3, 4)]),
    "sum-axis-keep": (lambda a: a.sum(axis=1, keepdims=True), [(3, 4)]),
    "sum-axes": (lambda a: a.sum(axis=(0, 2)), [(2, 3, 4)]),
    "mean-all": (lambda a: a.mean(), [(3, 4)]),
    "mean-axis": (lambda a: a.mean(axis=-1), [(2, 3, 4)]),
    "exp": (lambda a: a.exp(), [(3, 4)]),
    "log": (lambda a: a.log(), [(3, 4)]),
    "tanh": (lambda a: a.tanh(), [(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), [(3, 4)]),
    "relu": (lambda a: a.relu(), [(3, 4)]),
    "reshape": (lambda a: a.reshape(4, 3), [(3, 4)]),
    "reshape-tuple": (lambda a: a.reshape((2, 6)), [(3, 4)]),
    "T": (lambda a: a.T, [(3, 4)]),
    "transpose-axes": (lambda a: a.transpose(1, 2, 0), [(2, 3, 4)]),
    "max-all": (lambda a: a.max(), [(3, 4)]),
    "max-axis": (lambda a: a.max(axis=1), [(3, 4)]),
    "logsumexp": (lambda a: a.logsumexp(axis=-1), [(3, 4)]),
    "logsumexp-keep": (lambda a: a.logsumexp(axis=0, keepdims=True), [(3, 4)]),
    "radd-array": (lambda a: np.linspace(-1, 1, 4) + a, [(3, 4)]),
    "rsub": (lambda a: 2.0 - a, [(3, 4)]),
    "rmul": (lambda a: 2.0 * a, [(3, 4)]),
    "rdiv": (lambda a: 2.0 / a, [(3, 4)]),
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
        tol = 1e-5 if name.startswith("relu") or name.startswith("max") else 1e-7
        assert relative_error(ts[i].grad, num) < tol, (name, i)


def _torch_fn(name, torch):
    """The same operation written with torch's own functions (checks semantics, not just our lambdas)."""
    special = {
        "sum-axis0": lambda a: a.sum(dim=0),
        "sum-axis-keep": lambda a: a.sum(dim=1, keepdim=True),
        "sum-axes": lambda a: a.sum(dim=(0, 2)),
        "mean-axis": lambda a: a.mean(dim=-1),
        "transpose-axes": lambda a: a.permute(1, 2, 0),
        "max-all": lambda a: a.amax(),
        "max-axis": lambda a: a.amax(dim=1),
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
    out = ((a * b).tanh() @ b + (a ** 2).sum(axis=1))
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
        Tensor(np.ones((2, 3))).transpose(0, 0)
    with pytest.raises(ValueError, match="out of range"):
        Tensor(np.ones((2, 3))).sum(axis=2)
