"""dlmath.metrics against scikit-learn, plus the properties that define each metric."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dlmath import metrics as M

sk = pytest.importorskip("sklearn.metrics")


def labels(rng, n, k):
    return rng.integers(0, k, n), rng.integers(0, k, n)


@pytest.mark.parametrize("k", [2, 3, 7])
def test_confusion_matrix_and_accuracy_match_sklearn(rng, k):
    t, p = labels(rng, 200, k)
    np.testing.assert_array_equal(M.confusion_matrix(t, p, num_classes=k), sk.confusion_matrix(t, p, labels=range(k)))
    assert M.accuracy(t, p) == pytest.approx(sk.accuracy_score(t, p), abs=1e-15)
    c = M.confusion_matrix(t, p, num_classes=k)
    assert c.sum() == 200 and np.trace(c) / 200 == pytest.approx(M.accuracy(t, p))


@pytest.mark.parametrize("average", ["binary", "macro", "micro"])
def test_precision_recall_f1_match_sklearn(rng, average):
    k = 2 if average == "binary" else 4
    t, p = labels(rng, 300, k)
    ours = M.precision_recall_f1(t, p, average=average)
    p_s, r_s, f_s, _ = sk.precision_recall_fscore_support(t, p, average=average, zero_division=0)
    np.testing.assert_allclose(ours, (p_s, r_s, f_s), rtol=1e-12, atol=1e-15)


def test_per_class_scores_and_zero_division(rng):
    t = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 1, 1])  # class 2 never predicted: precision 0/0 -> 0
    pr, rc, f = M.precision_recall_f1(t, p, average=None, num_classes=3)
    p_s, r_s, f_s, _ = sk.precision_recall_fscore_support(t, p, average=None, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(pr, p_s)
    np.testing.assert_allclose(rc, r_s)
    np.testing.assert_allclose(f, f_s)
    assert M.precision(t, p, pos_label=1) == pytest.approx(0.5)
    assert M.recall(t, p, pos_label=1) == pytest.approx(0.5)
    assert M.f1_score(t, p, pos_label=1) == pytest.approx(0.5)


def test_micro_f1_equals_accuracy_for_single_label_data(rng):
    t, p = labels(rng, 500, 5)
    assert M.f1_score(t, p, average="micro") == pytest.approx(M.accuracy(t, p), abs=1e-14)


def test_roc_curve_matches_sklearn_with_ties(rng):
    y = rng.integers(0, 2, 120)
    s = np.round(rng.standard_normal(120) + 1.5 * y, 1)  # rounding makes many ties
    fpr, tpr, th = M.roc_curve(y, s)
    f2, t2, th2 = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(th[1:], th2[1:])
    assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-14)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2, max_size=40))
def test_auc_equals_ranking_probability(pairs):
    y = np.array([a for a, _ in pairs])
    s = np.array([b for _, b in pairs], dtype=float)
    if y.min() == y.max():
        with pytest.raises(ValueError, match="both positive and negative"):
            M.roc_auc(y, s)
        return
    assert M.roc_auc(y, s) == pytest.approx(M.auc_by_ranking(y, s), abs=1e-12)


def test_auc_invariant_to_increasing_transform_and_flips_under_negation(rng):
    y = rng.integers(0, 2, 100)
    s = rng.standard_normal(100) + y
    a = M.roc_auc(y, s)
    assert M.roc_auc(y, np.exp(3 * s)) == pytest.approx(a, abs=1e-14)
    assert M.roc_auc(y, -s) == pytest.approx(1 - a, abs=1e-14)


def test_inputs_not_mutated(rng):
    t, p = labels(rng, 50, 3)
    t0, p0 = t.copy(), p.copy()
    M.precision_recall_f1(t, p, average="macro")
    M.confusion_matrix(t, p)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(p, p0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="same shape"):
        M.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="integer class labels"):
        M.accuracy(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        M.confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="non-negative"):
        M.accuracy([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="num_classes"):
        M.confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="average must be"):
        M.precision_recall_f1([0, 1], [0, 1], average="weighted")
    with pytest.raises(ValueError, match="binary labels"):
        M.roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="shape of y_true"):
        M.roc_curve([0, 1], [0.1])
    with pytest.raises(ValueError, match="finite"):
        M.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="empty"):
        M.accuracy(np.array([], int), np.array([], int))


def test_bad_pos_label_rejected():
    with pytest.raises(ValueError, match="pos_label=2 is not one of the classes 0..1"):
        M.precision_recall_f1([0, 1, 1], [1, 0, 1], pos_label=2)


def test_f1_is_harmonic_mean_and_count_formula(rng):
    """eq-learning-problem-f1: 2PR/(P+R) = 2TP/(2TP+FP+FN), both from the confusion counts."""
    t, p = labels(rng, 200, 2)
    c = M.confusion_matrix(t, p, num_classes=2)
    tp, fp, fn = c[1, 1], c[0, 1], c[1, 0]
    pr, rc, f = M.precision_recall_f1(t, p)
    assert pr == pytest.approx(tp / (tp + fp)) and rc == pytest.approx(tp / (tp + fn))
    assert f == pytest.approx(2 * pr * rc / (pr + rc)) and f == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_precision_and_recall_are_not_swapped():
    """An example where P != R, counted by hand: t = [1, 1, 1, 0, 0], p = [1, 0, 0, 0, 1] has TP = 1,
    FP = 1 (the last), FN = 2, so P = 1/2, R = 1/3, F1 = 2 TP / (2 TP + FP + FN) = 2/5."""
    t = np.array([1, 1, 1, 0, 0])
    p = np.array([1, 0, 0, 0, 1])
    assert M.precision(t, p) == pytest.approx(1 / 2, rel=1e-15)
    assert M.recall(t, p) == pytest.approx(1 / 3, rel=1e-15)
    assert M.f1_score(t, p) == pytest.approx(2 / 5, rel=1e-15)
    assert M.precision_recall_f1(t, p) == pytest.approx((1 / 2, 1 / 3, 2 / 5), rel=1e-15)
    # class 0 as the positive class: TP = 1, FP = 2, FN = 1
    assert M.precision(t, p, pos_label=0) == pytest.approx(1 / 3, rel=1e-15)
    assert M.recall(t, p, pos_label=0) == pytest.approx(1 / 2, rel=1e-15)
    # macro: the mean of the two classes' scores
    assert M.precision(t, p, average="macro") == pytest.approx((1 / 2 + 1 / 3) / 2, rel=1e-15)
    assert M.recall(t, p, average="macro") == pytest.approx((1 / 3 + 1 / 2) / 2, rel=1e-15)
    assert M.f1_score(t, p, average="macro") == pytest.approx((2 / 5 + 2 / 5) / 2, rel=1e-15)


@pytest.mark.parametrize("average", ["binary", "macro", "micro"])
def test_wrappers_match_sklearn_where_precision_differs_from_recall(rng, average):
    k = 2 if average == "binary" else 3
    t = rng.integers(0, k, 80)
    p = np.where(rng.random(80) < 0.3, 1, t)  # biased towards predicting 1: P != R for class 1
    assert M.precision(t, p, average=average) == pytest.approx(
        sk.precision_score(t, p, average=average, zero_division=0), rel=1e-12)
    assert M.recall(t, p, average=average) == pytest.approx(
        sk.recall_score(t, p, average=average, zero_division=0), rel=1e-12)
    assert M.f1_score(t, p, average=average) == pytest.approx(
        sk.f1_score(t, p, average=average, zero_division=0), rel=1e-12)
    if average != "micro":
        assert M.precision(t, p, average=average) != pytest.approx(M.recall(t, p, average=average), rel=1e-3)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        M.precision([0, 1], [0, 1], "macro")
    with pytest.raises(TypeError):
        M.confusion_matrix([0, 1], [0, 1], 3)
