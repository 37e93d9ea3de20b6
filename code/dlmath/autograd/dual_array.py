"""Forward over reverse for the Tensor engine: dual-number arrays, Hessian-vector products (ch. 8).

A :class:`DualArray` holds two float64 arrays of one shape, ``value`` and ``tangent``: entry by entry the
dual number value + tangent * eps with eps**2 = 0 (eq-backpropagation-dual). It implements the NumPy
operations that tensor.py applies to data and adjoints (arithmetic, ``@``, exp, log, tanh, abs, maximum,
comparisons on the value, sums, maxima, reshapes, broadcasting) through ``__array_ufunc__`` and
``__array_function__``, and raises for anything else. A ``Tensor`` accepts it as data, so its forward
and backward passes run on dual arrays unchanged, and :func:`tensor_hvp` reads the Hessian-vector
product from the tangents of the gradient (eq-backpropagation-hvp; Pearlmutter 1994). Needs tensor.py.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["DualArray", "tensor_hvp"]


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

    _is_dual_array = True       # what tensor.py looks for
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
