"""Tests of dlmath.models.recursive: the tree network against an independent recursive formula,
central differences, a PyTorch autograd oracle, the degenerate chain tree, and bad input."""
import numpy as np
import pytest

from dlmath.gradcheck import numerical_gradient, relative_error
from dlmath.models.recursive import tree_backward, tree_depth, tree_forward, tree_leaves

TREE = ((0, 1), (2, (3, 4)))  # five words, four compositions


def _params(r, v=6, d=3, bias=True):
    return (r.standard_normal((v, d)), r.standard_normal((d, 2 * d)) / np.sqrt(2 * d),
            r.standard_normal(d) * 0.3 if bias else None)


def _root(tree, e, w, b):
    """The root vector by direct recursion (no post-order list): the oracle for the forward pass."""
    if isinstance(tree, int):
        return e[tree]
    a = w @ np.concatenate([_root(tree[0], e, w, b), _root(tree[1], e, w, b)])
    return np.tanh(a if b is None else a + b)


def test_structure_helpers():
    assert tree_leaves(TREE) == [0, 1, 2, 3, 4] and tree_depth(TREE) == 3 and tree_depth(2) == 0


@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_recursion(bias):
    r = np.random.default_rng(0)
    e, w, b = _params(r, bias=bias)
    vec, _ = tree_forward(TREE, e, w, b)
    assert vec.shape == (9, 3)
    assert np.allclose(vec[-1], _root(TREE, e, w, b), rtol=0, atol=1e-15)
    assert np.array_equal(vec[0], e[0])  # the first node in post-order is the leftmost word


@pytest.mark.parametrize("bias", [True, False])
def test_finite_differences(bias):
    r = np.random.default_rng(1)
    e, w, b = _params(r, bias=bias)
    tree = ((0, 0), (5, (1, 0)))  # a repeated word: its embedding row collects several gradients
    vec, cache = tree_forward(tree, e, w, b)
    g = r.standard_normal(vec.shape)  # a loss that reads every node, as per-node classifiers do
    de, dw, db = tree_backward(g, cache)

    def f(e_, w_, b_):
        return np.sum(g * tree_forward(tree, e_, w_, b_)[0])
    assert relative_error(de, numerical_gradient(lambda v: f(v, w, b), e.copy())) < 1e-7
    assert relative_error(dw, numerical_gradient(lambda v: f(e, v, b), w.copy())) < 1e-7
    if bias:
        assert relative_error(db, numerical_gradient(lambda v: f(e, w, v), b.copy())) < 1e-7
    else:
        assert db is None
    assert np.all(de[2:5] == 0)  # unused words get no gradient


def test_torch_oracle():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(2)
    e, w, b = _params(r, v=7, d=4)
    tree = (((6, 1), 2), ((3, 4), (5, 0)))
    vec, cache = tree_forward(tree, e, w, b)
    g = np.zeros_like(vec)
    g[-1] = r.standard_normal(4)  # a loss on the root alone
    de, dw, db = tree_backward(g, cache)
    et, wt, bt = (torch.tensor(a, requires_grad=True) for a in (e, w, b))

    def rec(t):
        if isinstance(t, int):
            return et[t]
        return torch.tanh(wt @ torch.cat([rec(t[0]), rec(t[1])]) + bt)
    root = rec(tree)
    (root * torch.tensor(g[-1])).sum().backward()
    assert np.abs(vec[-1] - root.detach().numpy()).max() < 1e-12
    for mine, theirs in ((de, et), (dw, wt), (db, bt)):
        assert np.abs(mine - theirs.grad.numpy()).max() < 1e-10


def test_chain_tree_is_a_recurrent_network():
    """A left-branching tree (((x0, x1), x2), x3) is an Elman RNN with W = [W_hh W_ih] started at h = x0."""
    r = np.random.default_rng(3)
    e, w, b = _params(r, v=4, d=3)
    vec, _ = tree_forward((((0, 1), 2), 3), e, w, b)
    h = e[0]
    for t in (1, 2, 3):
        h = np.tanh(w[:, :3] @ h + w[:, 3:] @ e[t] + b)
    assert np.allclose(vec[-1], h, rtol=0, atol=1e-15)


def test_inputs_not_mutated_and_bad_input():
    r = np.random.default_rng(4)
    e, w, b = _params(r)
    copies = [a.copy() for a in (e, w, b)]
    vec, cache = tree_forward(TREE, e, w, b)
    g = r.standard_normal(vec.shape)
    g0 = g.copy()
    tree_backward(g, cache)
    assert all(np.array_equal(a, c) for a, c in zip((e, w, b), copies)) and np.array_equal(g, g0)
    with pytest.raises(ValueError, match="word indices"):
        tree_forward((0, 9), e, w, b)
    with pytest.raises(ValueError, match="pair"):
        tree_forward((0, 1, 2), e, w, b)
    with pytest.raises(ValueError, match="weight"):
        tree_forward(TREE, e, w[:, :3], b)
    with pytest.raises(ValueError, match="grad_vectors"):
        tree_backward(g[:3], cache)
