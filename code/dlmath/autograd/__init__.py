"""Automatic differentiation in reverse mode (chapter 8): a scalar engine and an array engine.

``Value`` (scalar.py) differentiates programs of Python floats; ``Dual`` is its forward-mode
counterpart, and ``hessian_vector_product`` runs the reverse pass on dual numbers (forward over reverse).
``Tensor`` (tensor.py) differentiates programs of float64 NumPy arrays with broadcasting; checkpoint.py
adds ``checkpoint`` and ``checkpoint_sequential`` for it (memory traded for recomputation), and
dual_array.py ``DualArray`` data and ``tensor_hvp`` (forward over reverse on the array engine).
scalar.py and tensor.py import only NumPy and the standard library, so either can be copied alone;
checkpoint.py and dual_array.py need tensor.py. The book draws
recorded graphs with ``dlmath.book.graphs.draw_graph``.
"""
from .checkpoint import checkpoint, checkpoint_sequential
from .dual_array import DualArray, tensor_hvp
from .scalar import Dual, Value, hessian_vector_product
from .tensor import Tensor, unbroadcast

__all__ = ["Value", "Dual", "hessian_vector_product", "Tensor", "unbroadcast",
           "checkpoint", "checkpoint_sequential", "DualArray", "tensor_hvp"]
