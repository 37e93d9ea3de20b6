"""Build one chapter strictly, alone, into its own folder: for writing a chapter without building the book.

    python book/_ext/build_one.py book/part1/ch01-linear-algebra.md [--pdf]

The chapter executes with one BLAS thread (as each chapter of `make html` on two cores), so that its time
is what one core gives. The chapter is the root page; notation, formula index and bibliography come with it. The output and
the execution cache go to _build/one/<slug>/ so that several chapters can be built at once. The chapter
executes first through book/_ext/execute.py, as in `make html`: a change in code/ or in the chapter's
display formulas runs it again, and a failing cell stops here with the cell and its traceback.

The build is as strict as the book's (`-n`, every warning fails it) with one exception the single page
needs: a reference to a label that another chapter of the book defines (`{eq}`, `{ref}`, `{numref}`,
`{prf:ref}` back to an earlier chapter) cannot resolve when that chapter is not built. Such warnings are
listed and pass; a reference to a label defined nowhere in `book/` still fails, as does every other
warning.
"""
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# what Sphinx and its extensions say of a reference whose target is not in the build
MISSING_TARGET = re.compile(r"(?:equation not found|undefined label|unknown target|reference target not found|"
                            r"failed to create a cross-reference)\W+([A-Za-z0-9_:.-]+)|label '([^']+)' not found|"
                            r"unknown document: '([^']+)'")


def book_labels(skip: pathlib.Path) -> set[str]:
    """Every label a page of book/ other than `skip` defines: `(name)=` targets, `:label:`/`:name:` options and
    the `$$ (eq-name)` of a display."""
    labels = set()
    for md in (REPO / "book").rglob("*.md"):
        if md.resolve() == skip.resolve():
            continue
        text = md.read_text(encoding="utf-8")
        labels.update(re.findall(r"^\(([^()\s]+)\)=\s*$", text, flags=re.M))
        labels.update(re.findall(r"^\s*:(?:label|name):\s*(\S+)\s*$", text, flags=re.M))
        labels.update(re.findall(r"^\$\$\s*\(([^()\s]+)\)\s*$", text, flags=re.M))  # $$ (eq-label) closes a display
    return labels


def chapter_exists(line: str, doc: str) -> bool:
    """A `{doc}` target, relative to the page that the warning's line names, is a page of book/."""
    source = pathlib.Path(line.split(":", 1)[0])
    return (source.parent / (doc + ".md")).resolve().is_file()


def judge_warnings(log: str, page: pathlib.Path) -> int:
    """0 if every Sphinx warning of the log is a reference to another chapter's label, else 1."""
    others = book_labels(page)
    elsewhere, failing = [], []
    for line in ANSI.sub("", log).splitlines():
        if "WARNING:" not in line and "ERROR:" not in line or line.startswith("[IPKernelApp]"):
            continue
        hit = MISSING_TARGET.search(line)
        target = next((g for g in hit.groups() if g), "") if hit else ""
        found = target.strip("'\"") in others or (hit and hit.group(3) and chapter_exists(line, hit.group(3)))
        (elsewhere if found else failing).append(line)
    for line in elsewhere:
        print(f"passes (label defined in another chapter): {line}")
    for line in failing:
        print(f"FAILS: {line}")
    return 1 if failing else 0


def main(argv):
    if not argv or not argv[0].endswith(".md"):
        sys.exit("usage: build_one.py book/partN/chNN-slug.md [--pdf]")
    page = pathlib.Path(argv[0]).resolve().relative_to(REPO).with_suffix("")
    slug = page.name
    out = REPO / "_build" / "one" / slug
    out.mkdir(parents=True, exist_ok=True)
    toc = out / "_toc.yml"
    toc.write_text(
        "format: jb-book\n"
        f"root: {page.as_posix()}\n"
        "chapters:\n"
        "  - file: book/notation\n"
        "  - file: book/appendices/formula-index\n"
        "  - file: book/appendices/bibliography\n"
    )
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import execute

    (outcome,) = execute.run([REPO / (page.as_posix() + ".md")], build_dir=out / "_build", jobs=1, threads=1)
    if outcome.status == "failed":
        return 1
    jb = pathlib.Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(REPO), "--toc", str(toc), "--path-output", str(out), "-n", "--keep-going"]
    if "--pdf" in argv:
        cmd += ["--builder", "pdflatex"]
    print(" ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(proc.stdout, flush=True)
    return proc.returncode or judge_warnings(proc.stdout, REPO / (page.as_posix() + ".md"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
