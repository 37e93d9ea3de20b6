"""The formula contract, second version: the formula on the page is the formula that is checked.

Every labelled display of a chapter (``eq-<chapter>-<name>``) is bound once, in a code cell of the same
chapter, by one helper that takes the label first. The helper reads the display's own LaTeX from the
chapter source, turns it into SymPy through the notation layer (:mod:`dlmath.book.texparse`: the book's
macros and the chapter's meaning of its symbols, in front of the maintained parser
``latex2sympy2_extended``), and checks it:

* :func:`define`: the display defines an object; every side after the first must equal the object bound.
* :func:`verify` (and :func:`verify_steps`, :func:`verify_true`): the display states a result; every
  relation it states (each ``=`` of a chain, each inequality, each ``\\qquad`` statement) is checked.
  Without expressions, the parsed display itself is checked; with expressions (one per side), each
  displayed side must first equal the expression given for it.
* :func:`check_code`: a formula about the package; the displayed formula must equal the expression
  given, which is evaluated against the code on a grid of cases.
* :func:`cite`: a result quoted from the literature without proof, with its citation.

A display the parser cannot read is bound with ``untied="<reason>"`` and the strongest check available.
Equalities are decided symbolically; a simplification that needs forced rewrites (``force=True``) counts
only with agreement at random points that respect the symbols' assumptions. What SymPy cannot decide
is tested at random points and the status says so (``scope``). :func:`finish`, the last cell of a
chapter, asserts that the labels registered while the chapter ran are exactly its displayed labels and
writes them to ``_build/formulas/<slug>.json`` for the formula index and the tests.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from dlmath.book import sources, texparse
from dlmath.book.texparse import Notation, TexParseError

__all__ = [
    "Binding", "FormulaCheckError", "define", "verify", "verify_steps", "verify_true", "check_code", "cite",
    "notation", "finish", "registry", "is_zero", "Notation", "display_tex",
]

LABEL_RE = re.compile(r"^eq-[a-z0-9]+(?:-[a-z0-9]+)*$")

STATUS_TEXT = {"defined": "defined", "verified": "verified by SymPy", "checked": "checked against the code",
               "cited": "cited"}


class FormulaCheckError(AssertionError):
    """A formula of the book does not hold, does not match its display, or does not match the code."""


@dataclass
class Binding:
    """The record of one labelled formula."""

    label: str
    status: str  # "defined" | "verified" | "checked" | "cited"
    obj: object = None
    detail: str = ""
    tied: bool = False
    untied: str = ""  # the reason, when not tied
    scope: str = "general"  # "general", "instance: ...", "random points: ...", "cases: ..."
    implements: str = ""  # the package function implementing the formula, dotted path
    citation: str = ""
    relations: int = 0
    set_aside: list = field(default_factory=list)
    replay: object = field(default=None, repr=False, compare=False)  # the same check on other LaTeX

    def summary(self) -> str:
        tie = "tied to the display" if self.tied else f"untied: {self.untied}"
        parts = [STATUS_TEXT[self.status], tie]
        if self.status != "defined" and self.scope:
            parts.append(self.scope)
        if self.citation:
            parts.append(f"{{cite}}`{self.citation}`")
        if self.detail:
            parts.append(self.detail)
        return "; ".join(parts)

    def _repr_markdown_(self) -> str:
        text = self.summary().replace("<", "&lt;")
        return f"{{eq}}`{self.label}`: {text}. {{ref}}`Formula index <{self.label}>`."

    def __repr__(self) -> str:
        return f"<{self.label}: {self.summary()}>"

    def record(self) -> dict:
        return {"label": self.label, "status": self.status, "tied": self.tied, "untied": self.untied,
                "scope": self.scope, "detail": self.detail, "implements": self.implements,
                "citation": self.citation, "relations": self.relations, "set_aside": self.set_aside}


# label -> Binding; one process (one notebook kernel) binds each label once.
registry: dict[str, Binding] = {}


def _vector_norm(p):
    def norm(v):
        if isinstance(v, sp.MatrixBase) and 1 in v.shape:
            return v.norm(p)
        if isinstance(v, sp.MatrixExpr) and v.shape[1] == 1 and p == 2:
            return sp.sqrt((v.T * v)[0, 0])
        if isinstance(v, sp.MatrixBase):
            raise TexParseError(f"the {p}-norm of a matrix has no closed form for the parser; bind the display untied")
        return sp.Abs(v)
    return norm


def _frobenius(m):
    return sp.sqrt(sum(e**2 for e in m)) if all(e.is_real for e in m) else sp.sqrt(sum(sp.Abs(e)**2 for e in m))


# The book-wide meaning of the notation-layer functions (texparse names them): chapters add their own.
BOOK_NOTATION = Notation(functions={
    r"\mathrm{norm}": _vector_norm(2), r"\mathrm{norm2}": _vector_norm(2), r"\mathrm{norm1}": _vector_norm(1),
    r"\mathrm{norminf}": _vector_norm(sp.oo), r"\mathrm{normF}": _frobenius,
    r"\tr": lambda m: m.trace() if isinstance(m, sp.MatrixBase) else sp.Trace(m).doit(), r"\mathrm{inv}": lambda m: m.inv(), r"\diag": lambda v: sp.diag(*v),
    r"\mathrm{inner}": lambda a, b: (a.T * b)[0, 0],
    r"\mathrm{indicator}": lambda rel: sp.Piecewise((1, rel), (0, True)),
    r"\sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
})
_chapter_notation = BOOK_NOTATION
_cache: dict = {}


def notation(symbols=None, functions=None) -> Notation:
    """Add to the chapter's notation: LaTeX spelling -> SymPy object (symbols) or callable (functions)."""
    global _chapter_notation
    _chapter_notation = _chapter_notation.merged(Notation(dict(symbols or {}), dict(functions or {})))
    return _chapter_notation


# ------------------------------------------------------------------------------------- the display
def _repo():
    return texparse.repo_root()


def _macros():
    if "macros" not in _cache:
        _cache["macros"] = texparse.read_macros(_repo() / "book" / "macros.tex")
    return _cache["macros"]


def _book_equations():
    """label -> (chapter, equation) for every chapter in the repository (re-read when a file changes)."""
    repo = _repo()
    files = sorted(repo.glob("book/**/*.md"))
    key = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    if _cache.get("eq_key") != key:
        found = {}
        for p in files:
            if "_build" in p.parts:
                continue
            doc = p.relative_to(repo).with_suffix("").as_posix()
            ch = sources.parse(p, doc)
            for e in ch.equations:
                if e.label:
                    found[e.label] = (ch, e)
        _cache["eq_key"], _cache["equations"] = key, found
    return _cache["equations"]


def display_tex(label: str) -> str:
    """The LaTeX of the display labelled ``label``, as written in its chapter."""
    eqs = _book_equations()
    if label not in eqs:
        raise ValueError(f"{label}: no display formula in book/ carries this label")
    return eqs[label][1].tex


# ------------------------------------------------------------------------------- sound decisions
def _sample_value(sym, rng):
    a = sym.assumptions0
    if a.get("integer"):
        lo = 1 if a.get("positive") or a.get("nonnegative") else -4
        v = int(rng.integers(lo, 6))
        return v if v != 0 or not a.get("nonzero") else 1
    if a.get("positive"):
        return float(rng.uniform(0.2, 3.0))
    if a.get("nonnegative"):
        return float(rng.uniform(0.0, 3.0))
    if a.get("negative"):
        return float(-rng.uniform(0.2, 3.0))
    if a.get("real") or a.get("extended_real"):
        return float(rng.uniform(-3.0, 3.0))
    return complex(rng.uniform(-2, 2), rng.uniform(-2, 2))


def _explicit(e):
    if isinstance(e, sp.MatrixExpr) and not isinstance(e, sp.MatrixBase):
        try:
            return e.as_explicit()
        except Exception:  # symbolic sizes
            return e
    return e


def _free(e):
    return sorted(getattr(e, "free_symbols", set()), key=lambda s: s.name)


def _point(e, rng):
    """``e`` at one random point: sizes (integer symbols) first, drawn from 2 to 5 so that sums have
    several terms, the sums expanded, then a value of its own for every remaining symbol and every
    indexed entry x[1], x[2], ... (an Indexed with a bound index gets no single value). Returns the
    evaluated value and the substitutions made."""
    subs = {}
    ints = [s for s in _free(e) if s.assumptions0.get("integer")]
    for s in ints:
        lo = 2 if (s.assumptions0.get("positive") or s.assumptions0.get("nonnegative")) else -3
        subs[s] = int(rng.integers(lo, 6)) if lo < 0 else int(rng.integers(2, 6))
    f = e.xreplace(subs).doit() if subs else e.doit()
    if f.atoms(sp.Sum, sp.Product):
        raise ValueError("a sum or product with a symbolic bound is left")
    rest = {}
    for a in sorted(f.atoms(sp.Indexed), key=str):
        rest[a] = _sample_value(a.base.label if isinstance(a.base.label, sp.Symbol) else sp.Symbol("v", real=True), rng)
    for s in _free(f):
        if not isinstance(s, sp.Indexed) and s not in rest and not isinstance(s, sp.IndexedBase):
            rest[s] = _sample_value(s, rng)
    rest = {k: sp.Float(v) if isinstance(v, float) else v for k, v in rest.items()}
    val = f.xreplace(rest).doit()
    subs.update(rest)
    return val, subs


def _numeric_zero(e, points=12, seed=0, rtol=1e-9) -> tuple[bool, int]:
    """Is ``e`` zero at random points that respect its symbols' assumptions? (ok, points evaluated).
    Every entry of an indexed family gets its own value, and sizes are at least 2. An undefined function
    (a name the chapter never bound, such as ``\\mathrm{sign}``; not an ``implemented_function``, which
    has a numeric implementation) has no value: then no point counts, since
    the points that could be evaluated (one branch of a cases block, say) would judge only part of it."""
    if any(not hasattr(f.func, "_imp_") for f in sp.sympify(e).atoms(sp.core.function.AppliedUndef)):
        return False, 0  # (an implemented_function carries its numeric value: it is evaluated)
    rng = np.random.default_rng(seed)
    good = 0
    for _ in range(points * 3):
        try:
            val, subs = _point(e, rng)
            val = complex(sp.N(val, 30)) if not isinstance(val, sp.MatrixBase) else np.array(val.evalf(30).tolist(), dtype=complex)
        except (TypeError, ValueError, ZeroDivisionError, AttributeError):
            continue
        arr = np.atleast_1d(np.asarray(val, dtype=complex))
        if not np.all(np.isfinite(arr)):
            continue
        if np.any(np.abs(arr) > rtol * (1 + _scale(e, subs))):
            return False, good
        good += 1
        if good >= points:
            return True, good
    return False, good


def _clearly_nonzero(e, points=2, seed=1, rtol=1e-6) -> bool:
    """Is ``e`` far from 0 (relative to its terms, at 30 digits) at one of a few random points that respect
    its symbols' assumptions? Then it is not identically zero. False when it cannot be evaluated."""
    rng = np.random.default_rng(seed)
    for _ in range(points):
        try:
            val, subs = _point(e, rng)
            val = complex(sp.N(val, 30))
        except (TypeError, ValueError, ZeroDivisionError, AttributeError):
            return False
        if np.isfinite(val) and abs(val) > rtol * (1 + _scale(e, subs)):
            return True
    return False


def _scale(e, subs):
    """A magnitude for relative tolerances: the largest term of ``e`` at the point."""
    try:
        ints = {k: v for k, v in subs.items() if isinstance(k, sp.Symbol) and k.assumptions0.get("integer")}
        f = e.xreplace(ints).doit() if ints else e
        terms = f.args if isinstance(f, sp.Add) else (f,)
        vals = [abs(complex(sp.N(t.xreplace(subs).doit(), 20))) for t in terms if not isinstance(t, sp.MatrixBase)]
        return max(vals, default=1.0)
    except (TypeError, ValueError):
        return 1.0


def is_zero(expr, simplifier=None) -> bool:
    """True when ``expr`` (a SymPy expression or matrix) is identically zero.

    Decided symbolically; a pass that needs forced rewrites (``expand_log(force=True)``,
    ``powsimp(force=True)``, which assume positive symbols) counts only if the expression also vanishes
    at random points that respect the symbols' assumptions.
    """
    expr = _explicit(expr)
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e, simplifier) for e in expr)
    e = sp.sympify(expr).doit()
    if e == 0:
        return True
    # A point where the difference is far from 0 settles it before any costly simplification. A chapter's
    # own simplifier may compute in a quotient (modulo epsilon^2, say): then only its result is evaluated.
    if simplifier is None and _clearly_nonzero(e):
        return False
    s = (simplifier or sp.simplify)(e)
    if s == 0 or sp.expand(s) == 0:
        return True
    if simplifier is not None and _clearly_nonzero(s):
        return False
    forced = sp.simplify(sp.expand(sp.expand_log(sp.powsimp(s, force=True), force=True)))
    if forced == 0:
        return _numeric_zero(e)[0]
    return False


def _shape(e):
    """The shape of a matrix, None for a scalar (an Indexed has a .shape that raises)."""
    return e.shape if isinstance(e, (sp.MatrixBase, sp.MatrixExpr)) else None


def _unify(a, b):
    """Give ``a``'s symbols the assumptions of ``b``'s symbols of the same name (the parser's symbols
    are plain real symbols; the chapter's may be positive or integer)."""
    try:
        by_name = {s.name: s for s in b.free_symbols if isinstance(s, sp.Symbol)}
        repl = {s: by_name[s.name] for s in a.free_symbols
                if isinstance(s, sp.Symbol) and s.name in by_name and by_name[s.name] != s}
        return a.xreplace(repl) if repl else a
    except AttributeError:
        return a


def _equal(a, b, simplifier=None) -> tuple[bool, str]:
    """Are two objects equal? (decision, how: 'symbolic' or 'random points')."""
    a, b = _explicit(sp.sympify(a)), _explicit(sp.sympify(b))
    a = _unify(a, b)
    if a == b:
        return True, "symbolic"
    try:  # sums and limits with closed forms (a divergent series is oo)
        a, b = a.doit(), b.doit()
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        pass
    if a == b:
        return True, "symbolic"  # identical (also for infinities, whose difference is undefined)
    sa, sb = _shape(a), _shape(b)
    if isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and sa == (1, 1) != sb:
        a = a[0, 0]
    if isinstance(b, sp.MatrixBase) and sb == (1, 1) and not isinstance(a, (sp.MatrixBase, sp.MatrixExpr)):
        b = b[0, 0]
    if isinstance(a, sp.MatrixBase) and sa == (1, 1) and not isinstance(b, (sp.MatrixBase, sp.MatrixExpr)):
        a = a[0, 0]
    if _shape(a) != _shape(b):
        return False, f"shapes {_shape(a) or 'scalar'} and {_shape(b) or 'scalar'}"
    diff = a - b
    if isinstance(diff, sp.MatrixExpr) and not isinstance(diff, sp.MatrixBase):
        for d in (diff, diff.doit(), sp.expand(diff.doit())):
            d = sp.simplify(d)
            if getattr(d, "is_ZeroMatrix", False) or d == sp.ZeroMatrix(*diff.shape) or d == 0:
                return True, "symbolic"
        return False, "matrix expressions with symbolic sizes differ"
    try:
        if is_zero(diff, simplifier):
            return True, "symbolic"
    except (TypeError, NotImplementedError, AttributeError):
        pass
    ok, n = _numeric_zero(diff)
    if ok:
        return True, f"random points ({n})"
    return False, "differ"


_OPS = {"<=": sp.Le, ">=": sp.Ge, "<": sp.Lt, ">": sp.Gt}
_SIGN = {"<=": "is_nonpositive", ">=": "is_nonnegative", "<": "is_negative", ">": "is_positive"}


def _scalar(e):
    e = _explicit(sp.sympify(e))
    return e[0, 0] if isinstance(e, sp.MatrixBase) and e.shape == (1, 1) else e


def _mpmath_function(syms, expr):
    """``expr`` as a function of ``syms`` evaluated by mpmath (lambdify), or None when it has no such form
    (indexed entries, unevaluated sums with symbolic bounds, undefined functions)."""
    if any(not isinstance(x, sp.Symbol) for x in syms) or expr.atoms(sp.Indexed, sp.Sum, sp.Product, sp.Integral,
                                                                     sp.core.function.AppliedUndef):
        return None
    try:
        return sp.lambdify(syms, expr, modules="mpmath")
    except Exception:  # noqa: BLE001  (lambdify raises many kinds)
        return None


def _inequality(a, op, b, samples=200) -> tuple[bool, str]:
    a, b = _scalar(a), _scalar(b)
    try:  # sums with closed forms (a convergent series is a finite number, a divergent one oo)
        a, b = sp.sympify(a).doit(), sp.sympify(b).doit()
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        pass
    diff = sp.sympify(a) - sp.sympify(b)
    for make in (lambda: diff, lambda: sp.simplify(diff), lambda: sp.factor(diff)):  # the cheap one first
        if getattr(make(), _SIGN[op]) is True:
            return True, "symbolic"
    try:
        rel = sp.simplify(_OPS[op](a, b))
    except (TypeError, ValueError):  # simplification of some relations with Max/Min raises
        rel = None
    if rel is sp.true:
        return True, "symbolic"
    if rel is sp.false:
        return False, "SymPy finds it false"
    rng = np.random.default_rng(1)
    syms = _free(diff)
    fast = _mpmath_function(syms, diff)
    good = 0
    for _ in range(samples):
        subs = {s: _sample_value(s, rng) for s in syms}
        v = None
        if fast is not None:  # the same 30 digits as sp.N, without SymPy's evaluation per point
            try:
                with mpmath.workdps(30):
                    v = complex(fast(*[mpmath.mpc(x) if isinstance(x, complex) else mpmath.mpf(x) for x in subs.values()]))
            except Exception:  # noqa: BLE001  (what lambdify cannot evaluate goes the slow way, from here on)
                fast, v = None, None
        if v is None:
            try:
                v = complex(sp.N(diff.xreplace({k: sp.Float(x) if isinstance(x, float) else x for k, x in subs.items()}).doit(), 30))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
        if not np.isfinite(v) or abs(v.imag) > 1e-12 * (1 + abs(v.real)):
            continue
        tol = 1e-12 * (1 + abs(v.real))
        holds = {"<=": v.real <= tol, ">=": v.real >= -tol, "<": v.real < tol, ">": v.real > -tol}[op]
        if not holds:
            return False, f"fails at {subs}"
        good += 1
    return good >= samples // 2, f"sampled at {good} random points"


def _check_relation(label, a, op, b, k, simplifier=None):
    try:
        if op in ("=", "<-"):
            ok, how = _equal(a, b, simplifier)
        else:
            ok, how = _inequality(a, op, b)
    except (TypeError, AttributeError, NotImplementedError, ValueError, sp.matrices.exceptions.ShapeError) as exc:
        raise FormulaCheckError(f"{label}: relation {k + 1} ({op}) cannot be decided: {exc}") from exc
    if not ok:
        raise FormulaCheckError(f"{label}: relation {k + 1} ({op}) does not hold ({how}):\n  {a}\n  {op}\n  {b}")
    return how


# ----------------------------------------------------------------------------------- registration
_state = {"replaying": False}


def _replayable(helper):
    """Keep, with each binding, a way to run the same check on another LaTeX text (a mutated display):
    same arguments, same notation as at the call. finish() uses it for the mutation test."""
    @functools.wraps(helper)
    def wrapper(label, *args, **kwargs):
        captured = _chapter_notation
        try:
            b = helper(label, *args, **kwargs)
        except (FormulaCheckError, ValueError):
            raise
        except Exception as exc:  # an error inside the chapter's objects or SymPy: name the formula
            raise FormulaCheckError(f"{label}: the check raised {type(exc).__name__}: {exc}") from exc
        if not _state["replaying"] and b.tied:
            b.replay = functools.partial(_replay, helper, label, args, kwargs, captured)
        return b
    return wrapper


def _replay(helper, label, args, kwargs, captured, tex):
    global _chapter_notation
    saved, _chapter_notation = _chapter_notation, captured
    _state["replaying"] = True
    try:
        return helper(label, *args, **{**kwargs, "tex": tex})
    except (FormulaCheckError, ValueError):
        raise
    except Exception as exc:  # as in the chapter's run (see _replayable): the error names the formula
        raise FormulaCheckError(f"{label}: the check raised {type(exc).__name__}: {exc}") from exc
    finally:
        _state["replaying"] = False
        _chapter_notation = saved


def _register(binding: Binding) -> Binding:
    if _state["replaying"]:
        return binding
    label = binding.label
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise ValueError(f"a formula label must look like 'eq-<chapter>-<name>' (lowercase, digits, '-'), got {label!r}")
    if label in registry:
        raise ValueError(f"formula label {label!r} is bound twice; each label is bound exactly once")
    registry[label] = binding
    return binding


def _statements(label, tex, where):
    try:
        return _statements_unlabelled(label, tex, where)
    except (TexParseError, TypeError, AttributeError, NotImplementedError, sp.matrices.exceptions.ShapeError) as exc:
        raise FormulaCheckError(f"{label}: the display cannot be read: {exc}") from exc


def _statements_unlabelled(label, tex, where):
    if tex is None:
        tex = display_tex(label)
    statements, set_aside = texparse.split_display(tex, _macros())
    if not statements:
        raise TexParseError(f"{label}: the display states no relation the parser can read "
                            f"(set aside: {set_aside})")
    nt = _chapter_notation.merged(where if isinstance(where, Notation) else Notation(dict(where or {})))
    parsed = []
    for st in statements:
        parsed.append([texparse.parse_side(s, nt, _macros()) for s in st.sides])
    return statements, parsed, set_aside


def _scope_of(hows, given):
    rp = sorted({h for h in hows if h.startswith("random") or h.startswith("sampled")})
    if given:
        return "; ".join([given] + [h for h in rp if h not in given])
    return "; ".join(rp) if rp else "general"


def _untied_reason(label, untied):
    if untied is not None and (not isinstance(untied, str) or len(untied.strip()) < 8):
        raise ValueError(f"{label}: untied= needs a reason the formula index can show (a sentence), got {untied!r}")
    return untied


def _as_statements(sides):
    """Normalize the expressions given for a display: one statement (a flat list) or a list of lists."""
    if sides and all(isinstance(s, (list, tuple)) for s in sides):
        return [list(s) for s in sides]
    return [list(sides)]


@_replayable
def define(label: str, obj, *, where=None, untied: str | None = None, implements: str = "", detail: str = "",
           tex: str | None = None) -> Binding:
    """Bind ``label`` to the object its display defines, after checking that the display defines it.

    ``obj`` is an expression (the right-hand side), an ``Eq(name, definition)`` or a tuple of these, one per
    statement of the display (an update rule written as two statements, say). Every side after the first of
    each displayed statement must equal the definition.
    """
    if obj is None:
        raise ValueError(f"define({label!r}, ...) needs the SymPy object the formula defines, got None")
    untied = _untied_reason(label, untied)
    b = Binding(label, "defined", obj, detail, implements=implements, scope="")
    if untied:
        b.untied = untied
        return _register(b)
    statements, parsed, set_aside = _statements(label, tex, where)
    objs = list(obj) if isinstance(obj, tuple) else [obj]
    if len(objs) != len(statements):
        raise FormulaCheckError(f"{label}: the display has {len(statements)} statement(s) "
                                f"({[s.raw for s in statements]}), the definition gives {len(objs)}")
    for st, sides, o in zip(statements, parsed, objs):
        if any(op not in ("=", "<-") for op in st.ops):
            raise FormulaCheckError(f"{label}: a definition is written with '=' or '\\leftarrow', got {st.ops}")
        rhs = o.rhs if isinstance(o, sp.Eq) else o
        for k, side in enumerate(sides[1:], 1):
            ok, how = _equal(side, rhs)
            if how.startswith("random"):
                b.scope = f"read as the definition at {how}"
            if not ok:
                raise FormulaCheckError(f"{label}: side {k + 1} of the display, {st.sides[k]!r}, reads as\n  {side}\n"
                                        f"which is not the definition bound in the code:\n  {rhs}")
    b.tied, b.relations, b.set_aside = True, sum(len(s.ops) for s in statements), set_aside
    return _register(b)


@_replayable
def verify(label: str, *sides, where=None, untied: str | None = None, scope: str = "", implements: str = "",
           detail: str = "", tex: str | None = None, simplifier=None) -> Binding:
    """Check the result the display states, and bind ``label``.

    ``verify(label)`` checks every relation of the parsed display. ``verify(label, e0, e1, ...)`` gives one
    expression per displayed side (or a list per statement); each displayed side must equal its expression,
    and the relations are checked on the expressions. With ``untied="reason"`` the expressions are
    checked as an equality chain ``e0 = e1 = ...`` and the display is not read.
    """
    untied = _untied_reason(label, untied)
    b = Binding(label, "verified", None, detail, implements=implements)
    given = _as_statements(sides) if sides else None
    if untied:
        if not given or len(given[0]) < 2:
            raise ValueError(f"{label}: an untied verify needs the expressions it checks (at least two sides)")
        hows = []
        for st in given:
            for k, (a, c) in enumerate(zip(st, st[1:])):
                hows.append(_check_relation(label, a, "=", c, k, simplifier))
        b.untied, b.obj, b.scope = untied, tuple(map(tuple, given)), _scope_of(hows, scope)
        b.relations = sum(len(st) - 1 for st in given)
        return _register(b)
    statements, parsed, set_aside = _statements(label, tex, where)
    if given is not None:
        if len(given) != len(statements) or any(len(g) != len(p) for g, p in zip(given, parsed)):
            raise FormulaCheckError(f"{label}: the display has sides {[len(p) for p in parsed]} per statement, "
                                    f"the code gives {[len(g) for g in given]}")
        tie_hows = []
        for st, ps, gs in zip(statements, parsed, given):
            for k, (p, g) in enumerate(zip(ps, gs)):
                ok, how = _equal(p, g)
                tie_hows.append(how)
                if not ok:
                    raise FormulaCheckError(f"{label}: displayed side {k + 1}, {st.sides[k]!r}, reads as\n  {p}\n"
                                            f"which differs from the expression given for it:\n  {g}")
        parsed = given
    hows = list(tie_hows) if given is not None else []
    for st, ps in zip(statements, parsed):
        for k, op in enumerate(st.ops):
            hows.append(_check_relation(label, ps[k], op, ps[k + 1], k, simplifier))
    b.tied, b.obj, b.set_aside = True, tuple(map(tuple, parsed)), set_aside
    b.relations, b.scope = sum(len(s.ops) for s in statements), _scope_of(hows, scope)
    return _register(b)


def verify_steps(label: str, steps, **kwargs) -> Binding:
    """A derivation ``steps[0] = steps[1] = ...`` displayed as one chain: :func:`verify` with one side each."""
    steps = list(steps)
    if len(steps) < 2:
        raise ValueError(f"{label}: a derivation needs at least two steps, got {len(steps)}")
    return verify(label, *steps, **kwargs)


@_replayable
def verify_true(label: str, statement, *, where=None, untied: str | None = None, scope: str = "",
                detail: str = "", tex: str | None = None, implements: str = "") -> Binding:
    """Check a SymPy relation (an inequality under assumptions) that the display states, and bind ``label``.

    Tied: the display's single relation must have the same operator and sides equal to ``statement``'s.
    """
    statement = sp.sympify(statement)
    if not isinstance(statement, sp.core.relational.Relational):
        raise ValueError(f"{label}: verify_true needs a SymPy relation, got {statement!r}")
    op = {"<=": "<=", ">=": ">=", "<": "<", ">": ">", "==": "="}[statement.rel_op]
    untied = _untied_reason(label, untied)
    b = Binding(label, "verified", statement, detail, implements=implements)
    if not untied:
        statements, parsed, set_aside = _statements(label, tex, where)
        if len(statements) != 1 or len(statements[0].ops) != 1:
            raise FormulaCheckError(f"{label}: verify_true ties a display of one relation; this one has "
                                    f"{[s.ops for s in statements]}: use verify")
        dop = statements[0].ops[0]
        flip = {"<=": ">=", ">=": "<=", "<": ">", ">": "<", "=": "="}
        lhs, rhs = statement.lhs, statement.rhs
        if dop != op:
            if flip[dop] != op:
                raise FormulaCheckError(f"{label}: the display states '{dop}', the code '{op}'")
            lhs, rhs = rhs, lhs
        for k, (p, g) in enumerate(zip(parsed[0], (lhs, rhs))):
            ok, _ = _equal(p, g)
            if not ok:
                raise FormulaCheckError(f"{label}: displayed side {k + 1} reads as {p}, the code has {g}")
        b.tied, b.set_aside, b.relations = True, set_aside, 1
    else:
        b.untied = untied
    how = _check_relation(label, statement.lhs, op, statement.rhs, 0)
    b.scope = _scope_of([how], scope)
    return _register(b)


@_replayable
def check_code(label: str, formula, code, cases, rtol: float = 1e-10, atol: float = 1e-12, *, side: int = -1,
               where=None, untied: str | None = None, implements: str = "", detail: str = "",
               tex: str | None = None) -> Binding:
    """Check a formula against the package on a grid of cases, and bind ``label``.

    ``formula`` is a SymPy expression (or matrix) in symbols; the displayed side ``side`` (default: the
    last) must equal it. ``code`` is a callable; ``cases`` a non-empty list of dicts mapping symbol names
    to numbers (or arrays, for callables). A Python callable as ``formula`` cannot be tied: give ``untied``.
    """
    untied = _untied_reason(label, untied)
    cases = list(cases)
    if not cases:
        raise ValueError(f"{label}: check_code needs at least one case")
    is_callable = callable(formula) and not isinstance(formula, sp.Basic)
    if is_callable and not untied:
        raise ValueError(f"{label}: a Python function as the formula cannot be tied to the display; "
                         f"pass the SymPy expression, or untied='<reason>'")
    b = Binding(label, "checked", formula, detail or f"{len(cases)} cases", implements=implements,
                scope=f"cases: {len(cases)}")
    if not untied:
        statements, parsed, set_aside = _statements(label, tex, where)
        shown = parsed[0][side]
        ok, how = _equal(shown, formula)
        if how.startswith("random"):
            b.scope += f"; display read as the formula at {how}"
        if not ok:
            raise FormulaCheckError(f"{label}: the displayed formula {statements[0].sides[side]!r} reads as\n"
                                    f"  {shown}\nwhich differs from the formula checked against the code:\n  {formula}")
        b.tied, b.set_aside, b.relations = True, set_aside, sum(len(s.ops) for s in statements)
    else:
        b.untied = untied
    for case in cases:
        if is_callable:
            expected = formula(**case)
        else:
            f = sp.sympify(formula)
            by_name = {s.name: s for s in f.free_symbols}
            subs = {by_name[k]: v for k, v in case.items() if k in by_name and np.isscalar(v)}
            value = f.subs(subs)
            value = value.evalf(30) if isinstance(value, sp.MatrixBase) else sp.N(value, 30)
            expected = np.array(value.tolist() if isinstance(value, sp.MatrixBase) else value, dtype=float)
        got = code(**case)
        exp_arr, got_arr = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
        if exp_arr.shape != got_arr.shape:
            raise FormulaCheckError(f"{label}: at {case} the formula has shape {exp_arr.shape}, the code {got_arr.shape}")
        if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
            raise FormulaCheckError(f"{label}: at {case} the formula gives {exp_arr}, the code gives {got_arr}")
    return _register(b)


def cite(label: str, citation: str, *, detail: str = "", implements: str = "") -> Binding:
    """A result quoted from the literature without proof: bound with its citation key (references.bib)."""
    if not re.match(r"^[A-Za-z0-9_:.-]+$", citation or ""):
        raise ValueError(f"{label}: cite needs a citation key of book/references.bib, got {citation!r}")
    b = Binding(label, "cited", None, detail, implements=implements, citation=citation, scope="",
                untied="quoted from the literature, not derived here")
    return _register(b)


def display_mutations(tex: str) -> list:
    """One-token mutations of a display, as a typo would make them: (kind, mutated LaTeX) for each sign
    (+ and - swapped), digit (2 to 9 raised by one), numeric fraction (inverted) and exponent (^2, ^3
    raised by one)."""
    out = []
    for m in re.finditer(r"(?<=[^\\{_^(\s])\s*([+-])\s*(?=[^=])", tex):
        out.append(("sign", tex[:m.start(1)] + ("-" if m.group(1) == "+" else "+") + tex[m.end(1):]))
    for m in re.finditer(r"(?<![_{\\A-Za-z0-9.])([2-9])(?![0-9}.])", tex):
        out.append(("digit", tex[:m.start(1)] + str(int(m.group(1)) + 1) + tex[m.end(1):]))
    for m in re.finditer(r"\\[td]?frac\{?(\d)\}?\{?(\d)\}?", tex):
        if m.group(1) != m.group(2):
            out.append(("fraction", tex[:m.start()] + f"\\frac{{{m.group(2)}}}{{{m.group(1)}}}" + tex[m.end():]))
    for m in re.finditer(r"\^\{?(2|3)\}?", tex):
        out.append(("exponent", tex[:m.start()] + f"^{{{int(m.group(1)) + 1}}}" + tex[m.end():]))
    return out


def _read_mutations(tex: str, binding: Binding) -> list:
    """The mutations of a display that fall in what its check reads: not inside a qualifier the binding set
    aside (\text{...}, index ranges), and, for a definition, not in the name being defined (the first side
    of each statement, which a definition does not read)."""
    skip = []
    for frag in binding.set_aside:
        raw = frag.strip()
        i = tex.find(raw[:40]) if raw else -1
        if i >= 0:
            skip.append((i, i + len(raw)))
    if binding.status == "defined":
        start = 0
        for piece in re.split(r"(\\qquad|\\\\)", tex):
            m = re.search(r"=|\\leftarrow", piece)
            if m:
                skip.append((start, start + m.start()))
            start += len(piece)
    out = []
    for kind, mutated in display_mutations(tex):
        pos = next((k for k, (a, b) in enumerate(zip(tex, mutated)) if a != b), len(tex))
        if not any(a <= pos < b for a, b in skip):
            out.append((kind, mutated))
    return out


def mutation_check(labels, per_chapter: int = 3, seed: int = 20261126) -> list:
    """Mutate displays of ``labels`` (a seeded sample of the tied ones) and run each one's own check on
    the mutated LaTeX; each must fail with a message naming its label. Returns one record per mutant."""
    rng = random.Random(f"{seed}-{','.join(labels)}")
    eqs = _book_equations()
    readable = {lab: _read_mutations(eqs[lab][1].tex, registry[lab]) for lab in labels
                if registry[lab].tied and registry[lab].replay is not None}
    candidates = [lab for lab in labels if readable.get(lab)]
    out = []
    for lab in rng.sample(candidates, min(per_chapter, len(candidates))):
        kind, mutated = rng.choice(readable[lab])
        try:
            registry[lab].replay(mutated)
            verdict, message = "survived", ""
        except FormulaCheckError as exc:
            verdict, message = ("detected" if lab in str(exc) else "failed without its label"), str(exc)[:200]
        except Exception as exc:  # any error fails the chapter's cell, but should name the label
            verdict, message = "failed without its label", f"{type(exc).__name__}: {str(exc)[:160]}"
        out.append({"label": lab, "kind": kind, "mutated": mutated, "verdict": verdict, "message": message})
    return out


def finish(slug: str | None = None) -> dict:
    """The last cell of a chapter: the labels bound while it ran must be exactly its displayed labels.

    Writes the chapter's records to ``_build/formulas/<slug>.json`` and returns them.
    """
    eqs = _book_equations()
    bound = list(registry)
    chapters = {eqs[lab][0].docname for lab in bound if lab in eqs}
    stray = [lab for lab in bound if lab not in eqs]
    if stray:
        raise FormulaCheckError(f"labels bound that no display carries: {stray}")
    if slug is not None:
        chapters = {d for d in {c.docname for c, _ in eqs.values()} if sources.slug_of(d) == slug} or chapters
    if len(chapters) != 1:
        raise FormulaCheckError(f"the bound labels belong to {len(chapters)} chapters: {sorted(chapters)}")
    (doc,) = chapters
    chapter = next(c for c, _ in eqs.values() if c.docname == doc)
    shown = chapter.labels
    missing = [lab for lab in shown if lab not in registry]
    extra = [lab for lab in bound if lab not in shown]
    if missing or extra:
        raise FormulaCheckError(f"{doc}: displayed labels not bound at run time: {missing}; "
                                f"bound labels not displayed in this chapter: {extra}")
    src = (_repo() / (doc + ".md")).read_text()
    out = {"chapter": doc, "slug": chapter.slug,
           "displays_sha": hashlib.sha256("\n".join(e.tex for e in chapter.equations).encode()).hexdigest()[:16],
           "source_sha": hashlib.sha256(src.encode()).hexdigest()[:16],
           "formulas": [registry[lab].record() for lab in shown],
           "mutations": mutation_check(shown)}
    target = _repo() / "_build" / "formulas"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{chapter.slug}.json").write_text(json.dumps(out, indent=1))
    return out
