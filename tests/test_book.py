"""Book checks: the table of contents, the formula contract, the anatomy of each chapter, and every
chapter executed from top to bottom (a failing cell or a failing SymPy check fails the test), read from
the execution that the book build uses.
"""
import os
import pathlib
import re
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))
from dlmath.book import sources as formulas  # noqa: E402

CHAPTERS = [c for c in formulas.chapters(REPO) if re.match(r"ch\d+-", pathlib.Path(c.docname).name)]
CHAPTER_IDS = [pathlib.Path(c.docname).name for c in CHAPTERS]


def book_pages():
    skip = {"_ext", "_site_extra"}
    return sorted(p.relative_to(REPO).with_suffix("").as_posix() for p in (REPO / "book").rglob("*.md")
                  if not skip & set(p.relative_to(REPO / "book").parts))


def test_every_page_is_in_the_toc_and_every_toc_entry_exists():
    toc = formulas.toc_docnames(REPO)
    assert len(toc) == len(set(toc)), "a page is listed twice in _toc.yml"
    missing_files = [d for d in toc if not (REPO / (d + ".md")).exists()]
    assert not missing_files, f"_toc.yml lists pages that do not exist: {missing_files}"
    not_listed = sorted(set(book_pages()) - set(toc))
    assert not not_listed, f"pages in book/ that _toc.yml does not list (they would not be built): {not_listed}"


def test_there_are_chapters():
    assert CHAPTERS, "no chapter files (book/part*/chNN-*.md) in the toc"


@pytest.mark.parametrize("ch", CHAPTERS, ids=CHAPTER_IDS)
def test_every_display_equation_is_labelled(ch):
    unlabelled = [e.line for e in ch.equations if not e.label]
    assert not unlabelled, f"{ch.path.name}: display equations without a label at lines {unlabelled}"
    assert not ch.raw_envs, f"{ch.path.name}: raw amsmath environments (use aligned inside $$) at lines {ch.raw_envs}"
    wrong = [e.label for e in ch.equations if not e.label.startswith(f"eq-{ch.slug}-")]
    assert not wrong, f"{ch.path.name}: labels must start with 'eq-{ch.slug}-': {wrong}"


@pytest.mark.parametrize("ch", CHAPTERS, ids=CHAPTER_IDS)
def test_no_label_is_used_by_two_displays(ch):
    """Which labels are bound is decided at run time (tests/test_formula_contract.py reads the registry
    each chapter's last cell recorded); a call in a comment or in dead code counts for nothing."""
    labels = ch.labels
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    assert not dup, f"{ch.path.name}: labels used by two display equations: {dup}"


@pytest.mark.parametrize("ch", CHAPTERS, ids=CHAPTER_IDS)
def test_the_last_cell_asserts_the_registry(ch):
    assert ch.code_cells and ch.code_cells[-1].strip().splitlines()[-1].strip() == "finish()", \
        f"{ch.path.name}: the last code cell must call finish() (the run-time registry check)"


def test_labels_are_unique_across_the_book():
    seen = {}
    for ch in CHAPTERS:
        for lab in ch.labels:
            assert lab not in seen or seen[lab] == ch.docname, f"{lab} appears in {seen[lab]} and {ch.docname}"
            seen[lab] = ch.docname


@pytest.mark.parametrize("ch", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_anatomy(ch):
    text = ch.path.read_text()
    name = ch.path.name
    assert ch.equations, f"{name}: no display formulas"
    assert re.search(r"^## Common misconceptions", text, re.M), f"{name}: no '## Common misconceptions' section"
    assert re.search(r"^## Exercises", text, re.M), f"{name}: no '## Exercises' section"
    assert re.search(r"^## Summary", text, re.M), f"{name}: no '## Summary' section"
    exercises = len(re.findall(r"^\s*[`:]{3,}\s*\{exercise(-start)?\}", text, re.M))
    solutions = len(re.findall(r"^\s*[`:]{3,}\s*\{solution(-start)?\}", text, re.M))
    assert exercises >= 6, f"{name}: {exercises} exercises, at least 6 required"
    assert solutions >= exercises, f"{name}: {exercises} exercises but {solutions} solutions"
    assert "{literalinclude}" in text, f"{name}: the reference implementation is not shown with literalinclude"
    assert "{cite" in text, f"{name}: no citation"
    assert re.search(r"name:\s*fig-", text), f"{name}: no captioned figure"
    for fig in set(re.findall(r"name:\s*(fig-[\w-]+)", text)):
        assert re.search(r"\{numref\}`[^`]*" + re.escape(fig), text), f"{name}: figure {fig} is never referenced"


@pytest.fixture(scope="module")
def execution_cache():
    """The build's execution cache, invalidated as the build invalidates it (code/ changed: all chapters)."""
    execute = pytest.importorskip("execute", reason="book/_ext/execute.py needs the book dependencies")
    execute.prepare(REPO / "_build", log=lambda msg: None)
    return execute


@pytest.mark.parametrize("ch", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_executes(ch, execution_cache):
    """Every code cell of the chapter ran without error, nothing went to stderr, no output holds a
    traceback. The outputs come from the execution the book build uses (_build/.jupyter_cache, filled
    by book/_ext/execute.py, which `make test` and `make html` run first): a chapter is not executed a
    second time. A chapter missing from the cache (pytest run alone) is executed here, into that cache."""
    execute = execution_cache
    nb = execute.cached_notebook(ch.path)
    if nb is None and os.environ.get("BOOK_EXECUTED"):  # make test executed it just before: it failed
        tb = execute.stored_failure(ch.path) or "(see the output of book/_ext/execute.py above)"
        pytest.fail(f"{ch.path.name} failed when `make test` executed it:\n{tb}", pytrace=False)
    if nb is None:
        threads = 1 if os.environ.get("PYTEST_XDIST_WORKER") else None  # xdist: one chapter per core
        (outcome,) = execute.run([ch.path], jobs=1, check_package=False, log=lambda msg: None, threads=threads)
        if outcome.status == "failed":
            pytest.fail(outcome.message, pytrace=False)
        nb = execute.cached_notebook(ch.path)
    problems = execute.output_problems(nb)
    if problems:
        pytest.fail(f"{ch.path.name}:\n  " + "\n  ".join(problems), pytrace=False)
