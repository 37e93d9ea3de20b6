"""Linear regions of ReLU networks (chapter 6): exact counts, no sampling.

A ReLU network with parameters in the layout of :mod:`dlmath.models.mlp` (``{"W1": (n_1, d), "b1": (n_1,),
..., "WL": (C, n_{L-1}), "bL": (C,)}``, ReLU after every layer but the last) is continuous and piecewise
linear: on the set of inputs where every unit keeps its sign it is one affine map
(eq-activations-region-affine). This module counts the pieces.

* :func:`segment_pieces` follows the network along a segment ``x(t) = x_start + t (x_end - x_start)``,
  ``0 <= t <= 1``, layer by layer: on each piece the pre-activations are affine in ``t``, so a unit
  changes sign at most once there, at ``t = -c / a``; the new breakpoints split the pieces and the ReLU
  masks of the next layer are read at the pieces' midpoints. Exact up to rounding of the breakpoints.
* :func:`sawtooth_params` is Telgarsky's (2016) network: ``k`` hidden layers of two units compose the tent
  map ``tent(x) = 2 relu(x) - 4 relu(x - 1/2)`` (eq-activations-tent) ``k`` times; ``2^k`` pieces on
  ``[0, 1]`` (eq-activations-sawtooth-pieces).
* :func:`arrangement_regions` counts the regions into which the hyperplanes ``W x + b = 0`` of one hidden
  layer cut ``R^d``; in general position this is Zaslavsky's (1975) ``sum_{i <= d} binom(n_1, i)``
  (eq-activations-arrangement-regions).

Imports NumPy and the standard library only.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["segment_pieces", "count_pieces", "sawtooth_params", "arrangement_regions"]


def _layers(params):
    """The (weight, bias) pairs of an MLP parameter dict, checked for shapes."""
    n = len(params) // 2
    if n < 1 or len(params) != 2 * n or any(f"W{l}" not in params or f"b{l}" not in params
                                            for l in range(1, n + 1)):
        raise ValueError(f"params must hold W1, b1, ..., WL, bL, got keys {sorted(params)}")
    layers = []
    for l in range(1, n + 1):
        W, b = np.asarray(params[f"W{l}"], dtype=float), np.asarray(params[f"b{l}"], dtype=float)
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"W{l} must be (out, in) and b{l} (out,), got {W.shape} and {b.shape}")
        if l > 1 and W.shape[1] != layers[-1][0].shape[0]:
            raise ValueError(f"W{l} reads {W.shape[1]} inputs, layer {l - 1} has {layers[-1][0].shape[0]} units")
        layers.append((W, b))
    return layers


def segment_pieces(params, x_start, x_end, *, merge=True, tol=1e-12, rtol=1e-9):
    """The exact linear pieces of a ReLU network along ``x(t) = x_start + t (x_end - x_start)``, t in [0, 1].

    Returns ``(breaks, slopes, intercepts)``: ``breaks`` (P + 1,) increasing from 0 to 1, and on piece p,
    ``breaks[p] <= t <= breaks[p + 1]``, the network's output is ``slopes[p] * t + intercepts[p]``
    (each (P, C)). With ``merge=False`` the pieces are the activation regions met by the segment (a unit
    changes sign at every break); with ``merge=True`` neighbours with the same affine map (slopes equal to
    ``rtol``) are joined, so that P counts the pieces of the function itself. Breakpoints closer than
    ``tol`` are one breakpoint. eq-activations-region-affine; Telgarsky (2016), Hanin and Rolnick (2019).
    """
    layers = _layers(params)
    x0, x1 = np.asarray(x_start, dtype=float), np.asarray(x_end, dtype=float)
    d = layers[0][0].shape[1]
    if x0.shape != (d,) or x1.shape != (d,):
        raise ValueError(f"x_start and x_end must have shape ({d},), got {x0.shape} and {x1.shape}")
    breaks = np.array([0.0, 1.0])
    a, c = (x1 - x0)[None, :], x0[None, :]              # the layer input is a t + c on each piece, (P, n)
    for l, (W, b) in enumerate(layers, start=1):
        A, C = a @ W.T, c @ W.T + b                     # pre-activations z = A t + C, (P, n_l)
        if l == len(layers):
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -C / A                               # where each unit changes sign on each piece
        inside = (A != 0) & (root > breaks[:-1, None]) & (root < breaks[1:, None])
        new = np.unique(np.concatenate([breaks, root[inside]]))
        new = new[np.concatenate([[True], np.diff(new) > tol])]
        new[-1] = 1.0
        mid = 0.5 * (new[:-1] + new[1:])                # (P',)
        old = np.searchsorted(breaks, mid) - 1          # the old piece holding each new one
        A, C = A[old], C[old]
        on = (A * mid[:, None] + C) > 0                 # the ReLU mask on each new piece, (P', n_l)
        a, c, breaks = A * on, C * on, new
    slopes, intercepts = A, C                           # (P, C)
    if merge and len(slopes) > 1:
        scale = np.abs(slopes).max(initial=0.0)
        same = np.all(np.isclose(slopes[1:], slopes[:-1], rtol=rtol, atol=rtol * scale), axis=1)
        start = np.concatenate([[True], ~same])         # a new function piece begins here
        breaks = np.append(breaks[:-1][start], 1.0)
        slopes, intercepts = slopes[start], intercepts[start]
    return breaks, slopes, intercepts


def count_pieces(params, x_start, x_end, *, merge=True, tol=1e-12, rtol=1e-9):
    """The number of linear pieces of the network along the segment (see :func:`segment_pieces`)."""
    return len(segment_pieces(params, x_start, x_end, merge=merge, tol=tol, rtol=rtol)[1])


def sawtooth_params(k):
    """Telgarsky's sawtooth: ``k`` hidden layers of two ReLU units computing the tent map k times.

    Layer 1: relu(x), relu(x - 1/2); every later layer reads u = 2 h_1 - 4 h_2 = tent(previous) and forms
    relu(u), relu(u - 1/2); the output is 2 h_1 - 4 h_2. On [0, 1] the network is tent composed k times,
    with 2^k pieces of slopes +-2^k (eq-activations-tent, eq-activations-sawtooth-pieces; Telgarsky, 2016).
    """
    if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    half = np.array([0.0, -0.5])
    params = {"W1": np.array([[1.0], [1.0]]), "b1": half.copy()}
    for l in range(2, k + 1):
        params[f"W{l}"], params[f"b{l}"] = np.array([[2.0, -4.0], [2.0, -4.0]]), half.copy()
    params[f"W{k + 1}"], params[f"b{k + 1}"] = np.array([[2.0, -4.0]]), np.zeros(1)
    return params


def arrangement_regions(weight, bias):
    """The number of regions into which the n_1 hyperplanes w_j . x + b_j = 0 cut R^d (weight (n_1, d), bias (n_1,)).

    These are the activation regions of one hidden ReLU layer. Exact for hyperplanes in general position
    (every d of them meet in one point that no other one contains), which holds with probability 1 for
    random weights: every region then has a vertex (n_1 >= d), and the 2^d regions around a vertex v, the
    meeting point of the hyperplanes S, carry the signs of the other hyperplanes at v and every sign
    pattern on S. Counts the distinct patterns; raises ValueError when the hyperplanes are not in general
    position. eq-activations-arrangement-regions (Zaslavsky, 1975).
    """
    W, b = np.asarray(weight, dtype=float), np.asarray(bias, dtype=float)
    if W.ndim != 2 or b.shape != (W.shape[0],):
        raise ValueError(f"weight must be (n_1, d) and bias (n_1,), got {W.shape} and {b.shape}")
    n_1, d = W.shape
    if n_1 < d:
        if np.linalg.matrix_rank(W) < n_1:
            raise ValueError("the hyperplanes are not in general position (their normals are dependent)")
        return 2 ** n_1
    subsets = np.array(list(itertools.combinations(range(n_1), d)))        # (S, d)
    A = W[subsets]                                                        # (S, d, d)
    if np.any(np.abs(np.linalg.det(A)) < 1e-12 * np.prod(np.linalg.norm(A, axis=2), axis=1)):
        raise ValueError("the hyperplanes are not in general position (d of them do not meet in one point)")
    vertices = np.linalg.solve(A, -b[subsets][:, :, None])[:, :, 0]      # (S, d)
    values = vertices @ W.T + b                                           # (S, n_1), 0 on the subset
    through = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(through, subsets, True, axis=1)
    size = np.abs(W) @ np.abs(vertices).T + np.abs(b)[:, None]            # (n_1, S), the scale of each value
    if np.any(np.abs(values[~through]) <= 1e-9 * size.T[~through]):
        raise ValueError("the hyperplanes are not in general position (d + 1 of them share a point)")
    signs = np.array(list(itertools.product((False, True), repeat=d)))    # (2^d, d)
    pattern = np.repeat((values > 0)[:, None, :], len(signs), axis=1)     # (S, 2^d, n_1)
    pattern[np.arange(len(subsets))[:, None, None], np.arange(len(signs))[None, :, None],
            subsets[:, None, :]] = signs[None, :, :]
    return len(np.unique(pattern.reshape(-1, n_1), axis=0))
