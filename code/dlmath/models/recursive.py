"""A recursive (tree-structured) network over a binary parse tree, forward and backward (chapter 16).

Socher et al. (2011): every word of a sentence is a row of an embedding table E (V, d); every internal
node of a binary parse tree combines its two children with the same weights,
p = tanh(W [c_left; c_right] + b) with W (d, 2d), b (d,) (eq-recurrent-tree). A tree is written as
nested pairs: a leaf is a word index (an int), an internal node a tuple (left, right), e.g.
((0, 1), (2, (3, 4))). The loop runs over the nodes in post-order (children before parents), as a
recurrent network's loop runs over time; backpropagation through structure runs it in reverse.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["tree_forward", "tree_backward", "tree_leaves", "tree_depth"]


def _is_leaf(t):
    return isinstance(t, numbers.Integral) and not isinstance(t, bool)


def tree_leaves(tree):
    """The word indices of the tree's leaves, left to right."""
    if _is_leaf(tree):
        return [int(tree)]
    if not isinstance(tree, tuple) or len(tree) != 2:
        raise ValueError(f"a tree is a word index or a pair (left, right), got {tree!r}")
    return tree_leaves(tree[0]) + tree_leaves(tree[1])


def tree_depth(tree):
    """The number of compositions on the longest path from a leaf to the root (0 for a single word)."""
    return 0 if _is_leaf(tree) else 1 + max(tree_depth(tree[0]), tree_depth(tree[1]))


def _post_order(tree):
    """Nodes as (word or None, left child's position, right child's position), children first."""
    order = []

    def visit(t):
        if _is_leaf(t):
            order.append((int(t), -1, -1))
        elif isinstance(t, tuple) and len(t) == 2:
            left = visit(t[0])
            right = visit(t[1])
            order.append((None, left, right))
        else:
            raise ValueError(f"a tree is a word index or a pair (left, right), got {t!r}")
        return len(order) - 1

    visit(tree)
    return order


def tree_forward(tree, embedding, weight, bias=None):
    """Vectors of every node of ``tree`` (post-order; the root is the last row) and a cache.

    embedding (V, d), weight (d, 2d), bias (d,) or None. Leaves take their row of the embedding;
    internal nodes p = tanh(W [c_left; c_right] + b) (eq-recurrent-tree). Returns (vectors (M, d), cache)
    with M the number of nodes (2 * words - 1).
    """
    embedding, weight = np.asarray(embedding), np.asarray(weight)
    if embedding.ndim != 2 or embedding.dtype.kind != "f":
        raise ValueError(f"embedding must be a float array (V, d), got shape {embedding.shape}, {embedding.dtype}")
    v_size, d = embedding.shape
    if weight.shape != (d, 2 * d) or weight.dtype != embedding.dtype:
        raise ValueError(f"weight must have shape {(d, 2 * d)} and dtype {embedding.dtype}, got {weight.shape}, "
                         f"{weight.dtype}")
    if bias is not None and (np.shape(bias) != (d,) or np.asarray(bias).dtype != embedding.dtype):
        raise ValueError(f"bias must have shape {(d,)} and dtype {embedding.dtype}, got {np.shape(bias)}")
    order = _post_order(tree)
    words = [w for w, _, _ in order if w is not None]
    if min(words) < 0 or max(words) >= v_size:
        raise ValueError(f"word indices must lie in [0, {v_size}), got {sorted(set(words))}")
    vectors = np.empty((len(order), d), dtype=embedding.dtype)
    for k, (word, left, right) in enumerate(order):
        if word is not None:
            vectors[k] = embedding[word]
        else:
            a = weight @ np.concatenate([vectors[left], vectors[right]])  # (d,)
            vectors[k] = np.tanh(a if bias is None else a + bias)
    return vectors, (order, embedding.shape, weight, bias is not None, vectors)


def tree_backward(grad_vectors, cache):
    """Backpropagation through structure: (d_embedding, d_weight, d_bias) from the gradients of the loss
    with respect to every node's vector, ``grad_vectors`` (M, d) (zeros for nodes the loss does not read;
    a loss on the root alone has only the last row nonzero). d_bias is None where bias was None."""
    order, emb_shape, weight, has_bias, vectors = cache
    d = emb_shape[1]
    g = np.array(grad_vectors, dtype=vectors.dtype)  # a copy: children's rows collect their parents' parts
    if g.shape != vectors.shape:
        raise ValueError(f"grad_vectors must have shape {vectors.shape}, got {g.shape}")
    d_emb = np.zeros(emb_shape, dtype=vectors.dtype)
    d_w = np.zeros_like(weight)
    d_b = np.zeros(d, dtype=vectors.dtype)
    for k in reversed(range(len(order))):  # parents before children
        word, left, right = order[k]
        if word is not None:
            d_emb[word] += g[k]
            continue
        da = g[k] * (1.0 - vectors[k] ** 2)  # (d,): through tanh
        child = np.concatenate([vectors[left], vectors[right]])
        d_w += np.outer(da, child)
        d_b += da
        d_child = weight.T @ da  # (2d,)
        g[left] += d_child[:d]
        g[right] += d_child[d:]
    return d_emb, d_w, (d_b if has_bias else None)
