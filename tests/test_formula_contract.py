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


# Single-line displays of scalar relations that state no identity or inequality to check, each with why.
NOT_A_CLAIM = {
    "eq-activations-xor-system": "the four hypotheses of a proof by contradiction: no weights satisfy them "
                                 "together, so there is nothing true to check; the cell checks each against "
                                 "the classifier instead",
}


def test_the_tie_rate_and_every_scalar_identity():
    total = tied = 0
    must, missing = 0, []
    for ch in CHAPTERS:
        recs = {r["label"]: r for r in _record(ch)["formulas"]}
        for eq in ch.equations:
            r = recs[eq.label]
            total += 1
            tied += bool(r["tied"])
            if _single_line_scalar(eq.tex) and r["status"] != "cited" and eq.label not in NOT_A_CLAIM:
                must += 1
                if not r["tied"]:
                    missing.append(eq.label)
    assert total and tied / total >= 0.80, f"{tied} of {total} displays tied ({tied / total:.0%}); the contract asks 80%"
    assert not missing, f"single-line scalar identities or inequalities not tied: {missing}"


# ------------------------------------------------------------------------------------ mutations
# Mutants of the seeded sample that are true statements, so that no sound check can reject them: the
# mutated display exactly as drawn, and why it is still true.
EQUIVALENT = {
    ("eq-optimization-robbins-monro", r"\sum_{k=0}^\infty \eta_k = \infty, \qquad \sum_{k=0}^\infty \eta_k^3 < \infty ,"):
        "the cubes of a square-summable sequence of steps that tends to 0 are summable too",
    ("eq-losses-shift", r"\softmax(\vect{z} - c\,\vect{1}) = \softmax(\vect{z}) \qquad \text{for every } c \in \R"):
        "c ranges over all reals, so the shift by -c states the same as the shift by +c",
}


def test_mutated_displays_fail_their_checks():
    """Each chapter's last cell mutates a seeded sample of its tied displays (a sign, a digit, a fraction,
    an exponent) and runs each one's own check on the mutated LaTeX, with the same code objects and
    notation: every mutant must fail with a message naming its label. Together at least 20 displays."""
    mutants = []
    for ch in CHAPTERS:
        mutants += [dict(m, chapter=ch.path.name) for m in _record(ch).get("mutations", [])]
    chapters = {m["chapter"] for m in mutants}
    detected = [m for m in mutants if m["verdict"] == "detected"]
    report = REPO / "_build" / "mutation-report.json"
    report.write_text(json.dumps({"mutants": len(mutants), "detected": len(detected), "by_chapter": sorted(chapters),
                                  "missed": [m for m in mutants if m["verdict"] != "detected"]}, indent=1))
    assert len(mutants) >= 20, f"only {len(mutants)} mutated displays were checked"
    assert len(chapters) >= len(CHAPTERS) - 1, f"mutants come from {sorted(chapters)} only"
    missed = [(m["label"], m["kind"], m["verdict"], m["mutated"]) for m in mutants if m["verdict"] != "detected"
              and not (m["verdict"] == "survived" and (m["label"], m["mutated"]) in EQUIVALENT)]
    assert not missed, f"{len(detected)} of {len(mutants)} mutants detected; missed: {missed}"


def test_a_mutated_display_fails_the_executed_chapter(tmp_path):
    """End to end, as a reader's typo would: a copy of a chapter with one mutated display, executed from
    the top, fails in the cell that binds it, with an error naming the label."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    ch = next(c for c in CHAPTERS if c.slug == "losses")
    eq = next(e for e in ch.equations if e.label == "eq-losses-bce-grad")
    root = tmp_path / "book-copy"
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("_build", "_site_extra"))
    for f in ("_toc.yml", "_config.yml"):
        shutil.copy(REPO / f, root / f)
    path = root / ch.path.relative_to(REPO)
    mutated = eq.tex.replace("- y", "+ y")
    assert mutated != eq.tex
    path.write_text(path.read_text().replace(eq.tex, mutated, 1))
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and "eq-losses-bce-grad" in errors[0], errors[:2]
