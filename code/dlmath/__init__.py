"""dlmath: NumPy reference implementations for the textbook *Deep Learning, Derived*.

Only NumPy is required. The top level holds reference algorithms (layers, autograd, models, optim,
init, data, metrics, gradient checking). The book's machinery lives apart, in ``dlmath.book``
(``symbolic`` needs SymPy, ``plotting`` and ``graphs`` need matplotlib). Files in ``dlmath/layers``
and ``dlmath/autograd`` import nothing from the package, so a reader can copy one file alone.
"""
__version__ = "0.1.0"
