"""Tests of dlmath.layers.positional: the sinusoidal table against its formula written as loops, the
relative-position property (PE(t + k) is a fixed rotation of PE(t)), the rotary embedding against an
independent complex-number form, its relative-position property (q_m . k_n depends on m - n only),
norm preservation, gradient checks, inputs not mutated, bad input."""
import math

import numpy as np
import pytest

from dlmath.gradcheck import check_backward
from dlmath.layers.positional import (rotary_angles, rotary_backward, rotary_forward,
                                      sinusoidal_positional_encoding)


def test_sinusoidal_matches_loops():
    n, d = 7, 6
    pe = sinusoidal_positional_encoding(n, d)
    for t in range(n):
        for i in range(d // 2):
            w = 10000.0 ** (-2 * i / d)
            assert pe[t, 2 * i] == pytest.approx(math.sin(t * w), abs=1e-15)
            assert pe[t, 2 * i + 1] == pytest.approx(math.cos(t * w), abs=1e-15)
    assert sinusoidal_positional_encoding(3, 4, dtype=np.float32).dtype == np.float32
    assert sinusoidal_positional_encoding(0, 4).shape == (0, 4)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_sinusoidal_shift_is_a_rotation(k):
    """PE(t + k) = R_k PE(t) with R_k block-diagonal, blocks [[cos kw, sin kw], [-sin kw, cos kw]] in the
    order (sin, cos) of the pairs, the same matrix for every t."""
    n, d = 40, 8
    pe = sinusoidal_positional_encoding(n + k, d)
    r = np.zeros((d, d))
    for i in range(d // 2):
        w = 10000.0 ** (-2 * i / d)
        c, s = math.cos(k * w), math.sin(k * w)
        r[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    np.testing.assert_allclose(pe[k:] , pe[:n] @ r.T, atol=1e-12)
    assert np.allclose(r @ r.T, np.eye(d))
    # and the dot product of two encodings depends on the offset only
    dots = np.einsum("td,td->t", pe[k:], pe[:n])
    np.testing.assert_allclose(dots, dots[0], atol=1e-12)


def test_rotary_matches_complex_form(rng):
    x = rng.standard_normal((2, 5, 6))
    out, _ = rotary_forward(x)
    z = x[..., 0::2] + 1j * x[..., 1::2]
    theta = np.arange(5)[:, None] * 10000.0 ** (-np.arange(0, 6, 2) / 6)
    zr = z * np.exp(1j * theta)
    np.testing.assert_allclose(out[..., 0::2], zr.real, atol=1e-14)
    np.testing.assert_allclose(out[..., 1::2], zr.imag, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-13)


def test_rotary_scores_depend_on_offset_only(rng):
    """The same q and k placed at (m, n) and at (m + s, n + s): equal dot products after rotation."""
    d = 8
    q, k = rng.standard_normal(d), rng.standard_normal(d)
    for m, n in [(0, 3), (5, 2), (7, 7)]:
        scores = []
        for s in (0, 4, 11):
            pos_q, pos_k = np.array([m + s]), np.array([n + s])
            rq, _ = rotary_forward(q[None, :], positions=pos_q)
            rk, _ = rotary_forward(k[None, :], positions=pos_k)
            scores.append(float(rq[0] @ rk[0]))
        assert np.allclose(scores, scores[0], atol=1e-12)
    # and it does depend on the offset
    a = rotary_forward(np.stack([q, q]), positions=np.array([0, 1]))[0]
    assert abs(a[0] @ k - a[1] @ k) > 1e-3


def test_rotary_gradient(rng):
    errs = check_backward(lambda x: rotary_forward(x, positions=np.array([0, 2, 5])), rotary_backward,
                          [rng.standard_normal((2, 3, 4))], rng)
    assert max(errs) < 1e-7


def test_rotary_backward_is_inverse_rotation(rng):
    x = rng.standard_normal((3, 4, 6))
    out, cache = rotary_forward(x)
    np.testing.assert_allclose(rotary_backward(out, cache), x, atol=1e-14)


def test_rotary_does_not_mutate_and_keeps_dtype(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    x0 = x.copy()
    out, cache = rotary_forward(x)
    g = np.ones_like(out)
    assert out.dtype == np.float32 and rotary_backward(g, cache).dtype == np.float32
    assert np.array_equal(x, x0) and np.all(g == 1)


def test_rotary_angles():
    a = rotary_angles(np.array([0, 1, 2]), 4, base=100.0)
    np.testing.assert_allclose(a, [[0, 0], [1, 0.1], [2, 0.2]])


def test_bad_input():
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positional_encoding(3, 5)
    with pytest.raises(ValueError, match="num_positions"):
        sinusoidal_positional_encoding(-1, 4)
    with pytest.raises(ValueError, match="base"):
        sinusoidal_positional_encoding(3, 4, base=1.0)
    with pytest.raises(ValueError, match="dtype"):
        sinusoidal_positional_encoding(3, 4, dtype=np.int64)
    with pytest.raises(ValueError, match="D even"):
        rotary_forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="floating"):
        rotary_forward(np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match="positions"):
        rotary_forward(np.zeros((3, 4)), positions=np.arange(4))
    _, cache = rotary_forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="grad_out"):
        rotary_backward(np.zeros((3, 2)), cache)
