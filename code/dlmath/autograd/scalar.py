"""A scalar reverse-mode automatic differentiation engine, and dual numbers for forward mode (chapter 8).

A :class:`Value` holds one float (``data``), its accumulated adjoint (``grad``), the nodes it was
computed from (``parents``) and a closure that maps the node's adjoint to the contributions it sends
to each parent, ``grad * d(out)/d(parent)``. ``Value.backward()`` sorts the graph topologically
(iteratively, so graphs of any depth work) and applies the adjoint recursion eq-backpropagation-adjoint
once per node in reverse order. A :class:`Dual` carries a value and a tangent and implements forward
mode, eq-backpropagation-tangent and eq-backpropagation-dual.

Forward over reverse: the data of a ``Value`` may itself be a ``Dual``. The reverse pass then runs in
dual arithmetic, so every adjoint carries a tangent, and the tangent of the gradient along ``v`` is the
Hessian-vector product (eq-backpropagation-hvp; Pearlmutter 1994). :func:`hessian_vector_product` does
this exactly to rounding, with no step size, for a small constant times the cost of one gradient.

Semantics follow PyTorch: gradients *accumulate*. A node used twice receives the sum of the
contributions of both uses; calling ``backward()`` a second time adds the same gradients again
(every ``grad`` doubles), so reset with ``zero_grad()`` between independent computations.
Only the standard library is imported. References: Linnainmaa (1976), Rumelhart, Hinton and Williams
(1986), Griewank and Walther (2008).
"""
from __future__ import annotations

import math
import numbers

__all__ = ["Value", "Dual", "topological_order", "hessian_vector_product"]


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_number(x, what: str) -> float:
    if isinstance(x, Dual):  # a Value over dual numbers (forward over reverse)
        return x
    if not _is_number(x):
        raise ValueError(f"{what} must be a real number, got {type(x).__name__} {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {x}")
    return x


def _real(x) -> float:
    """The real part of a float or a Dual: what a branch (a kink, a domain check) looks at."""
    return x.value if isinstance(x, Dual) else x


def _exp(x):
    return x.exp() if isinstance(x, Dual) else math.exp(x)


def _log(x):
    return x.log() if isinstance(x, Dual) else math.log(x)


def _tanh(x):
    return x.tanh() if isinstance(x, Dual) else math.tanh(x)


def topological_order(root):
    """Every node ``root`` depends on, parents before children (``root`` last).

    Depth-first search with an explicit stack instead of recursion, so a chain
    of 100,000 nodes is fine. Works for any node type with a ``parents`` tuple.
    The same function is written out in scalar.py and tensor.py so that each
    file can be copied alone.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:  # all its parents are already in `order`
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if id(parent) not in seen:
                stack.append((parent, False))
    return order


class Value:
    """A scalar node of a computation graph: ``data``, ``grad``, ``parents`` and a local-derivative closure."""

    __slots__ = ("data", "grad", "parents", "op", "label", "_local")

    def __init__(self, data, parents=(), op="", *, label="", _local=None):
        self.data = _check_number(data, "Value data")
        self.grad = 0.0
        self.parents = tuple(parents)
        self.op = op          # the operation that produced this node ("" for a leaf)
        self.label = label    # an optional name, used by draw_graph
        self._local = _local  # adjoint g -> tuple of contributions g * d(self)/d(parent)

    def __repr__(self):
        fmt = lambda x: repr(x) if isinstance(x, Dual) else f"{x:.6g}"  # noqa: E731
        return f"Value(data={fmt(self.data)}, grad={fmt(self.grad)}{', op=' + repr(self.op) if self.op else ''})"

    @staticmethod
    def _lift(other):
        """A Value for ``other``: Values pass through, real numbers become constant leaves."""
        if isinstance(other, Value):
            return other
        if _is_number(other) or isinstance(other, Dual):
            return Value(other)
        raise ValueError(f"an operand of a Value must be a Value or a real number, got {type(other).__name__}")

    # ------------------------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        other = Value._lift(other)
        return Value(self.data + other.data, (self, other), "+", _local=lambda g: (g, g))

    def __mul__(self, other):
        other = Value._lift(other)
        a, b = self.data, other.data  # the closure captures numbers, not nodes
        return Value(a * b, (self, other), "*",
                     _local=lambda g: (g * b, g * a))  # d(ab)/da = b, d(ab)/db = a

    def __pow__(self, p):
        if isinstance(p, Value) or not _is_number(p):
            raise ValueError(f"the exponent of a Value must be a real number (a constant), got {type(p).__name__}")
        p, a = float(p), self.data
        if _real(a) < 0 and not p.is_integer():
            raise ValueError(f"a negative base {a} with a non-integer exponent {p} has no real power")
        if _real(a) == 0 and p < 1 and p != 0:
            raise ValueError(f"x**{p} has no finite derivative at x = 0")
        d = 0.0 if p == 0 else p * a ** (p - 1)  # the local derivative, computed once
        return Value(a ** p, (self,), f"**{p:g}", _local=lambda g: (g * d,))

    def __neg__(self):
        return Value(-self.data, (self,), "neg", _local=lambda g: (-g,))

    def __sub__(self, other):
        other = Value._lift(other)
        return Value(self.data - other.data, (self, other), "-", _local=lambda g: (g, -g))

    def __truediv__(self, other):
        other = Value._lift(other)
        a, b = self.data, other.data
        if _real(b) == 0:
            raise ValueError("division of a Value by zero")
        return Value(a / b, (self, other), "/", _local=lambda g: (g / b, -g * a / (b * b)))

    def __radd__(self, other):
        return Value._lift(other) + self

    def __rsub__(self, other):
        return Value._lift(other) - self

    def __rmul__(self, other):
        return Value._lift(other) * self

    def __rtruediv__(self, other):
        return Value._lift(other) / self

    # ------------------------------------------------------------------------------ elementary functions
    def exp(self):
        e = _exp(self.data)  # OverflowError above ~709, like any float exp
        return Value(e, (self,), "exp", _local=lambda g: (g * e,))

    def log(self):
        a = self.data
        if _real(a) <= 0:
            raise ValueError(f"log needs a positive argument, got {a}")
        return Value(_log(a), (self,), "log", _local=lambda g: (g / a,))

    def tanh(self):
        t = _tanh(self.data)
        return Value(t, (self,), "tanh", _local=lambda g: (g * (1.0 - t * t),))

    def sigmoid(self):
        a = self.data
        e = _exp(-a if _real(a) >= 0 else a)  # exp(-|a|): exp of a non-positive number never overflows
        s = 1.0 / (1.0 + e) if _real(a) >= 0 else e / (1.0 + e)
        d = e / ((1.0 + e) * (1.0 + e))  # sigma(a) sigma(-a) = s (1 - s), without 1 - s cancelling
        return Value(s, (self,), "sigmoid", _local=lambda g: (g * d,))

    def relu(self):
        a = self.data
        on = _real(a) > 0  # relu'(0) = 0, as in PyTorch
        return Value(a if on else 0.0, (self,), "relu", _local=lambda g: (g if on else 0.0,))

    # ----------------------------------------------------------------------------------- reverse mode
    def local_grads(self):
        """The local derivatives d(self)/d(parent), one per parent: the edge weights of the graph."""
        return () if self._local is None else tuple(self._local(1.0))

    def backward(self, grad=1.0):
        """Add grad * d(self)/d(node) to ``node.grad`` for every node of the graph.

        Implements eq-backpropagation-adjoint. The adjoints of this call are summed
        in a dictionary first and added to ``.grad`` once per node, so a second
        call adds exactly the same amounts again (PyTorch's accumulation).
        Reset with :meth:`zero_grad`.
        """
        grad = _check_number(grad, "the seed gradient")
        order = topological_order(self)
        adjoint = {id(self): grad}
        for node in reversed(order):  # children before parents
            g = adjoint.pop(id(node), 0.0)
            node.grad += g
            if node._local is not None:
                for parent, contrib in zip(node.parents, node._local(g)):
                    # the sum over children: add, never assign
                    adjoint[id(parent)] = adjoint.get(id(parent), 0.0) + contrib

    def zero_grad(self):
        """Set ``grad`` to 0 for every node of the graph that ends in this node."""
        for node in topological_order(self):
            node.grad = 0.0


class Dual:
    """A dual number ``value + tangent * eps`` with eps**2 = 0: one forward-mode pass (eq-backpropagation-dual).

    Seeding the tangent of input i with 1 and the others with 0 gives d(output)/d(x_i) in the output's
    tangent (eq-backpropagation-tangent): a full gradient of f: R^n -> R needs n passes.
    """

    __slots__ = ("value", "tangent")

    def __init__(self, value, tangent=0.0):
        self.value = _check_number(value, "Dual value")
        self.tangent = _check_number(tangent, "Dual tangent")

    def __repr__(self):
        return f"Dual({self.value:.6g}, {self.tangent:.6g})"

    @staticmethod
    def _lift(other):
        if isinstance(other, Dual):
            return other
        if _is_number(other):
            return Dual(other, 0.0)
        raise ValueError(f"an operand of a Dual must be a Dual or a real number, got {type(other).__name__}")

    def __add__(self, other):
        o = Dual._lift(other)
        return Dual(self.value + o.value, self.tangent + o.tangent)

    def __sub__(self, other):
        o = Dual._lift(other)
        return Dual(self.value - o.value, self.tangent - o.tangent)

    def __mul__(self, other):
        o = Dual._lift(other)
        return Dual(self.value * o.value, self.tangent * o.value + self.value * o.tangent)

    def __truediv__(self, other):
        o = Dual._lift(other)
        if o.value == 0:
            raise ValueError("division of a Dual by zero")
        return Dual(self.value / o.value, (self.tangent * o.value - self.value * o.tangent) / (o.value * o.value))

    def __pow__(self, p):
        if not _is_number(p):
            raise ValueError(f"the exponent of a Dual must be a real number, got {type(p).__name__}")
        p, a = float(p), self.value
        if a < 0 and not p.is_integer():
            raise ValueError(f"a negative base {a} with a non-integer exponent {p} has no real power")
        if a == 0 and p < 1 and p != 0:
            raise ValueError(f"x**{p} has no finite derivative at x = 0")
        d = 0.0 if p == 0 else p * a ** (p - 1)  # as in Value.__pow__
        return Dual(a ** p, d * self.tangent)

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    def __radd__(self, other):
        return Dual._lift(other) + self

    def __rsub__(self, other):
        return Dual._lift(other) - self

    def __rmul__(self, other):
        return Dual._lift(other) * self

    def __rtruediv__(self, other):
        return Dual._lift(other) / self

    def exp(self):
        e = math.exp(self.value)
        return Dual(e, e * self.tangent)

    def log(self):
        if self.value <= 0:
            raise ValueError(f"log needs a positive argument, got {self.value}")
        return Dual(math.log(self.value), self.tangent / self.value)

    def tanh(self):
        t = math.tanh(self.value)
        return Dual(t, (1.0 - t * t) * self.tangent)

    def sigmoid(self):
        s = Value(self.value).sigmoid().data
        return Dual(s, s * (1.0 - s) * self.tangent)

    def relu(self):
        return Dual(max(self.value, 0.0), self.tangent if self.value > 0 else 0.0)


def hessian_vector_product(f, x, v):
    """Gradient and Hessian-vector product of a program ``f`` at ``x`` along ``v``: forward over reverse.

    ``f`` maps a list of ``Value`` (one per entry of ``x``) to one ``Value``. Each input is a
    ``Value`` whose data is the dual number ``Dual(x_i, v_i)``; one call of ``f`` and one
    ``backward()`` then run the reverse pass in dual arithmetic, so each input's adjoint is
    ``Dual(df/dx_i, (H v)_i)`` (eq-backpropagation-hvp; Pearlmutter 1994). Exact up to rounding,
    no step size, a constant times the cost of one gradient; the Hessian is never formed.
    Returns two lists of floats of the length of ``x``: the gradient and H v.
    """
    x, v = list(x), list(v)
    if len(x) != len(v):
        raise ValueError(f"x and v must have the same length, got {len(x)} and {len(v)}")
    leaves = [Value(Dual(xi, vi)) for xi, vi in zip(x, v)]
    out = f(leaves)
    if not isinstance(out, Value):
        raise ValueError(f"f must return a Value, got {type(out).__name__}")
    out.backward()
    adj = [Dual._lift(leaf.grad) for leaf in leaves]  # an input f does not use keeps grad 0.0
    return [a.value for a in adj], [a.tangent for a in adj]
