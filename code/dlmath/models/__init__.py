"""Models composed from the layers of ``dlmath.layers`` (one module per model family)."""
