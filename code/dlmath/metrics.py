"""Evaluation metrics for classifiers (chapter 5), vectorized, with scikit-learn's conventions.

Labels are integer arrays of shape (N,). ``confusion_matrix`` has true classes in rows and
predicted classes in columns (eq-learning-problem-confusion). Precision, recall and F1 follow
eq-learning-problem-precision-recall and eq-learning-problem-f1; for several classes ``average`` is
"macro" (the mean of per-class scores), "micro" (scores of the pooled counts) or None (one score
per class). ``roc_curve`` and ``roc_auc`` take real-valued scores for the positive class; the AUC
is the probability that a random positive outranks a random negative, ties counting one half
(eq-learning-problem-auc).
"""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "precision", "recall",
           "f1_score", "roc_curve", "roc_auc", "auc_by_ranking"]


def _labels(y, name):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold non-negative class labels, got {y.min()}")
    return y.astype(np.int64)


def _pair(y_true, y_pred):
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, "
                         f"got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty")
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, *, num_classes=None):
    """C[i, j] = number of examples of true class i predicted as class j; shape (K, K)."""
    y_true, y_pred = _pair(y_true, y_pred)
    k = int(max(y_true.max(), y_pred.max())) + 1
    if num_classes is not None:
        if num_classes < k:
            raise ValueError(f"num_classes={num_classes} but labels go up to {k - 1}")
        k = int(num_classes)
    # One bincount over the flattened index i*K + j: no loop over examples.
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _safe_div(num, den):
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)  # 0/0 := 0, as scikit-learn


def precision_recall_f1(y_true, y_pred, *, average="binary", pos_label=1, num_classes=None):
    """Precision, recall and F1 (eq-learning-problem-precision-recall, -f1) as a tuple.

    ``average="binary"`` scores the class ``pos_label`` only; "macro" averages the per-class
    scores; "micro" scores the pooled counts (equal to accuracy for single-label data); None
    returns arrays of shape (K,). A ratio with a zero denominator is 0 (scikit-learn's
    ``zero_division=0``).
    """
    if average not in ("binary", "macro", "micro", None):
        raise ValueError(f"average must be 'binary', 'macro', 'micro' or None, got {average!r}")
    c = confusion_matrix(y_true, y_pred, num_classes=num_classes)
    tp = np.diag(c).astype(float)          # (K,)
    fp = c.sum(axis=0) - tp                # predicted as k, truly another class
    fn = c.sum(axis=1) - tp                # truly k, predicted as another class
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    p = _safe_div(tp, tp + fp)
    r = _safe_div(tp, tp + fn)
    f = _safe_div(2 * p * r, p + r)
    if average == "binary":
        if not 0 <= pos_label < c.shape[0]:
            raise ValueError(f"pos_label={pos_label} is not one of the classes "
                             f"0..{c.shape[0] - 1}")
        return float(p[pos_label]), float(r[pos_label]), float(f[pos_label])
    if average == "macro":
        return float(p.mean()), float(r.mean()), float(f.mean())
    if average == "micro":
        return float(p), float(r), float(f)
    return p, r, f


def precision(y_true, y_pred, *, average="binary", pos_label=1):
    """TP / (TP + FP): of the examples predicted positive, the fraction that are."""
    return precision_recall_f1(y_true, y_pred, average=average, pos_label=pos_label)[0]


def recall(y_true, y_pred, *, average="binary", pos_label=1):
    """TP / (TP + FN): of the positive examples, the fraction found."""
    return precision_recall_f1(y_true, y_pred, average=average, pos_label=pos_label)[1]


def f1_score(y_true, y_pred, *, average="binary", pos_label=1):
    """The harmonic mean 2PR / (P + R) of precision and recall."""
    return precision_recall_f1(y_true, y_pred, average=average, pos_label=pos_label)[2]


def _binary_scores(y_true, scores):
    y = _labels(y_true, "y_true")
    s = np.asarray(scores, dtype=float)
    if s.shape != y.shape:
        raise ValueError(f"scores must have the shape of y_true {y.shape}, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if y.size and y.max() > 1:
        raise ValueError(f"roc_curve and roc_auc need binary labels 0/1, "
                         f"got labels up to {y.max()}")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError("the ROC curve needs both positive and negative examples")
    return y, s


def roc_curve(y_true, scores):
    """False- and true-positive rates at every distinct threshold, highest threshold first.

    Returns ``(fpr, tpr, thresholds)``, each of shape (T + 1,) for T distinct scores; predicting
    positive when score >= threshold. The first threshold is +inf (nothing predicted positive),
    so the curve starts at (0, 0) and ends at (1, 1).
    """
    y, s = _binary_scores(y_true, scores)
    order = np.argsort(-s, kind="mergesort")   # descending scores
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # one point per distinct score
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (y.size - y.sum())]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve by the trapezoidal rule (eq-learning-problem-auc)."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def auc_by_ranking(y_true, scores) -> float:
    """P(score of a random positive > that of a random negative) + P(tie) / 2, over all pairs."""
    y, s = _binary_scores(y_true, scores)
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]          # (P, Q): every positive against every negative
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))
