"""Hold-out splits and k-fold cross-validation."""
import numpy as np
import pytest

from dlmath.model_selection import cross_val_mse, kfold_indices, train_val_test_indices


@pytest.mark.parametrize("n,k", [(10, 2), (23, 5), (100, 10), (7, 7)])
def test_kfold_partitions_the_indices(rng, n, k):
    folds = kfold_indices(n, k, rng)
    assert len(folds) == k
    vals = np.concatenate([va for _, va in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(n))  # each index validated exactly once
    sizes = [len(va) for _, va in folds]
    assert max(sizes) - min(sizes) <= 1
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == n


def test_kfold_matches_sklearn_without_shuffle():
    sk = pytest.importorskip("sklearn.model_selection")
    for (tr, va), (tr2, va2) in zip(kfold_indices(23, 4), sk.KFold(4).split(np.zeros(23))):
        np.testing.assert_array_equal(np.sort(tr), tr2)
        np.testing.assert_array_equal(va, va2)


def test_train_val_test_split_is_a_partition_and_seeded():
    a = train_val_test_indices(101, (0.6, 0.2, 0.2), np.random.default_rng(1))
    b = train_val_test_indices(101, (0.6, 0.2, 0.2), np.random.default_rng(1))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(np.sort(np.concatenate(a)), np.arange(101))
    assert len(a[0]) == 61 and len(a[1]) == 20


def test_cross_val_mse_of_exact_linear_model_is_zero(rng):
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    fit = lambda X, y: np.linalg.lstsq(X, y, rcond=None)[0]  # noqa: E731
    errs = cross_val_mse(fit, lambda w, X: X @ w, X, y, 5, rng)
    assert errs.shape == (5,) and np.all(errs < 1e-25)
    noisy = y + 0.1 * rng.standard_normal(40)
    assert np.all(cross_val_mse(fit, lambda w, X: X @ w, X, noisy, 5, rng) > 1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 <= k <= n"):
        kfold_indices(5, 6)
    with pytest.raises(ValueError, match="2 <= k <= n"):
        kfold_indices(5, 1)
    with pytest.raises(ValueError, match="Generator"):
        kfold_indices(5, 2, rng=0)
    with pytest.raises(ValueError, match="summing to 1"):
        train_val_test_indices(10, (0.5, 0.2, 0.2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        train_val_test_indices(10, (0.6, 0.2, 0.2), None)
    with pytest.raises(ValueError, match="as many rows"):
        cross_val_mse(None, None, np.zeros((4, 2)), np.zeros(3), 2)


def test_too_few_examples_rejected():
    with pytest.raises(ValueError, match="at least 3 examples"):
        train_val_test_indices(2, (0.6, 0.2, 0.2), np.random.default_rng(0))


def test_leave_one_out_matches_the_hat_matrix_shortcut(rng):
    """k = N: the leave-one-out residual of least squares is e_n / (1 - H_nn) (chapter 5 exercise)."""
    X = rng.standard_normal((15, 3))
    y = X @ np.array([0.5, -1.0, 2.0]) + 0.3 * rng.standard_normal(15)
    fit = lambda X, y: np.linalg.lstsq(X, y, rcond=None)[0]  # noqa: E731
    loo = cross_val_mse(fit, lambda w, X: X @ w, X, y, 15)
    H = X @ np.linalg.solve(X.T @ X, X.T)
    shortcut = ((y - H @ y) / (1 - np.diag(H))) ** 2
    np.testing.assert_allclose(loo, shortcut, rtol=1e-10)
