"""A reverse-mode automatic differentiation engine over float64 NumPy arrays, with broadcasting (chapter 8).

A :class:`Tensor` holds ``data`` (a float64 array, copied from the input so the caller's array is never
aliased or modified), ``grad`` (``None`` until a backward pass reaches it), ``parents`` and a closure
mapping the node's adjoint to one contribution per parent (eq-backpropagation-adjoint). Binary
operations broadcast like NumPy; their backward passes sum the adjoint over the broadcast axes with
:func:`unbroadcast` (eq-backpropagation-unbroadcast). Matrix products use eq-backpropagation-linear.
Names follow torch: reductions take ``dim`` and keyword-only ``keepdim``; ``amax`` (and ``max`` with no
``dim``) shares the adjoint equally among tied maxima, as torch.amax does; ``permute`` reorders axes and
``transpose`` swaps two.

PyTorch semantics: gradients accumulate over uses of a node and over calls of ``backward()``;
``backward()`` of a tensor with more than one element needs an explicit ``gradient`` (ValueError
otherwise); tensors with ``requires_grad=False`` receive no gradient. Only NumPy is imported.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Tensor", "unbroadcast", "topological_order"]


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


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes along which ``shape`` was broadcast.

    If ``a`` of shape ``shape`` was broadcast to ``grad.shape`` in the forward
    pass, each entry of ``a`` was used once per copy, so its adjoint is the sum
    of the adjoints of its copies (eq-backpropagation-unbroadcast): leading axes
    that broadcasting added are summed away, axes where ``shape`` has 1 are
    summed with keepdims.
    """
    if not getattr(grad, "_is_dual_array", False):   # dual_array.DualArray passes through
        grad = np.asarray(grad)
    shape = tuple(shape)
    try:
        ok = np.broadcast_shapes(shape, grad.shape) == grad.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"a gradient of shape {grad.shape} cannot come from "
                         f"broadcasting shape {shape}")
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))  # axes added in front
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)  # axes stretched from 1
    return grad.reshape(shape)


def _as_array(data, what="Tensor data"):
    if getattr(data, "_is_dual_array", False):     # forward over reverse (dual_array.py)
        return data.copy()
    arr = np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be real numbers (converted to float64), got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)  # a copy: never aliases the caller's array


def _normalize_dims(dim, ndim):
    """``dim`` (None for all, an int or a tuple of ints) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    axes = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"dim {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


class Tensor:
    """A node of a computation graph over float64 arrays: ``data``, ``grad``, ``parents``, local closure.

    ``requires_grad`` defaults to True here (torch's default is False): a Tensor made by the reader is a
    parameter or input to differentiate; numbers and arrays mixed into expressions become constants.
    """

    __array_priority__ = 100  # numpy_array + tensor calls Tensor.__radd__, not NumPy's elementwise loop

    def __init__(self, data, *, requires_grad=True, parents=(), op="", label="", _local=None):
        self.data = _as_array(data)
        self.grad = None
        self.parents = tuple(parents)
        self.requires_grad = bool(requires_grad)
        self.op = op
        self.label = label
        self._local = _local  # adjoint g -> tuple of contributions, one per parent, each of the parent's shape

    # ------------------------------------------------------------------------------------ basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __repr__(self):
        return f"Tensor(shape={self.shape}, op={self.op!r}, data={np.array2string(self.data, precision=4)})"

    @staticmethod
    def _lift(other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (numbers.Real, np.ndarray, list, tuple)) and not isinstance(other, bool):
            return Tensor(other, requires_grad=False)
        raise ValueError(f"an operand of a Tensor must be a Tensor, an array or a real number, got {type(other).__name__}")

    def _make(self, data, parents, op, local):
        """A child node; it needs a gradient if any parent does."""
        req = any(p.requires_grad for p in parents)
        return Tensor(data, requires_grad=req, parents=parents, op=op, _local=local if req else None)

    def _operand(self, other, op):
        """``other`` as a Tensor whose shape broadcasts with ours (ValueError otherwise)."""
        other = Tensor._lift(other)
        try:
            np.broadcast_shapes(self.shape, other.shape)
        except ValueError:
            raise ValueError(f"{op}: shapes {self.shape} and {other.shape} do not broadcast") from None
        return other

    # ------------------------------------------------------------------------------- arithmetic
    def __add__(self, other):
        other = self._operand(other, "+")
        sa, sb = self.shape, other.shape
        return self._make(self.data + other.data, (self, other), "+",
                          lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)))

    def __sub__(self, other):
        other = self._operand(other, "-")
        sa, sb = self.shape, other.shape
        return self._make(self.data - other.data, (self, other), "-",
                          lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)))

    def __mul__(self, other):
        other = self._operand(other, "*")
        a, b = self.data, other.data
        return self._make(a * b, (self, other), "*",
                          lambda g: (unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)))

    def __truediv__(self, other):
        other = self._operand(other, "/")
        a, b = self.data, other.data
        if np.any(b == 0):
            raise ValueError("division of a Tensor by an array with a zero entry")
        return self._make(a / b, (self, other), "/",
                          lambda g: (unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)))

    def __pow__(self, p):
        if isinstance(p, (Tensor, bool)) or not isinstance(p, numbers.Real):
            raise ValueError(f"the exponent of a Tensor must be a real number, got {type(p).__name__}")
        p, a = float(p), self.data
        if not p.is_integer() and np.any(a < 0):
            raise ValueError(f"a negative entry with the non-integer exponent {p} has no real power")
        if p < 1 and p != 0 and np.any(a == 0):
            raise ValueError(f"x**{p} has no finite derivative at a zero entry")
        d = np.zeros_like(a) if p == 0 else p * a ** (p - 1)
        return self._make(a ** p, (self,), f"**{p:g}", lambda g: (g * d,))

    def __neg__(self):
        return self._make(-self.data, (self,), "neg", lambda g: (-g,))

    def __radd__(self, other):
        return Tensor._lift(other) + self

    def __rsub__(self, other):
        return Tensor._lift(other) - self

    def __rmul__(self, other):
        return Tensor._lift(other) * self

    def __rtruediv__(self, other):
        return Tensor._lift(other) / self

    def __matmul__(self, other):
        """Matrix product, NumPy's rules; adjoints eq-backpropagation-matmul."""
        other = Tensor._lift(other)
        a, b = self.data, other.data
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("@ needs operands with at least one dimension, "
                             f"got shapes {a.shape} and {b.shape}")
        a2 = a[None, :] if a.ndim == 1 else a  # (..., n, k): a vector is a 1 x k matrix
        b2 = b[:, None] if b.ndim == 1 else b  # (..., k, m): a vector is a k x 1 matrix
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"@: inner dimensions differ, {a.shape} and {b.shape}")
        out2 = a2 @ b2                           # (..., n, m)

        def local(g):
            g2 = g.reshape(out2.shape)           # undo the squeezing of vector operands
            ga = g2 @ np.swapaxes(b2, -1, -2)    # A-bar = G B^T
            gb = np.swapaxes(a2, -1, -2) @ g2    # B-bar = A^T G
            return (unbroadcast(ga, a2.shape).reshape(a.shape),  # sum batch axes
                    unbroadcast(gb, b2.shape).reshape(b.shape))

        return self._make(a @ b, (self, other), "@", local)

    def __rmatmul__(self, other):
        return Tensor._lift(other) @ self

    # -------------------------------------------------------------------------- reductions and shape
    def sum(self, dim=None, *, keepdim=False):
        """Sum over ``dim`` (None: all axes; an int or a tuple), as torch.sum; adjoint: broadcast back."""
        axes = _normalize_dims(dim, self.ndim)
        shape = self.shape

        def local(g):
            if not keepdim:
                g = np.expand_dims(g, axes)  # put the summed axes back as length-1 axes
            return (np.broadcast_to(g, shape).copy(),)

        return self._make(self.data.sum(axis=axes, keepdims=keepdim), (self,), "sum", local)

    def mean(self, dim=None, *, keepdim=False):
        """Mean over ``dim``, as torch.mean: the sum divided by the number of entries summed."""
        axes = _normalize_dims(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        if count == 0:
            raise ValueError("mean over an empty axis")
        return self.sum(axes, keepdim=keepdim) * (1.0 / count)

    def amax(self, dim=None, *, keepdim=False):
        """Maximum over ``dim``, as torch.amax: entries that tie for the maximum share its adjoint equally.

        (torch.max(x, dim) differs: it returns indices too and sends the whole adjoint to one of them.)
        """
        axes = _normalize_dims(dim, self.ndim)
        if self.size == 0:
            raise ValueError("max of an empty tensor")
        a = self.data
        m = a.max(axis=axes, keepdims=True)
        mask = (a == m).astype(np.float64)
        mask /= mask.sum(axis=axes, keepdims=True)

        def local(g):
            if not keepdim:
                g = np.expand_dims(g, axes)
            return (g * mask,)

        out = m if keepdim else np.squeeze(m, axis=axes)
        return self._make(out, (self,), "amax", local)

    def max(self):
        """The largest entry, as torch.max with no ``dim``: ties share the adjoint equally, as in :meth:`amax`."""
        return self.amax()

    def logsumexp(self, dim=None, *, keepdim=False):
        """log sum exp over ``dim``, shifted by the maximum so it never overflows; adjoint: softmax."""
        axes = _normalize_dims(dim, self.ndim)
        a = self.data
        m = a.max(axis=axes, keepdims=True)
        e = np.exp(a - m)
        s = e.sum(axis=axes, keepdims=True)
        out = m + np.log(s)
        p = e / s                                # the softmax over the reduced axes

        def local(g):
            if not keepdim:
                g = np.expand_dims(g, axes)
            return (g * p,)

        return self._make(out if keepdim else np.squeeze(out, axis=axes), (self,), "logsumexp", local)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {old} into {shape}") from None
        return self._make(out, (self,), "reshape", lambda g: (g.reshape(old),))

    def permute(self, *dims):
        """The axes reordered, as torch.permute: axis i of the result is axis ``dims[i]`` of the input."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if sorted(a % max(self.ndim, 1) for a in dims) != list(range(self.ndim)):
            raise ValueError(f"permute needs a permutation of the {self.ndim} axes, got {dims}")
        inverse = np.argsort([a % self.ndim for a in dims])
        return self._make(self.data.transpose(dims), (self,), "permute", lambda g: (g.transpose(inverse),))

    def transpose(self, dim0, dim1):
        """Axes ``dim0`` and ``dim1`` swapped, as torch.transpose."""
        dims = list(range(self.ndim))
        try:
            dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        except (IndexError, TypeError):
            raise ValueError(f"transpose: dims {dim0} and {dim1} are not axes of a tensor with "
                             f"{self.ndim} dimensions") from None
        return self.permute(dims)

    @property
    def T(self):
        """All axes reversed (a matrix transposed)."""
        return self.permute(tuple(reversed(range(self.ndim))))

    # --------------------------------------------------------------------------- elementwise functions
    def exp(self):
        e = np.exp(self.data)
        return self._make(e, (self,), "exp", lambda g: (g * e,))

    def log(self):
        a = self.data
        if np.any(a <= 0):
            raise ValueError("log needs positive entries")
        return self._make(np.log(a), (self,), "log", lambda g: (g / a,))

    def tanh(self):
        t = np.tanh(self.data)
        return self._make(t, (self,), "tanh", lambda g: (g * (1.0 - t * t),))

    def sigmoid(self):
        a = self.data
        e = np.exp(-np.abs(a))                   # in (0, 1]: no overflow for any input
        s = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        d = e / ((1.0 + e) * (1.0 + e))          # sigma(a) sigma(-a) = s (1 - s), without 1 - s cancelling
        return self._make(s, (self,), "sigmoid", lambda g: (g * d,))

    def relu(self):
        a = self.data
        return self._make(np.maximum(a, 0.0), (self,), "relu", lambda g: (g * (a > 0),))

    # ----------------------------------------------------------------------------------- reverse mode
    def backward(self, gradient=None):
        """Accumulate d(sum(gradient * self))/d(node) into ``node.grad`` for every node needing a gradient.

        ``gradient`` (the seed, of this tensor's shape) may be omitted only for a one-element tensor,
        as in PyTorch. The adjoints of one call are summed per node first (eq-backpropagation-adjoint)
        and then added to ``grad``, so repeated calls accumulate exactly.
        """
        if not self.requires_grad:
            raise ValueError("backward() on a tensor that does not require a gradient")
        if gradient is None:
            if self.size != 1:
                raise ValueError(f"backward() of a tensor of shape {self.shape} "
                                 "needs an explicit gradient")
            gradient = np.ones(self.shape)
        gradient = _as_array(gradient, "the seed gradient")
        if gradient.shape != self.shape:
            raise ValueError(f"the seed gradient must have shape {self.shape}, got {gradient.shape}")
        adjoint = {id(self): gradient}
        for node in reversed(topological_order(self)):
            g = adjoint.pop(id(node), None)
            if g is None or not node.requires_grad:
                continue
            node.grad = g.copy() if node.grad is None else node.grad + g   # never in place
            if node._local is None:
                continue
            for parent, contribution in zip(node.parents, node._local(g)):
                if parent.requires_grad:
                    k = id(parent)
                    adjoint[k] = contribution if k not in adjoint else adjoint[k] + contribution

    def zero_grad(self):
        """Reset ``grad`` to ``None`` for every node of the graph that ends in this tensor."""
        for node in topological_order(self):
            node.grad = None
