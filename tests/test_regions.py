"""Tests of dlmath.models.regions: exact piece counts along a segment, the sawtooth, hyperplane arrangements."""
import itertools
import math

import numpy as np
import pytest

from dlmath.models import regions as RG
from dlmath.models.mlp import init_mlp, mlp_forward


def _random_net(rng, sizes, bias_scale=0.5):
    params = init_mlp(sizes, rng)
    for l in range(1, len(sizes)):
        params[f"b{l}"] = bias_scale * rng.standard_normal(sizes[l])
    return params


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sizes", [[1, 5, 1], [3, 8, 8, 2], [2, 6, 6, 6, 6, 1]])
def test_pieces_are_the_network_on_the_segment(seed, sizes):
    """On each returned piece the output is slope * t + intercept: compare with mlp_forward at many t."""
    rng = np.random.default_rng(seed)
    params = _random_net(rng, sizes)
    xa, xb = rng.standard_normal(sizes[0]), rng.standard_normal(sizes[0])
    for merge in (False, True):
        breaks, slopes, inter = RG.segment_pieces(params, xa, xb, merge=merge)
        assert breaks[0] == 0.0 and breaks[-1] == 1.0 and np.all(np.diff(breaks) > 0)
        assert slopes.shape == inter.shape == (len(breaks) - 1, sizes[-1])
        t = np.concatenate([rng.uniform(0, 1, 500), breaks])
        piece = np.clip(np.searchsorted(breaks, t, side="right") - 1, 0, len(slopes) - 1)
        out = mlp_forward(params, xa + t[:, None] * (xb - xa))[0]
        assert np.allclose(slopes[piece] * t[:, None] + inter[piece], out, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_no_kink_is_missed_between_breakpoints(seed):
    """Between two returned breakpoints the network is affine: its second differences on a fine grid vanish."""
    rng = np.random.default_rng(seed)
    params = _random_net(rng, [2, 10, 10, 1])
    xa, xb = rng.standard_normal(2), rng.standard_normal(2)
    breaks, _, _ = RG.segment_pieces(params, xa, xb, merge=False)
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        t = np.linspace(lo, hi, 9)
        out = mlp_forward(params, xa + t[:, None] * (xb - xa))[0][:, 0]
        assert np.allclose(np.diff(out, 2), 0.0, atol=1e-9 * (1 + np.abs(out).max()))


@pytest.mark.parametrize("seed", range(5))
def test_one_hidden_layer_on_the_line_has_one_kink_per_unit(seed):
    """g(x) = c + sum_j a_j relu(w_j x + b_j): the kinks are the -b_j / w_j inside the interval."""
    rng = np.random.default_rng(seed)
    n_1 = 12
    params = _random_net(rng, [1, n_1, 1], bias_scale=1.0)
    kinks = -params["b1"] / params["W1"][:, 0]
    lo, hi = -1.5, 1.5
    inside = np.sort(kinks[(kinks > lo) & (kinks < hi)])
    breaks, _, _ = RG.segment_pieces(params, [lo], [hi])
    assert np.allclose(lo + breaks[1:-1] * (hi - lo), inside, atol=1e-12)
    wide = RG.count_pieces(params, [kinks.min() - 1], [kinks.max() + 1])   # every kink inside: n_1 + 1 pieces
    assert wide == n_1 + 1


def test_merging_joins_pieces_with_the_same_affine_map():
    """Two units with the same kink give one kink; units that cancel give no kink at all."""
    same_kink = {"W1": np.array([[1.0], [2.0]]), "b1": np.zeros(2), "W2": np.array([[1.0, 1.0]]), "b2": np.zeros(1)}
    assert RG.count_pieces(same_kink, [-1.0], [1.0], merge=False) == 2
    cancel = {"W1": np.array([[1.0], [1.0]]), "b1": np.array([0.0, 0.0]), "W2": np.array([[1.0, -1.0]]),
              "b2": np.zeros(1)}
    assert RG.count_pieces(cancel, [-1.0], [1.0], merge=False) == 2   # an activation boundary...
    assert RG.count_pieces(cancel, [-1.0], [1.0]) == 1                # ...that is not a kink of g
    dead = {"W1": np.array([[1.0]]), "b1": np.array([-5.0]), "W2": np.array([[3.0]]), "b2": np.zeros(1)}
    assert RG.count_pieces(dead, [-1.0], [1.0]) == 1


@pytest.mark.parametrize("k", range(1, 16))
def test_sawtooth_has_2_to_the_k_pieces_of_slope_2_to_the_k(k):
    params = RG.sawtooth_params(k)
    assert sum(W.size for name, W in params.items() if name.startswith("W")) == 2 + 4 * (k - 1) + 2
    breaks, slopes, _ = RG.segment_pieces(params, [0.0], [1.0])
    assert len(slopes) == 2 ** k
    assert np.array_equal(np.abs(slopes[:, 0]), np.full(2 ** k, 2.0 ** k))
    assert np.array_equal(np.sign(slopes[:, 0]), np.tile([1.0, -1.0], 2 ** (k - 1)))
    assert np.allclose(breaks, np.arange(2 ** k + 1) / 2 ** k, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_sawtooth_is_the_iterated_tent_map(k):
    x = np.random.default_rng(k).uniform(0, 1, 1000)
    direct = x.copy()
    for _ in range(k):
        direct = 2 * np.minimum(direct, 1 - direct)
    assert np.allclose(mlp_forward(RG.sawtooth_params(k), x[:, None])[0][:, 0], direct, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(3))
def test_arrangement_regions_is_zaslavskys_count(d, seed):
    rng = np.random.default_rng(seed)
    for n_1 in range(0 if d > 1 else 1, 9):
        W, b = rng.standard_normal((n_1, d)), rng.standard_normal(n_1)
        assert RG.arrangement_regions(W, b) == sum(math.comb(n_1, i) for i in range(d + 1))


@pytest.mark.parametrize("seed", range(4))
def test_arrangement_regions_bounds_what_sampling_finds_in_the_plane(seed):
    """A fine grid over a box holding every vertex meets every unbounded region and most bounded ones: it never
    finds more patterns than the exact count, and misses at most the regions smaller than its spacing."""
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((5, 2)), 0.5 * rng.standard_normal(5)
    vertices = [np.linalg.solve(W[[i, j]], -b[[i, j]]) for i, j in itertools.combinations(range(5), 2)]
    half = 1.5 * np.abs(vertices).max() + 1
    g = np.linspace(-half, half, 800)
    pts = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    sampled = len(np.unique(pts @ W.T + b > 0, axis=0))
    assert 2 * 5 <= sampled <= RG.arrangement_regions(W, b) == 16     # 2 n_1 unbounded regions at least


def test_arrangement_regions_equals_sampling_for_a_well_spread_arrangement():
    """The five sides of a regular pentagon, extended: 16 regions, all large, and a grid finds each of them."""
    angles = 2 * np.pi * np.arange(5) / 5
    W = np.column_stack([np.cos(angles), np.sin(angles)])     # lines at distance 1 from the origin
    b = -np.ones(5)
    g = np.linspace(-6, 6, 1201)
    pts = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    assert len(np.unique(pts @ W.T + b > 0, axis=0)) == RG.arrangement_regions(W, b) == 16


def test_arrangement_regions_of_hand_examples():
    assert RG.arrangement_regions([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]) == 4            # two crossing lines
    assert RG.arrangement_regions([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, -1.0]) == 7
    assert RG.arrangement_regions([[1.0, 2.0]], [3.0]) == 2                             # n_1 < d


@pytest.mark.parametrize("W, b", [
    ([[1.0, 0.0], [2.0, 0.0]], [0.0, 1.0]),                      # parallel lines
    ([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, 0.0]),     # three lines through one point
    ([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], [0.0, 1.0]),            # n_1 < d, dependent normals
])
def test_arrangement_regions_rejects_degenerate_arrangements(W, b):
    with pytest.raises(ValueError, match="general position"):
        RG.arrangement_regions(W, b)


def test_bad_input_raises():
    params = RG.sawtooth_params(2)
    with pytest.raises(ValueError, match="shape"):
        RG.segment_pieces(params, [0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="W1, b1"):
        RG.segment_pieces({"W1": np.ones((2, 1))}, [0.0], [1.0])
    with pytest.raises(ValueError, match="inputs"):
        RG.segment_pieces({"W1": np.ones((2, 1)), "b1": np.zeros(2), "W2": np.ones((1, 3)), "b2": np.zeros(1)},
                          [0.0], [1.0])
    for k in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            RG.sawtooth_params(k)
    with pytest.raises(ValueError, match="weight must be"):
        RG.arrangement_regions(np.ones((3, 2)), np.ones(2))


def test_inputs_not_modified():
    rng = np.random.default_rng(0)
    params = _random_net(rng, [2, 4, 1])
    copy = {k: v.copy() for k, v in params.items()}
    xa, xb = rng.standard_normal(2), rng.standard_normal(2)
    xa0, xb0 = xa.copy(), xb.copy()
    RG.segment_pieces(params, xa, xb)
    assert all(np.array_equal(params[k], copy[k]) for k in params)
    assert np.array_equal(xa, xa0) and np.array_equal(xb, xb0)
