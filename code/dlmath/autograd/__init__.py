"""Automatic differentiation in reverse mode (chapter 8): a scalar engine and an array engine.

``Value`` (scalar.py) differentiates programs of Python floats; ``Dual`` is its forward-mode
counterpart, and ``hessian_vector_product`` runs the reverse pass on dual numbers (forward over reverse).
``Tensor`` (tensor.py) differentiates programs of float64 NumPy arrays with broadcasting; the same
file holds ``checkpoint`` and ``checkpoint_sequential`` (memory traded for recomputation) and
``DualArray`` data with ``tensor_hvp`` (forward over reverse on the array engine).
scalar.py and tensor.py import only NumPy and the standard library, so either can be copied alone.
The book draws recorded graphs with ``dlmath.book.graphs.draw_graph``.
"""
from .scalar import Dual, Value, hessian_vector_product
from .tensor import DualArray, Tensor, checkpoint, checkpoint_sequential, tensor_hvp, unbroadcast

__all__ = ["Value", "Dual", "hessian_vector_product", "Tensor", "unbroadcast",
           "checkpoint", "checkpoint_sequential", "DualArray", "tensor_hvp"]
