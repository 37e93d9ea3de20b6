"""Small offline data sets and mini-batching (chapter 9 onwards).

* ``load_digits_split`` -- scikit-learn's bundled 8x8 handwritten digits (1797 images, the test part
  of the UCI "Optical Recognition of Handwritten Digits" data of Alpaydin and Kaynak, 1998), read
  from the copy shipped inside scikit-learn (no download), pixels scaled from 0..16 to [0, 1],
  split by a fixed stratified rule into train / validation / test (60 / 20 / 20 by default).
* ``iterate_minibatches`` -- one pass (epoch) over a data set in mini-batches, each index exactly once.
* ``make_xor`` and ``make_spirals`` -- two-dimensional toy classification sets.
* ``make_adding_problem`` -- the adding problem of Hochreiter and Schmidhuber (1997), sequences (T, N, 2).
* ``CORPUS`` / ``corpus()`` -- a short English text written for this project (chapter 16's language model),
  with ``char_vocab``, ``encode_chars`` and ``decode_chars``.

Randomness comes only from a ``numpy.random.Generator`` (or, for the fixed digits split, from a seed
that the function turns into one). scikit-learn is imported lazily, inside the digits loader only.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["load_digits_split", "stratified_split_indices", "iterate_minibatches", "make_xor", "make_spirals",
           "make_adding_problem", "CORPUS", "corpus", "char_vocab", "encode_chars", "decode_chars"]


def _check_fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def stratified_split_indices(y, *, val_fraction=0.2, test_fraction=0.2, seed=0):
    """Indices (train, val, test) of a stratified split of the integer labels ``y`` (shape (N,)).

    For every class c with n_c examples, its indices are shuffled by ``np.random.default_rng(seed)``
    (the classes in increasing order, one permutation each); the first round(test_fraction * n_c) go
    to the test set, the next round(val_fraction * n_c) to the validation set, the rest to training.
    Each part therefore holds every class in (nearly) the proportion of the whole set. The three
    index arrays are sorted, disjoint and together cover 0..N-1.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-D integer array of labels, got shape {y.shape} and dtype {y.dtype}")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for c in np.unique(y):  # a loop over classes, not over examples
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * idx.size))
        n_val = int(round(val_fraction * idx.size))
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test:n_test + n_val])
        parts[0].append(idx[n_test + n_val:])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def load_digits_split(*, seed=0, val_fraction=0.2, test_fraction=0.2):
    """The 8x8 digits as ``(X_train, y_train, X_val, y_val, X_test, y_test)``.

    X: float64 arrays of shape (n, 64) with pixels in [0, 1] (the raw 0..16 counts divided by 16);
    y: int64 labels in 0..9. The split is ``stratified_split_indices(y, val_fraction=val_fraction,
    test_fraction=test_fraction, seed=seed)``; 60/20/20 gives 1079 / 359 / 359 examples (one rounding per class). Chapter 9 uses the
    default seed 0 and reports the mean test accuracy over seeds 0 to 7. Needs scikit-learn (which
    ships the data: nothing is downloaded).
    """
    from sklearn.datasets import load_digits  # lazy: only this loader needs scikit-learn

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0  # (1797, 64), in [0, 1]
    y = np.asarray(digits.target, dtype=np.int64)  # (1797,)
    tr, va, te = stratified_split_indices(y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    return X[tr], y[tr], X[va], y[va], X[te], y[te]


def iterate_minibatches(X, y, *, batch_size, rng=None, shuffle=True):
    """Yield ``(X_batch, y_batch)`` covering every example exactly once (one epoch).

    X has shape (N, ...) and y shape (N, ...). With ``shuffle=True`` the order is a fresh permutation
    drawn from ``rng`` (a numpy Generator, required then); otherwise the natural order. All batches have
    ``batch_size`` examples except possibly the last, which holds the remainder (never dropped).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 1 or y.ndim < 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of examples (first axis), "
                         f"got shapes {X.shape} and {y.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = X.shape[0]
    if shuffle:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"shuffle=True needs rng, a numpy.random.Generator, got {type(rng).__name__}")
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


def make_xor():
    """The four points of XOR: X (4, 2) float64 at the corners of the unit square, y (4,) = x1 xor x2."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


def make_spirals(n_per_class=100, *, n_classes=3, noise=0.2, rng=None):
    """Interleaved spirals in the plane: X (n_classes * n_per_class, 2) float64, y int64 in 0..K-1.

    Point i of class k (i = 0..n-1, t_i = i / (n - 1)) lies at radius t_i and angle
    theta = 4 (k + t_i) + noise * eps (eps standard normal), i.e. (t_i cos theta, t_i sin theta);
    each class turns through 4 radians, starting 4 radians after the previous one. ``rng`` (a numpy
    Generator) is required when noise > 0.
    """
    for name, value, low in (("n_per_class", n_per_class, 2), ("n_classes", n_classes, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    if noise > 0 and not isinstance(rng, np.random.Generator):
        raise ValueError(f"noise > 0 needs rng, a numpy.random.Generator, got {type(rng).__name__}")
    t = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)  # (K n,)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)  # (K n,)
    theta = 4.0 * (y + t)
    if noise > 0:
        theta = theta + noise * rng.standard_normal(theta.shape)
    X = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)  # (K n, 2)
    return X, y


def make_adding_problem(n, T, *, rng):
    """The adding problem (Hochreiter and Schmidhuber, 1997): ``(x, target)`` with x (T, N, 2), target (N,).

    Each of the N sequences has T steps of two features: a value drawn uniformly from [0, 1] and a
    marker that is 1 at exactly two steps, one drawn uniformly from the first half (steps 0 .. T//2 - 1)
    and one from the second half (steps T//2 .. T - 1), and 0 elsewhere. The target is the sum of the
    two marked values. The layout is PyTorch's (T, N, features), batch_first=False. Predicting the
    constant 1 (the target's mean) gives the mean squared error Var(U1 + U2) = 2/12 = 1/6, the baseline
    a model must beat. float64; ``rng`` is a numpy Generator.
    """
    for name, value, low in (("n", n, 1), ("T", T, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    values = rng.uniform(0.0, 1.0, size=(T, n))  # (T, N)
    half = T // 2
    first = rng.integers(0, half, size=n)  # (N,)
    second = rng.integers(half, T, size=n)  # (N,)
    marks = np.zeros((T, n))
    cols = np.arange(n)
    marks[first, cols] = 1.0
    marks[second, cols] = 1.0
    target = values[first, cols] + values[second, cols]  # (N,)
    return np.stack([values, marks], axis=2), target


CORPUS = """\
a recurrent network reads a sequence one step at a time. at every step it mixes the new input with a \
state that it carried over from the step before, and the state is all it remembers of the past. the \
same weights are used at every step, so a network trained on short sentences can read long ones, and \
the number of parameters does not grow with the length of the text.

to train such a network we unroll it in time. the unrolled network is an ordinary deep network with \
one layer per step and with tied weights, and backpropagation through it is called backpropagation \
through time. the gradient of the loss with respect to the recurrent weight is a sum over the steps, \
and the gradient that reaches an early state is a product of many jacobians, one per step.

a product of many matrices is either very small or very large unless the matrices are close to \
orthogonal. when the largest singular value of the recurrent weight, times the largest slope of the \
activation, is below one, the gradient shrinks geometrically and the network cannot learn that an early \
input matters for a late output. when it is above one, the gradient can grow without bound, and a \
single step of gradient descent can throw the weights far away. clipping the norm of the gradient \
tames the explosion, but nothing so simple cures the vanishing.

the long short-term memory adds a cell, a second state that is changed only by addition. a forget \
gate decides how much of the old cell to keep, an input gate decides how much of the new candidate to \
write, and an output gate decides how much of the cell to show. along the cell the gradient is \
multiplied by the forget gate and by nothing else, so when the forget gate stays near one the error \
signal can travel across many steps. the price is four times the work of a plain recurrent step, since \
each gate needs its own weights.

the gated recurrent unit keeps one state and two gates. the update gate mixes the old state with a \
candidate, and the reset gate decides how much of the old state the candidate may see. it is smaller \
than the long short-term memory and often just as good.

a language model predicts the next character from the characters before it. trained on a text, it \
assigns a probability to every character that could come next, and sampling from those probabilities, \
one character at a time, writes new text in the style of the old. a temperature divides the scores \
before the softmax: a low temperature makes the model cautious and repetitive, a high temperature makes \
it bold and careless.

a bidirectional network reads the sequence twice, once forwards and once backwards, and joins the two \
states at every step. it sees the whole sentence before it labels a word, which helps a tagger, but it \
cannot write a sentence, since the backward pass needs the words that have not been written yet. \
stacked networks feed the states of one layer as the inputs of the next, and a recursive network \
follows the branches of a parse tree instead of the order of the words, combining two children into a \
parent with the same weights at every node.

every formula in this book is checked by a computer, every gradient is compared with finite \
differences, and every layer is compared with the same layer in a library that many people use. the \
point is not that the computer is wiser than the reader, but that a typo in a formula should be found \
by the build and not by a student at midnight.
"""


def corpus():
    """The project's own training text for character-level language models (chapter 16): ``CORPUS``.

    About four thousand characters of lowercase English prose about recurrent networks, written for
    this book (no third-party text): lowercase letters, space, newline and the marks . , - : (no digits).
    """
    return CORPUS


def char_vocab(text):
    """The sorted list of distinct characters of ``text`` (a non-empty str): index i codes character i."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, got {type(text).__name__} of length {len(text or '')}")
    return sorted(set(text))


def encode_chars(text, vocab):
    """The int64 codes (len(text),) of the characters of ``text`` in ``vocab`` (a list of characters)."""
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted(set(text) - set(index))
    if missing:
        raise ValueError(f"characters {missing!r} of the text are not in the vocabulary")
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))


def decode_chars(codes, vocab):
    """The str whose characters are ``vocab[i]`` for the integer codes i of ``codes`` (any 1-D sequence)."""
    codes = np.asarray(codes)
    if codes.ndim != 1 or (codes.size and codes.dtype.kind not in "iu"):
        raise ValueError(f"codes must be a 1-D integer array, got shape {codes.shape} and dtype {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= len(vocab)):
        raise ValueError(f"codes must lie in [0, {len(vocab)}), got range [{codes.min()}, {codes.max()}]")
    return "".join(vocab[i] for i in codes)
