"""Shared fixtures for the tests."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator: every random test input comes from it, never from global state."""
    return np.random.default_rng(20261123)
