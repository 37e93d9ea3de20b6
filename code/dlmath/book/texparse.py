"""Read a display formula of the book into SymPy: the notation layer in front of a maintained parser.

The parser is ``latex2sympy2_extended`` (an ANTLR grammar for LaTeX maths). It knows plain LaTeX, not
the book's macros or its conventions, so this module first rewrites the display:

* the book's macros (``book/macros.tex``) are expanded, with parse-friendly meanings for a few of them:
  ``\\norm{x}_2`` becomes a function ``\\mathrm{norm2}(x)``, ``\\abs{x}`` becomes ``|x|``, ``\\pd{f}{x}``
  the fraction of partials, ``\\operatorname{name}`` a function ``\\mathrm{name}``;
* ``^\\T`` becomes ``^{T}`` (the parser's transpose of a matrix symbol), ``\\log`` the natural
  logarithm, primes ``f'(x)`` functions named ``f'``, sizing and spacing commands are dropped;
* ``\\begin{cases} value & condition \\\\ ... \\end{cases}`` becomes a ``Piecewise`` (a condition ``\\text{otherwise}``
  is the last branch), and ``a \\odot b`` the entrywise (Hadamard) product of its operands: a symbol with
  its subscripts, a function value or a parenthesised group on each side (``\\odot`` binds tighter than
  the matrix product, so write ``(\\mat{W}\\vect{x}) \\odot \\vect{m}``);
* the display is cut into statements (``\\qquad``, lines of ``aligned``) and each statement into a
  chain of relations (``=``, ``\\le``, ``\\ge``, ``<``, ``>``, ``\\leftarrow``). A statement that only
  qualifies the others (``\\text{...}``, ``i = 1, \\dots, n``, ``x \\in S``) is set aside, and reported.

Symbols are then replaced by what the chapter says they mean: a :class:`Notation` maps LaTeX spellings
(``r"\\vect{w}"``, ``r"\\sigma"``) to SymPy objects and functions.
"""
from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Notation", "Relation", "Statement", "split_display", "parse_side", "read_macros", "repo_root",
           "TexParseError"]


class TexParseError(ValueError):
    """A display (or part of one) that the notation layer and the parser cannot read."""


def repo_root(start=None) -> pathlib.Path:
    """The book's repository: the nearest folder above ``start`` (default: the working directory) that
    holds ``_toc.yml`` and ``book/macros.tex``."""
    here = pathlib.Path(start or pathlib.Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "_toc.yml").exists() and (p / "book" / "macros.tex").exists():
            return p
    raise FileNotFoundError(f"no book repository (a folder with _toc.yml and book/macros.tex) above {here}")


_MACRO_RE = re.compile(r"^\\newcommand\{\\(\w+)\}(?:\[(\d)\])?\{(.*)\}\s*(%.*)?$")


def read_macros(path) -> dict:
    """``name -> (number of arguments, body)`` from a file of one ``\\newcommand`` per line."""
    out = {}
    for line in pathlib.Path(path).read_text().splitlines():
        m = _MACRO_RE.match(line.strip())
        if m:
            out[m.group(1)] = (int(m.group(2) or 0), m.group(3))
    return out


# Meanings for parsing that differ from the typeset definition (the typeset one stays in macros.tex).
PARSE_MACROS = {
    "abs": (1, r"|#1|"),
    "pd": (2, r"\frac{\partial #1}{\partial #2}"),
    "dd": (0, "d"),
    "E": (0, r"\mathrm{E}"),
    "T": (0, "T"),
    "KL": (2, r"\mathrm{KL}(#1, #2)"),
    "inner": (2, r"\mathrm{inner}(#1, #2)"),
    "indicator": (1, r"\mathrm{indicator}(#1)"),
}


def _group(tex: str, i: int):
    """The argument starting at ``tex[i]`` (after spaces): a ``{...}`` group or one token; returns
    (argument text without braces, index after it)."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        raise TexParseError(f"a macro argument is missing at the end of {tex!r}")
    if tex[i] == "{":
        depth, j = 0, i
        while j < len(tex):
            if tex[j] == "{" and tex[j - 1:j] != "\\":
                depth += 1
            elif tex[j] == "}" and tex[j - 1:j] != "\\":
                depth -= 1
                if depth == 0:
                    return tex[i + 1:j], j + 1
            j += 1
        raise TexParseError(f"unbalanced braces in {tex!r}")
    if tex[i] == "\\":
        m = re.match(r"\\[A-Za-z]+|\\.", tex[i:])
        return m.group(0), i + len(m.group(0))
    return tex[i], i + 1


def expand_macros(tex: str, macros: dict) -> str:
    """Expand the book's macros (innermost arguments first, repeatedly)."""
    for _ in range(20):
        changed = False
        out, i = [], 0
        while i < len(tex):
            m = re.match(r"\\([A-Za-z]+)", tex[i:])
            if m and m.group(1) in macros:
                nargs, body = macros[m.group(1)]
                j = i + len(m.group(0))
                if nargs == 0 and j < len(tex) and tex[j].isalpha():
                    out.append(m.group(0))  # a longer command that starts with a macro's name
                    i = j
                    continue
                args = []
                for _k in range(nargs):
                    a, j = _group(tex, j)
                    args.append(a)
                for k, a in enumerate(args, 1):
                    body = body.replace(f"#{k}", a)
                out.append(body if nargs else body + " ")
                i, changed = j, True
                continue
            if m:
                out.append(m.group(0))
                i += len(m.group(0))
                continue
            out.append(tex[i])
            i += 1
        tex = "".join(out)
        if not changed:
            return tex
    raise TexParseError("macro expansion does not terminate")


_SIZING = r"\\(?:left|right|middle|[Bb]igg?[lrm]?)(?![A-Za-z])"
_SPACING = r"\\[,;:!]|\\quad(?![A-Za-z])|~|\\displaystyle|\\limits"


def normalize(tex: str, macros: dict) -> str:
    """Rewrite a fragment of a display into plain LaTeX that the parser reads."""
    t = tex
    t = re.sub(r"\\underbrace\{", r"\\UNDERBRACE{", t)
    # \underbrace{X}_{note} -> X
    while "\\UNDERBRACE{" in t:
        i = t.index("\\UNDERBRACE{")
        body, j = _group(t, i + len("\\UNDERBRACE"))
        k = j
        if t[k:k + 1] == "_":
            _, k = _group(t, k + 1)
        t = t[:i] + "(" + body + ")" + t[k:]
    # \operatorname{name} and the operator macros become functions \mathrm{name}
    t = re.sub(r"\\operatorname\*?\{([A-Za-z]+)\}", r"\\mathrm{\1}", t)
    # norms with their subscripts become named functions, before the general expansion
    def norm_repl(m_text):
        out, i = [], 0
        while True:
            j = m_text.find("\\norm", i)
            if j < 0 or (j + 5 < len(m_text) and m_text[j + 5].isalpha()):
                if j < 0:
                    out.append(m_text[i:])
                    return "".join(out)
                out.append(m_text[i:j + 5])
                i = j + 5
                continue
            out.append(m_text[i:j])
            arg, k = _group(m_text, j + 5)
            sub = ""
            if m_text[k:k + 1] == "_":
                sub, k = _group(m_text, k + 1)
            name = {"": "norm", "2": "norm2", "1": "norm1", "F": "normF", r"\infty": "norminf"}.get(sub.strip())
            if name is None:
                raise TexParseError(f"a norm with subscript {sub!r} has no meaning for the parser")
            out.append(f"\\mathrm{{{name}}}({norm_repl(arg)})")
            i = k
    t = norm_repl(t)
    all_macros = {**macros, **PARSE_MACROS}
    for name in ("tr", "diag", "rank", "sign", "softmax", "relu", "sigmoid", "gelu", "softplus", "Var", "Cov", "argmin",
                 "argmax"):
        all_macros[name] = (0, rf"\mathrm{{{name}}}")
    t = expand_macros(t, all_macros)
    t = re.sub(r"\\operatorname\*?\{([A-Za-z]+)\}", r"\\mathrm{\1}", t)
    t = re.sub(r"\\mathbf\{", r"\\boldsymbol{", t)  # one spelling for bold: vectors and matrices alike
    t = re.sub(_SIZING, "", t)
    t = re.sub(_SPACING, " ", t)
    t = re.sub(r"\\[td]frac", r"\\frac", t)
    t = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", t)
    t = re.sub(r"\\log(?![A-Za-z])", r"\\ln", t)
    t = re.sub(r"\\(hat|tilde|bar)\s+([A-Za-z])", r"\\\1{\2}", t)
    # an accent over a bold symbol, a perturbation prefix (\delta x, \Delta A) and a star are one name
    # each for the parser: \hat{\boldsymbol{x}} -> \boldsymbol{xhat}, \Delta\mathbf{A} -> \mathbf{DeltaA},
    # t^\star -> t_{star}
    t = re.sub(r"\\(?:wide)?(hat|tilde|bar)\s*\{\s*\\(boldsymbol|mathbf)\{(\\?)([A-Za-z]+)\}\s*\}",
               lambda m: f"\\{m.group(2)}{{{m.group(4)}{m.group(1)}}}", t)
    t = re.sub(r"\\(boldsymbol|mathbf)\{\\(hat|tilde|bar)\{([A-Za-z])\}\}",
               lambda m: f"\\{m.group(1)}{{{m.group(3)}{m.group(2)}}}", t)
    t = re.sub(r"\\(delta|Delta)\s*\\(boldsymbol|mathbf)\{([A-Za-z]+)\}",
               lambda m: f"\\{m.group(2)}{{{m.group(1)}{m.group(3)}}}", t)
    # an accent over a Greek letter is a name: \bar{\gamma} -> \mathrm{gammabar}
    t = re.sub(r"\\(hat|bar|tilde|dot)\s*\{\s*\\([A-Za-z]+)\s*\}", r"\\mathrm{\2\1}", t)
    # a conditional bar inside a function's arguments separates arguments: P(y \mid p) -> P(y, p)
    t = re.sub(r"\\mid(?![A-Za-z])", ",", t)
    # stars on bold symbols and on Greek letters: \boldsymbol{x}^\star -> \boldsymbol{xstar}, \eta^\star -> \eta_{star}
    _star = r"\s*(?:\^\s*\{\s*(?:\\star|\*)\s*\}|\^\s*\\star|_\s*\\star|_\s*\{\s*\\star\s*\})"
    t = re.sub(r"\\(boldsymbol|mathbf)\{([A-Za-z]+)\}" + _star, lambda m: f"\\{m.group(1)}{{{m.group(2)}star}}", t)
    t = re.sub(r"(\\[A-Za-z]+)" + _star, r"\1_{star}", t)
    # \max and \min as subscripts are names: \lambda_{\max} -> \lambda_{max}
    t = re.sub(r"_\s*\{\s*\\(max|min)\s*\}", r"_{\1}", t)
    t = re.sub(r"(?<![A-Za-z\\])([A-Za-z])\s*(?:\^\s*\{\s*(?:\\star|\*)\s*\}|\^\s*\\star|_\s*\\star|_\s*\{\s*\\star\s*\})",
               r"\1_{star}", t)
    # an upper limit T of a sum or product is the symbol T, not a transpose: a stand-in name until parse_side
    t = re.sub(r"(\\(?:sum|prod)\s*_\s*\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}\s*\^\s*)(?:\{\s*T\s*\}|T(?![A-Za-z]))",
               r"\1{\\mathrm{TUPPER}}", t)
    # transposes: ^\top, ^{\top}, ^{T} all become ^{T}
    t = re.sub(r"\^\s*\{?\s*\\top\s*\}?", "^{T}", t)
    t = re.sub(r"\^\s*T(?![A-Za-z])", "^{T}", t)
    # primes: f'(x) -> \mathrm{f'}(x) is not parseable; name them fprime
    t = re.sub(r"([A-Za-z]|\\[A-Za-z]+)('+)\s*\(", lambda m: "\\mathrm{" + m.group(1).lstrip("\\") + "prime" * len(m.group(2)) + "}(", t)
    # an operator macro with a prime: \mathrm{sigmoid}'(z) -> \mathrm{sigmoidprime}(z)
    t = re.sub(r"\\mathrm\{([A-Za-z]+)\}\s*('+)\s*\(", lambda m: "\\mathrm{" + m.group(1) + "prime" * len(m.group(2)) + "}(", t)
    t = re.sub(r"\\mathbb\{E\}", r"\\mathrm{E}", t)
    t = _matrix_inverses(t)
    t = _brackets_to_calls(t)
    # the relations inside a cases block are its conditions, not the display's relations: a group hides them
    t = re.sub(r"(?<!\{)\\begin\{cases\}(.*?)\\end\{cases\}", lambda m: "{" + m.group(0) + "}", t, flags=re.S)
    t = re.sub(r"\s+", " ", t).strip()
    return t


def _matrix_inverses(t: str) -> str:
    r"""``\mathbf{A}^{-1}`` and ``(...)^{-1}`` around bold symbols become ``\mathrm{inv}(...)`` (the parser
    reads a matrix power -1 as a scalar reciprocal)."""
    t = re.sub(r"(\\(?:mathbf|boldsymbol)\{\\?[A-Za-z]+\})\^\{-1\}", r"\\mathrm{inv}(\1)", t)
    while True:
        m = re.search(r"\)\s*\^\{-1\}", t)
        if not m:
            return t
        close, depth, j = m.start(), 0, m.start()
        while j >= 0:
            if t[j] == ")":
                depth += 1
            elif t[j] == "(":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
        inner = t[j:close + 1]
        if j < 0 or not re.search(r"\\(mathbf|boldsymbol)", inner):
            t = t[:m.start()] + ")^{(-1)}" + t[m.end():]  # scalar: keep as a power
            continue
        t = t[:j] + "\\mathrm{inv}" + inner + t[m.end():]


RELATIONS = {"=": "=", r"\le": "<=", r"\leq": "<=", r"\ge": ">=", r"\geq": ">=", "<": "<", ">": ">",
             r"\leftarrow": "<-", r"\approx": "~", r"\neq": "!=", r"\ne": "!=", r"\in": "in", r"\to": "->",
             r"\equiv": "="}
_REL_RE = re.compile(r"\\leq(?![A-Za-z])|\\le(?![A-Za-z])|\\geq(?![A-Za-z])|\\ge(?![A-Za-z])|\\leftarrow(?![A-Za-z])"
                     r"|\\approx(?![A-Za-z])|\\neq(?![A-Za-z])|\\ne(?![A-Za-z])|\\in(?![A-Za-z])|\\to(?![A-Za-z])"
                     r"|\\equiv(?![A-Za-z])|=|<|>")
CHECKABLE = {"=", "<=", ">=", "<", ">", "<-"}


@dataclass
class Relation:
    lhs: str
    op: str
    rhs: str


@dataclass
class Statement:
    """One claim of a display: sides ``s0 op1 s1 op2 s2 ...`` (LaTeX, normalized)."""

    sides: list
    ops: list
    raw: str = ""

    @property
    def relations(self):
        return [Relation(a, op, b) for a, op, b in zip(self.sides, self.ops, self.sides[1:])]


def _top_level_split(t: str, pattern: re.Pattern):
    """Split at matches of ``pattern`` outside braces, brackets and parentheses."""
    parts, ops, depth, last, i = [], [], 0, 0, 0
    while i < len(t):
        c = t[i]
        if c == "\\" and i + 1 < len(t) and t[i + 1] in "{}":
            i += 2
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0:
            m = pattern.match(t, i)
            if m:
                parts.append(t[last:i])
                ops.append(m.group(0))
                i = last = m.end()
                continue
        i += 1
    parts.append(t[last:])
    return parts, ops


_QUALIFIER_RE = re.compile(r"\\text|\\dots|\\ldots|\\cdots|\\mathrm\{for\}|\\forall|\\quad")


def _outside_envs(ln: str) -> str:
    """Remove the alignment marks of an aligned line but keep those inside matrix environments."""
    out, depth, i = [], 0, 0
    while i < len(ln):
        if ln.startswith("\\begin{", i):
            depth += 1
        elif ln.startswith("\\end{", i):
            depth -= 1
        if ln[i] == "&" and depth == 0:
            out.append(" ")
        else:
            out.append(ln[i])
        i += 1
    return "".join(out)


def split_display(tex: str, macros: dict):
    """The statements of a display, and the fragments set aside as qualifiers."""
    t = tex.strip()
    t = re.sub(r"\\begin\{aligned\}|\\end\{aligned\}", "", t)
    # rows and columns of matrices and cases are not lines of an aligned chain: protect them
    def protect(m):
        return m.group(0).replace("\\\\", "\x00").replace("&", "\x01")
    t = re.sub(r"\\begin\{(?!aligned)(\w+)\}.*?\\end\{\1\}", protect, t, flags=re.S)
    lines = [ln for ln in re.split(r"\\\\", t) if ln.strip()] if "&" in t else [t]
    lines = [ln.replace("\x00", "\\\\").replace("\x01", "&") for ln in lines]
    # a line of an aligned block that starts with a relation continues the previous statement
    chunks = []
    for ln in lines:
        ln = _outside_envs(ln).strip()
        if chunks and _REL_RE.match(ln):
            chunks[-1] += " " + ln
        else:
            chunks.append(ln)
    statements, set_aside = [], []
    for chunk in chunks:
        for piece in re.split(r"\\qquad(?![A-Za-z])", chunk):
            piece = piece.strip().rstrip(".,;").strip()
            # a parenthesised condition after \quad, "... \quad (l \ge 2)", qualifies the statement before it
            cond = re.search(r"\\quad(?![A-Za-z])\s*(\([^()]*\))\s*$", piece)
            if cond:
                set_aside.append(cond.group(1))
                piece = piece[:cond.start()].strip().rstrip(".,;").strip()
            if not piece:
                continue
            if _QUALIFIER_RE.search(piece) and not re.search(r"=|\\le|\\ge|<|>", re.sub(r"\\text\{[^}]*\}", "", piece)):
                set_aside.append(piece)
                continue
            if piece.startswith(r"\text"):
                set_aside.append(piece)
                continue
            norm = normalize(piece, macros)
            sides, ops = _top_level_split(norm, _REL_RE)
            ops = [RELATIONS[o] for o in ops]
            # a qualifier after the claim (x \in R^n, i = 1, \dots, n) ends the chain
            keep = len(ops)
            for k, op in enumerate(ops):
                if op not in CHECKABLE:
                    keep = k
                    break
            if keep < len(ops):
                set_aside.append(piece)
            sides, ops = sides[:keep + 1], ops[:keep]
            sides = [s.strip().rstrip(".,;").strip() for s in sides]
            if not ops:
                set_aside.append(piece) if keep == len(ops) and piece not in set_aside else None
                continue
            if any(re.search(r"\\dots|\\ldots|\\cdots|\\vdots", s) for s in sides):
                set_aside.append(piece)
                continue
            statements.append(Statement(sides, ops, piece))
    return statements, set_aside


@dataclass
class Notation:
    """What the chapter's symbols mean: LaTeX spelling -> SymPy object or Python callable.

    ``symbols``: ``{r"\\vect{w}": w, "b": b, r"\\mat{X}": X}`` (a matrix is a ``MatrixSymbol`` or an
    explicit ``Matrix``); ``functions``: ``{r"\\sigma": lambda z: 1 / (1 + sp.exp(-z))}``. Keys are
    written as on the page; the layer finds the name the parser gives each of them.
    """

    symbols: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)

    def merged(self, other: "Notation | None") -> "Notation":
        if other is None:
            return self
        return Notation({**self.symbols, **other.symbols}, {**self.functions, **other.functions})


def _l2s(tex: str, variable_values=None):
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig
    from latex2sympy2_extended.math_normalization import NormalizationConfig

    cc = ConversionConfig(interpret_as_mixed_fractions=False, interpret_simple_eq_as_assignment=False,
                          interpret_contains_as_eq=False, lowercase_symbols=False)
    nc = NormalizationConfig(basic_latex=False, units=False, malformed_operators=False, nits=False, boxed="none",
                             equations=False)
    return latex2sympy(tex, variable_values=variable_values, normalization_config=nc, conversion_config=cc)


_SYMBOL_NAMES: dict = {}
_MACRO_KEYS: dict = {}


def _name_of_symbol(key: str, macros: dict) -> str:
    """The parser's name for the notation key ``key``, memoized: every reading of a display looks up every
    key of its notation, and one parse costs milliseconds. A key that cannot be read raises every time."""
    held = _MACRO_KEYS.get(id(macros))
    if held is None or held[0] is not macros:  # the dict is kept alive with its frozen items: ids never reused
        held = _MACRO_KEYS[id(macros)] = (macros, tuple(sorted(macros.items(), key=lambda kv: kv[0])))
    memo = (key, held[1])
    if memo not in _SYMBOL_NAMES:
        try:
            _SYMBOL_NAMES[memo] = _parse_symbol_name(key, macros)
        except TexParseError as exc:
            _SYMBOL_NAMES[memo] = exc
    found = _SYMBOL_NAMES[memo]
    if isinstance(found, TexParseError):
        raise found
    return found


def _parse_symbol_name(key: str, macros: dict) -> str:
    try:
        e = _l2s(normalize(key, macros))
    except Exception as exc:  # the parser raises bare Exceptions
        raise TexParseError(f"the notation key {key!r} cannot be read: {str(exc).splitlines()[0]}") from None
    if isinstance(e, sp.Symbol):
        return e.name
    raise TexParseError(f"the notation key {key!r} does not read as one symbol (it reads as {e!r})")


def _name_of_function(key: str, macros: dict) -> str:
    e = _l2s(normalize(key + "(x)", macros) if not key.endswith("(") else normalize(key + "x)", macros))
    if isinstance(e, sp.Function) or (hasattr(e, "func") and isinstance(e.func, sp.core.function.UndefinedFunction)):
        return str(e.func)
    if isinstance(e, sp.Expr) and e.func in (sp.Max, sp.Min, sp.Abs, sp.exp, sp.log, sp.sin, sp.cos, sp.tanh, sp.tan):
        return str(e.func)
    raise TexParseError(f"the notation key {key!r} does not read as a function (it reads as {e!r})")


def _prime_key(key: str) -> str:
    m = re.match(r"^(\\?[A-Za-z]+)('+)$", key)
    if m:
        return "\\mathrm{" + m.group(1).lstrip("\\") + "prime" * len(m.group(2)) + "}"
    return key


def _matching_paren(t: str, i: int, step: int) -> int:
    """Index of the bracket matching the one at ``t[i]``: searching forward (``step`` 1) from an opening
    bracket, or backward (``step`` -1) from a closing one."""
    depth, opening = 0, "({[" if step > 0 else ")}]"
    j = i
    while 0 <= j < len(t):
        if t[j] in "({[)}]":
            depth += 1 if t[j] in opening else -1
            if depth == 0:
                return j
        j += step
    raise TexParseError(f"unbalanced parentheses in {t!r}")


def _close_paren(t: str, i: int) -> int:
    """Index of the parenthesis closing the one at ``t[i]``."""
    return _matching_paren(t, i, 1)


def _function_patterns(notation: Notation, macros: dict):
    out = []
    for key, fn in notation.functions.items():
        knorm = normalize(key + "(", macros).rstrip("(").strip()
        if re.fullmatch(r"[A-Za-z]", knorm):
            pat = re.compile(r"(?<![A-Za-z\\])" + re.escape(knorm) + r"\s*\(")
        else:
            pat = re.compile(re.escape(knorm) + r"(?![A-Za-z])\s*\(")
        out.append((pat, fn))
    return out


_REL_SYMPY = {"=": sp.Eq, "!=": sp.Ne, "<=": sp.Le, ">=": sp.Ge, "<": sp.Lt, ">": sp.Gt}


def _parse_argument(tex: str, notation: Notation, macros: dict, depth: int):
    """A function's argument: an expression, or one relation (the argument of an indicator)."""
    sides, ops = _top_level_split(tex, _REL_RE)
    if len(ops) == 1 and RELATIONS.get(ops[0]) in _REL_SYMPY:
        a, b = (parse_side(s.strip(), notation, macros, depth) for s in sides)
        return _REL_SYMPY[RELATIONS[ops[0]]](a, b)
    return parse_side(tex, notation, macros, depth)


def _brackets_to_calls(t: str) -> str:
    r"""``\mathrm{E}[X]`` and ``\mathrm{E}_{sub}[X]`` become calls ``\mathrm{E}(X)`` / ``\mathrm{E}_{sub}(X)``,
    so that a chapter can say what its expectation means (a notation function)."""
    out, i = [], 0
    while True:
        m = re.compile(r"\\mathrm\{(?:E|Var|Cov)\}\s*(_\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}|_[A-Za-z])?\s*\[").search(t, i)
        if not m:
            out.append(t[i:])
            return "".join(out)
        open_i = m.end() - 1
        depth, j = 0, open_i
        while j < len(t):
            if t[j] in "[({":
                depth += 1
            elif t[j] in "])}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(t):
            raise TexParseError(f"unbalanced brackets in {t!r}")
        out.append(t[i:open_i] + "(" + t[open_i + 1:j] + ")")
        i = j + 1


def _store(value, name, placeholders, matrices):
    placeholders["math{" + name + "}"] = value
    if isinstance(value, (sp.MatrixBase, sp.MatrixExpr)) and getattr(value, "shape", (1, 1)) != (1, 1):
        matrices["math{" + name + "}"] = value
    return f" \\mathrm{{{name}}} "


def _read_condition(cond, notation, macros, depth):
    r"""A condition of a cases block: one relation, or relations joined by ``\text{ or }``, ``\text{ and }``
    (also ``\lor``, ``\land``); ``and`` binds tighter than ``or``, as in logic."""
    alternatives = re.split(r"\\text\{\s*or\s*\}|\\lor(?![A-Za-z])", cond)
    ors = []
    for alt in alternatives:
        ands = []
        for part in re.split(r"\\text\{\s*and\s*\}|\\land(?![A-Za-z])", alt):
            rel = _parse_argument(part.strip().strip(","), notation, macros, depth + 1)
            if not isinstance(rel, (sp.core.relational.Relational, sp.logic.boolalg.Boolean)):
                raise TexParseError(f"the condition {part!r} of a cases block does not read as a relation")
            ands.append(rel)
        ors.append(sp.And(*ands))
    return sp.Or(*ors)


def _read_cases(tex, notation, macros, depth, placeholders, matrices):
    r"""Each ``{\begin{cases} v_1 & c_1 \\ ... \end{cases}}`` becomes a placeholder for
    ``Piecewise((v_1, c_1), ...)``; a condition that says otherwise (or is empty) is ``True``."""
    k = 0
    while True:
        m = re.search(r"\{?\s*\\begin\{cases\}(.*?)\\end\{cases\}\s*\}?", tex, flags=re.S)
        if not m:
            return tex
        branches = []
        for row in re.split(r"\\\\", m.group(1)):
            if not row.strip():
                continue
            cells, _ = _top_level_split(row, re.compile("&"))
            if len(cells) != 2:
                raise TexParseError(f"a row of a cases block needs 'value & condition': {row!r}")
            value, cond = cells[0].strip().rstrip(",;"), cells[1].strip().rstrip(".,;")
            cond = re.sub(r"\\text\{\s*(if|when|for)\s*\}|^\s*(if|when)\s", " ", cond).strip().strip(",")
            if not cond or re.fullmatch(r"\\text\{\s*(otherwise|else)\s*\}|otherwise|else", cond):
                condition = sp.true
            else:
                condition = _read_condition(cond, notation, macros, depth)
            branches.append((parse_side(value, notation, macros, depth + 1), condition))
        if not branches:
            raise TexParseError("an empty cases block")
        tex = tex[:m.start()] + _store(sp.Piecewise(*branches), f"CASES{depth}x{k}", placeholders, matrices) + tex[m.end():]
        k += 1


_ATOM = (r"(?:\\boldsymbol\{\\?[A-Za-z]+\}|\\mathrm\{[A-Za-z0-9']+\}|\\[A-Za-z]+(?![A-Za-z{])|[A-Za-z0-9.]+)"
         r"(?:\s*_\s*(?:\{[^{}]*\}|[A-Za-z0-9]))?(?:\s*\^\s*(?:\{[^{}]*\}|[A-Za-z0-9]))?")


def _operand_end(rest: str, after: str, tex: str) -> int:
    """Where the operand at the start of ``rest`` ends: a parenthesised group, or a symbol with its
    subscripts and superscripts, followed by its arguments when it is a function value."""
    r0 = len(rest) - len(rest.lstrip())
    if rest[r0:r0 + 1] == "(":
        return _close_paren(rest, r0) + 1
    a = re.match(_ATOM, rest[r0:])
    if not a:
        raise TexParseError(f"no operand after {after} in {tex!r}")
    j = r0 + a.end()
    if rest[j:j + 1] == "(":  # a function value
        j = _close_paren(rest, j) + 1
    return j


def _read_range_extrema(tex, notation, macros, depth, placeholders, matrices):
    r"""``\max_{a \le i < b} body`` (and ``\min``, with ``\le`` or ``<`` at either end) becomes the ``Max`` or
    ``Min`` of ``body`` at each integer ``i`` of the range. The bounds must be integers once the notation
    has given its values (an instance: the binding sets, say, ``k = 2``); the body is one operand, as for
    ``\odot``: a symbol with its subscripts, a function value or a parenthesised group."""
    k, start = 0, 0
    while True:
        m = re.compile(r"\\(max|min)\s*_\s*\{([^{}]*)\}").search(tex, start)
        if not m:
            return tex
        sides, ops = _top_level_split(m.group(2), _REL_RE)
        if len(ops) != 2 or any(RELATIONS.get(o) not in ("<", "<=") for o in ops):
            start = m.end()  # not a range (\max_i, \max_{x \ne 0}): left to the parser, as before
            continue
        known = notation.merged(Notation({"\\mathrm{" + n[5:-1] + "}": v for n, v in placeholders.items()}))
        lo, var, hi = (parse_side(x.strip(), known, macros, depth + 1) for x in sides)
        lo, hi = sp.sympify(lo), sp.sympify(hi)
        if not (lo.is_Integer and hi.is_Integer) or not isinstance(var, sp.Symbol):
            raise TexParseError(f"the range {m.group(2)!r} needs integer bounds (give the sizes values: an "
                                f"instance) and one index")
        first = int(lo) + (RELATIONS[ops[0]] == "<")
        last = int(hi) - (RELATIONS[ops[1]] == "<")
        if last < first:
            raise TexParseError(f"the range {m.group(2)!r} is empty")
        rest = tex[m.end():]
        j = _operand_end(rest, f"\\{m.group(1)}_{{...}}", tex)
        body = parse_side(rest[:j].strip(), known, macros, depth + 1)
        values = [body.subs(var, i) for i in range(first, last + 1)]
        value = (sp.Max if m.group(1) == "max" else sp.Min)(*values)
        tex = tex[:m.start()] + _store(value, f"EXT{depth}x{k}", placeholders, matrices) + rest[j:]
        k, start = k + 1, 0


def _term_end(rest: str) -> int:
    """Where the body of a sum or product that starts ``rest`` ends: at the first ``+`` or ``-`` outside
    every group (a leading sign belongs to the body), at the brace or parenthesis that closes the group
    the sum sits in, or at the end."""
    depth, i = 0, len(rest) - len(rest.lstrip())
    if rest[i:i + 1] in "+-":
        i += 1
    for j in range(i, len(rest)):
        ch = rest[j]
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
            if depth < 0:
                return j
        elif ch in "+-" and depth == 0 and rest[:j].strip():
            return j
    return len(rest)


def _set_elements(text: str, notation: Notation, macros: dict):
    """The elements of a finite set the notation binds (a list, tuple, set, FiniteSet or Range)."""
    want = text.strip()
    for key, value in notation.symbols.items():
        if normalize(key, macros).strip() == want:
            if isinstance(value, (list, tuple, set, frozenset, sp.FiniteSet, sp.Range)):
                return list(value)
            raise TexParseError(f"the set {text!r} is bound to {value!r}: bind it to its elements (a list) at "
                                f"an instance")
    raise TexParseError(f"the set {text!r} of a sum, product, maximum or minimum has no binding: give the "
                        f"notation its elements at an instance")


def _read_set_reductions(tex, notation, macros, depth, placeholders, matrices):
    r"""``\sum_{i \in S} body`` (and ``\prod``, ``\max``, ``\min``) over a finite set ``S`` that the
    notation binds to its elements at an instance: the sum (product, maximum, minimum) of ``body`` with the
    index replaced by each element, and ``|S|`` is its number of elements. The body of a sum or product runs
    to the next ``+`` or ``-`` outside groups; that of a maximum or minimum is one operand, as for ``\odot``."""
    for key, value in notation.symbols.items():  # |S|, the size of a bound finite set
        if isinstance(value, (list, tuple, set, frozenset, sp.FiniteSet, sp.Range)):
            knorm = re.escape(normalize(key, macros).strip())
            tex = re.sub(r"\|\s*" + knorm + r"\s*\|", f" {len(value)} ", tex)
    k, start = 0, 0
    while True:
        m = re.compile(r"\\(sum|prod|max|min)\s*_\s*\{((?:[^{}]|\{[^{}]*\})*?)\\in(?![A-Za-z])"
                       r"((?:[^{}]|\{[^{}]*\})*)\}").search(tex, start)
        if not m:
            return tex
        known = notation.merged(Notation({"\\mathrm{" + n[5:-1] + "}": v for n, v in placeholders.items()}))
        var = parse_side(m.group(2).strip(), known, macros, depth + 1)
        if not isinstance(var, (sp.Symbol, sp.Indexed)):
            raise TexParseError(f"the index {m.group(2)!r} of a sum over a set does not read as one symbol")
        elements = _set_elements(m.group(3), notation, macros)
        if not elements:
            raise TexParseError(f"the set {m.group(3)!r} is empty")
        rest = tex[m.end():]
        op = m.group(1)
        j = _term_end(rest) if op in ("sum", "prod") else _operand_end(rest, f"\\{op}_{{...}}", tex)
        body = parse_side(rest[:j].strip(), known, macros, depth + 1)
        values = [body.subs(var, e) for e in elements]
        if op == "sum":
            value = values[0]
            for v in values[1:]:
                value = value + v
        elif op == "prod":
            value = values[0]
            for v in values[1:]:
                value = value * v
        else:
            value = (sp.Max if op == "max" else sp.Min)(*values)
        tex = tex[:m.start()] + _store(value, f"SET{depth}x{k}", placeholders, matrices) + rest[j:]
        k, start = k + 1, 0


def _open_paren(t: str, j: int) -> int:
    """Index of the parenthesis opening the one closed at ``t[j]``."""
    return _matching_paren(t, j, -1)


def _hadamard(a, b):
    mat = (sp.MatrixBase, sp.MatrixExpr)
    if isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase):
        if a.shape != b.shape:
            raise TexParseError(f"an entrywise product of shapes {a.shape} and {b.shape}")
        return a.multiply_elementwise(b)
    if isinstance(a, mat) and isinstance(b, mat):
        return sp.hadamard_product(a, b)
    return a * b  # a scalar operand scales


def _read_hadamard(tex, notation, macros, depth, placeholders, matrices):
    r"""``a \odot b`` (left to right) becomes a placeholder for the entrywise product of the operands."""
    k = 0
    while True:
        m = re.search(r"\\odot(?![A-Za-z])", tex)
        if not m:
            return tex
        left = tex[:m.start()].rstrip()
        if left.endswith(")"):
            i = _open_paren(left, len(left) - 1)
            head = re.search(_ATOM + r"\s*$", left[:i])
            if head and not left[:i].rstrip().endswith(("+", "-")):
                i = head.start()
        else:
            atoms = list(re.finditer(_ATOM + r"$", left))
            if not atoms:
                raise TexParseError(f"no left operand for \\odot in {tex!r}")
            i = atoms[-1].start()
        right = tex[m.end():]
        j = _operand_end(right, "\\odot", tex)
        # operands may hold earlier placeholders (a chain a \odot b \odot c, a cases block): pass them on
        known = notation.merged(Notation({"\\mathrm{" + n[5:-1] + "}": v for n, v in placeholders.items()}))
        lhs = parse_side(left[i:].strip(), known, macros, depth + 1)
        rhs = parse_side(right[:j].strip(), known, macros, depth + 1)
        name = f"HDM{depth}x{k}"
        tex = left[:i] + _store(_hadamard(lhs, rhs), name, placeholders, matrices) + right[j:]
        k += 1


def parse_side(tex: str, notation: Notation, macros: dict, _depth: int = 0):
    """One side of a relation (normalized LaTeX) as a SymPy object in the chapter's meaning.

    Applications of the notation's functions, ``F(arg, ...)``, are read here (the arguments recursively)
    and stand in the text as placeholders, because the parser reads ``f(2z)`` as a product.
    """
    names = {}
    for k, (key, value) in enumerate(notation.symbols.items()):
        try:
            names[_name_of_symbol(key, macros)] = value
        except TexParseError:
            # a spelling the parser reads as a constant (\gamma is Euler's constant to it): stand-in name
            knorm = normalize(key, macros)
            tex = re.sub(re.escape(knorm) + r"(?![A-Za-z])", lambda _m, k=k: f" \\mathrm{{SYM{k}}} ", tex)
            names[f"math{{SYM{k}}}"] = value
    names.setdefault("math{TUPPER}", names.get("T", sp.Symbol("T")))  # the upper limit T of a sum (normalize)
    matrices = {n: v for n, v in names.items() if isinstance(v, (sp.MatrixBase, sp.MatrixExpr))}
    placeholders = {}
    tex = _read_cases(tex, notation, macros, _depth, placeholders, matrices)
    tex = _read_range_extrema(tex, notation, macros, _depth, placeholders, matrices)
    tex = _read_set_reductions(tex, notation, macros, _depth, placeholders, matrices)
    tex = _read_hadamard(tex, notation, macros, _depth, placeholders, matrices)
    patterns = _function_patterns(notation, macros)
    while True:
        hits = [(m.start(), m, fn) for pat, fn in patterns for m in [pat.search(tex)] if m]
        if not hits:
            break
        _, m, fn = min(hits, key=lambda h: h[0])
        open_i = m.end() - 1
        close_i = _close_paren(tex, open_i)
        inner = tex[open_i + 1:close_i]
        args, _ = _top_level_split(inner, re.compile(","))
        values = [_parse_argument(a.strip(), notation, macros, _depth + 1) for a in args]
        name = f"FN{_depth}x{len(placeholders)}"
        value = fn(*values)
        rest = tex[close_i + 1:]
        post = re.match(r"\s*\^\s*\{\s*(T|-1)\s*\}", rest)
        if post and isinstance(value, (sp.MatrixBase, sp.MatrixExpr)):
            value = value.T if post.group(1) == "T" else (value.inv() if isinstance(value, sp.MatrixBase) else sp.Inverse(value))
            close_i += post.end()
        elif post and post.group(1) == "T":
            close_i += post.end()  # the transpose of a scalar is the scalar
        after = tex[close_i + 1:].lstrip()
        glue = " \\cdot " if after[:1] in ("(", "\\") and not after.startswith(("\\cdot", "\\right")) else " "
        tex = tex[:m.start()] + f" \\mathrm{{{name}}}" + glue + tex[close_i + 1:]
        placeholders["math{" + name + "}"] = value
        if isinstance(value, (sp.MatrixBase, sp.MatrixExpr)) and getattr(value, "shape", (1, 1)) != (1, 1):
            matrices["math{" + name + "}"] = value
    scalars_as_matrices = {}
    try:
        expr = _l2s(tex, matrices or None)
    except Exception as exc:  # the parser raises bare Exceptions
        if "Mix of Matrix and Scalar" not in str(exc):
            raise TexParseError(f"the parser cannot read {tex!r}: {str(exc).splitlines()[0]}") from None
        # a 1x1 product such as w^T x plus a scalar: read again with every scalar name as a 1x1 matrix
        try:
            plain = _l2s(tex)
            for s in plain.free_symbols:
                if isinstance(s, sp.Symbol) and s.name not in matrices:
                    scalars_as_matrices[s.name] = sp.zeros(1, 1)
            expr = _l2s(tex, {**matrices, **scalars_as_matrices})
        except Exception as exc2:
            raise TexParseError(f"the parser cannot read {tex!r}: {str(exc2).splitlines()[0]}") from None
    if isinstance(expr, (sp.logic.boolalg.BooleanFunction, sp.core.relational.Relational)):
        raise TexParseError(f"{tex!r} reads as a statement, not an expression")
    repl = {}
    for s in getattr(expr, "free_symbols", set()):
        if not isinstance(s, sp.Symbol):
            continue
        if s.name in placeholders:
            repl[s] = placeholders[s.name]
        elif s.name in names and not isinstance(names[s.name], (sp.MatrixBase, sp.MatrixExpr)):
            repl[s] = names[s.name]
    # the parser turns matrix-valued names into MatrixSymbols of the same name: put the values in
    for s in getattr(expr, "free_symbols", set()):
        if isinstance(s, sp.MatrixSymbol) and str(s.name) in matrices and matrices[str(s.name)] is not s:
            repl[s] = matrices[str(s.name)]
        elif isinstance(s, sp.Symbol) and s.name in matrices and isinstance(matrices[s.name], sp.MatrixBase):
            repl[s] = matrices[s.name]  # the parser reads a power \mathbf{S}^2 of a matrix as a scalar's power
        elif isinstance(s, sp.MatrixSymbol) and str(s.name) in scalars_as_matrices:
            name = str(s.name)
            value = placeholders.get(name, names.get(name, sp.Symbol(name, real=True)))
            repl[s] = sp.Matrix([[value]])
    if repl:
        expr = expr.xreplace(repl)
        if any(isinstance(v, sp.MatrixBase) for v in repl.values()) and isinstance(expr, sp.Basic):
            expr = expr.doit()
    if scalars_as_matrices and isinstance(expr, sp.MatrixBase) and expr.shape == (1, 1):
        expr = expr[0, 0]
    undeclared = sorted(s.name for s in getattr(expr, "free_symbols", set())
                        if isinstance(s, sp.Symbol) and s.name.startswith("boldsymbol{"))
    if undeclared:
        raise TexParseError(f"bold symbols {undeclared} are vectors or matrices: declare them in the notation "
                            f"(read as scalars, their products would commute and their transposes vanish)")
    if isinstance(expr, sp.Basic) and _depth == 0:
        plain = {s: sp.Symbol(s.name, real=True) for s in expr.free_symbols
                 if isinstance(s, sp.Symbol) and not isinstance(s, sp.Dummy) and s.assumptions0 == {"commutative": True}}
        if plain:
            expr = expr.xreplace(plain)
    if isinstance(expr, sp.Basic):
        expr = expr.replace(lambda e: isinstance(e, sp.log) and len(e.args) == 2 and e.args[1] == sp.E,
                            lambda e: sp.log(e.args[0]))
    return expr
