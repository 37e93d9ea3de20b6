"""Small linear-algebra helpers used in chapter 1 (Linear algebra).

Shapes follow NumPy: a matrix is an array of shape ``(m, n)``; a stack of matrices has shape
``(..., m, n)``. Only NumPy is needed; randomness comes from a ``numpy.random.Generator``
argument. The equations implemented are named by their labels in the book
(``eq-linear-algebra-...``).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "broadcast_shape", "matmul_shape", "condition_number", "spectral_norm",
    "matrix_with_singular_values", "low_rank_factors", "data_low_rank_factors", "pinv", "pca",
]


# ------------------------------------------------------------------------------------------ checks
def _check_shape(shape):
    """A shape is a tuple (or list) of non-negative integers; return it as a tuple."""
    if not isinstance(shape, (tuple, list)):
        raise ValueError(f"a shape must be a tuple of non-negative integers, got {shape!r}")
    for s in shape:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
            raise ValueError(f"a shape must be a tuple of non-negative integers, "
                             f"got {tuple(shape)!r}")
    return tuple(int(s) for s in shape)


def _check_matrix(A, name="A", square=False, allow_stack=False):
    A = np.asarray(A)
    if not np.issubdtype(A.dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {A.dtype}")
    if A.ndim != 2 and not (allow_stack and A.ndim > 2):
        expected = "(..., m, n)" if allow_stack else "(m, n)"
        raise ValueError(f"{name} must have shape {expected}, got shape {A.shape}")
    if A.shape[-1] == 0 or A.shape[-2] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {A.shape}")
    if square and A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be square, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} must contain only finite numbers")
    return A


def _check_positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_generator(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


# ------------------------------------------------------------------------------------------ shapes
def broadcast_shape(*shapes):
    """The shape that NumPy's broadcasting gives to arrays of the given shapes.

    Implements eq-linear-algebra-broadcast: shapes are aligned at their trailing end (the
    shorter ones padded with 1 on the left); in each position the sizes must agree or be 1,
    and a size 1 stretches to the other size. Raises ValueError naming the shapes when a
    position holds two different sizes, neither of them 1. Same as ``np.broadcast_shapes``.
    """
    shapes = [_check_shape(s) for s in shapes]
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + s for s in shapes]  # align trailing dimensions
    out = []
    for k in range(ndim):
        sizes = {p[k] for p in padded} - {1}  # a size 1 stretches
        if len(sizes) > 1:
            raise ValueError(f"shapes {', '.join(map(str, shapes))} cannot be broadcast: "
                             f"axis {k - ndim} has sizes {sorted(sizes)}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def matmul_shape(shape_a, shape_b):
    """The shape of ``a @ b`` for arrays of these shapes (eq-linear-algebra-shape-rule).

    ``(m, n) @ (n, p) -> (m, p)``; leading (batch) dimensions broadcast as in
    broadcast_shape. As in NumPy, a 1-D left operand ``(n,)`` is read as ``(1, n)``, a 1-D
    right operand as ``(n, 1)``, and the added axis is dropped from the result. Raises
    ValueError when the inner sizes differ, an operand is 0-D, or the batch dimensions do
    not broadcast.
    """
    a, b = _check_shape(shape_a), _check_shape(shape_b)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul needs operands with at least one dimension, "
                         f"got shapes {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul of shapes {a} and {b}: "
                         f"inner sizes {a2[-1]} and {b2[-2]} differ")
    batch = broadcast_shape(a2[:-2], b2[:-2])
    rows = (a2[-2],) if len(a) > 1 else ()
    cols = (b2[-1],) if len(b) > 1 else ()
    return batch + rows + cols


# ------------------------------------------------------------------------------------ conditioning
def condition_number(A):
    """The 2-norm condition number ``s_max / s_min`` of ``A``.

    Implements eq-linear-algebra-condition-number. ``A`` has shape ``(m, n)`` or
    ``(..., m, n)`` (one value per matrix); ``s_min`` is the smallest of the
    ``min(m, n)`` singular values. Returns ``inf`` where ``s_min`` is 0. Same as
    ``np.linalg.cond(A)`` and ``torch.linalg.cond(A)``.
    """
    A = _check_matrix(A, allow_stack=True)
    s = np.linalg.svd(A, compute_uv=False)  # (..., min(m, n)), descending
    s_max, s_min = s[..., 0], s[..., -1]
    safe_min = np.where(s_min > 0, s_min, 1.0)  # no division by 0 where the answer is inf
    return np.where(s_min > 0, s_max / safe_min, np.inf)[()]  # a scalar for one matrix


def spectral_norm(A, rng, n_iter=500, tol=1e-14):
    """The spectral norm ``||A||_2 = s_max`` by power iteration on ``A^T A``.

    Implements eq-linear-algebra-spectral-norm. ``A`` has shape ``(m, n)``. Starts from a
    random unit vector drawn from ``rng``; stops when the estimate changes by less than
    ``tol`` (relative) or after ``n_iter`` iterations. After k steps the angle between ``v``
    and ``v_1`` decays like ``(s_2 / s_1)^(2k)`` and the relative error of the
    estimate like its square, ``(s_2 / s_1)^(4k)``. Compare ``np.linalg.norm(A, 2)``.
    """
    A = _check_matrix(A)
    rng = _check_generator(rng)
    n_iter = _check_positive_int("n_iter", n_iter)
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    v = rng.standard_normal(A.shape[1])  # (n,)
    v /= np.linalg.norm(v)
    s_est = 0.0
    for _ in range(n_iter):
        u = A @ v  # (m,)
        new_s = np.linalg.norm(u)
        if new_s == 0.0:  # A = 0, or v fell in the null space of A: draw again
            if not np.any(A):
                return 0.0
            v = rng.standard_normal(A.shape[1])
            v /= np.linalg.norm(v)
            continue
        w = A.T @ u  # (n,) = A^T A v
        v = w / np.linalg.norm(w)
        if abs(new_s - s_est) <= tol * new_s:
            return float(new_s)
        s_est = new_s
    return float(np.linalg.norm(A @ v))


def matrix_with_singular_values(s, rng, m=None):
    """A random ``(m, n)`` matrix ``U diag(s) V^T`` with singular values ``s``.

    ``s`` has shape ``(n,)`` (non-negative); ``m >= n`` defaults to ``n``. ``U`` (m, n) and
    ``V`` (n, n) have orthonormal columns: the Q factors of Gaussian matrices drawn from
    ``rng``. The result is an SVD as in eq-linear-algebra-svd.
    """
    s = np.asarray(s)
    if s.ndim != 1 or s.shape[0] < 1:
        raise ValueError(f"s must have shape (n,) with n >= 1, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.number) or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("s must hold finite non-negative numbers")
    rng = _check_generator(rng)
    n = s.shape[0]
    m = n if m is None else _check_positive_int("m", m)
    if m < n:
        raise ValueError(f"m must be at least len(s) = {n}, got m = {m}")
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))  # (m, n), orthonormal columns
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))  # (n, n), orthogonal
    return (U * s.astype(float)) @ V.T  # U diag(s) V^T without forming diag(s)


# ------------------------------------------------------------------------- low-rank factors
def _check_rank(r, limit):
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 0 <= r <= limit:
        raise ValueError(f"r must be an integer between 0 and {limit}, got {r!r}")
    return int(r)


def low_rank_factors(W, r):
    """The rank-``r`` truncated SVD of ``W`` as two factors, ``B = U_r S_r`` and ``C = V_r^T``.

    ``W`` has shape ``(m, d)`` and ``0 <= r <= min(m, d)``; ``B`` is ``(m, r)``, ``C`` is ``(r, d)``.
    ``B @ C`` is the best approximation of rank at most ``r`` in the Frobenius and the spectral
    norm (Eckart-Young, eq-linear-algebra-eckart-young); its Frobenius error is the root of the
    discarded squared singular values (eq-mlp-low-rank-error). A layer ``x -> W x`` stored this
    way costs ``r (m + d)`` weights instead of ``m d``.
    """
    W = _check_matrix(W, name="W")
    r = _check_rank(r, min(W.shape))
    U, s, Vt = np.linalg.svd(W, full_matrices=False)  # (m, k), (k,), (k, d), k = min(m, d)
    return U[:, :r] * s[:r], Vt[:r]  # U_r S_r without forming S_r


def data_low_rank_factors(W, X, r, *, rtol=1e-10):
    """Factors of the ``W_hat`` of rank at most ``r`` that minimizes ``||X (W - W_hat)^T||_F``.

    ``W`` (m, d) is a layer's weight and ``X`` (N, d) the inputs it sees: the error is that of
    the layer's outputs on ``X``, not of the weights. With the thin SVD ``X = U_X S_X V_X^T``
    kept to the k singular values above ``rtol * s_max``, ``W_hat`` is the truncated SVD of
    ``W V_X S_X`` mapped back by ``S_X^{-1} V_X^T`` (chapter 9, ex-mlp-low-rank-data).
    ``0 <= r <= min(m, d)``; the factors are ``(m, q)`` and ``(q, d)`` with ``q = min(r, m, k)``:
    beyond rank k no input tells ``W_hat`` from ``W``. Directions no input reaches are dropped.
    """
    W = _check_matrix(W, name="W")
    X = _check_matrix(X, name="X")
    if X.shape[1] != W.shape[1]:
        raise ValueError(f"X must have {W.shape[1]} columns (W is {W.shape}), got shape {X.shape}")
    _, s_x, Vt_x = np.linalg.svd(X, full_matrices=False)
    keep = s_x > rtol * s_x[0]  # the principal directions of the inputs that carry any of them
    r = _check_rank(r, min(W.shape))
    q = min(r, W.shape[0], int(keep.sum()))
    B, C = low_rank_factors((W @ Vt_x[keep].T) * s_x[keep], q)  # (m, q), (q, k)
    return B, (C / s_x[keep]) @ Vt_x[keep]  # (m, q), (q, d)


# ------------------------------------------------------------------------- pseudo-inverse and PCA
def pinv(A, *, rtol=None):
    """The Moore-Penrose pseudo-inverse ``V diag(1 / s) U^T`` from the thin SVD of ``A``.

    Implements eq-linear-algebra-pinv: ``A`` has shape ``(m, n)``; the result has shape ``(n, m)``.
    Singular values at most ``rtol * s_max`` count as zero and are not inverted (default
    ``rtol = max(m, n) * 2**-52``, NumPy's and PyTorch's choice). For full column rank it equals
    ``(A^T A)^{-1} A^T`` (the normal equations), and ``pinv(A) @ b`` is the least-squares
    solution of smallest norm. Same as ``np.linalg.pinv`` and ``torch.linalg.pinv(A, rtol=...)``.
    """
    A = _check_matrix(A)
    if rtol is None:
        rtol = max(A.shape) * np.finfo(np.float64).eps
    if not (isinstance(rtol, numbers.Real) and rtol >= 0):
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    U, s, Vt = np.linalg.svd(A, full_matrices=False)  # thin: (m, r), (r,), (r, n) with r = min(m, n)
    keep = s > rtol * s[0]
    s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (Vt.T * s_inv) @ U.T  # V diag(1/s) U^T, (n, m)


def pca(x, k):
    """Principal component analysis of the rows of ``x`` (N examples, d features).

    Returns ``(components, explained_variance, mean)``: ``components`` (k, d) holds the top ``k``
    right singular vectors of the centred data (orthonormal rows), ``explained_variance`` (k,) the
    variances of the data along them, ``s_i^2 / (N - 1)`` (eq-linear-algebra-pca-variance with
    the unbiased normalization of scikit-learn), and ``mean`` (d,) the mean row. Each component's
    sign is fixed so that its entry of largest absolute value is positive. Projections are
    ``(x - mean) @ components.T``; the best rank-k reconstruction (Eckart-Young,
    eq-linear-algebra-eckart-young) is ``mean + proj @ components``.
    """
    x = _check_matrix(x, name="x")
    k = _check_positive_int("k", k)
    N, d = x.shape
    if k > min(N, d):
        raise ValueError(f"k must be at most min(N, d) = {min(N, d)}, got k = {k}")
    if N < 2:
        raise ValueError(f"pca needs at least two rows, got shape {x.shape}")
    mean = x.mean(axis=0)  # (d,)
    _, s, Vt = np.linalg.svd(x - mean, full_matrices=False)  # (r,), (r, d)
    comps = Vt[:k]  # (k, d)
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    return comps * signs[:, None], s[:k] ** 2 / (N - 1), mean
