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

Checkpointing: :func:`checkpoint` runs a function without recording its graph, keeps its inputs and
output, and recomputes it, recording, when the backward pass reaches it; :func:`checkpoint_sequential`
cuts a chain of L layers into segments of k layers, as torch.utils.checkpoint.checkpoint_sequential
(same argument order). The graph then holds the L/k segment outputs and two segments of k layers (the
last one, and the one being recomputed) instead of all L layers, for at most one extra forward pass (eq-backpropagation-checkpoint; Chen, Xu, Zhang and Guestrin 2016). Parameters
captured inside a checkpointed function get their gradients from an inner backward pass, as in
PyTorch; they are not nodes of the outer graph, so reset their ``grad`` yourself between steps.

Forward over reverse: a :class:`DualArray` (value and tangent arrays, eq-backpropagation-dual) may be
a Tensor's data; the forward and backward passes then run on dual arrays unchanged, and
:func:`tensor_hvp` reads Hessian-vector products from the tangents of the gradient
(eq-backpropagation-hvp; Pearlmutter 1994).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Tensor", "unbroadcast", "topological_order", "checkpoint", "checkpoint_sequential",
           "DualArray", "tensor_hvp"]


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
    if not getattr(grad, "_is_dual_array", False):   # a DualArray (below) passes through
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
    if getattr(data, "_is_dual_array", False):     # forward over reverse (DualArray, below)
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


# -------------------------------------------------------------------------------------- checkpointing
def checkpoint(fn, *inputs):
    """``fn(*inputs)`` (Tensors in, one Tensor out) without storing its graph; recomputed in backward.

    The forward pass runs ``fn`` on constant copies of ``inputs`` and keeps only the output's
    data: the graph ``fn`` builds is dropped when it returns. The returned node's parents are
    ``inputs``; its backward runs ``fn`` again on fresh leaves, calls ``backward`` on that graph
    with the arriving adjoint (so parameters captured by ``fn`` accumulate their gradients) and
    hands the leaves' adjoints to the inputs. The gradients equal those of ``fn(*inputs)`` without
    checkpointing exactly when ``fn`` is deterministic (same operations in the same order).
    Chen et al. 2016; eq-backpropagation-checkpoint counts the memory of checkpoint_sequential.
    """
    if not callable(fn):
        raise ValueError(f"checkpoint needs a function, got {type(fn).__name__}")
    if not all(isinstance(t, Tensor) for t in inputs):
        raise ValueError("the inputs of checkpoint must be Tensors, got "
                         + ", ".join(type(t).__name__ for t in inputs))
    out = fn(*[Tensor(t.data, requires_grad=False) for t in inputs])  # its graph is dropped
    if not isinstance(out, Tensor):
        raise ValueError(f"a checkpointed function must return one Tensor, "
                         f"got {type(out).__name__}")

    def local(g):
        leaves = [Tensor(t.data, requires_grad=t.requires_grad) for t in inputs]
        again = fn(*leaves)                    # the recomputation, recorded this time
        if again.requires_grad:
            again.backward(g)                  # parameters inside fn accumulate here
        return tuple(np.zeros(t.shape) if t.grad is None else t.grad for t in leaves)

    # One node whose parents are the inputs; it needs a gradient if they or fn's parameters do.
    needs = out.requires_grad or any(t.requires_grad for t in inputs)
    return Tensor(out.data, requires_grad=needs, parents=inputs, op="checkpoint", _local=local)


def checkpoint_sequential(functions, segments, x):
    """``functions[-1](...functions[0](x))`` with every segment but the last checkpointed.

    ``functions``: a sequence of L callables Tensor -> Tensor (layers); ``segments``: the number of pieces,
    1 <= segments <= L, each of about k = L / segments consecutive layers (sizes as
    ``torch.utils.checkpoint.checkpoint_sequential``: L // segments each, the remainder in the last).
    Memory: about ``segments`` stored boundaries plus one segment's activations, L/k + k; time: the
    checkpointed layers run twice, at most one extra forward pass (Chen et al. 2016).
    """
    functions = list(functions)
    L = len(functions)
    if L == 0:
        raise ValueError("checkpoint_sequential needs at least one function")
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or not 1 <= segments <= L:
        raise ValueError(f"segments must be an integer from 1 to the number of functions {L}, "
                         f"got {segments!r}")
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a Tensor, got {type(x).__name__}")
    size = L // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        piece = functions[start:end + 1]

        def run(h, piece=piece):
            for fn in piece:
                h = fn(h)
            return h

        x = checkpoint(run, x)
    for fn in functions[end + 1:]:               # the last segment is recorded normally
        x = fn(x)
    return x


# ------------------------------------------------------------------------------ forward over reverse
def _parts(x):
    """(value, tangent) of a DualArray; (array, None) for anything else (a constant)."""
    if isinstance(x, DualArray):
        return x.value, x.tangent
    return np.asarray(x), None


def _add(*ts):
    ts = [t for t in ts if t is not None]
    return sum(ts[1:], ts[0]) if ts else None


def _dual(value, tangent):
    value = np.asarray(value, dtype=np.float64)
    return DualArray(value, np.zeros_like(value) if tangent is None else tangent)


class DualArray:
    """value + tangent * eps, entrywise; two float64 arrays of one shape."""

    _is_dual_array = True       # what _as_array and unbroadcast look for
    __array_priority__ = 200

    def __init__(self, value, tangent=None):
        value = np.array(value, dtype=np.float64)
        tangent = np.zeros_like(value) if tangent is None else np.array(tangent, dtype=np.float64)
        if tangent.shape != value.shape:
            tangent = np.broadcast_to(tangent, value.shape).copy()  # a tangent that broadcasts
        self.value, self.tangent = value, tangent

    # -------------------------------------------------------------------------- array protocol
    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    dtype = property(lambda self: self.value.dtype)

    def __repr__(self):
        return f"DualArray(value={self.value!r}, tangent={self.tangent!r})"

    def __getitem__(self, idx):
        return DualArray(self.value[idx], self.tangent[idx])

    def copy(self):
        return DualArray(self.value.copy(), self.tangent.copy())

    def reshape(self, *shape):
        return DualArray(self.value.reshape(*shape), self.tangent.reshape(*shape))

    def transpose(self, *axes):
        return DualArray(self.value.transpose(*axes), self.tangent.transpose(*axes))

    def sum(self, axis=None, keepdims=False):
        return DualArray(self.value.sum(axis=axis, keepdims=keepdims),
                         self.tangent.sum(axis=axis, keepdims=keepdims))

    def max(self, axis=None, keepdims=False):
        """The maximum; its tangent is the mean of the tangents of the entries that tie for it."""
        m = self.value.max(axis=axis, keepdims=True)
        mask = (self.value == m).astype(np.float64)
        t = (mask * self.tangent).sum(axis=axis, keepdims=True) / mask.sum(axis=axis, keepdims=True)
        if not keepdims:
            axes = tuple(range(self.ndim)) if axis is None else axis
            m, t = np.squeeze(m, axis=axes), np.squeeze(t, axis=axes)
        return DualArray(m, t)

    # ----------------------------------------------------------------------------- operators
    __add__ = lambda self, o: np.add(self, o)                 # noqa: E731
    __radd__ = lambda self, o: np.add(o, self)                # noqa: E731
    __sub__ = lambda self, o: np.subtract(self, o)            # noqa: E731
    __rsub__ = lambda self, o: np.subtract(o, self)           # noqa: E731
    __mul__ = lambda self, o: np.multiply(self, o)            # noqa: E731
    __rmul__ = lambda self, o: np.multiply(o, self)           # noqa: E731
    __truediv__ = lambda self, o: np.true_divide(self, o)     # noqa: E731
    __rtruediv__ = lambda self, o: np.true_divide(o, self)    # noqa: E731
    __matmul__ = lambda self, o: np.matmul(self, o)           # noqa: E731
    __rmatmul__ = lambda self, o: np.matmul(o, self)          # noqa: E731
    __pow__ = lambda self, p: np.power(self, p)               # noqa: E731
    __neg__ = lambda self: np.negative(self)                  # noqa: E731
    __gt__ = lambda self, o: np.greater(self, o)              # noqa: E731
    __ge__ = lambda self, o: np.greater_equal(self, o)        # noqa: E731
    __lt__ = lambda self, o: np.less(self, o)                 # noqa: E731
    __le__ = lambda self, o: np.less_equal(self, o)           # noqa: E731
    __eq__ = lambda self, o: np.equal(self, o)                # noqa: E731
    __hash__ = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise TypeError(f"DualArray does not support {ufunc.__name__}.{method} with {kwargs}")
        parts = [_parts(x) for x in inputs]
        (a, ta), (b, tb) = parts[0], (parts[1] if len(parts) > 1 else (None, None))
        name = ufunc.__name__
        if name in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
            return ufunc(a, b)                                   # a branch looks at the value
        if name == "add":
            return _dual(a + b, _add(ta, tb))
        if name == "subtract":
            return _dual(a - b, _add(ta, None if tb is None else -tb))
        if name == "multiply":
            return _dual(a * b, _add(None if ta is None else ta * b, None if tb is None else a * tb))
        if name in ("true_divide", "divide"):
            return _dual(a / b, _add(None if ta is None else ta / b,
                                     None if tb is None else -a * tb / (b * b)))
        if name == "matmul":
            return _dual(a @ b, _add(None if ta is None else ta @ b, None if tb is None else a @ tb))
        if name == "power":
            if tb is not None or np.ndim(b) != 0:
                raise TypeError("DualArray ** needs a constant scalar exponent")
            p = float(b)
            d = np.zeros_like(a) if p == 0 else p * a ** (p - 1)
            return _dual(a ** p, None if ta is None else d * ta)
        if name == "maximum":                                    # the larger argument's tangent
            pick = a > b                                         # ties take b's (relu'(0) = 0)
            return _dual(np.maximum(a, b), _add(None if ta is None else np.where(pick, ta, 0.0),
                                                None if tb is None else np.where(pick, 0.0, tb)))
        one = {"negative": (lambda: -a, lambda: -ta),
               "exp": (lambda: np.exp(a), lambda: np.exp(a) * ta),
               "log": (lambda: np.log(a), lambda: ta / a),
               "tanh": (lambda: np.tanh(a), lambda: (1.0 - np.tanh(a) ** 2) * ta),
               "absolute": (lambda: np.abs(a), lambda: np.sign(a) * ta)}
        if name in one and len(inputs) == 1:
            value, tangent = one[name]
            return _dual(value(), tangent())
        raise TypeError(f"DualArray does not support the ufunc {name}")

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        if name in ("broadcast_to", "expand_dims", "swapaxes", "squeeze", "reshape", "transpose"):
            x, rest = args[0], args[1:]
            return DualArray(func(x.value, *rest, **kwargs), func(x.tangent, *rest, **kwargs))
        if name == "where":
            cond, x, y = args
            (xv, xt), (yv, yt) = _parts(x), _parts(y)
            zx = np.zeros(np.shape(xv)) if xt is None else xt
            zy = np.zeros(np.shape(yv)) if yt is None else yt
            return DualArray(np.where(cond, xv, yv), np.where(cond, zx, zy))
        if name == "zeros_like":
            return np.zeros(args[0].shape)
        if name == "copy":
            return args[0].copy()
        if name == "sum":
            return args[0].sum(*args[1:], **kwargs)
        raise TypeError(f"DualArray does not support numpy.{name}")


def tensor_hvp(func, inputs, v):
    """Value, gradient and Hessian-vector product of ``func(*Tensors)``, a one-element Tensor.

    ``inputs`` and ``v``: sequences of float64 arrays of matching shapes. Each input becomes a
    Tensor whose data is ``DualArray(input, v_i)``; one forward and one backward pass of the
    Tensor engine then carry tangents, and each input's adjoint is ``DualArray(gradient, (H v)_i)``
    (eq-backpropagation-hvp). As ``torch.autograd.functional.hvp(func, inputs, v)``; exact up to
    rounding, about three times the array arithmetic of one gradient. Returns (value: float,
    gradients: list of arrays, H v: list of arrays), the arrays of the shapes of ``inputs``.
    """
    inputs, v = list(inputs), list(v)
    if len(inputs) != len(v):
        raise ValueError(f"inputs and v must have the same length, "
                         f"got {len(inputs)} and {len(v)}")
    for x, d in zip(inputs, v):
        if np.shape(x) != np.shape(d):
            raise ValueError(f"each v must have its input's shape, "
                             f"got {np.shape(d)} for {np.shape(x)}")
    leaves = [Tensor(DualArray(x, d)) for x, d in zip(inputs, v)]
    out = func(*leaves)
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError("func must return a one-element Tensor")
    out.backward()
    grads = [DualArray(np.zeros(np.shape(x))) if leaf.grad is None else _dual(*_parts(leaf.grad))
             for x, leaf in zip(inputs, leaves)]                # an unused input: zeros
    value = float(out.data.value.reshape(-1)[0])
    return value, [g.value for g in grads], [g.tangent for g in grads]
