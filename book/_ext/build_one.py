"""Build one chapter strictly, alone, into its own folder: for writing a chapter without building the book.

    python book/_ext/build_one.py book/part1/ch01-linear-algebra.md [--pdf]

The chapter executes with one BLAS thread (as each chapter of `make html` on two cores), so that its time
is what one core gives. The chapter is the root page; notation, formula index and bibliography come with it. The output and
the execution cache go to _build/one/<slug>/ so that several chapters can be built at once. The chapter
executes first through book/_ext/execute.py, as in `make html`: a change in code/ or in the chapter's
display formulas runs it again, and a failing cell stops here with the cell and its traceback.
"""
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


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
    cmd = [str(jb), "build", str(REPO), "--toc", str(toc), "--path-output", str(out), "-W", "-n", "--keep-going"]
    if "--pdf" in argv:
        cmd += ["--builder", "pdflatex"]
    print(" ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
