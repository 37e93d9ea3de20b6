"""Tests of dlmath.symbolic: the helpers of the formula contract must accept true formulas and reject false ones."""
import numpy as np
import pytest
import sympy as sp

from dlmath.book import symbolic as S


@pytest.fixture(autouse=True)
def fresh_registry():
    S.registry.clear()
    yield
    S.registry.clear()


x, y = sp.symbols("x y", real=True)


def test_define_records_object_and_status():
    b = S.define("eq-test-square", x**2)
    assert b.status == "defined" and b.obj == x**2
    assert S.registry["eq-test-square"] is b


def test_label_bound_twice_is_an_error():
    S.define("eq-test-a", x)
    with pytest.raises(ValueError, match="bound twice"):
        S.verify("eq-test-a", x, x)


@pytest.mark.parametrize("label", ["eq_test", "fig-test-a", "eq-Test-a", "eq-test a", "eq-"])
def test_malformed_labels_are_rejected(label):
    with pytest.raises(ValueError, match="eq-<chapter>-<name>"):
        S.define(label, x)


def test_verify_accepts_identity_and_rejects_false_one():
    sig = 1 / (1 + sp.exp(-x))
    S.verify("eq-test-sigmoid-derivative", sp.diff(sig, x), sig * (1 - sig))
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-wrong", sp.diff(sig, x), sig * (1 + sig))


def test_verify_matrices_and_shape_mismatch():
    A = sp.Matrix(2, 2, sp.symbols("a0:4"))
    B = sp.Matrix(2, 2, sp.symbols("b0:4"))
    S.verify("eq-test-transpose", (A * B).T, B.T * A.T)
    with pytest.raises(S.FormulaCheckError):
        S.verify("eq-test-transpose-wrong", (A * B).T, A.T * B.T)
    with pytest.raises(ValueError, match="same shape"):
        S.verify("eq-test-shapes", A, sp.Matrix([1, 2]))


def test_verify_steps_finds_the_broken_link():
    S.verify_steps("eq-test-chain", [(x + y) ** 2, x**2 + 2 * x * y + y**2, x * (x + 2 * y) + y**2])
    with pytest.raises(S.FormulaCheckError, match="step 1 -> 2"):
        S.verify_steps("eq-test-chain-bad", [(x + y) ** 2, x**2 + 2 * x * y + y**2, x**2 + y**2])
    with pytest.raises(ValueError, match="at least two"):
        S.verify_steps("eq-test-chain-short", [x])


def test_verify_true():
    p = sp.symbols("p", positive=True)
    S.verify_true("eq-test-positive", p**2 + x**2 + 1 > 1)
    with pytest.raises(S.FormulaCheckError):
        S.verify_true("eq-test-not-always", x > 0)


def test_check_code_compares_formula_with_code():
    sig = 1 / (1 + sp.exp(-x))
    cases = [{"x": v} for v in (-3.0, -0.5, 0.0, 2.0)]
    b = S.check_code("eq-test-code", sp.diff(sig, x), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, cases)
    assert b.status == "checked"
    with pytest.raises(S.FormulaCheckError, match="the code gives"):
        S.check_code("eq-test-code-bad", sp.diff(sig, x), lambda x: 1 / (1 + np.exp(-x)), cases)
    with pytest.raises(ValueError, match="at least one case"):
        S.check_code("eq-test-code-empty", x, lambda x: x, [])


def test_check_code_integer_formulas_and_callables():
    n, k = sp.symbols("n k", integer=True, positive=True)
    S.check_code("eq-test-count", n * k + k, lambda n, k: n * k + k, [{"n": 3, "k": 4}, {"n": 10, "k": 1}])
    with pytest.raises(S.FormulaCheckError):
        S.check_code("eq-test-count-bad", n * k + k, lambda n, k: n * k, [{"n": 3, "k": 4}])
    S.check_code("eq-test-callable", lambda a: a.sum(), lambda a: np.sum(a), [{"a": np.arange(4.0)}])


def test_binding_displays_a_link_to_the_index():
    b = S.define("eq-test-display", x)
    md = b._repr_markdown_()
    assert "{eq}`eq-test-display`" in md and "<eq-test-display>" in md
