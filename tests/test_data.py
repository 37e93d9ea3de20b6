"""Tests of dlmath.data: the digits split, mini-batching and the toy sets."""
import numpy as np
import pytest

from dlmath.data import (iterate_minibatches, load_digits_split, make_spirals, make_xor,
                         stratified_split_indices)


@pytest.fixture(scope="module")
def split():
    pytest.importorskip("sklearn")
    return load_digits_split()


def test_digits_sizes_types_ranges(split):
    X_tr, y_tr, X_va, y_va, X_te, y_te = split
    assert (len(y_tr), len(y_va), len(y_te)) == (X_tr.shape[0], X_va.shape[0], X_te.shape[0])
    assert len(y_tr) + len(y_va) + len(y_te) == 1797
    for n, frac in ((len(y_va), 0.2), (len(y_te), 0.2)):
        assert abs(n - frac * 1797) <= 10  # at most one rounding per class
    for X, y in ((X_tr, y_tr), (X_va, y_va), (X_te, y_te)):
        assert X.dtype == np.float64 and X.shape[1] == 64
        assert y.dtype.kind == "i" and set(np.unique(y)) == set(range(10))
        assert X.min() >= 0.0 and X.max() <= 1.0
    assert X_tr.max() == 1.0  # the raw maximum 16 maps to 1


def test_digits_match_sklearn_and_are_disjoint(split):
    from sklearn.datasets import load_digits
    d = load_digits()
    tr, va, te = stratified_split_indices(d.target, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == len(np.intersect1d(va, te)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(1797))
    X_tr, y_tr, X_va, y_va, X_te, y_te = split
    np.testing.assert_array_equal(X_te, d.data[te] / 16.0)
    np.testing.assert_array_equal(y_tr, d.target[tr])


def test_stratified(split):
    from sklearn.datasets import load_digits
    counts = np.bincount(load_digits().target, minlength=10)
    _, y_tr, _, y_va, _, y_te = split
    for y, frac in ((y_va, 0.2), (y_te, 0.2), (y_tr, 0.6)):
        assert np.all(np.abs(np.bincount(y, minlength=10) - frac * counts) <= 1.0)


def test_deterministic_and_seed_dependent():
    pytest.importorskip("sklearn")
    a, b, c = load_digits_split(seed=3), load_digits_split(seed=3), load_digits_split(seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[5], c[5]) or not np.array_equal(a[4], c[4])


def test_split_other_fractions():
    y = np.repeat(np.arange(3), [10, 20, 30])
    tr, va, te = stratified_split_indices(y, val_fraction=0.1, test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(np.bincount(y[te]), [3, 6, 9])
    np.testing.assert_array_equal(np.bincount(y[va]), [1, 2, 3])
    assert len(tr) + len(va) + len(te) == 60


@pytest.mark.parametrize("batch_size", [1, 7, 10, 64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_minibatches_cover_every_index_once(rng, batch_size, shuffle):
    n = 23
    X = np.arange(n, dtype=float)[:, None] * np.ones((1, 2))
    y = np.arange(n)
    seen, sizes = [], []
    for xb, yb in iterate_minibatches(X, y, batch_size=batch_size, rng=rng, shuffle=shuffle):
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired with their labels
        seen.append(yb)
        sizes.append(len(yb))
    seen = np.concatenate(seen)
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert all(s == batch_size for s in sizes[:-1]) and 1 <= sizes[-1] <= batch_size
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(n))


def test_minibatches_shuffle_changes_between_epochs(rng):
    y = np.arange(50)
    e1 = np.concatenate([b for _, b in iterate_minibatches(y[:, None], y, batch_size=8, rng=rng)])
    e2 = np.concatenate([b for _, b in iterate_minibatches(y[:, None], y, batch_size=8, rng=rng)])
    assert not np.array_equal(e1, e2) and not np.array_equal(e1, y)


def test_xor():
    X, y = make_xor()
    assert X.shape == (4, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))


def test_spirals(rng):
    X, y = make_spirals(50, n_classes=3, noise=0.1, rng=rng)
    assert X.shape == (150, 2) and X.dtype == np.float64 and y.dtype.kind == "i"
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    radius = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(radius, np.tile(np.linspace(0, 1, 50), 3), atol=1e-12)
    X0, _ = make_spirals(50, n_classes=3, noise=0.0)
    assert np.all(np.isfinite(X0))
    X1, _ = make_spirals(50, n_classes=3, noise=0.1, rng=np.random.default_rng(1))
    X2, _ = make_spirals(50, n_classes=3, noise=0.1, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(X1, X2)


def test_value_errors(rng):
    X, y = np.zeros((5, 2)), np.zeros(5, dtype=int)
    with pytest.raises(ValueError, match="same number of examples"):
        list(iterate_minibatches(X, y[:4], batch_size=2, rng=rng))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        list(iterate_minibatches(X, y, batch_size=0, rng=rng))
    with pytest.raises(ValueError, match="needs rng, a numpy.random.Generator"):
        list(iterate_minibatches(X, y, batch_size=2, rng=None))
    with pytest.raises(ValueError, match="val_fraction must be a number strictly between 0 and 1"):
        stratified_split_indices(y, val_fraction=1.5)
    with pytest.raises(ValueError, match="must be below 1"):
        stratified_split_indices(y, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="y must be a 1-D integer array"):
        stratified_split_indices(np.zeros(5))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        stratified_split_indices(y, seed=-1)
    with pytest.raises(ValueError, match="n_per_class must be an integer >= 2"):
        make_spirals(1, n_classes=3, noise=0.1, rng=rng)
    with pytest.raises(ValueError, match="noise must be a non-negative number"):
        make_spirals(10, n_classes=3, noise=-0.1, rng=rng)
    with pytest.raises(ValueError, match="noise > 0 needs rng"):
        make_spirals(10, n_classes=3, noise=0.1, rng=None)


# ------------------------------------------------------------------ sequence data (chapter 16)
from dlmath.data import CORPUS, char_vocab, corpus, decode_chars, encode_chars, make_adding_problem  # noqa: E402


def test_adding_problem_structure():
    x, target = make_adding_problem(200, 11, rng=np.random.default_rng(0))
    assert x.shape == (11, 200, 2) and target.shape == (200,) and x.dtype == np.float64
    marks = x[:, :, 1]
    assert set(np.unique(marks)) == {0.0, 1.0} and np.all(marks.sum(axis=0) == 2)
    assert np.all(marks[:5].sum(axis=0) == 1) and np.all(marks[5:].sum(axis=0) == 1)  # one per half (T // 2 = 5)
    assert np.allclose(target, (x[:, :, 0] * marks).sum(axis=0))
    assert x[:, :, 0].min() >= 0.0 and x[:, :, 0].max() < 1.0


def test_adding_problem_baseline_variance():
    """Predicting the mean 1 gives MSE Var(U1 + U2) = 1/6 (within sampling error of 20000 draws)."""
    _, target = make_adding_problem(20000, 30, rng=np.random.default_rng(1))
    assert abs(target.mean() - 1.0) < 0.01 and abs(np.mean((target - 1.0) ** 2) - 1 / 6) < 0.005


def test_adding_problem_bad_input():
    with pytest.raises(ValueError):
        make_adding_problem(3, 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_adding_problem(3, 5, rng=0)


def test_corpus_and_char_codes():
    text = corpus()
    assert text is CORPUS and len(text) > 3000
    vocab = char_vocab(text)
    assert vocab == sorted(set(text)) and len(vocab) < 40 and not any(c.isdigit() or c.isupper() for c in vocab)
    codes = encode_chars(text, vocab)
    assert codes.dtype == np.int64 and codes.shape == (len(text),)
    assert decode_chars(codes, vocab) == text
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode_chars("Z", vocab)
    with pytest.raises(ValueError):
        decode_chars(np.array([len(vocab)]), vocab)
    with pytest.raises(ValueError):
        char_vocab("")
