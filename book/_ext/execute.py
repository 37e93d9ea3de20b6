"""Execute the book's chapters once, in parallel, into the execution cache that the book build reads.

    python book/_ext/execute.py [--jobs N] [--build-dir _build] [book/partN/chNN-slug.md ...]

MyST-NB (``execute_notebooks: cache``) executes a chapter while Sphinx reads it, one chapter after the
other, and stores the executed notebook in jupyter-cache (``_build/.jupyter_cache``), keyed by a hash of
the code cells and the kernelspec. This script fills that same cache before the build, the way MyST-NB
would (same reader and configuration, same cache key, same execution function, same record), but with
several chapters at a time: the build then finds every chapter in the cache ("Using cached notebook")
and the tests read the cached outputs instead of executing the chapters a second time.

Before executing it invalidates what jupyter-cache cannot see:

* a change in ``code/`` (any ``*.py``) clears the whole cache and Sphinx's saved environment
  (``_build/.code-hash``; the package can change any chapter);
* a change in a chapter's display formulas (their LaTeX and labels) or in ``book/macros.tex`` removes
  that chapter's cached execution (``_build/.chapter-state.json``): the chapter's checks read its displays
  at run time, but jupyter-cache hashes only the code cells.

Then every chapter without a cached execution runs, ``--jobs`` at a time (default 2), longest first (by
its last run time). A failing cell fails with the chapter, the cell, its line and the traceback. Last,
every chapter's executed outputs are checked as the strict build checks them: no error output, no
traceback inside an output, nothing written to stderr. Exit status 1 if any chapter failed.

``make test`` runs it before pytest; ``tests/test_book.py`` reads the cached outputs through
:func:`cached_notebook` and :func:`output_problems`. It is also a Sphinx extension (listed in
_config.yml): in ``make html`` / ``make pdf`` (and a plain ``jupyter-book build``) the missing chapters
execute in parallel while Sphinx reads the other pages (:func:`on_env_before_read_docs`). ``make
cache-check`` (``--check-only``), which the build targets run first, does the invalidation alone.
``--times`` prints the chapters' last execution times.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses as dc
import fcntl
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import sys
import time
import traceback

REPO = pathlib.Path(__file__).resolve().parents[2]
STATE_FILE = ".chapter-state.json"
CODE_HASH_FILE = ".code-hash"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ----------------------------------------------------------------------------- configuration
@dc.dataclass
class Settings:
    """What MyST-NB uses to read and execute a notebook, from the book's Sphinx configuration."""

    md_config: object
    nb_config: object
    timeout: int | None
    allow_errors: bool
    in_temp: bool


@functools.lru_cache(maxsize=None)
def settings(repo: pathlib.Path = REPO) -> Settings:
    """The MyST and MyST-NB configuration of the build, computed by Jupyter Book from _config.yml."""
    from jupyter_book.config import get_final_config
    from myst_nb.core.config import NbParserConfig
    from myst_parser.config.main import MdParserConfig

    cfg, *_ = get_final_config(user_yaml=repo / "_config.yml", sourcedir=repo,
                               cli_config={"latex_individualpages": False})
    md_fields = {f.name for f in dc.fields(MdParserConfig)}
    md = MdParserConfig(**{k[5:]: (set(v) if k == "myst_enable_extensions" else v)
                           for k, v in cfg.items() if k.startswith("myst_") and k[5:] in md_fields})
    nb_fields = {f.name for f in dc.fields(NbParserConfig)}
    nb = NbParserConfig(**{k[3:]: v for k, v in cfg.items() if k.startswith("nb_") and k[3:] in nb_fields})
    if nb.execution_mode != "cache":
        raise SystemExit(f"execute.py fills the jupyter-cache; _config.yml has execute_notebooks: {nb.execution_mode}")
    return Settings(md, nb, nb.execution_timeout, nb.execution_allow_errors, nb.execution_in_temp)


def _code_on_path(repo: pathlib.Path) -> None:
    """Import the repository's own dlmath (a clone's, not another checkout's editable install)."""
    code = str(pathlib.Path(repo) / "code")
    if (pathlib.Path(repo) / "code" / "dlmath").is_dir() and code not in sys.path:
        sys.path.insert(0, code)


def chapter_pages(repo: pathlib.Path = REPO) -> list[pathlib.Path]:
    """The pages of _toc.yml that are MyST notebooks (they have a kernelspec), in toc order."""
    from myst_nb.core.read import is_myst_markdown_notebook

    _code_on_path(repo)
    from dlmath.book import sources

    pages = [repo / (d + ".md") for d in sources.toc_docnames(repo)]
    return [p for p in pages if p.exists() and is_myst_markdown_notebook(p.read_text(encoding="utf8"))]


def read_notebook(path: pathlib.Path, st: Settings):
    """The notebook MyST-NB reads from ``path`` (same reader, configuration and kernel aliasing)."""
    from myst_nb.core.read import create_nb_reader

    text = path.read_text(encoding="utf8")
    uri = os.path.abspath(path)
    reader = create_nb_reader(uri, st.md_config, st.nb_config, text)
    if reader is None:
        raise ValueError(f"{path} is not a MyST notebook")
    nb = reader.read(text)
    name = nb.metadata.get("kernelspec", {}).get("name")
    for rgx, alias in (st.nb_config.kernel_rgx_aliases or {}).items():
        if name is not None and re.fullmatch(rgx, name):
            nb.metadata["kernelspec"]["name"] = alias
            break
    return nb, reader.read_fmt


def _cache(build_dir: pathlib.Path):
    from jupyter_cache import get_cache

    return get_cache(str((build_dir / ".jupyter_cache").resolve()))


def _record_for(cache, nb):
    try:
        return cache.match_cache_notebook(nb)
    except KeyError:
        return None


# ----------------------------------------------------------------------------- invalidation
@contextlib.contextmanager
def locked(build_dir: pathlib.Path):
    """One invalidation at a time per build folder (pytest-xdist workers, two make runs)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".execute.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def code_hash(repo: pathlib.Path = REPO) -> str:
    """The same hash as the Makefile's former shell recipe: every code/**/*.py, in path order."""
    files = sorted(str(p.relative_to(repo)) for p in (repo / "code").rglob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update((repo / f).read_bytes())
    return h.hexdigest()[:16]


def check_code(build_dir: pathlib.Path, repo: pathlib.Path = REPO, log=print, doctrees: bool = True) -> bool:
    """When code/ changed: clear the execution cache and (``doctrees``) Sphinx's saved environment.

    True if cleared. Inside a running Sphinx build the environment is already loaded: there the
    chapters are marked outdated instead (:func:`on_env_get_outdated`)."""
    stamp = build_dir / CODE_HASH_FILE
    h = code_hash(repo)
    with locked(build_dir):
        old = stamp.read_text().strip() if stamp.exists() else None
        if old == h:
            return False
        log("code/ changed: clearing the execution cache" + (" and the saved environment" if doctrees else ""))
        for sub in (".jupyter_cache", ".doctrees") if doctrees else (".jupyter_cache",):
            shutil.rmtree(build_dir / sub, ignore_errors=True)
        stamp.write_text(h + "\n")
    return True


def prepare(build_dir: pathlib.Path, repo: pathlib.Path = REPO, log=print) -> None:
    """Check code/ and create the cache once, before several processes (pytest-xdist workers) use it."""
    check_code(build_dir, repo, log)
    with locked(build_dir):
        _cache(build_dir)


def display_hash(path: pathlib.Path, docname: str, repo: pathlib.Path = REPO) -> str:
    """A hash of what the chapter's checks read from outside its code cells: its displays, labels, macros."""
    _code_on_path(repo)
    from dlmath.book import sources

    ch = sources.parse(path, docname)
    h = hashlib.sha256()
    for eq in ch.equations:
        h.update(f"{eq.label}\0{eq.tex}\0".encode())
    macros = repo / "book" / "macros.tex"
    if macros.exists():
        h.update(macros.read_bytes())
    return h.hexdigest()[:16]


def invalidate(records, docname_of_uri, changed: set[str]) -> list:
    """The cache records to remove: every record of a chapter whose displays changed.

    ``records``: jupyter-cache records (``.pk``, ``.uri``); ``docname_of_uri``: uri -> docname or None;
    ``changed``: the docnames whose display hash changed. Pure, so that it can be tested on fake records.
    """
    return [r for r in records if docname_of_uri(r.uri) in changed]


def load_state(build_dir: pathlib.Path) -> dict:
    try:
        return json.loads((build_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def save_state(build_dir: pathlib.Path, state: dict) -> None:
    tmp = build_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(build_dir / STATE_FILE)


def invalidate_displays(pages, build_dir: pathlib.Path, repo: pathlib.Path = REPO, log=print,
                        extra_records=()) -> list[str]:
    """Remove the cached execution of each chapter whose displays changed since it was last seen.

    A chapter seen for the first time (no saved hash) counts as changed: a cached execution of it may
    predate its displays. ``extra_records``: (docname, record) pairs matched by the current notebook
    hash (whatever their uri), also removed. Returns the docnames whose cached execution was removed.
    """
    repo = pathlib.Path(repo).resolve()
    docs = {os.path.abspath(p): pathlib.Path(p).resolve().relative_to(repo).with_suffix("").as_posix()
            for p in pages}
    hashes = {doc: display_hash(pathlib.Path(uri), doc, repo) for uri, doc in docs.items()}
    with locked(build_dir):
        state = load_state(build_dir)
        changed = {doc for doc, h in hashes.items() if state.get(doc, {}).get("displays") != h}
        removed = set()
        if changed and (build_dir / ".jupyter_cache").exists():
            cache = _cache(build_dir)
            stale = invalidate(cache.list_cache_records(), docs.get, changed)
            pks = {r.pk for r in stale}
            stale += [r for doc, r in extra_records if doc in changed and r.pk not in pks]
            for r in stale:
                with contextlib.suppress(KeyError):
                    cache.remove_cache(r.pk)
                removed.add(docs.get(r.uri) or next((d for d, x in extra_records if x.pk == r.pk), r.uri))
        for doc in changed:
            state.setdefault(doc, {})["displays"] = hashes[doc]
        save_state(build_dir, state)
    for doc in sorted(removed):
        log(f"{doc}: its display formulas changed: its cached execution is removed, it runs again")
    return sorted(removed)


# ----------------------------------------------------------------------------- execution
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _execute_worker(nb, cwd: str, timeout, allow_errors, threads: int | None = None):
    """In a worker process: execute the notebook as MyST-NB does. Returns (nb, seconds, error text).

    ``threads``: BLAS threads of the kernel (it inherits this process's environment), so that chapters
    running side by side do not each start one BLAS thread per core.
    """
    from jupyter_cache.executors.utils import single_nb_execution

    if threads:
        for var in BLAS_THREADS:
            os.environ.setdefault(var, str(threads))

    result = single_nb_execution(nb, cwd=cwd, allow_errors=allow_errors, timeout=timeout, meta_override=True)
    err = None
    if result.err is not None:
        err = ANSI.sub("", str(result.err))
    return result.nb, result.time, err


def _failed_cell(nb):
    """Index (among all cells) and source line of the cell that raised, or (None, None)."""
    source_map = nb.metadata.get("source_map") or []
    for i, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, (source_map[i] + 1 if i < len(source_map) else None)
    return None, None


def output_problems(nb) -> list[str]:
    """What fails the strict build in an executed notebook's outputs: errors, tracebacks, stderr."""
    problems = []
    source_map = nb.metadata.get("source_map") or []
    for i, cell in enumerate(nb.cells):
        where = f"cell {i + 1}" + (f" (line {source_map[i] + 1})" if i < len(source_map) else "")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{where} raised {out.get('ename')}: {out.get('evalue')}")
                continue
            text = "".join(out.get("text", "")) + "".join(str(v) for v in out.get("data", {}).values())
            if "Traceback (most recent call last)" in text or "Error in callback" in text:
                problems.append(f"{where}: an output holds a traceback (a figure or display that failed): "
                                f"{ANSI.sub('', text)[:500]}")
            if out.get("name") == "stderr":
                problems.append(f"{where} wrote to stderr (the strict build fails on it): "
                                f"{ANSI.sub('', ''.join(out.get('text', '')))[:500]}")
    return problems


def cached_notebook(path: pathlib.Path, build_dir: pathlib.Path | None = None, st: Settings | None = None):
    """The executed notebook of a chapter from the cache, merged as MyST-NB merges it; None if not cached."""
    build_dir = build_dir or REPO / "_build"
    st = st or settings()
    nb, _ = read_notebook(path, st)
    cache = _cache(build_dir)
    if _record_for(cache, nb) is None:
        return None
    _, merged = cache.merge_match_into_notebook(nb)
    return merged


def stored_failure(path: pathlib.Path, build_dir: pathlib.Path | None = None) -> str | None:
    """The traceback stored when the chapter last failed to execute (None if it did not fail)."""
    build_dir = build_dir or REPO / "_build"
    if not (build_dir / ".jupyter_cache").exists():
        return None
    try:
        record = _cache(build_dir).get_project_record(os.path.abspath(path))
    except KeyError:
        return None
    return record.traceback or None


@dc.dataclass
class Outcome:
    page: pathlib.Path
    status: str  # "cached", "executed", "failed"
    seconds: float = 0.0
    message: str = ""


def _schedule(pages, seconds: dict, jobs: int):
    """Longest first on ``jobs`` workers; returns (submission order, expected completion order)."""
    order = sorted(pages, key=lambda p: -seconds[p])
    free, done = [0.0] * max(1, jobs), []
    for p in order:
        k = free.index(min(free))
        free[k] += seconds[p]
        done.append((free[k], p))
    return order, [p for _, p in sorted(done, key=lambda x: x[0])]


class Execution:
    """The chapters missing from the cache, executing in the background ``jobs`` at a time.

    Each executed notebook is stored in the cache (in this process) when :meth:`result` collects it.
    """

    def __init__(self, pages, build_dir: pathlib.Path, st: Settings, jobs: int = 2, repo: pathlib.Path = REPO,
                 log=print, threads: int | None = None):
        self.repo, self.build_dir, self.st, self.log = pathlib.Path(repo).resolve(), pathlib.Path(build_dir), st, log
        self.pages = [pathlib.Path(p).resolve() for p in pages]
        self.cache = _cache(self.build_dir)
        self.notebooks = {p: read_notebook(p, st) for p in self.pages}
        self.docname = {p: p.relative_to(self.repo).with_suffix("").as_posix() for p in self.pages}
        current = [(self.docname[p], r) for p in self.pages
                   if (r := _record_for(self.cache, self.notebooks[p][0])) is not None]
        invalidate_displays(self.pages, self.build_dir, self.repo, log, extra_records=current)
        state = load_state(self.build_dir)
        todo = [p for p in self.pages if _record_for(self.cache, self.notebooks[p][0]) is None]
        guess = {p: state.get(self.docname[p], {}).get("seconds", p.stat().st_size / 2000) for p in todo}
        self.jobs = max(1, min(jobs, len(todo) or 1))
        self.todo, self.completion_order = _schedule(todo, guess, self.jobs)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.outcomes = {p: Outcome(p, "cached") for p in self.pages if p not in todo}
        self.futures, self.pool, self.started = {}, None, None

    def start(self):
        from jupyter_cache.cache.db import NbProjectRecord

        if not self.todo:
            return self
        self.log(f"executing {len(self.todo)} of {len(self.pages)} chapters, {self.jobs} at a time: "
                 + ", ".join(p.name for p in self.todo))
        self.started = time.perf_counter()
        self.pool = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"))
        for p in self.todo:
            nb, read_fmt = self.notebooks[p]
            # as MyST-NB does: register the file in the cache's project, then execute it in its folder
            stage = self.cache.add_nb_to_project(os.path.abspath(p), read_data=read_fmt) if read_fmt \
                else self.cache.add_nb_to_project(os.path.abspath(p))
            NbProjectRecord.remove_tracebacks([stage.pk], self.cache.db)
            fut = self.pool.submit(_execute_worker, nb, str(p.parent), self.st.timeout, self.st.allow_errors,
                                   self.threads)
            self.futures[p] = (fut, stage)
        return self

    def pending(self, page) -> bool:
        return pathlib.Path(page).resolve() in self.futures and pathlib.Path(page).resolve() not in self.outcomes

    def result(self, page) -> Outcome:
        """Wait for the chapter, store its execution in the cache, and say how it went."""
        from jupyter_cache.base import CacheBundleIn
        from jupyter_cache.cache.db import NbProjectRecord

        p = pathlib.Path(page).resolve()
        if p in self.outcomes:
            return self.outcomes[p]
        fut, stage = self.futures[p]
        rel = p.relative_to(self.repo)
        try:
            nb, seconds, err = fut.result()
        except Exception:  # the worker itself broke (a kernel that does not start, ...)
            out = Outcome(p, "failed", 0.0, f"{rel}: could not be executed:\n{traceback.format_exc()}")
            self.log(out.message)
        else:
            if err is not None:
                i, line = _failed_cell(nb)
                where = f"cell {i + 1}, line {line}" if i is not None else "a cell"
                NbProjectRecord.set_traceback(stage.uri, err, self.cache.db)
                out = Outcome(p, "failed", seconds, f"{rel}: {where} failed ({seconds:.1f} s):\n{err}")
                self.log(f"FAILED {out.message}")
            else:
                self.cache.cache_notebook_bundle(
                    CacheBundleIn(nb, stage.uri, data={"execution_seconds": seconds}),
                    check_validity=False, overwrite=True)
                out = Outcome(p, "executed", seconds)
                with locked(self.build_dir):  # the run times order the next run, longest first
                    state = load_state(self.build_dir)
                    state.setdefault(self.docname[p], {})["seconds"] = round(seconds, 2)
                    save_state(self.build_dir, state)
                note = " (over the one-minute budget of a chapter)" if seconds > 60 else ""
                self.log(f"executed {rel} in {seconds:.1f} s{note}")
        self.outcomes[p] = out
        return out

    def results(self):
        """Every chapter's outcome, collecting the executions as they complete."""
        by_future = {fut: p for p, (fut, _) in self.futures.items()}
        for fut in cf.as_completed(by_future):
            self.result(by_future[fut])
        self.close()
        return [self.outcomes[p] for p in self.pages]

    def abort(self):
        """Start nothing more; keep what finished (in the cache), wait for what runs."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for p, (fut, _) in self.futures.items():
            if fut.done() and not fut.cancelled() and p not in self.outcomes:
                self.result(p)
        self.close()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
            self.log(f"executed in {time.perf_counter() - self.started:.1f} s of wall time")


def run(pages=None, build_dir: pathlib.Path = REPO / "_build", jobs: int = 2, repo: pathlib.Path = REPO,
        log=print, check_package: bool = True, threads: int | None = None) -> list[Outcome]:
    """Invalidate, execute every chapter missing from the cache (``jobs`` at a time), check all outputs.

    ``threads``: BLAS threads per chapter (default: the cores shared among the jobs; a value already
    set in the environment wins).
    """
    build_dir = pathlib.Path(build_dir)
    if check_package:
        check_code(build_dir, repo, log)
    st = settings(repo)
    pages = [pathlib.Path(p).resolve() for p in (pages or chapter_pages(repo))]
    outcomes = Execution(pages, build_dir, st, jobs, repo, log, threads).start().results()
    # check every chapter's outputs, cached or fresh, as the strict build does
    for k, o in enumerate(outcomes):
        if o.status == "failed":
            continue
        merged = cached_notebook(o.page, build_dir, st)
        problems = output_problems(merged) if merged is not None else ["not in the cache after execution"]
        if problems:
            outcomes[k] = Outcome(o.page, "failed", o.seconds,
                                  f"{o.page.relative_to(pathlib.Path(repo).resolve())}:\n  " + "\n  ".join(problems))
            log(outcomes[k].message)
    return outcomes


# ----------------------------------------------------------------------------- Sphinx
# The same, inside `jupyter-book build` (the extension is listed in _config.yml): chapters without a
# cached execution start executing in parallel before Sphinx reads the first page, Sphinx reads the
# other pages meanwhile, and waits for a chapter only when it comes to read it. So a plain
# `jupyter-book build .` (and build_one.py) also invalidates on code and display changes and executes
# in parallel; under `make html` the Makefile has already invalidated.
_EXECUTIONS = {}


def _sphinx_settings(env) -> Settings | None:
    nb = getattr(env, "mystnb_config", None)
    if nb is None or nb.execution_mode != "cache" or nb.execution_in_temp or not nb.execution_cache_path:
        return None  # MyST-NB executes, as configured
    return Settings(env.myst_config, nb, nb.execution_timeout, nb.execution_allow_errors, nb.execution_in_temp)


def _notebook_pages(env, docnames) -> dict:
    from myst_nb.core.read import is_myst_markdown_notebook

    out = {}
    for d in docnames:
        path = pathlib.Path(env.doc2path(d))
        if path.suffix == ".md" and path.is_file() and is_myst_markdown_notebook(path.read_text(encoding="utf8")):
            out[d] = path
    return out


def _logger():
    from sphinx.util import logging

    return logging.getLogger("execute").info


def on_env_get_outdated(app, env, added, changed, removed):
    """Invalidate (code/, displays), and re-read the unchanged chapters whose cached execution is gone."""
    st = _sphinx_settings(env)
    if st is None:
        return []
    build_dir, repo, log = pathlib.Path(st.nb_config.execution_cache_path).parent, pathlib.Path(app.srcdir), _logger()
    check_code(build_dir, repo, log, doctrees=False)
    pages = _notebook_pages(env, sorted(env.found_docs))
    invalidate_displays(list(pages.values()), build_dir, repo, log)
    cache = _cache(build_dir)
    return [d for d, p in pages.items() if d not in added and d not in changed
            and _record_for(cache, read_notebook(p, st)[0]) is None]


def on_env_before_read_docs(app, env, docnames):
    """Start the missing executions; read the other pages first, the chapters in order of completion."""
    st = _sphinx_settings(env)
    if st is None:
        return
    pages = _notebook_pages(env, docnames)
    if not pages:
        return
    build_dir = pathlib.Path(st.nb_config.execution_cache_path).parent
    ex = Execution(list(pages.values()), build_dir, st, int(os.environ.get("BOOK_JOBS", "2")),
                   pathlib.Path(app.srcdir), _logger()).start()
    _EXECUTIONS[id(app)] = ex
    rank = {p: k for k, p in enumerate(ex.completion_order)}
    key = {d: (0, 0) if d not in pages else (1, rank.get(pages[d].resolve(), -1)) for d in docnames}
    docnames.sort(key=lambda d: key[d])  # stable: the other pages keep their order


def on_source_read(app, docname, source):
    ex = _EXECUTIONS.get(id(app))
    if ex is None:
        return
    path = pathlib.Path(app.env.doc2path(docname))
    if ex.pending(path):
        outcome = ex.result(path)
        if outcome.status == "failed":
            ex.abort()
            from sphinx.errors import ExtensionError

            raise ExtensionError(f"a chapter failed to execute: {outcome.message}")


def on_build_finished(app, exception):
    ex = _EXECUTIONS.pop(id(app), None)
    if ex is not None:
        ex.abort() if exception else ex.close()


def setup(app):
    app.connect("env-get-outdated", on_env_get_outdated)
    app.connect("env-before-read-docs", on_env_before_read_docs, priority=400)  # before dlbook's ordering
    app.connect("source-read", on_source_read)
    app.connect("build-finished", on_build_finished)
    return {"version": "0.1", "parallel_read_safe": False, "parallel_write_safe": True}


def report_times(build_dir: pathlib.Path, jobs: int) -> int:
    """The last execution time of each chapter (one chapter per core), and what a cold build spends."""
    state = load_state(build_dir)
    pages = chapter_pages()
    seconds = {}
    for p in pages:
        doc = p.relative_to(REPO).with_suffix("").as_posix()
        t = state.get(doc, {}).get("seconds")
        print(f"{t if t is not None else '?':>8} s  {doc}" + ("   over the one-minute budget" if t and t > 60 else ""))
        if t is not None:
            seconds[p] = t
    if seconds:
        order, _ = _schedule(list(seconds), seconds, jobs)
        free = [0.0] * max(1, jobs)
        for p in order:
            free[free.index(min(free))] += seconds[p]
        print(f"{sum(seconds.values()):8.1f} s  executing {len(seconds)} chapters one after the other")
        print(f"{max(free):8.1f} s  executing them {jobs} at a time, longest first (the cold build adds Sphinx)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", help="chapter files (default: every notebook page of _toc.yml)")
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("BOOK_JOBS", "2")),
                    help="chapters executed at a time (default 2, or $BOOK_JOBS)")
    ap.add_argument("--build-dir", default=str(REPO / "_build"), help="the build folder (default _build)")
    ap.add_argument("--check-only", action="store_true",
                    help="only invalidate (code and display changes), execute nothing")
    ap.add_argument("--times", action="store_true",
                    help="print each chapter's last execution time and the execution part of a cold build")
    args = ap.parse_args(argv)
    build_dir = pathlib.Path(args.build_dir)
    if args.times:
        return report_times(build_dir, args.jobs)
    if args.check_only:
        check_code(build_dir)
        pages = [pathlib.Path(p).resolve() for p in args.pages] or chapter_pages()
        invalidate_displays(pages, build_dir)
        return 0
    outcomes = run(args.pages or None, build_dir, args.jobs)
    failed = [o for o in outcomes if o.status == "failed"]
    done = [o for o in outcomes if o.status == "executed"]
    print(f"chapters: {len(done)} executed, {sum(o.status == 'cached' for o in outcomes)} cached, "
          f"{len(failed)} failed")
    if failed:
        print("\n".join(["", "FAILED:"] + [str(o.page.relative_to(REPO)) for o in failed]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
