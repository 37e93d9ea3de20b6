"""Read the book's MyST sources: chapters in _toc.yml order, display equations, labels and bindings.

Used by the Sphinx extension book/_ext/dlbook.py (the formula index page), by dlmath.book.symbolic (the
formula contract reads each display from its chapter) and by tests/test_book.py (the formula
contract). Parsing is deliberately plain: fenced blocks, ``$$ ... $$ (label)`` and ``{math}``
directives with ``:label:``.
"""
from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

HELPERS = {"define": "defined", "verify": "verified", "verify_steps": "verified", "verify_true": "verified",
           "check_code": "checked"}
STATUS_WORDS = {"defined": "defined", "verified": "verified by SymPy", "checked": "checked against code"}
BIND_RE = re.compile(r"\b(" + "|".join(HELPERS) + r")\s*\(\s*[\"'](eq-[A-Za-z0-9_.:-]+)[\"']")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{([^}]+)\})?(.*)$")
CLOSE_DOLLAR_RE = re.compile(r"\$\$\s*(\((eq-[^)\s]+)\))?\s*$")
RAW_ENV_RE = re.compile(r"^\s*\\begin\{(equation|align|gather|multline|eqnarray)\*?\}")
TITLE_RE = re.compile(r"^#\s+(.*)$")


@dataclass
class Equation:
    line: int
    label: str | None
    tex: str


@dataclass
class Chapter:
    path: pathlib.Path
    docname: str
    slug: str
    title: str = ""
    equations: list = field(default_factory=list)
    code_cells: list = field(default_factory=list)
    bindings: list = field(default_factory=list)  # (helper, label)
    raw_envs: list = field(default_factory=list)  # line numbers of raw amsmath environments

    @property
    def labels(self):
        return [e.label for e in self.equations if e.label]

    def status(self, label):
        found = [HELPERS[h] for h, lab in self.bindings if lab == label]
        return found[0] if len(found) == 1 else None


def toc_docnames(repo: pathlib.Path) -> list[str]:
    """Docnames (paths without suffix, relative to the repo root) in _toc.yml order."""
    text = (repo / "_toc.yml").read_text()
    return [m.group(1) for m in re.finditer(r"^\s*(?:root|-?\s*file):\s*([^\s#]+)", text, re.M)]


def slug_of(docname: str) -> str:
    """The chapter slug used in labels: file stem without its ``chNN-`` prefix."""
    stem = pathlib.PurePosixPath(docname).name
    return re.sub(r"^ch\d+-", "", stem)


def parse(path: pathlib.Path, docname: str) -> Chapter:
    ch = Chapter(path=path, docname=docname, slug=slug_of(docname))
    lines = path.read_text().splitlines()
    i, n = 0, len(lines)
    in_front = bool(lines) and lines[0].strip() == "---"
    if in_front:
        i = 1
        while i < n and lines[i].strip() != "---":
            i += 1
        i += 1
    open_directives = []  # fences of directives whose bodies are ordinary text (prf, exercise, ...)
    while i < n:
        line = lines[i]
        m = FENCE_RE.match(line)
        if m:
            fence, directive = m.group(1), (m.group(3) or "").strip()
            if not directive and not m.group(4).strip() and open_directives \
                    and fence[0] == open_directives[-1][0] and len(fence) >= len(open_directives[-1]):
                open_directives.pop()  # the closing fence of an open directive
                i += 1
                continue
            body, j = [], i + 1
            while j < n and not (lines[j].strip().startswith(fence[0] * len(fence)) and lines[j].strip().strip(fence[0]) == ""):
                body.append(lines[j])
                j += 1
            if directive in ("code-cell",):
                ch.code_cells.append("\n".join(body))
                i = j + 1
                continue
            if directive == "math":
                label = None
                for b in body:
                    lm = re.match(r"\s*:label:\s*(\S+)", b)
                    if lm:
                        label = lm.group(1)
                tex = "\n".join(b for b in body if not re.match(r"\s*:\w+:", b))
                ch.equations.append(Equation(i + 1, label, tex.strip()))
                i = j + 1
                continue
            if not directive or directive in ("code", "code-block", "literalinclude"):
                i = j + 1  # verbatim: nothing inside counts
                continue
            # other directives (prf, exercise, admonitions): scan their bodies as ordinary text
            open_directives.append(fence)
            i += 1
            continue
        if not ch.title:
            t = TITLE_RE.match(line)
            if t:
                ch.title = t.group(1).strip()
        if RAW_ENV_RE.match(line):
            ch.raw_envs.append(i + 1)
        s = line.strip()
        if s.startswith("$$"):
            start = i
            rest = s[2:]
            m2 = CLOSE_DOLLAR_RE.search(rest) if "$$" in rest else None
            tex = []
            if m2 is not None:
                tex.append(rest[: m2.start()])
            else:
                tex.append(rest)
                i += 1
                while i < n and "$$" not in lines[i]:
                    tex.append(lines[i])
                    i += 1
                if i >= n:
                    break
                closing = lines[i].strip()
                m2 = CLOSE_DOLLAR_RE.search(closing)
                tex.append(closing[: closing.index("$$")])
            label = m2.group(2) if m2 else None
            ch.equations.append(Equation(start + 1, label, "\n".join(tex).strip()))
        i += 1
    for code in ch.code_cells:
        ch.bindings.extend(BIND_RE.findall(code))
    return ch


def chapters(repo: pathlib.Path, extra=()) -> list[Chapter]:
    """Parsed pages in _toc.yml order, then any docnames of ``extra`` not in the toc."""
    out = []
    docs = toc_docnames(repo)
    docs += [d for d in extra if d not in docs]
    for doc in docs:
        path = repo / (doc + ".md")
        if path.exists():
            out.append(parse(path, doc))
    return out
