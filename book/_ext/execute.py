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

The Makefile runs it before ``make html``, ``make pdf`` and ``make test``; ``tests/test_book.py`` uses
:func:`cached_notebook` and :func:`output_problems` to check the cached outputs.
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


def check_code(build_dir: pathlib.Path, repo: pathlib.Path = REPO, log=print) -> bool:
    """When code/ changed: clear the execution cache and Sphinx's saved environment. True if cleared."""
    stamp = build_dir / CODE_HASH_FILE
    h = code_hash(repo)
    with locked(build_dir):
        old = stamp.read_text().strip() if stamp.exists() else None
        if old == h:
            return False
        log("code/ changed: clearing the execution cache and the saved environment")
        for sub in (".jupyter_cache", ".doctrees"):
            shutil.rmtree(build_dir / sub, ignore_errors=True)
        stamp.write_text(h + "\n")
    return True


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


def run(pages=None, build_dir: pathlib.Path = REPO / "_build", jobs: int = 2, repo: pathlib.Path = REPO,
        log=print, check_package: bool = True, threads: int | None = None) -> list[Outcome]:
    """Invalidate, execute every chapter missing from the cache (``jobs`` at a time), check all outputs.

    ``threads``: BLAS threads per chapter (default: the cores shared among the jobs; a value already
    set in the environment wins).
    """
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.cache.db import NbProjectRecord

    build_dir = pathlib.Path(build_dir)
    if check_package:
        check_code(build_dir, repo, log)
    st = settings(repo)
    pages = [pathlib.Path(p).resolve() for p in (pages or chapter_pages(repo))]
    cache = _cache(build_dir)
    notebooks = {p: read_notebook(p, st) for p in pages}
    docname = {p: p.relative_to(repo).with_suffix("").as_posix() for p in pages}
    current = [(docname[p], r) for p in pages if (r := _record_for(cache, notebooks[p][0])) is not None]
    invalidate_displays(pages, build_dir, repo, log, extra_records=current)

    state = load_state(build_dir)
    todo = [p for p in pages if _record_for(cache, notebooks[p][0]) is None]
    todo.sort(key=lambda p: -state.get(docname[p], {}).get("seconds", p.stat().st_size / 2000))
    outcomes = {p: Outcome(p, "cached") for p in pages if p not in todo}
    timings = {}
    if todo:
        log(f"executing {len(todo)} of {len(pages)} chapters, {min(jobs, len(todo))} at a time: "
            + ", ".join(p.name for p in todo))
    start = time.perf_counter()
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(todo) or 1)))
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo) or 1)), mp_context=ctx) as pool:
        futures = {}
        for p in todo:
            nb, read_fmt = notebooks[p]
            # as MyST-NB does: register the file in the cache's project, then execute in its folder
            stage = cache.add_nb_to_project(os.path.abspath(p), read_data=read_fmt) if read_fmt \
                else cache.add_nb_to_project(os.path.abspath(p))
            NbProjectRecord.remove_tracebacks([stage.pk], cache.db)
            cwd = p.parent
            futures[pool.submit(_execute_worker, nb, str(cwd), st.timeout, st.allow_errors, threads)] = (p, stage)
        for fut in cf.as_completed(futures):
            p, stage = futures[fut]
            rel = p.relative_to(repo)
            try:
                nb, seconds, err = fut.result()
            except Exception:  # the worker itself broke (kernel failed to start, ...)
                outcomes[p] = Outcome(p, "failed", 0.0, f"{rel}: could not be executed:\n{traceback.format_exc()}")
                log(outcomes[p].message)
                continue
            if err is not None:
                i, line = _failed_cell(nb)
                where = f"cell {i + 1}, line {line}" if i is not None else "a cell"
                NbProjectRecord.set_traceback(stage.uri, err, cache.db)
                outcomes[p] = Outcome(p, "failed", seconds, f"{rel}: {where} failed:\n{err}")
                log(f"FAILED {rel} ({seconds:.1f} s), {where}:\n{err}")
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nb, stage.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            timings[docname[p]] = round(seconds, 2)
            outcomes[p] = Outcome(p, "executed", seconds)
            log(f"executed {rel} in {seconds:.1f} s")
    if timings:  # the run times order the next run, longest first
        with locked(build_dir):
            fresh = load_state(build_dir)
            for doc, seconds in timings.items():
                fresh.setdefault(doc, {})["seconds"] = seconds
            save_state(build_dir, fresh)
    if todo:
        log(f"executed in {time.perf_counter() - start:.1f} s of wall time")
    # check every chapter's outputs, cached or fresh, as the strict build does
    for p in pages:
        if outcomes[p].status == "failed":
            continue
        merged = cached_notebook(p, build_dir, st)
        problems = output_problems(merged) if merged is not None else ["not in the cache after execution"]
        if problems:
            outcomes[p] = Outcome(p, "failed", outcomes[p].seconds,
                                  f"{p.relative_to(repo)}:\n  " + "\n  ".join(problems))
            log(outcomes[p].message)
    return [outcomes[p] for p in pages]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", help="chapter files (default: every notebook page of _toc.yml)")
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("BOOK_JOBS", "2")),
                    help="chapters executed at a time (default 2, or $BOOK_JOBS)")
    ap.add_argument("--build-dir", default=str(REPO / "_build"), help="the build folder (default _build)")
    ap.add_argument("--check-only", action="store_true",
                    help="only invalidate (code and display changes), execute nothing")
    args = ap.parse_args(argv)
    build_dir = pathlib.Path(args.build_dir)
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
