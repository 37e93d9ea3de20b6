"""The build's plumbing, without building: which cached chapter executions an edit invalidates
(book/_ext/execute.py), and the switch that turns a skipped PyTorch comparison into a failure
(tests/conftest.py, set by .ci/run).
"""
import pathlib
import shutil
import subprocess
import sys
import types

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Chapter {n}

Some prose.

$$
f(x) = {a} x^2
$$ (eq-c{n}-f)

```{{code-cell}} python
x = {n}
```

```{{math}}
:label: eq-c{n}-g
g(x) = 2 x
```
"""


def test_invalidate_picks_exactly_the_changed_chapters_records():
    execute = pytest.importorskip("execute")
    rec = lambda pk, uri: types.SimpleNamespace(pk=pk, uri=uri)  # noqa: E731
    records = [rec(1, "/b/ch1.md"), rec(2, "/b/ch2.md"), rec(3, "/b/ch1.md"), rec(4, "/elsewhere.md")]
    docs = {"/b/ch1.md": "book/ch1", "/b/ch2.md": "book/ch2"}
    assert [r.pk for r in execute.invalidate(records, docs.get, {"book/ch1"})] == [1, 3]
    assert [r.pk for r in execute.invalidate(records, docs.get, {"book/ch2"})] == [2]
    assert execute.invalidate(records, docs.get, set()) == []


@pytest.fixture
def small_book(tmp_path):
    """Two chapters, each with one cached execution in a real jupyter-cache, no kernel involved."""
    execute = pytest.importorskip("execute")
    pytest.importorskip("jupyter_cache")
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    repo = tmp_path / "repo"
    (repo / "book").mkdir(parents=True)
    (repo / "book" / "macros.tex").write_text("\\newcommand{\\R}{\\mathbb{R}}\n")
    pages = []
    build = repo / "_build"
    cache = get_cache(str(build / ".jupyter_cache"))
    for n in (1, 2):
        page = repo / "book" / f"ch0{n}-c{n}.md"
        page.write_text(CHAPTER.format(n=n, a=3))
        pages.append(page)
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        nb.cells = [nbformat.v4.new_code_cell(f"x = {n}", execution_count=1)]
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(page)), check_validity=False)
    # the first sighting records the display hashes (and removes the executions it cannot vouch for)
    execute.invalidate_displays(pages, build, repo, log=lambda m: None)
    for n, page in enumerate(pages, 1):  # cache them again, as a run after the first sighting would
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        nb.cells = [nbformat.v4.new_code_cell(f"x = {n}", execution_count=1)]
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(page)), check_validity=False, overwrite=True)
    return execute, repo, build, pages, cache


def _cached_uris(cache):
    return sorted(pathlib.Path(r.uri).name for r in cache.list_cache_records())


def test_an_unchanged_book_and_a_prose_edit_invalidate_nothing(small_book):
    execute, repo, build, pages, cache = small_book
    assert execute.invalidate_displays(pages, build, repo, log=lambda m: None) == []
    pages[0].write_text(pages[0].read_text().replace("Some prose.", "Other prose, same formulas."))
    assert execute.invalidate_displays(pages, build, repo, log=lambda m: None) == []
    assert _cached_uris(cache) == ["ch01-c1.md", "ch02-c2.md"]


@pytest.mark.parametrize("edit", [
    ("f(x) = 3 x^2", "f(x) = 4 x^2"),           # a $$ display
    ("g(x) = 2 x", "g(x) = 2 x + 1"),           # a {math} block
    ("(eq-c2-f)", "(eq-c2-h)"),                 # a label
])
def test_a_display_edit_invalidates_exactly_that_chapter(small_book, edit):
    execute, repo, build, pages, cache = small_book
    old, new = edit
    text = pages[1].read_text()
    assert old in text
    pages[1].write_text(text.replace(old, new))
    assert execute.invalidate_displays(pages, build, repo, log=lambda m: None) == ["book/ch02-c2"]
    assert _cached_uris(cache) == ["ch01-c1.md"]
    # and only once: the next run finds nothing changed
    assert execute.invalidate_displays(pages, build, repo, log=lambda m: None) == []


def test_a_macro_edit_invalidates_every_chapter(small_book):
    execute, repo, build, pages, cache = small_book
    (repo / "book" / "macros.tex").write_text("\\newcommand{\\R}{\\mathbf{R}}\n")
    assert execute.invalidate_displays(pages, build, repo, log=lambda m: None) == ["book/ch01-c1", "book/ch02-c2"]
    assert _cached_uris(cache) == []


def test_the_code_hash_is_the_former_shell_recipes(tmp_path):
    """book/_ext/execute.py hashes code/ exactly as the Makefile's shell recipe did, so that an existing
    _build/.code-hash stays valid."""
    execute = pytest.importorskip("execute")
    if not shutil.which("sha256sum"):
        pytest.skip("no sha256sum")
    shell = subprocess.run("find code -name '*.py' -print0 | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -c1-16",
                           shell=True, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    assert execute.code_hash(REPO) == shell


# ------------------------------------------------------------------------------ DLMATH_REQUIRE_TORCH
TORCH_TESTS = '''
import pytest

def test_torch_oracle():
    pytest.importorskip("torch.not_a_module")

def test_other_skip():
    pytest.skip("needs a GPU")

def test_plain():
    pass
'''


@pytest.mark.parametrize("require", ["", "1"])
def test_a_torch_skip_fails_when_torch_is_required(tmp_path, require):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_t.py").write_text(TORCH_TESTS)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PYTEST_", "DLMATH_"))}
    env["DLMATH_REQUIRE_TORCH"] = require
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          "-rfs", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True).stdout
    if require:
        assert "1 failed, 1 passed, 1 skipped" in out, out
        assert "DLMATH_REQUIRE_TORCH is set" in out and "torch.not_a_module" in out, out
    else:
        assert "1 passed, 2 skipped" in out, out
