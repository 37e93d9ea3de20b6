"""Tests of dlmath.book.symbolic: each helper reads the display it binds, accepts a true formula and
rejects a false one (a wrong sign, factor or exponent in the LaTeX), and is sound about forced rewrites."""
import numpy as np
import pytest
import sympy as sp

from dlmath.book import symbolic as S
from dlmath.book import texparse as T


@pytest.fixture(autouse=True)
def fresh_registry():
    saved = S._chapter_notation
    S.registry.clear()
    yield
    S.registry.clear()
    S._chapter_notation = saved


x, y = sp.symbols("x y", real=True)
z = sp.Symbol("z", real=True)
SIG = lambda u: 1 / (1 + sp.exp(-u))  # noqa: E731


@pytest.fixture
def sigmoid_notation():
    S.notation(symbols={"z": z, "x": x, "y": y}, functions={r"\sigma": SIG, r"\sigma'": lambda u: SIG(u) * (1 - SIG(u))})


def test_define_ties_the_display_and_records_the_object(sigmoid_notation):
    b = S.define("eq-test-sigmoid", sp.Eq(sp.Symbol("s"), SIG(z)), tex=r"\sigma(z) = \frac{1}{1 + e^{-z}}")
    assert b.status == "defined" and b.tied and S.registry["eq-test-sigmoid"] is b
    with pytest.raises(S.FormulaCheckError, match="eq-test-sigmoid-typo"):
        S.define("eq-test-sigmoid-typo", SIG(z), tex=r"\sigma(z) = \frac{1}{1 + e^{z}}")


@pytest.mark.parametrize("tex", [
    r"\sigma'(z) = \sigma(z)\,\bigl(1 + \sigma(z)\bigr)",   # sign
    r"\sigma'(z) = 2\sigma(z)\,\bigl(1 - \sigma(z)\bigr)",  # digit
    r"\sigma'(z) = \sigma(z)^2\,\bigl(1 - \sigma(z)\bigr)",  # exponent
    r"\sigma(-z) = \tfrac12 - \sigma(z)",                     # fraction
])
def test_verify_reads_the_display_and_rejects_mutants(sigmoid_notation, tex):
    S.notation(functions={r"\sigma'": lambda u: sp.diff(SIG(z), z).subs(z, u)})
    with pytest.raises(S.FormulaCheckError, match="eq-test-mutant"):
        S.verify("eq-test-mutant", tex=tex)


def test_verify_accepts_chains_inequalities_and_qquad_statements(sigmoid_notation):
    S.notation(functions={r"\sigma'": lambda u: sp.diff(SIG(z), z).subs(z, u)})
    b = S.verify("eq-test-bound", tex=r"\sigma'(z) = \tfrac14 - \bigl(\sigma(z) - \tfrac12\bigr)^2 \le \tfrac14 ,")
    assert b.tied and b.relations == 2
    b = S.verify("eq-test-pair", tex=r"\sigma(-z) = 1 - \sigma(z), \qquad 0 < \sigma(z) < 1 .")
    assert b.relations == 3
    with pytest.raises(S.FormulaCheckError, match="relation 2"):
        S.verify("eq-test-bound-bad", tex=r"\sigma'(z) = \tfrac14 - \bigl(\sigma(z) - \tfrac12\bigr)^2 \le \tfrac15")


def test_qualifiers_are_set_aside_not_checked():
    n = sp.Symbol("n", integer=True, positive=True)
    b = S.verify("eq-test-qualified", tex=r"(x + y)^2 = x^2 + 2xy + y^2, \qquad \text{for all real } x, y .")
    assert b.tied and b.set_aside


def test_given_sides_must_match_the_display():
    S.verify("eq-test-given", (x + y) ** 2, x**2 + 2 * x * y + y**2, tex=r"(x+y)^2 = x^2 + 2xy + y^2")
    with pytest.raises(S.FormulaCheckError, match="displayed side 2"):
        S.verify("eq-test-given-bad", (x + y) ** 2, x**2 + 2 * x * y + y**2, tex=r"(x+y)^2 = x^2 + xy + y^2")


def test_matrix_displays_keep_the_order_of_products():
    A = sp.Matrix(3, 3, sp.symbols("a0:9", real=True))
    B = sp.Matrix(3, 3, sp.symbols("b0:9", real=True))
    S.notation(symbols={r"\mat{A}": A, r"\mat{B}": B})
    S.verify("eq-test-transpose", tex=r"(\mat{A}\mat{B})^\T = \mat{B}^\T\mat{A}^\T")
    S.verify("eq-test-inverse", tex=r"(\mat{A}\mat{B})^{-1} = \mat{B}^{-1}\mat{A}^{-1}", where={
        r"\mat{A}": sp.Matrix(2, 2, sp.symbols("p0:4", positive=True)), r"\mat{B}": sp.Matrix(2, 2, sp.symbols("q0:4", positive=True))})
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-transpose-bad", tex=r"(\mat{A}\mat{B})^\T = \mat{A}^\T\mat{B}^\T")
    S.verify("eq-test-trace", tex=r"\tr(\mat{A}\mat{B}) = \tr(\mat{B}\mat{A})")


def test_forced_rewrites_alone_never_pass():
    """log(x**2) = 2 log(x) is false for negative real x although expand_log(force=True) proves it."""
    assert not S.is_zero(sp.log(x**2) - 2 * sp.log(x))
    p = sp.Symbol("p", positive=True)
    assert S.is_zero(sp.log(p**2) - 2 * sp.log(p))
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-log", tex=r"\log(x^2) = 2\log x", where={"x": x})


def test_a_label_is_bound_once_and_well_formed():
    S.verify("eq-test-a", tex="x + y = y + x")
    with pytest.raises(ValueError, match="bound twice"):
        S.verify("eq-test-a", tex="x + y = y + x")
    with pytest.raises(ValueError, match="eq-<chapter>-<name>"):
        S.verify("eq_test", tex="x = x")


def test_untied_needs_a_reason_and_is_reported():
    with pytest.raises(ValueError, match="reason"):
        S.verify("eq-test-untied-short", x, x, untied="no")
    b = S.verify("eq-test-untied", (x + 1) ** 2, x**2 + 2 * x + 1, untied="the display is a sum over paths")
    assert not b.tied and "sum over paths" in b.summary()


def test_verify_true_ties_operator_and_sides():
    p = sp.symbols("p", positive=True)
    claim = sp.Gt(p**2 + 1, 1, evaluate=False)
    S.verify_true("eq-test-positive", claim, tex=r"p^2 + 1 > 1", where={"p": p})
    with pytest.raises(S.FormulaCheckError, match="eq-test-op"):
        S.verify_true("eq-test-op", claim, tex=r"p^2 + 1 < 1", where={"p": p})
    with pytest.raises(S.FormulaCheckError):
        S.verify_true("eq-test-false", x > 0, tex="x > 0", where={"x": x})


def test_inequalities_sympy_cannot_prove_are_sampled_and_say_so():
    b = S.verify("eq-test-sampled", tex=r"e^{x} \ge 1 + x + \tfrac{1}{6}x^3 \cdot 0", where={"x": x})
    assert b.tied


def test_check_code_ties_the_formula_and_compares_with_code():
    sig = SIG(x)
    cases = [{"x": v} for v in (-3.0, -0.5, 0.0, 2.0)]
    b = S.check_code("eq-test-code", sp.diff(sig, x), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, cases,
                     tex=r"\frac{d}{dx} \sigma(x) = \frac{e^{-x}}{(1 + e^{-x})^2}", where={"x": x})
    assert b.status == "checked" and b.tied
    with pytest.raises(S.FormulaCheckError, match="the code gives"):
        S.check_code("eq-test-code-bad", sp.diff(sig, x), lambda x: 1 / (1 + np.exp(-x)), cases,
                     tex=r"\frac{d}{dx} \sigma(x) = \frac{e^{-x}}{(1 + e^{-x})^2}", where={"x": x})
    with pytest.raises(S.FormulaCheckError, match="differs"):
        S.check_code("eq-test-code-typo", sp.diff(sig, x), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, cases,
                     tex=r"\frac{d}{dx} \sigma(x) = \frac{e^{x}}{(1 + e^{-x})^2}", where={"x": x})
    with pytest.raises(ValueError, match="untied"):
        S.check_code("eq-test-callable", lambda a: a.sum(), np.sum, [{"a": np.arange(4.0)}], tex="a = a")
    S.check_code("eq-test-callable-ok", lambda a: a.sum(), np.sum, [{"a": np.arange(4.0)}],
                 untied="the formula is a sum over array entries")


def test_cite_records_the_key():
    b = S.cite("eq-test-cited", "cybenko1989approximation")
    assert b.status == "cited" and "cybenko1989approximation" in b.summary()


def test_split_display_statements_and_aligned_chains():
    macros = T.read_macros(T.repo_root() / "book" / "macros.tex")
    sts, aside = T.split_display(r"""\begin{aligned}
f(x) &= a + b \\
     &= c , \\
g(x) &\le d .
\end{aligned}""", macros)
    assert [s.ops for s in sts] == [["=", "="], ["<="]]
    sts, aside = T.split_display(r"x = y, \qquad i = 1, \dots, n", macros)
    assert len(sts) == 1 and aside


def test_binding_shows_a_status_line_with_a_link_to_the_index():
    b = S.verify("eq-test-display", tex="x + y = y + x")
    md = b._repr_markdown_()
    assert "{eq}`eq-test-display`" in md and "<eq-test-display>" in md and "tied" in md


def test_transposes_of_function_values_and_groups_are_kept():
    """A transpose after a function's value or a parenthesised matrix is never dropped (a dropped
    transpose once let a wrong display pass)."""
    X = sp.Matrix(2, 2, sp.symbols("x0:4", positive=True))
    S.notation(symbols={r"\mat{X}": X}, functions={"g": lambda M: M * M})
    S.verify("eq-test-inv-t", tex=r"\bigl(\mat{X}^{-1}\bigr)^\T = \bigl(\mat{X}^\T\bigr)^{-1}")
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-inv-t-bad", tex=r"\bigl(\mat{X}^{-1}\bigr)^\T = \mat{X}^{-1}")
    S.verify("eq-test-g-t", tex=r"g(\mat{X})^\T = \mat{X}^\T\mat{X}^\T")
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-g-t-bad", tex=r"g(\mat{X})^\T = \mat{X}\mat{X}")


def test_matrix_rows_inside_an_aligned_chain_stay_in_their_matrix():
    macros = T.read_macros(T.repo_root() / "book" / "macros.tex")
    sts, _ = T.split_display(r"\begin{aligned} \begin{pmatrix} a & b \\ c & d \end{pmatrix} &= x \\ &= y \end{aligned}", macros)
    assert len(sts) == 1 and sts[0].ops == ["=", "="] and "pmatrix" in sts[0].sides[0]


def test_inner_products_plus_scalars_and_greek_constants():
    """w^T x + b (a 1x1 product plus a scalar) is read; gamma is the chapter's symbol, not Euler's constant;
    a display that cannot be read fails with its label."""
    w = sp.Matrix(sp.symbols("w1:4", real=True))
    v = sp.Matrix(sp.symbols("x1:4", real=True))
    b, g = sp.Symbol("b", real=True), sp.Symbol("gamma", positive=True)
    comps = {f"w_{i + 1}": w[i] for i in range(3)} | {f"x_{i + 1}": v[i] for i in range(3)}
    S.notation(symbols={r"\vect{w}": w, r"\vect{x}": v, "b": b, r"\gamma": g})
    S.verify("eq-test-inner", tex=r"\vect{w}^\T\vect{x} + b = w_1 x_1 + w_2 x_2 + w_3 x_3 + b", where=comps)
    with pytest.raises(S.FormulaCheckError, match="eq-test-inner-bad"):
        S.verify("eq-test-inner-bad", tex=r"\vect{w}^\T\vect{x} + b = w_1 x_1 + w_2 x_2 + w_3 x_3 - b", where=comps)
    S.verify("eq-test-gamma", tex=r"2\gamma \ge \gamma")
    with pytest.raises(S.FormulaCheckError, match="eq-test-unreadable"):
        S.verify("eq-test-unreadable", tex=r"x = \frac{1}{")


def test_indicators_of_relations_and_bracket_expectations():
    yv, yh = sp.symbols("y yhat", real=True)
    S.notation(symbols={"y": yv, r"\hat{y}": yh})
    zero_one = sp.Piecewise((1, sp.Ne(yh, yv)), (0, True))
    S.define("eq-test-01", zero_one, tex=r"\ell_{01}(\hat{y}, y) = \indicator{\hat{y} \ne y}")
    with pytest.raises(S.FormulaCheckError, match="eq-test-01-bad"):
        S.define("eq-test-01-bad", zero_one, tex=r"\ell_{01}(\hat{y}, y) = \indicator{\hat{y} = y}")
    X, a, b = sp.symbols("X a b", real=True)
    Ef = sp.Function("E")

    def expectation(e):  # linear, with a and b constants
        terms = sp.Add.make_args(sp.expand(e))
        return sum(c * (Ef(r) if r != 1 else 1) for c, r in (t.as_independent(X) for t in terms))

    S.notation(symbols={"X": X, "a": a, "b": b}, functions={r"\E": expectation})
    S.verify("eq-test-linear", tex=r"\E[aX + b] = a\E[X] + b")
    with pytest.raises(S.FormulaCheckError, match="eq-test-linear-bad"):
        S.verify("eq-test-linear-bad", tex=r"\E[aX + b] = a\E[X] - b")


def test_bold_symbols_must_be_declared_and_accents_over_them_are_names():
    """An undeclared bold symbol would be read as a commuting scalar with its transposes dropped: refused."""
    with pytest.raises(S.FormulaCheckError, match="declare them"):
        S.verify("eq-test-undeclared", tex=r"(\mat{A}\mat{B})^\T = \mat{A}^\T\mat{B}^\T")
    xh = sp.Matrix(sp.symbols("h1:3", real=True))
    xv = sp.Matrix(sp.symbols("v1:3", real=True))
    S.notation(symbols={r"\hat{\vect{x}}": xh, r"\vect{x}": xv, r"\delta\vect{x}": xh - xv})
    S.verify("eq-test-accent", tex=r"\hat{\vect{x}} - \vect{x} = \delta\vect{x}")
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-accent-bad", tex=r"\hat{\vect{x}} + \vect{x} = \delta\vect{x}")


def test_cases_blocks_read_as_piecewise_and_their_conditions_count():
    """A cases block is a Piecewise; a flipped condition or a wrong branch fails (its relations are the
    conditions, not the display's chain)."""
    t, alpha = sp.Symbol("t", real=True), sp.Symbol("alpha", positive=True)
    elu = lambda u: sp.Piecewise((u, u > 0), (alpha * (sp.exp(u) - 1), True))  # noqa: E731
    S.notation(symbols={"t": t, r"\alpha": alpha}, functions={r"\operatorname{elu}": elu})
    b = S.verify("eq-test-elu", tex=r"\operatorname{elu}(t) = \begin{cases} t & \text{if } t > 0, \\ "
                                    r"\alpha (e^{t} - 1) & \text{otherwise} \end{cases}")
    assert b.tied and b.relations == 1
    for bad in (r"\begin{cases} t & t < 0 \\ \alpha (e^{t} - 1) & \text{otherwise} \end{cases}",
                r"\begin{cases} t & t > 0 \\ \alpha (e^{t} + 1) & \text{otherwise} \end{cases}"):
        with pytest.raises(S.FormulaCheckError, match="eq-test-elu-bad"):
            S.verify("eq-test-elu-bad", tex=r"\operatorname{elu}(t) = " + bad)
        S.registry.pop("eq-test-elu-bad", None)


def test_hadamard_products_are_entrywise_and_bind_tighter_than_matrix_products():
    u, v, w = (sp.Matrix(sp.symbols(f"{c}1:4", real=True)) for c in "uvw")
    W = sp.Matrix(3, 3, sp.symbols("W0:9", real=True))
    sig = lambda z: z.applyfunc(lambda q: 1 / (1 + sp.exp(-q)))  # noqa: E731
    S.notation(symbols={r"\vect{u}": u, r"\vect{v}": v, r"\vect{w}": w, r"\mat{W}": W}, functions={r"\sigma": sig})
    S.verify("eq-test-had-dist", tex=r"(\vect{u} + \vect{w}) \odot \vect{v} = \vect{u} \odot \vect{v} + \vect{w} \odot \vect{v}")
    S.verify("eq-test-had-chain", tex=r"\sigma(\vect{u}) \odot \vect{v} \odot \vect{w} = \vect{w} \odot (\sigma(\vect{u}) \odot \vect{v})")
    S.verify("eq-test-had-inner", tex=r"\vect{u}^\T (\vect{v} \odot \vect{w}) = \vect{w}^\T (\vect{u} \odot \vect{v})")
    for k, bad in enumerate((r"\vect{u} \odot \vect{v} = \vect{u} \odot \vect{w}",
                             r"(\vect{u} + \vect{w}) \odot \vect{v} = \vect{u} \odot \vect{v} - \vect{w} \odot \vect{v}",
                             r"(\mat{W}\vect{u}) \odot \vect{v} = \mat{W}\vect{u} \odot \vect{v}")):
        with pytest.raises(S.FormulaCheckError, match=f"eq-test-had-bad{k}"):
            S.verify(f"eq-test-had-bad{k}", tex=bad)


def test_an_upper_limit_t_of_a_sum_is_the_symbol_not_a_transpose():
    T, t = sp.Symbol("T", integer=True, positive=True), sp.Symbol("t", integer=True, positive=True)
    S.notation(symbols={"T": T, "t": t})
    assert S.verify("eq-test-sum-t", tex=r"\sum_{t=1}^{T} t = \frac{T (T + 1)}{2}").tied
    assert S.verify("eq-test-sum-t2", tex=r"\sum_{t=1}^T 2 t = T^2 + T").tied
    with pytest.raises(S.FormulaCheckError, match="eq-test-sum-t-bad"):
        S.verify("eq-test-sum-t-bad", tex=r"\sum_{t=1}^{T} t = \frac{T (T - 1)}{2}")
    W = sp.MatrixSymbol("W", 2, 2)
    S.notation(symbols={r"\mat{W}": W})
    assert S.verify("eq-test-transpose-stays", tex=r"(\mat{W}^\T)^\T = \mat{W}").tied


def test_a_maximum_over_an_index_range_is_expanded_at_an_instance():
    """max_{0 <= i < k} x_{su+di-p} read at k = 3 (a pooling window); a wrong end, a min for the max or a
    sign in the subscript fails."""
    X, Y = sp.IndexedBase("x"), sp.IndexedBase("y")
    s, u, d, p, i = sp.symbols("s u d p i")
    window = sp.Max(*[X[s * u + d * t - p] for t in range(3)])
    where = S.Notation({"y_u": Y[u], "x_{su+di-p}": X[s * u + d * i - p], "k": sp.Integer(3)})
    S.notation(symbols={})
    assert S.define("eq-test-pool", window, tex=r"y_u = \max_{0 \le i < k} x_{su+di-p}", where=where).tied
    for n, bad in enumerate((r"y_u = \max_{0 \le i \le k} x_{su+di-p}", r"y_u = \min_{0 \le i < k} x_{su+di-p}",
                             r"y_u = \max_{0 < i < k} x_{su+di-p}", r"y_u = \max_{0 \le i < k} x_{su-di-p}")):
        with pytest.raises(S.FormulaCheckError, match=f"eq-test-pool-bad{n}"):
            S.define(f"eq-test-pool-bad{n}", window, tex=bad, where=where)
    with pytest.raises(S.FormulaCheckError, match="integer bounds"):
        S.define("eq-test-pool-symbolic", window, tex=r"y_u = \max_{0 \le i < k} x_{su+di-p}",
                 where=S.Notation({"y_u": Y[u], "x_{su+di-p}": X[s * u + d * i - p]}))


def test_the_sigmoid_macro_has_a_book_wide_meaning_and_its_prime_is_a_function():
    """``\\sigmoid`` (the book's one spelling of the logistic function) reads without chapter notation;
    ``\\sigmoid'`` is bound like any primed function, and a wrong factor in its display is caught."""
    S.notation(symbols={"z": z}, functions={r"\sigmoid'": lambda u: sp.diff(SIG(z), z).subs(z, u)})
    S.verify("eq-test-sigmoid-macro", tex=r"\sigmoid(-z) = 1 - \sigmoid(z)")
    S.verify("eq-test-sigmoid-prime", tex=r"\sigmoid'(z) = \sigmoid(z)\bigl(1 - \sigmoid(z)\bigr)")
    for k, bad in enumerate((r"\sigmoid(-z) = \sigmoid(z) - 1",
                             r"\sigmoid'(z) = \sigmoid(z)\bigl(1 + \sigmoid(z)\bigr)")):
        with pytest.raises(S.FormulaCheckError, match=f"eq-test-sigmoid-bad{k}"):
            S.verify(f"eq-test-sigmoid-bad{k}", tex=bad)


def test_sums_products_and_extrema_over_a_bound_finite_set_are_read_at_an_instance():
    """``\\sum_{k \\in S}``, ``\\prod``, ``\\max``, ``\\min`` over a set the notation binds to its elements,
    and ``|S|`` its size; a wrong size, sign or element fails, an unbound set is refused with a reason."""
    k = sp.Symbol("k", integer=True)
    a, b = sp.IndexedBase("a", real=True), sp.IndexedBase("b", real=True)
    entries = {f"{c}_{i}": base[i] for c, base in (("a", a), ("b", b)) for i in range(5)}
    S.notation(symbols={"k": k, "a_k": a[k], "b_k": b[k], "S": [1, 3, 4], r"\mathcal{B}": (0, 2), **entries})
    S.verify("eq-test-set-mean", tex=r"\frac{1}{\abs{S}}\sum_{k \in S} a_k = \frac{a_1 + a_3 + a_4}{3}")
    S.verify("eq-test-set-prod", tex=r"\prod_{k \in \mathcal{B}} (1 - b_k) = 1 - b_0 - b_2 + b_0 b_2")
    S.verify_true("eq-test-set-max", sp.Ge(sp.Max(a[1], a[3], a[4]), a[3]),
                  tex=r"\max_{k \in S} a_k \ge a_3")
    for j, bad in enumerate((r"\frac{1}{\abs{S}}\sum_{k \in S} a_k = \frac{a_1 + a_3 + a_4}{4}",
                             r"\sum_{k \in S} -a_k = a_1 - a_3 - a_4",
                             r"\sum_{k \in \mathcal{B}} a_k b_k = a_0 b_0 + a_1 b_1")):
        with pytest.raises(S.FormulaCheckError, match=f"eq-test-set-bad{j}"):
            S.verify(f"eq-test-set-bad{j}", tex=bad)
    with pytest.raises(T.TexParseError, match="has no binding"):
        T.parse_side(T.normalize(r"\sum_{k \in C} a_k", {}), S._chapter_notation, {})


def test_cases_conditions_join_relations_with_or_and_and():
    a, b = sp.symbols("a b", real=True)
    S.notation(symbols={"a": a, "b": b})
    S.verify("eq-test-cases-or", tex=r"\begin{cases} 1 & \text{if } a > 0 \text{ or } b > 0, \\ 0 & \text{otherwise} "
                                     r"\end{cases} = 1 - \begin{cases} 1 & \text{if } a \le 0 \text{ and } b \le 0, \\ "
                                     r"0 & \text{otherwise} \end{cases}")
    with pytest.raises(S.FormulaCheckError, match="eq-test-cases-bad"):
        S.verify("eq-test-cases-bad", tex=r"\begin{cases} 1 & \text{if } a > 0 \text{ or } b > 0, \\ 0 & "
                                          r"\text{otherwise} \end{cases} = \begin{cases} 1 & \text{if } a > 0 "
                                          r"\text{ and } b > 0, \\ 0 & \text{otherwise} \end{cases}")


def test_a_parenthesised_condition_after_quad_is_set_aside_and_reported():
    statements, set_aside = T.split_display(r"a_{l-1} = 2 a_l \quad (l \ge 2).", {})
    assert [st.sides for st in statements] == [["a_{l-1}", "2 a_l"]] and set_aside == [r"(l \ge 2)"]
    statements, _ = T.split_display(r"y = (x + 1) \quad (x > 0), \qquad z = 2y", {})
    assert [st.sides for st in statements] == [["y", "(x + 1)"], ["z", "2y"]]


def test_a_power_of_a_declared_matrix_is_the_matrix_power():
    """``\\mat{S}^2`` is S S (the parser alone reads it as a scalar's power, and refused it): a transposed
    or commuted mutant fails."""
    Sm, Vm = sp.Matrix([[2, 1], [0, 3]]), sp.Matrix([[0, 1], [1, 0]])
    S.notation(symbols={r"\mat{S}": Sm, r"\mat{V}": Vm})
    S.verify("eq-test-matpow", tex=r"\mat{V}\mat{S}^2\mat{V}^\T = \mat{V}\mat{S}\mat{S}\mat{V}^\T")
    S.verify("eq-test-matpow3", tex=r"\mat{S}^{3} = \mat{S}\mat{S}\mat{S}")
    for k, bad in enumerate((r"\mat{S}^2 = \mat{S}\mat{S}^\T", r"\mat{V}\mat{S}^2 = \mat{S}^2\mat{V}")):
        with pytest.raises(S.FormulaCheckError, match=f"eq-test-matpow-bad{k}"):
            S.verify(f"eq-test-matpow-bad{k}", tex=bad)


def test_a_chapter_simplifier_that_computes_in_a_quotient_is_respected():
    """Dual numbers: the two sides differ by a bdot adot eps^2, which is 0 modulo eps^2 (the chapter's
    simplifier) but not as a number: the fast numeric rejection must not overrule the simplifier."""
    a, ad, b, bd, eps = sp.symbols("a adot b bdot epsilon", real=True)
    mod = lambda e: sp.rem(sp.expand(e), eps**2, eps)  # noqa: E731
    where = {"a": a, "b": b, r"\dot{a}": ad, r"\dot{b}": bd, r"\varepsilon": eps}
    S.verify("eq-test-dual", where=where, simplifier=mod,
             tex=r"(a + \dot{a}\varepsilon)(b + \dot{b}\varepsilon) = ab + (\dot{a}b + a\dot{b})\,\varepsilon")
    with pytest.raises(S.FormulaCheckError, match="eq-test-dual-bad"):
        S.verify("eq-test-dual-bad", where=where, simplifier=mod,
                 tex=r"(a + \dot{a}\varepsilon)(b + \dot{b}\varepsilon) = ab + (\dot{a}b - a\dot{b})\,\varepsilon")


def test_an_unbound_function_in_one_branch_is_not_judged_by_the_other_branch():
    """Random points where a branch holds an undefined function cannot be evaluated; the points of the other
    branch alone must not pass the display (a lost factor kappa in the second branch was accepted)."""
    r, k = sp.Symbol("r", real=True), sp.Symbol("kappa", positive=True)
    S.notation(symbols={"r": r, r"\kappa": k})
    clipped = sp.Piecewise((r, sp.Abs(r) <= k), (k * sp.sign(r), True))
    cases = r"c = \begin{cases} r & \text{if } \abs{r} \le \kappa, \\ %s\sign(r) & \text{otherwise} \end{cases}"
    with pytest.raises(S.FormulaCheckError, match="eq-test-unbound-sign: relation 1 .* does not hold"):
        S.verify("eq-test-unbound-sign", where={"c": clipped}, tex=cases % "")
    S.notation(functions={r"\sign": sp.sign})
    S.verify("eq-test-bound-sign", where={"c": clipped}, tex=cases % r"\kappa")  # bound: read and checked
    with pytest.raises(S.FormulaCheckError, match="eq-test-bound-sign-bad"):
        S.verify("eq-test-bound-sign-bad", where={"c": clipped}, tex=cases % "")
