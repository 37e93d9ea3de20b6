"""The formula contract, second version, held to its promise: the formula on the page is the one checked.

* Every chapter recorded, when it last ran, exactly its displayed labels (the run-time registry is the
  truth: a call in a comment or in dead code counts for nothing), each with a status, and every untied
  display with a reason.
* At least 80% of the book's displays are tied, and every single-line scalar identity or inequality.
* Mutations of displayed LaTeX (a sign, a digit, a fraction, an exponent), drawn with a fixed seed from
  every chapter, make the chapter's checks fail with a message naming the label.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import random
import re
import shutil

import pytest

from dlmath.book import sources

REPO = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = [c for c in sources.chapters(REPO) if re.match(r"ch\d+-", pathlib.Path(c.docname).name)]
IDS = [pathlib.Path(c.docname).name for c in CHAPTERS]
RECORDS = REPO / "_build" / "formulas"


def _record(ch):
    path = RECORDS / f"{ch.slug}.json"
    if not path.exists():
        pytest.fail(f"{ch.path.name} has no run-time record {path.relative_to(REPO)}: the chapter has not been "
                    f"executed (make test and make html execute it), or its last cell does not call finish()")
    data = json.loads(path.read_text())
    shown = hashlib.sha256("\n".join(e.tex for e in ch.equations).encode()).hexdigest()[:16]
    if data["displays_sha"] != shown:
        pytest.fail(f"{ch.path.name}: its displays changed since it last ran; its checks have not seen them")
    return data


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_the_run_time_registry_is_exactly_the_displayed_labels(ch):
    data = _record(ch)
    recorded = [r["label"] for r in data["formulas"]]
    assert recorded == ch.labels, f"{ch.path.name}: recorded {recorded} but displays {ch.labels}"
    for r in data["formulas"]:
        assert r["status"] in {"defined", "verified", "checked", "cited"}, r
        assert r["tied"] or len(r["untied"]) >= 8, f"{r['label']} is untied without a reason"


def _single_line_scalar(tex: str) -> bool:
    """A one-line display of scalars that states a relation: the kind that must be tied."""
    if "\n" in tex.strip() or "aligned" in tex or "cases" in tex or "matrix" in tex:
        return False
    if re.search(r"\\(vect|mat|sum|prod|int|lim|E|text|dots|ldots|cdots|in|to|approx|nabla|pd|partial)\b", tex):
        return False
    return bool(re.search(r"=|\\le|\\ge|<|>", tex))


def test_the_tie_rate_and_every_scalar_identity():
    total = tied = 0
    must, missing = 0, []
    for ch in CHAPTERS:
        recs = {r["label"]: r for r in _record(ch)["formulas"]}
        for eq in ch.equations:
            r = recs[eq.label]
            total += 1
            tied += bool(r["tied"])
            if _single_line_scalar(eq.tex) and r["status"] != "cited":
                must += 1
                if not r["tied"]:
                    missing.append(eq.label)
    assert total and tied / total >= 0.80, f"{tied} of {total} displays tied ({tied / total:.0%}); the contract asks 80%"
    assert not missing, f"single-line scalar identities or inequalities not tied: {missing}"


# ------------------------------------------------------------------------------------ mutations
def _mutations(tex: str):
    """Candidate one-token mutations of a display: (kind, mutated LaTeX)."""
    out = []
    for m in re.finditer(r"(?<=[^\\{_^(\s])\s*([+-])\s*(?=[^=])", tex):
        sign = "-" if m.group(1) == "+" else "+"
        out.append(("sign", tex[:m.start(1)] + sign + tex[m.end(1):]))
    for m in re.finditer(r"(?<![_{\\A-Za-z])([2-9])(?![0-9}])", tex):
        out.append(("digit", tex[:m.start(1)] + str(int(m.group(1)) + 1) + tex[m.end(1):]))
    for m in re.finditer(r"\\[td]?frac\{?(\d)\}?\{?(\d)\}?", tex):
        a, b = m.group(1), m.group(2)
        if a != b:
            out.append(("fraction", tex[:m.start()] + f"\\frac{{{b}}}{{{a}}}" + tex[m.end():]))
    for m in re.finditer(r"\^\{?(2|3)\}?", tex):
        out.append(("exponent", tex[:m.start()] + f"^{{{int(m.group(1)) + 1}}}" + tex[m.end():]))
    return out


def _sample(seed=20261126, per_chapter=3):
    rng = random.Random(seed)
    picks = []
    for ch in CHAPTERS:
        recs = {r["label"]: r for r in _record(ch)["formulas"]} if (RECORDS / f"{ch.slug}.json").exists() else {}
        tied = [e for e in ch.equations if recs.get(e.label, {}).get("tied") and _mutations(e.tex)]
        for eq in rng.sample(tied, min(per_chapter, len(tied))):
            kind, mutated = rng.choice(_mutations(eq.tex))
            picks.append((ch, eq, kind, mutated))
    return picks


def _execute_mutated(tmp_path, ch, mutants):
    """Execute a copy of the chapter with the mutated displays; map label -> error text of its cell."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    root = tmp_path / "book-copy"
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("_build", "_site_extra"))
    for f in ("_toc.yml", "_config.yml"):
        shutil.copy(REPO / f, root / f)
    path = root / ch.path.relative_to(REPO)
    text = path.read_text()
    for eq, _kind, mutated in mutants:
        assert eq.tex in text
        text = text.replace(eq.tex, mutated, 1)
    path.write_text(text)
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"{out.get('ename')}: {out.get('evalue')}")
    return errors


SAMPLE = _sample() if all((RECORDS / f"{c.slug}.json").exists() for c in CHAPTERS) else []


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_mutated_displays_fail_their_chapter(ch, tmp_path):
    mutants = [(eq, kind, m) for c, eq, kind, m in SAMPLE if c.docname == ch.docname]
    if not SAMPLE:
        pytest.fail("the chapters have no run-time records yet: execute them first (make test does)")
    if not mutants:
        pytest.fail(f"{ch.path.name}: no tied display with a mutable token")
    errors = _execute_mutated(tmp_path, ch, mutants)
    survived = [(eq.label, kind) for eq, kind, _ in mutants if not any(eq.label in e for e in errors)]
    report = pathlib.Path(REPO / "_build" / "mutation")
    report.mkdir(parents=True, exist_ok=True)
    (report / f"{ch.slug}.json").write_text(json.dumps(
        {"mutants": [(eq.label, kind, m) for eq, kind, m in mutants], "survived": survived}, indent=1))
    assert not survived, f"{ch.path.name}: mutated displays whose checks still pass: {survived}"
