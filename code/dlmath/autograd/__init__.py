"""Automatic differentiation in reverse mode (chapter 8): a scalar engine and an array engine.

``Value`` (scalar.py) differentiates programs of Python floats; ``Dual`` is its forward-mode
counterpart. ``Tensor`` (tensor.py) differentiates programs of float64 NumPy arrays with broadcasting.
Each file imports only NumPy and the standard library, so either can be copied alone. The book draws
recorded graphs with ``dlmath.book.graphs.draw_graph``.
"""
from .scalar import Dual, Value
from .tensor import Tensor, unbroadcast

__all__ = ["Value", "Dual", "Tensor", "unbroadcast"]
