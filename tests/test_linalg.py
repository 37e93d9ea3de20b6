"""Tests of dlmath.linalg (chapter 1, Linear algebra)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath import linalg as la
from dlmath.book import experiments as ex

shapes = st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=4).map(tuple)


def _numpy_broadcast(*shapes_):
    try:
        return np.broadcast_shapes(*shapes_)
    except ValueError:
        return None


def _stretchable(shape, draw_bits):
    """A shape derived from `shape` by dropping leading axes and replacing some sizes by 1."""
    k, ones = draw_bits
    kept = shape[k:] if k <= len(shape) else ()
    return tuple(1 if (ones >> i) & 1 else s for i, s in enumerate(kept))


# ---------------------------------------------------------------------------------- broadcast_shape
@settings(max_examples=300, deadline=None)
@given(st.lists(shapes, min_size=1, max_size=4))
def test_broadcast_shape_agrees_with_numpy(shape_list):
    expected = _numpy_broadcast(*shape_list)
    if expected is None:
        with pytest.raises(ValueError, match="cannot be broadcast"):
            la.broadcast_shape(*shape_list)
    else:
        assert la.broadcast_shape(*shape_list) == expected


@settings(max_examples=200, deadline=None)
@given(shapes, st.lists(st.tuples(st.integers(0, 4), st.integers(0, 15)), min_size=1, max_size=3))
def test_broadcast_shape_compatible_family(base, derivations):
    # Shapes obtained from one shape by dropping leading axes or setting sizes to 1 always broadcast,
    # and the result is the base shape whenever the base itself is among them.
    family = [base] + [_stretchable(base, d) for d in derivations]
    assert la.broadcast_shape(*family) == base == np.broadcast_shapes(*family)


@settings(max_examples=100, deadline=None)
@given(st.lists(shapes, min_size=1, max_size=3))
def test_broadcast_shape_matches_actual_arrays(shape_list):
    expected = _numpy_broadcast(*shape_list)
    if expected is not None:
        arrays = [np.zeros(s) for s in shape_list]
        assert la.broadcast_shape(*shape_list) == sum(arrays[1:], arrays[0]).shape


def test_broadcast_shape_torch_oracle():
    torch = pytest.importorskip("torch")
    cases = [((3, 1), (1, 4)), ((5,), (2, 1, 5)), ((), (2, 3)), ((8, 1, 6, 1), (7, 1, 5)), ((0,), (1,))]
    for a, b in cases:
        assert la.broadcast_shape(a, b) == tuple(torch.broadcast_shapes(a, b))
    with pytest.raises(RuntimeError):
        torch.broadcast_shapes((3,), (4,))
    with pytest.raises(ValueError, match=r"\(3,\), \(4,\)"):
        la.broadcast_shape((3,), (4,))


def test_broadcast_shape_pitfall_column_vs_flat():
    assert la.broadcast_shape((5,), (5, 1)) == (5, 5)


def test_broadcast_shape_empty_and_bad_input():
    assert la.broadcast_shape() == ()
    with pytest.raises(ValueError, match="non-negative integers"):
        la.broadcast_shape((2, -1))
    with pytest.raises(ValueError, match="non-negative integers"):
        la.broadcast_shape((2, 1.5))
    with pytest.raises(ValueError, match="non-negative integers"):
        la.broadcast_shape(3)
    with pytest.raises(ValueError, match="axis -2 has sizes"):
        la.broadcast_shape((2, 3), (4, 3))


# ------------------------------------------------------------------------------------- matmul_shape
def _numpy_matmul_shape(a, b):
    try:
        return np.matmul(np.zeros(a), np.zeros(b)).shape
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple),
       st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple))
def test_matmul_shape_agrees_with_numpy(a, b):
    expected = _numpy_matmul_shape(a, b)
    if expected is None:
        with pytest.raises(ValueError):
            la.matmul_shape(a, b)
    else:
        assert la.matmul_shape(a, b) == expected


def test_matmul_shape_rule_and_torch_oracle():
    torch = pytest.importorskip("torch")
    for a, b in [((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
                 ((6, 1, 2, 3), (5, 3, 4))]:
        got = torch.matmul(torch.zeros(a, dtype=torch.float64), torch.zeros(b, dtype=torch.float64)).shape
        assert la.matmul_shape(a, b) == tuple(got)


def test_matmul_shape_bad_input():
    with pytest.raises(ValueError, match="inner sizes 3 and 4 differ"):
        la.matmul_shape((2, 3), (4, 5))
    with pytest.raises(ValueError, match="at least one dimension"):
        la.matmul_shape((), (3,))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        la.matmul_shape((2, 1, 3), (4, 3, 1))


# --------------------------------------------------------------------------------- condition_number
def test_condition_number_matches_numpy_and_definition(rng):
    A = rng.standard_normal((6, 6))
    s = np.linalg.svd(A, compute_uv=False)
    assert np.isclose(la.condition_number(A), s[0] / s[-1], rtol=1e-12)
    assert np.isclose(la.condition_number(A), np.linalg.cond(A), rtol=1e-12)
    inv_based = np.linalg.norm(A, 2) * np.linalg.norm(np.linalg.inv(A), 2)
    assert np.isclose(la.condition_number(A), inv_based, rtol=1e-9)


def test_condition_number_rectangular_and_stacked(rng):
    A = rng.standard_normal((4, 7, 3))
    got = la.condition_number(A)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, np.linalg.cond(A), rtol=1e-12)


def test_condition_number_prescribed_singular_values(rng):
    for kappa in [1.0, 1e3, 1e8]:
        A = la.matrix_with_singular_values(np.geomspace(1.0, 1.0 / kappa, 5), rng)
        assert np.isclose(la.condition_number(A), kappa, rtol=1e-6)


def test_condition_number_scaled_identity_and_singular():
    assert la.condition_number(0.1 * np.eye(100)) == pytest.approx(1.0, rel=1e-14)
    assert la.condition_number(np.array([[1.0, 2.0], [2.0, 4.0]])) > 1e15 or np.isinf(
        la.condition_number(np.array([[1.0, 2.0], [2.0, 4.0]])))
    assert np.isinf(la.condition_number(np.zeros((3, 3))))


def test_condition_number_torch_oracle(rng):
    torch = pytest.importorskip("torch")
    A = rng.standard_normal((3, 5, 5))
    expected = torch.linalg.cond(torch.from_numpy(A)).numpy()
    np.testing.assert_allclose(la.condition_number(A), expected, rtol=1e-10)


def test_condition_number_bad_input():
    with pytest.raises(ValueError, match="floating-point"):
        la.condition_number(np.eye(3, dtype=int))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., m, n\)"):
        la.condition_number(np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        la.condition_number(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="at least one row and one column"):
        la.condition_number(np.zeros((0, 3)))


# ------------------------------------------------------------------------------------ spectral_norm
@pytest.mark.parametrize("shape", [(5, 5), (8, 3), (3, 8)])
def test_spectral_norm_matches_numpy(rng, shape):
    A = rng.standard_normal(shape)
    assert abs(la.spectral_norm(A, np.random.default_rng(1)) - np.linalg.norm(A, 2)) <= 1e-10 * np.linalg.norm(A, 2)


def test_spectral_norm_torch_oracle(rng):
    torch = pytest.importorskip("torch")
    A = rng.standard_normal((6, 4))
    expected = torch.linalg.matrix_norm(torch.from_numpy(A), ord=2).item()
    assert abs(la.spectral_norm(A, np.random.default_rng(2)) - expected) <= 1e-10 * expected


def test_spectral_norm_prescribed_and_zero(rng):
    A = la.matrix_with_singular_values(np.array([3.0, 1.0, 0.5]), rng, m=5)
    assert la.spectral_norm(A, rng) == pytest.approx(3.0, rel=1e-10)
    assert la.spectral_norm(np.zeros((3, 2)), rng) == 0.0


def test_spectral_norm_does_not_mutate(rng):
    A = rng.standard_normal((4, 4))
    A0 = A.copy()
    la.spectral_norm(A, rng)
    np.testing.assert_array_equal(A, A0)


def test_spectral_norm_bad_input(rng):
    A = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match="Generator"):
        la.spectral_norm(A, 0)
    with pytest.raises(ValueError, match="n_iter must be a positive integer"):
        la.spectral_norm(A, rng, n_iter=0)
    with pytest.raises(ValueError, match="tol must be"):
        la.spectral_norm(A, rng, tol=-1.0)
    with pytest.raises(ValueError, match=r"shape \(m, n\)"):
        la.spectral_norm(np.ones((2, 2, 2)), rng)


# ------------------------------------------------------------------------ matrix_with_singular_values
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_matrix_with_singular_values_has_them(s, extra_rows, seed):
    s = np.array(s)
    A = la.matrix_with_singular_values(s, np.random.default_rng(seed), m=len(s) + extra_rows)
    assert A.shape == (len(s) + extra_rows, len(s))
    np.testing.assert_allclose(np.linalg.svd(A, compute_uv=False), np.sort(s)[::-1], atol=1e-12 * max(1.0, s.max()))


def test_matrix_with_singular_values_bad_input(rng):
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        la.matrix_with_singular_values(np.ones((2, 2)), rng)
    with pytest.raises(ValueError, match="non-negative"):
        la.matrix_with_singular_values(np.array([1.0, -1.0]), rng)
    with pytest.raises(ValueError, match="m must be at least"):
        la.matrix_with_singular_values(np.ones(3), rng, m=2)
    with pytest.raises(ValueError, match="m must be a positive integer"):
        la.matrix_with_singular_values(np.ones(3), rng, m=0)
    with pytest.raises(ValueError, match="finite non-negative"):
        la.matrix_with_singular_values(np.array([1.0, np.inf]), rng)
    with pytest.raises(ValueError, match="Generator"):
        la.matrix_with_singular_values(np.ones(3), None)


# ------------------------------------------------------------------------------ solve_vs_inverse_errors
def test_solve_vs_inverse_well_conditioned(rng):
    A = la.matrix_with_singular_values(np.linspace(1.0, 2.0, 20), rng)
    err = ex.solve_vs_inverse_errors(A, rng.standard_normal(20))
    assert set(err) == {"forward_inv", "forward_solve", "backward_inv", "backward_solve"}
    assert all(0 <= v < 1e-13 for v in err.values())


def test_solve_vs_inverse_ill_conditioned(rng):
    # LU with partial pivoting is backward stable: its backward error stays near machine epsilon
    # while that of inv(A) @ b grows with the condition number; forward errors obey kappa * eps.
    kappa = 1e12
    A = la.matrix_with_singular_values(np.geomspace(1.0, 1.0 / kappa, 30), rng)
    x = rng.standard_normal(30)
    err = ex.solve_vs_inverse_errors(A, x)
    eps = np.finfo(float).eps
    assert err["backward_solve"] < 100 * eps
    assert err["backward_inv"] > 100 * err["backward_solve"]
    assert err["forward_solve"] < 1e3 * kappa * eps


def test_solve_vs_inverse_matches_direct_computation(rng):
    A = rng.standard_normal((5, 5))
    x = rng.standard_normal(5)
    b = A @ x
    x_hat = np.linalg.solve(A, b)
    expected = np.linalg.norm(b - A @ x_hat) / (np.linalg.norm(A, 2) * np.linalg.norm(x_hat))
    assert ex.solve_vs_inverse_errors(A, x)["backward_solve"] == pytest.approx(expected, rel=1e-12)


def test_solve_vs_inverse_bad_input(rng):
    with pytest.raises(ValueError, match="square"):
        ex.solve_vs_inverse_errors(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"x_true must have shape \(3,\)"):
        ex.solve_vs_inverse_errors(np.eye(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match="floating-point"):
        ex.solve_vs_inverse_errors(np.eye(3), np.ones(3, dtype=int))


# ------------------------------------------------------------------------------ product_singular_values
def test_product_singular_values_match_explicit_product():
    n, depth, std = 6, 4, 0.7
    got = ex.product_singular_values(n, depth, std, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    P = np.eye(n)
    for layer in range(depth):
        P = std * rng.standard_normal((n, n)) @ P
        np.testing.assert_allclose(got[layer], np.linalg.svd(P, compute_uv=False), rtol=1e-12)


def test_product_singular_values_scale_with_std():
    # Scaling every factor by c scales the product of L factors by c^L.
    a = ex.product_singular_values(5, 3, 1.0, np.random.default_rng(3))
    b = ex.product_singular_values(5, 3, 2.0, np.random.default_rng(3))
    np.testing.assert_allclose(b, a * (2.0 ** np.arange(1, 4))[:, None], rtol=1e-12)


def test_product_mean_square_gain():
    # E ||W x||^2 = n std^2 ||x||^2 (eq-linear-algebra-gaussian-gain): the mean of sigma_i^2 over i and
    # seeds estimates n std^2 for one layer.
    n, std = 20, 0.3
    rng = np.random.default_rng(0)
    sq = np.mean([np.mean(ex.product_singular_values(n, 1, std, rng)[0] ** 2) for _ in range(200)])
    assert abs(sq - n * std**2) < 0.05 * n * std**2


def test_product_singular_values_bad_input(rng):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ex.product_singular_values(0, 2, 1.0, rng)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        ex.product_singular_values(3, 2.5, 1.0, rng)
    with pytest.raises(ValueError, match="std must be a positive"):
        ex.product_singular_values(3, 2, -1.0, rng)
    with pytest.raises(ValueError, match="Generator"):
        ex.product_singular_values(3, 2, 1.0, 42)


def test_product_mean_square_gain_over_depth():
    # The mean square of the singular values of W_l ... W_1 is (n std^2)^l in expectation
    # (eq-linear-algebra-gaussian-gain applied l times), not just for one layer.
    n, depth, std = 16, 4, 0.3
    rng = np.random.default_rng(1)
    runs = np.array([ex.product_singular_values(n, depth, std, rng) for _ in range(400)])
    mean_square = np.mean(runs ** 2, axis=(0, 2))                  # (depth,)
    predicted = (n * std**2) ** np.arange(1, depth + 1)
    np.testing.assert_allclose(mean_square, predicted, rtol=0.08)


def test_spectral_norm_convergence_rate():
    # After k steps the relative error of the estimate decays like (sigma_2 / sigma_1)^(4k).
    A = la.matrix_with_singular_values(np.array([1.0, 0.9, 0.5, 0.1]), np.random.default_rng(0))
    errors = [1.0 - la.spectral_norm(A, np.random.default_rng(3), n_iter=k, tol=0.0)
              for k in (30, 40)]
    assert errors[0] > 0 and errors[1] > 0
    assert errors[0] / errors[1] == pytest.approx(0.9 ** -40, rel=0.05)


# ------------------------------------------------------------------------- pinv and pca
def test_pinv_penrose_conditions_and_normal_equations():
    rng = np.random.default_rng(11)
    for m, n, r in [(5, 3, 3), (3, 5, 3), (6, 4, 2), (4, 4, 4), (1, 3, 1)]:
        A = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
        P = la.pinv(A)
        assert P.shape == (n, m)
        assert np.allclose(A @ P @ A, A, atol=1e-10) and np.allclose(P @ A @ P, P, atol=1e-10)
        assert np.allclose((A @ P).T, A @ P, atol=1e-10) and np.allclose((P @ A).T, P @ A, atol=1e-10)
        if r == n:                                    # full column rank: (A^T A)^{-1} A^T
            assert np.allclose(P, np.linalg.solve(A.T @ A, A.T), atol=1e-9)
        b = rng.standard_normal(m)                     # least squares of minimum norm
        assert np.allclose(P @ b, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-9)


def test_pinv_drops_tiny_singular_values():
    A = np.diag([1.0, 1e-20, 0.0])
    assert np.allclose(la.pinv(A), np.diag([1.0, 0.0, 0.0]))
    assert la.pinv(A, rtol=0.0)[1, 1] == pytest.approx(1e20)
    with pytest.raises(ValueError, match="rtol"):
        la.pinv(A, rtol=-1.0)
    with pytest.raises(ValueError, match="shape"):
        la.pinv(np.zeros(3))


def test_pinv_torch_oracle():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    for shape in [(5, 3), (3, 5), (4, 4)]:
        A = rng.standard_normal(shape)
        assert np.allclose(la.pinv(A), torch.linalg.pinv(torch.tensor(A)).numpy(), rtol=1e-10, atol=1e-12)


def test_pca_against_eigh_and_sklearn():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5)) + rng.standard_normal(5)
    comps, var, mean = la.pca(x, 3)
    assert comps.shape == (3, 5) and var.shape == (3,) and mean.shape == (5,)
    assert np.allclose(comps @ comps.T, np.eye(3), atol=1e-12)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))          # ascending
    assert np.allclose(var, evals[::-1][:3], rtol=1e-10)
    for i in range(3):                                               # same directions up to sign
        assert abs(abs(comps[i] @ evecs[:, -1 - i]) - 1) < 1e-9
    proj = (x - mean) @ comps.T
    assert np.allclose(np.var(proj, axis=0, ddof=1), var, rtol=1e-10)
    decomposition = pytest.importorskip("sklearn.decomposition")
    sk = decomposition.PCA(n_components=3).fit(x)
    assert np.allclose(sk.explained_variance_, var, rtol=1e-10)
    assert np.allclose(np.abs(sk.components_ @ comps.T), np.eye(3), atol=1e-9)


def test_pca_reconstruction_is_eckart_young():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((40, 6))
    comps, _, mean = la.pca(x, 2)
    recon = mean + ((x - mean) @ comps.T) @ comps
    s = np.linalg.svd(x - mean, compute_uv=False)
    assert np.linalg.norm(x - recon) ** 2 == pytest.approx(np.sum(s[2:] ** 2), rel=1e-10)
    other = np.linalg.qr(rng.standard_normal((6, 2)))[0].T        # any other 2-dimensional subspace
    worse = mean + ((x - mean) @ other.T) @ other
    assert np.linalg.norm(x - worse) > np.linalg.norm(x - recon)


def test_pca_bad_input():
    x = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="at most"):
        la.pca(x, 4)
    with pytest.raises(ValueError, match="positive integer"):
        la.pca(x, 0)
    with pytest.raises(ValueError, match="two rows"):
        la.pca(x[:1], 1)
