"""Tests of dlmath.autograd.scalar: Value (reverse mode) and Dual (forward mode).

Every operation's derivative against central differences and PyTorch float64; accumulation for reused
nodes and repeated backward calls; a graph 10,000 nodes deep; the ValueError paths.
"""
import math

import numpy as np
import pytest

from dlmath.autograd.scalar import Dual, Value, topological_order
from dlmath.gradcheck import central_difference

# name -> (function of Values/Duals/floats, sample points away from kinks and domain edges)
UNARY = {
    "neg": (lambda a: -a, [-1.3, 0.7]),
    "exp": (lambda a: a.exp(), [-1.3, 0.7]),
    "log": (lambda a: a.log(), [0.4, 2.5]),
    "tanh": (lambda a: a.tanh(), [-1.3, 0.7]),
    "sigmoid": (lambda a: a.sigmoid(), [-1.3, 0.7]),
    "relu": (lambda a: a.relu(), [-1.3, 0.7]),
    "pow2": (lambda a: a ** 2, [-1.3, 0.7]),
    "pow3": (lambda a: a ** 3, [-1.3, 0.7]),
    "pow-half": (lambda a: a ** -0.5, [0.4, 2.5]),
    "pow1.7": (lambda a: a ** 1.7, [0.4, 2.5]),
    "radd": (lambda a: 2.5 + a, [-1.3, 0.7]),
    "rsub": (lambda a: 2.5 - a, [-1.3, 0.7]),
    "rmul": (lambda a: 2.5 * a, [-1.3, 0.7]),
    "rtruediv": (lambda a: 2.5 / a, [-1.3, 0.7]),
    "add-const": (lambda a: a + 2.5, [-1.3, 0.7]),
    "sub-const": (lambda a: a - 2.5, [-1.3, 0.7]),
    "mul-const": (lambda a: a * 2.5, [-1.3, 0.7]),
    "div-const": (lambda a: a / 2.5, [-1.3, 0.7]),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b,
}
FLOAT = {"exp": math.exp, "log": math.log, "tanh": math.tanh,
         "sigmoid": lambda a: 1 / (1 + math.exp(-a)), "relu": lambda a: max(a, 0.0)}


def _method(name):
    return lambda self: _F(FLOAT[name](float(self)))


class _F(float):
    """A float with the elementwise methods, so the same lambdas run on plain numbers."""

    exp, log, tanh, sigmoid, relu = (_method(n) for n in ("exp", "log", "tanh", "sigmoid", "relu"))


def _grad_value(fn, *xs):
    vs = [Value(x) for x in xs]
    fn(*vs).backward()
    return [v.grad for v in vs]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradient_matches_central_difference(name):
    fn, points = UNARY[name]
    for x in points:
        (g,) = _grad_value(fn, x)
        num = central_difference(lambda t: float(fn(_F(t))), np.float64(x))
        assert abs(g - num) <= 1e-7 * max(1.0, abs(num)), (name, x, g, num)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradient_matches_central_difference(name):
    fn = BINARY[name]
    for a, b in [(0.8, -1.7), (-2.1, 0.45)]:
        ga, gb = _grad_value(fn, a, b)
        na = central_difference(lambda t: fn(float(t), b), np.float64(a))
        nb = central_difference(lambda t: fn(a, float(t)), np.float64(b))
        assert abs(ga - na) <= 1e-7 * max(1.0, abs(na))
        assert abs(gb - nb) <= 1e-7 * max(1.0, abs(nb))


def test_forward_values_match_math():
    for name, f in FLOAT.items():
        x = 0.37 if name == "log" else -0.6
        assert getattr(Value(x), name)().data == pytest.approx(f(x), rel=1e-15, abs=1e-300)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_against_torch(name):
    torch = pytest.importorskip("torch")
    fn, points = UNARY[name]
    for x in points:
        v = Value(x)
        out = fn(v)
        out.backward()
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        to = fn(t)
        to.backward()
        assert abs(out.data - to.item()) <= 1e-12 * max(1.0, abs(to.item()))
        assert abs(v.grad - t.grad.item()) <= 1e-12 * max(1.0, abs(t.grad.item()))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_against_torch(name):
    torch = pytest.importorskip("torch")
    fn = BINARY[name]
    a, b = Value(0.8), Value(-1.7)
    fn(a, b).backward()
    ta = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-1.7, dtype=torch.float64, requires_grad=True)
    fn(ta, tb).backward()
    assert abs(a.grad - ta.grad.item()) < 1e-12 and abs(b.grad - tb.grad.item()) < 1e-12


def test_random_expressions_against_torch(rng):
    """Seeded random expression graphs that reuse earlier nodes, compared with torch autograd."""
    torch = pytest.importorskip("torch")
    unary = ["tanh", "sigmoid", "exp_small", "square", "neg"]
    for trial in range(20):
        xs = rng.uniform(-1, 1, size=4)
        vs = [Value(x) for x in xs]
        ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        pool_v, pool_t = list(vs), list(ts)
        for _ in range(15):
            if rng.random() < 0.5:
                i, j = rng.integers(len(pool_v), size=2)
                op = rng.integers(3)
                f = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b][op]
                pool_v.append(f(pool_v[i], pool_v[j]))
                pool_t.append(f(pool_t[i], pool_t[j]))
            else:
                i = rng.integers(len(pool_v))
                u = unary[rng.integers(len(unary))]
                f = {"tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
                     "exp_small": lambda a: (a * 0.1).exp(), "square": lambda a: a ** 2, "neg": lambda a: -a}[u]
                pool_v.append(f(pool_v[i]))
                pool_t.append(f(pool_t[i]))
        out_v = sum(pool_v[-5:], Value(0.0))
        out_t = sum(pool_t[-5:])
        out_v.backward()
        out_t.backward()
        for v, t in zip(vs, ts):
            tg = 0.0 if t.grad is None else t.grad.item()
            assert abs(v.grad - tg) <= 1e-10 * max(1.0, abs(tg)), trial


def test_reused_node_accumulates():
    x = Value(3.0)
    y = x * x + x            # dy/dx = 2x + 1 = 7: x is used three times
    y.backward()
    assert x.grad == 7.0
    a = Value(-0.5)
    b = a.tanh()
    c = b * b * b            # one node used three times by two multiplications
    c.backward()
    assert a.grad == pytest.approx(3 * math.tanh(-0.5) ** 2 * (1 - math.tanh(-0.5) ** 2), rel=1e-14)


def test_repeated_backward_accumulates_like_torch():
    torch = pytest.importorskip("torch")
    x, w = Value(0.3), Value(-1.2)
    y = (x * w).tanh() * x + w
    tx = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(-1.2, dtype=torch.float64, requires_grad=True)
    ty = (tx * tw).tanh() * tx + tw
    for k in range(1, 4):
        y.backward()
        ty.backward(retain_graph=True)
        assert x.grad == pytest.approx(tx.grad.item(), rel=1e-14)
        assert w.grad == pytest.approx(tw.grad.item(), rel=1e-14)
    first = _grad_value(lambda a, b: (a * b).tanh() * a + b, 0.3, -1.2)
    assert x.grad == pytest.approx(3 * first[0], rel=1e-14)  # exactly k times one pass, also for inner nodes
    y.zero_grad()
    assert x.grad == 0.0 and w.grad == 0.0 and y.grad == 0.0
    y.backward()
    assert x.grad == pytest.approx(first[0], rel=1e-14)


def test_inner_nodes_accumulate_exactly_k_times():
    x = Value(0.7)
    h = x.tanh()
    y = h * h + h
    y.backward()
    g1 = h.grad
    y.backward()
    assert h.grad == 2 * g1 and y.grad == 2.0


def test_graph_ten_thousand_deep_no_recursion():
    x = Value(1.0)
    z = x
    n = 12000
    for _ in range(n):
        z = z * 1.0001 + 0.0
    assert len(topological_order(z)) == 1 + 4 * n  # x, and per step: a constant, a product, a constant, a sum
    z.backward()
    assert x.grad == pytest.approx(1.0001 ** n, rel=1e-12)
    z.zero_grad()
    assert x.grad == 0.0


def test_seed_gradient_scales():
    x = Value(2.0)
    (x ** 3).backward(0.5)
    assert x.grad == pytest.approx(0.5 * 3 * 4.0)


def test_dual_matches_value_on_every_op():
    for name, (fn, points) in UNARY.items():
        for x in points:
            d = fn(Dual(x, 1.0))
            (g,) = _grad_value(fn, x)
            assert d.tangent == pytest.approx(g, rel=1e-13, abs=1e-15), name
            assert d.value == pytest.approx(fn(Value(x)).data, rel=1e-15), name
    for name, fn in BINARY.items():
        ga, gb = _grad_value(fn, 0.8, -1.7)
        assert fn(Dual(0.8, 1.0), Dual(-1.7, 0.0)).tangent == pytest.approx(ga, rel=1e-14)
        assert fn(Dual(0.8, 0.0), Dual(-1.7, 1.0)).tangent == pytest.approx(gb, rel=1e-14)


def test_stable_sigmoid_at_extremes():
    for x in (-1e4, 1e4, -800.0, 800.0):
        v = Value(x)
        s = v.sigmoid()
        s.backward()
        assert math.isfinite(s.data) and math.isfinite(v.grad)
        assert 0.0 <= s.data <= 1.0


@pytest.mark.parametrize("bad", ["a", None, [1.0], np.ones(2), True, float("nan"), float("inf")])
def test_bad_operands_raise(bad):
    with pytest.raises(ValueError, match="must be"):
        Value(1.0) + bad
    with pytest.raises(ValueError, match="must be"):
        Value(1.0) * bad
    with pytest.raises(ValueError, match="must be"):
        Value(bad)


def test_domain_errors_raise():
    with pytest.raises(ValueError, match="positive argument"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="division"):
        Value(1.0) / 0.0
    with pytest.raises(ValueError, match="exponent"):
        Value(2.0) ** Value(2.0)
    with pytest.raises(ValueError, match="no real power"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="no finite derivative"):
        Value(0.0) ** 0.5
    with pytest.raises(ValueError, match="seed gradient"):
        Value(1.0).backward("one")
    with pytest.raises(ValueError, match="Dual"):
        Dual(1.0) + "a"
    with pytest.raises(ValueError, match="division"):
        Dual(1.0) / 0.0


def test_graph_layout_for_drawing():
    """draw_graph's layout: one position per node, no two nodes in one place, every arrow points right."""
    from dlmath.book.graphs import graph_layout

    w, x, b, t = Value(0.8), Value(1.5), Value(-0.4), Value(1.0)
    h = (w * x + b).tanh()
    loss = (h * h - t) ** 2 + h                       # h is reused by three operations
    order, pos = graph_layout(loss)
    assert len(order) == len(pos) == len({id(n) for n in order})
    assert len(set(pos.values())) == len(pos)
    for node in order:
        for p in node.parents:
            assert pos[id(p)][0] < pos[id(node)][0]


def test_draw_graph_draws_every_node():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlmath.book.graphs import draw_graph

    x = Value(2.0, label="x")
    y = (x * x + x).tanh()
    y.backward()
    fig, ax = plt.subplots()
    draw_graph(y, ax=ax)
    order = topological_order(y)
    texts = [t.get_text() for t in ax.texts if t.get_text()]   # boxes; arrows have empty text
    arrows = [t for t in ax.texts if not t.get_text()]
    assert len(texts) == len(order)
    assert len(arrows) == sum(len(n.parents) for n in order)  # one arrow per edge
    assert any(t.startswith("x\nvalue 2\ngrad") for t in texts)
    plt.close(fig)


def test_sigmoid_against_a_high_precision_closed_form_at_extreme_inputs():
    """sigma(x) and sigma'(x) = sigma(x) sigma(-x) from 60-digit arithmetic, including the far tails where
    s (1 - s) would round to 0; no OverflowError anywhere."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    for x in (-1e4, -800.0, -745.0, -709.0, -40.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 40.0, 709.0, 800.0, 1e4):
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        s_neg = 1 / (1 + mpmath.exp(mpmath.mpf(x)))
        v = Value(x)
        out = v.sigmoid()
        out.backward()
        np.testing.assert_allclose(out.data, float(s), rtol=1e-15, atol=0)
        np.testing.assert_allclose(v.grad, float(s * s_neg), rtol=1e-14, atol=1e-300)  # atol: subnormals only


def test_local_grads_are_the_edge_weights():
    """local_grads() returns d(node)/d(parent) for each parent, computed here by hand."""
    a, b = Value(1.7), Value(-0.4)
    assert Value(2.0).local_grads() == ()                              # a leaf has no parents
    assert (a * b).local_grads() == (-0.4, 1.7)
    assert (a + b).local_grads() == (1.0, 1.0)
    assert (a - b).local_grads() == (1.0, -1.0)
    ga, gb = (a / b).local_grads()
    assert ga == pytest.approx(1 / -0.4, rel=1e-15) and gb == pytest.approx(-1.7 / 0.16, rel=1e-15)
    assert (a ** 3).local_grads() == (pytest.approx(3 * 1.7 ** 2, rel=1e-15),)
    assert a.tanh().local_grads() == (pytest.approx(1 - math.tanh(1.7) ** 2, rel=1e-15),)
    assert a.exp().local_grads() == (pytest.approx(math.exp(1.7), rel=1e-15),)
    assert a.log().local_grads() == (pytest.approx(1 / 1.7, rel=1e-15),)
    assert b.relu().local_grads() == (0.0,) and a.relu().local_grads() == (1.0,)
    assert (-a).local_grads() == (-1.0,)
    s = 1 / (1 + math.exp(-1.7))
    assert a.sigmoid().local_grads() == (pytest.approx(s * (1 - s), rel=1e-14),)
    c = a * b
    c.backward()
    assert c.local_grads() == (-0.4, 1.7)                               # reading them changes no grad
    assert a.grad == -0.4 and b.grad == 1.7 and c.grad == 1.0


@pytest.mark.parametrize("x", [-2.5, 0.0, 3.0])
def test_pow_zero_is_one_with_zero_derivative(x):
    v = Value(x)
    out = v ** 0
    out.backward()
    assert out.data == 1.0 and v.grad == 0.0
    assert out.local_grads() == (0.0,)
    assert (Dual(x, 1.0) ** 0).value == 1.0
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (t ** 0).backward()
    assert t.grad.item() == v.grad


def test_dual_pow_zero_tangent_is_zero():
    assert (Dual(2.0, 1.0) ** 0).tangent == 0.0
    assert (Dual(2.0, 1.0) ** 3).tangent == pytest.approx(12.0, rel=1e-15)


def test_value_options_are_keyword_only():
    with pytest.raises(TypeError):
        Value(1.0, (), "", "label")
    assert Value(1.0, label="x").label == "x"


def test_topological_order_orders_a_diamond():
    """x feeds two branches that meet again: x once, both branches before the join, the root last."""
    x = Value(0.5)
    left, right = x * 2.0, x.tanh()
    root = left + right
    order = topological_order(root)
    assert order[-1] is root and order.count(x) == 1
    pos = {id(n): i for i, n in enumerate(order)}
    assert pos[id(x)] < pos[id(left)] < pos[id(root)] and pos[id(x)] < pos[id(right)] < pos[id(root)]
    assert len(order) == 5   # x, the constant 2.0, left, right, root


def test_dual_pow_domain_errors_match_value():
    for base, p in [(-2.0, 0.5), (0.0, 0.5), (0.0, -1.0)]:
        with pytest.raises(ValueError):
            Value(base) ** p
        with pytest.raises(ValueError):
            Dual(base, 1.0) ** p


ERRORS = [  # (call, the exact message: the message names what was expected and what was received)
    (lambda: Value("a"), "Value data must be a real number, got str 'a'"),
    (lambda: Value(float("inf")), "Value data must be finite, got inf"),
    (lambda: Value(1.0) + "a", "an operand of a Value must be a Value or a real number, got str"),
    (lambda: Value(1.0) ** Value(2.0), "the exponent of a Value must be a real number (a constant), got Value"),
    (lambda: Value(-2.0) ** 0.5, "a negative base -2.0 with a non-integer exponent 0.5 has no real power"),
    (lambda: Value(0.0) ** 0.5, "x**0.5 has no finite derivative at x = 0"),
    (lambda: Value(1.0) / 0.0, "division of a Value by zero"),
    (lambda: Value(-1.0).log(), "log needs a positive argument, got -1.0"),
    (lambda: Value(1.0).backward("one"), "the seed gradient must be a real number, got str 'one'"),
    (lambda: Dual(1.0) + "a", "an operand of a Dual must be a Dual or a real number, got str"),
    (lambda: Dual(1.0) / 0.0, "division of a Dual by zero"),
    (lambda: Dual(1.0) ** "2", "the exponent of a Dual must be a real number, got str"),
    (lambda: Dual(-2.0) ** 0.5, "a negative base -2.0 with a non-integer exponent 0.5 has no real power"),
    (lambda: Dual(0.0) ** 0.5, "x**0.5 has no finite derivative at x = 0"),
    (lambda: Dual(0.0).log(), "log needs a positive argument, got 0.0"),
    (lambda: Dual(1.0, float("nan")), "Dual tangent must be finite, got nan"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_error_messages_exactly(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_repr_and_default_label():
    v = Value(2.0)
    assert v.label == "" and v.op == "" and v.parents == ()
    assert repr(v) == "Value(data=2, grad=0)"
    w = v * 1.5
    w.backward()
    assert repr(w) == "Value(data=3, grad=1, op='*')"
    assert repr(Dual(0.5, -2.0)) == "Dual(0.5, -2)"


def test_op_names_recorded_for_drawing():
    """Each operation records its name in .op: draw_graph prints it in the node's box."""
    a, b = Value(1.5), Value(0.5)
    cases = {"+": a + b, "*": a * b, "-": a - b, "/": a / b, "**2": a ** 2, "**-0.5": a ** -0.5, "neg": -a,
             "exp": a.exp(), "log": a.log(), "tanh": a.tanh(), "sigmoid": a.sigmoid(), "relu": a.relu()}
    for op, node in cases.items():
        assert node.op == op
    assert a.op == ""


def test_dual_value_message():
    with pytest.raises(ValueError) as info:
        Dual("x")
    assert str(info.value) == "Dual value must be a real number, got str 'x'"


# ------------------------------------------------------------------ forward over reverse: Hessian-vector products
from dlmath.autograd.scalar import hessian_vector_product  # noqa: E402


def _program(ops):
    """A scalar program of every operation, written once for Value, Dual and torch tensors."""
    exp, log, tanh, sigmoid, relu = ops

    def f(z):
        out = 0.0
        for i in range(len(z) - 1):
            a, b = z[i], z[i + 1]
            out = out + tanh(a * b) * exp(0.5 * a) + sigmoid(a - b) ** 2 + log(a * a + 1.5)
            out = out + relu(a + 0.1) * b / (b * b + 1.0) - (a - 2.0) ** 3 / 7.0 + b ** -2
        return out
    return f


VALUE_OPS = (lambda a: a.exp(), lambda a: a.log(), lambda a: a.tanh(), lambda a: a.sigmoid(), lambda a: a.relu())


@pytest.mark.parametrize("seed", range(5))
def test_hvp_against_torch(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n = 6
    x, v = rng.uniform(0.4, 1.6, n) * rng.choice([-1, 1], n), rng.standard_normal(n)
    x[np.abs(x + 0.1) < 0.05] += 0.2                          # away from the kink of relu(a + 0.1)
    grad, hv = hessian_vector_product(_program(VALUE_OPS), x, v)
    f_t = _program((torch.exp, torch.log, torch.tanh, torch.sigmoid, torch.relu))
    xt, vt = torch.tensor(x), torch.tensor(v)
    _, hv_t = torch.autograd.functional.hvp(lambda z: f_t(list(z)), xt, vt)
    xg = xt.clone().requires_grad_(True)
    f_t(list(xg)).backward()
    rel = lambda a, b: np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)  # noqa: E731
    assert rel(hv, hv_t.numpy()) < 1e-10
    assert rel(grad, xg.grad.numpy()) < 1e-12


def test_hvp_against_the_explicit_hessian():
    """SymPy's Hessian of f(x) = tanh(x1 x2) e^{x3} + x1^2 x3 - log(1 + x2^2), times v, at 4 seeds."""
    sp = pytest.importorskip("sympy")
    xs = sp.symbols("x1:4", real=True)
    f_s = sp.tanh(xs[0] * xs[1]) * sp.exp(xs[2]) + xs[0] ** 2 * xs[2] - sp.log(1 + xs[1] ** 2)
    H = sp.lambdify([xs], sp.hessian(f_s, xs), "numpy")
    g = sp.lambdify([xs], [sp.diff(f_s, s) for s in xs], "numpy")

    def f(z):
        return (z[0] * z[1]).tanh() * z[2].exp() + z[0] ** 2 * z[2] - (1 + z[1] ** 2).log()

    for seed in range(4):
        rng = np.random.default_rng(seed)
        x, v = rng.standard_normal(3), rng.standard_normal(3)
        grad, hv = hessian_vector_product(f, x, v)
        expected = np.asarray(H(x), dtype=float) @ v
        assert np.linalg.norm(np.asarray(hv) - expected) < 1e-13 * max(1.0, np.linalg.norm(expected))
        assert np.allclose(grad, g(x), rtol=1e-14, atol=1e-14)


def test_hvp_columns_give_the_hessian_and_it_is_symmetric():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(4)
    f = lambda z: (z[0] * z[1] + z[2]).tanh() * (z[3] - z[0]).sigmoid() + (z[1] * z[3]).exp()  # noqa: E731
    H = np.column_stack([hessian_vector_product(f, x, np.eye(4)[j])[1] for j in range(4)])
    assert np.allclose(H, H.T, rtol=0, atol=1e-13)
    v = rng.standard_normal(4)
    assert np.allclose(H @ v, hessian_vector_product(f, x, v)[1], rtol=1e-13, atol=1e-14)


def test_hvp_of_a_quadratic_is_exact():
    """f = x^T A x / 2 with symmetric integer A: H v = A v, exactly in floating point."""
    A = np.array([[2.0, -1.0, 0.0], [-1.0, 3.0, 4.0], [0.0, 4.0, 1.0]])
    v = np.array([1.0, -2.0, 0.5])

    def f(z):
        return 0.5 * sum(A[i, j] * z[i] * z[j] for i in range(3) for j in range(3))

    grad, hv = hessian_vector_product(f, [0.25, -1.5, 2.0], v)
    assert hv == list(A @ v)
    assert grad == list(A @ np.array([0.25, -1.5, 2.0]))


def test_hvp_of_an_unused_input_is_zero():
    grad, hv = hessian_vector_product(lambda z: z[0] * z[0], [3.0, 5.0], [1.0, 1.0])
    assert grad == [6.0, 0.0] and hv == [2.0, 0.0]


def test_value_over_dual_matches_value_and_dual():
    """The data of a Value may be a Dual: its value part is the plain Value's, tangents are Dual's."""
    for name, (fn, points) in UNARY.items():
        for x0 in points:
            plain = fn(Value(x0)).data
            dual = fn(Dual(x0, 1.0))
            node = Dual._lift(fn(Value(Dual(x0, 1.0))).data)  # relu of a negative Dual is the float 0.0
            assert node.value == plain, name                    # the same float operations
            assert node.tangent == pytest.approx(dual.tangent, rel=1e-15), name  # sigmoid: other rounding


@pytest.mark.parametrize("call, message", [
    (lambda: hessian_vector_product(lambda z: z[0], [1.0, 2.0], [1.0]), "same length"),
    (lambda: hessian_vector_product(lambda z: 3.0, [1.0], [1.0]), "must return a Value"),
])
def test_hvp_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
