"""Layers as functional forward/backward pairs. Each file imports only NumPy and the standard library."""
