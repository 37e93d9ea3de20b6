"""dlmath: NumPy reference implementations for the textbook *Deep Learning, Derived*.

Only NumPy is required. ``dlmath.symbolic`` needs SymPy and ``dlmath.plotting`` needs matplotlib;
both are imported only when used. Files in ``dlmath/layers`` import nothing from the package, so a
reader can copy one file into their own project.
"""
__version__ = "0.1.0"
