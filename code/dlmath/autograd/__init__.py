"""Automatic differentiation in reverse mode (chapter 8): a scalar engine and an array engine.

``Value`` (scalar.py) differentiates programs of Python floats; ``Dual`` is its forward-mode
counterpart. ``Tensor`` (tensor.py) differentiates programs of float64 NumPy arrays with broadcasting.
``draw_graph`` (draw.py, needs matplotlib) draws the graph that either engine recorded.
"""
from .scalar import Dual, Value
from .tensor import Tensor, unbroadcast

__all__ = ["Value", "Dual", "Tensor", "unbroadcast", "draw_graph"]


def draw_graph(root, ax=None, **kwargs):
    """Draw the computation graph ending in ``root`` (imports matplotlib only when called)."""
    from .draw import draw_graph as _draw
    return _draw(root, ax=ax, **kwargs)
