"""SymPy helpers for the book's formula contract.

Every labelled display equation of the book (``eq-<chapter>-<name>``) is bound, in a code cell of the
same chapter, by exactly one call to one of these helpers, with the label as first argument:

* :func:`define` -- the formula *defines* something (a model, a loss, an update rule); the SymPy object
  is recorded and returned, so later checks build on the same object the text shows.
* :func:`verify` -- the formula is a *result* ``lhs = rhs``; it holds when ``lhs - rhs`` simplifies to 0.
* :func:`verify_steps` -- a derivation written as a chain ``e0 = e1 = ... = ek``; every link is checked.
* :func:`verify_true` -- a statement (an inequality, a limit) that SymPy must reduce to ``True``.
* :func:`check_code` -- a formula *about code* (a derivative, an output shape, a parameter count): the
  formula is evaluated on a grid of cases and compared with what the package computes.

A failed check raises :class:`FormulaCheckError`, so the cell fails and the book build fails with it.
Each helper returns a :class:`Binding`; in a notebook it displays as one line that links to the
formula index. This is the only module of ``dlmath`` that imports SymPy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

__all__ = [
    "Binding", "FormulaCheckError", "define", "verify", "verify_steps", "verify_true", "check_code",
    "registry", "is_zero",
]

LABEL_RE = re.compile(r"^eq-[a-z0-9]+(?:-[a-z0-9]+)*$")

STATUS_TEXT = {
    "defined": "defined",
    "verified": "verified by SymPy",
    "checked": "checked against the code",
}


class FormulaCheckError(AssertionError):
    """A formula of the book does not hold (or does not match the package's code)."""


@dataclass
class Binding:
    """The record of one labelled formula: its label, status and the SymPy object(s) it is bound to."""

    label: str
    status: str  # "defined" | "verified" | "checked"
    obj: object = None
    detail: str = ""
    extra: dict = field(default_factory=dict)

    def _repr_markdown_(self) -> str:
        text = f"{{eq}}`{self.label}` {STATUS_TEXT[self.status]}"
        if self.detail:
            text += f" ({self.detail})"
        return f"Formula {text}. {{ref}}`Formula index <{self.label}>`."

    def __repr__(self) -> str:  # plain-text fallback, e.g. in a terminal
        return f"<{self.label}: {STATUS_TEXT[self.status]}{' (' + self.detail + ')' if self.detail else ''}>"


# label -> Binding; one process (one notebook kernel) binds each label once.
registry: dict[str, Binding] = {}


def _register(binding: Binding) -> Binding:
    label = binding.label
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise ValueError(f"a formula label must look like 'eq-<chapter>-<name>' (lowercase, digits, '-'), got {label!r}")
    if label in registry:
        raise ValueError(f"formula label {label!r} is bound twice; each label is bound exactly once")
    registry[label] = binding
    return binding


def is_zero(expr, simplifier=None) -> bool:
    """True when ``expr`` (a SymPy expression or matrix) simplifies to zero."""
    simplify = simplifier or sp.simplify
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e, simplifier) for e in expr)
    e = sp.sympify(expr)
    if e == 0:
        return True
    s = simplify(e)
    if s == 0:
        return True
    # A second, stronger pass for expressions with exponentials and logarithms.
    s = sp.simplify(sp.expand(sp.expand_log(sp.powsimp(s, force=True), force=True)))
    return s == 0


def _shape_of(x):
    return x.shape if isinstance(x, sp.MatrixBase) else None


def define(label: str, obj, detail: str = "") -> Binding:
    """Bind ``label`` to the SymPy object the formula defines, and return the binding.

    ``obj`` is anything SymPy can hold: an expression, an ``Eq`` (name = definition), a matrix, a
    function ``Lambda``, or a tuple of these (a piecewise family, say).
    """
    if obj is None:
        raise ValueError(f"define({label!r}, ...) needs the SymPy object the formula defines, got None")
    return _register(Binding(label, "defined", obj, detail))


def verify(label: str, lhs, rhs, simplifier=None, detail: str = "") -> Binding:
    """Check the result ``lhs = rhs`` (expressions or matrices of the same shape) and bind ``label``."""
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if _shape_of(lhs) != _shape_of(rhs):
        raise ValueError(f"{label}: both sides must have the same shape, got {_shape_of(lhs)} and {_shape_of(rhs)}")
    if not is_zero(lhs - rhs, simplifier):
        raise FormulaCheckError(f"{label}: the two sides differ; lhs - rhs simplifies to {sp.simplify(lhs - rhs)}")
    return _register(Binding(label, "verified", sp.Eq(lhs, rhs, evaluate=False) if _shape_of(lhs) is None else (lhs, rhs), detail))


def verify_steps(label: str, steps, simplifier=None, detail: str = "") -> Binding:
    """Check a derivation ``steps[0] = steps[1] = ... = steps[-1]`` link by link, and bind ``label``."""
    steps = [sp.sympify(s) for s in steps]
    if len(steps) < 2:
        raise ValueError(f"{label}: a derivation needs at least two steps, got {len(steps)}")
    for i, (a, b) in enumerate(zip(steps, steps[1:])):
        if _shape_of(a) != _shape_of(b):
            raise ValueError(f"{label}: steps {i} and {i + 1} have shapes {_shape_of(a)} and {_shape_of(b)}")
        if not is_zero(a - b, simplifier):
            raise FormulaCheckError(f"{label}: step {i} -> {i + 1} does not hold: {a}  !=  {b}")
    return _register(Binding(label, "verified", tuple(steps), detail or f"{len(steps) - 1} steps"))


_SIGN_TESTS = {">": "is_positive", ">=": "is_nonnegative", "<": "is_negative", "<=": "is_nonpositive"}


def _holds(statement) -> bool:
    """True when SymPy proves the statement; relations are decided by the sign of lhs - rhs."""
    statement = sp.sympify(statement)
    if statement is sp.true:
        return True
    if isinstance(statement, (sp.And,)):
        return all(_holds(a) for a in statement.args)
    if isinstance(statement, sp.core.relational.Relational) and statement.rel_op in _SIGN_TESTS:
        diff = statement.lhs - statement.rhs
        attr = _SIGN_TESTS[statement.rel_op]
        for d in (diff, sp.simplify(diff), sp.factor(diff)):
            if getattr(d, attr) is True:
                return True
    return sp.simplify(statement) is sp.true


def verify_true(label: str, statement, detail: str = "") -> Binding:
    """Check that a SymPy statement (an inequality under assumptions, a limit equation) is ``True``."""
    if not _holds(statement):
        raise FormulaCheckError(f"{label}: SymPy cannot reduce the statement {statement} to True")
    return _register(Binding(label, "verified", statement, detail))


def check_code(label: str, formula, code, cases, rtol: float = 1e-10, atol: float = 1e-12, detail: str = "") -> Binding:
    """Check a formula against the package on a grid of cases, and bind ``label``.

    ``formula`` is a SymPy expression (or matrix) in symbols, or a Python callable; ``code`` is a
    callable. ``cases`` is a non-empty list of dicts; each maps symbol names to numbers (or arrays,
    for callables). For each case, ``formula`` evaluated at the case must agree with ``code(**case)``
    to the given tolerances (exactly, for integers).
    """
    cases = list(cases)
    if not cases:
        raise ValueError(f"{label}: check_code needs at least one case")
    for case in cases:
        if callable(formula) and not isinstance(formula, sp.Basic):
            expected = formula(**case)
        else:
            subs = {sp.Symbol(k): v for k, v in case.items() if np.isscalar(v)}
            # Match symbols by name whatever their assumptions.
            by_name = {s.name: s for s in sp.sympify(formula).free_symbols}
            subs = {by_name[k.name]: v for k, v in subs.items() if k.name in by_name}
            value = sp.sympify(formula).subs(subs)
            value = sp.N(value, 30) if not isinstance(value, sp.MatrixBase) else value.evalf(30)
            expected = np.array(value.tolist() if isinstance(value, sp.MatrixBase) else value, dtype=float)
        got = code(**case)
        exp_arr, got_arr = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
        if exp_arr.shape != got_arr.shape:
            raise FormulaCheckError(f"{label}: at {case} the formula has shape {exp_arr.shape}, the code {got_arr.shape}")
        if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
            raise FormulaCheckError(f"{label}: at {case} the formula gives {exp_arr}, the code gives {got_arr}")
    return _register(Binding(label, "checked", formula, detail or f"{len(cases)} cases"))
