"""Local Sphinx extension of the book.

1. LaTeX macros are defined once, in book/macros.tex, and fed both to MathJax and to the LaTeX preamble.
2. ``{formula-index}`` renders the table of every labelled formula with its chapter and status, each
   row a link target (``{ref}`text <eq-...>``` from the chapters) and each number a link to the formula.
"""
from __future__ import annotations

import pathlib
import re
import sys

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from dlmath.book import sources as formulas  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
MACRO_RE = re.compile(r"^\\newcommand\{\\(\w+)\}(?:\[(\d)\])?\{(.*)\}\s*(%.*)?$")


def read_macros(path: pathlib.Path) -> dict:
    macros = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        m = MACRO_RE.match(line)
        if not m:
            raise ValueError(f"{path}: cannot read macro line {line!r}; use \\newcommand{{\\name}}[n]{{body}}")
        name, nargs, body = m.group(1), m.group(2), m.group(3)
        macros[name] = [body, int(nargs)] if nargs else body
    return macros


def on_config_inited(app, config):
    macro_file = REPO / "book" / "macros.tex"
    macros = read_macros(macro_file)
    mj = dict(config.mathjax3_config or {})
    tex = dict(mj.get("tex", {}))
    tex["macros"] = {**tex.get("macros", {}), **macros}
    mj["tex"] = tex
    mj.setdefault("options", {})
    config.mathjax3_config = mj
    elements = dict(config.latex_elements or {})
    preamble = elements.get("preamble", "")
    own = (REPO / "book" / "_ext" / "preamble.tex").read_text()
    elements["preamble"] = preamble + "\n" + own + "\n" + macro_file.read_text()
    config.latex_elements = elements


STATUS_WORDS = {"defined": "defined", "verified": "verified by SymPy", "checked": "checked against the code",
                "cited": "cited"}


def run_time_records(repo: pathlib.Path = REPO) -> dict:
    """label -> the record that the chapter's last cell (``finish()``) wrote when the chapter ran."""
    import json

    out = {}
    for f in sorted((repo / "_build" / "formulas").glob("*.json")):
        data = json.loads(f.read_text())
        for rec in data["formulas"]:
            out[rec["label"]] = rec
    return out


def _implementation_link(dotted: str) -> str:
    """``dlmath.layers.activations.sigmoid_forward`` -> the source file path and the object name."""
    parts = dotted.split(".")
    for k in range(len(parts) - 1, 0, -1):
        path = REPO / "code" / pathlib.Path(*parts[:k]).with_suffix(".py")
        if path.exists():
            return f"`{'.'.join(parts[k:])}` in `code/{'/'.join(parts[:k])}.py`"
    return f"`{dotted}`"


class FormulaIndex(SphinxDirective):
    """The formula sheet: every labelled formula in reading order, rendered, with the status its chapter
    recorded at run time (defined / verified / checked / cited), tied or the untied reason, the scope,
    and the package function implementing it. Each entry is a link target for the chapter's status line."""

    has_content = False

    def run(self):
        records = run_time_records()
        rows, labels = [], []
        for ch in formulas.chapters(REPO, extra=sorted(self.env.found_docs)):
            if ch.docname not in self.env.found_docs or not ch.labels:
                continue
            rows += [f"```{{rubric}} {ch.title}", "```", ""]
            for eq in ch.equations:
                if not eq.label:
                    continue
                labels.append(eq.label)
                rec = records.get(eq.label)
                if rec is None:
                    line = "**not bound at run time** (the chapter has not run, or its last cell did not record it)"
                else:
                    tie = "tied to the display" if rec["tied"] else f"untied: {rec['untied']}"
                    bits = [f"**{STATUS_WORDS[rec['status']]}**", tie]
                    if rec.get("scope"):
                        bits.append(f"scope: {rec['scope']}")
                    if rec.get("citation"):
                        bits.append(f"{{cite:p}}`{rec['citation']}`")
                    if rec.get("implements"):
                        bits.append("implemented by " + _implementation_link(rec["implements"]))
                    line = "; ".join(bits)
                tex = "\n".join("  " + ln for ln in eq.tex.splitlines())
                rows += [f"`{eq.label}` ({{eq}}`{eq.label}`)", "", "```{math}", tex, "```", "", line, ""]
        if not labels:
            return [nodes.paragraph(text="No labelled formulas yet.")]
        node = nodes.container()
        self.state.nested_parse(StringList(rows, source="formula-index"), self.content_offset, node)
        # Make each label a target named after the label, so that a chapter's status line links here
        # with {ref}`Formula index <eq-...>` (a name in the std domain; the equation is in the math domain).
        for literal in list(node.findall(nodes.literal)):
            label = literal.astext()
            if label in labels and isinstance(literal.parent, nodes.paragraph):
                target = nodes.target("", "", ids=["formula-" + label], names=[label])
                literal.parent.insert(0, target)
                self.state.document.note_explicit_target(target, target)
        return node.children


def read_index_last(app, env, docnames):
    """The index shows what the chapters recorded when they ran: read it after them."""
    for d in [d for d in docnames if d.endswith("formula-index")]:
        docnames.remove(d)
        docnames.append(d)


def on_env_get_outdated(app, env, added, changed, removed):
    # The index depends on every chapter's source: rebuild it whenever anything is read.
    return [d for d in env.found_docs if d.endswith("formula-index")]


def dedupe_scripts(app, pagename, templatename, context, doctree):
    """sphinx-thebe registers its inline configuration script twice under Sphinx 7, which declares
    ``const THEBE_JS_URL`` twice: a script error on every page. Keep the first of identical scripts."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def _docname_of(env, node, parent_tag=None):
    """The document a node comes from, also inside the single LaTeX document.

    sphinx-proof 0.4 looks for a section whose names contain the page title; in the assembled LaTeX
    tree that search fails and it writes ``\\label{None:thm-...}`` and unnumbered theorems, so every
    {prf:ref} is an undefined reference in the PDF. In the assembled tree the sections of each page
    (or Sphinx's ``start_of_file`` wrapper) carry the page's docname: use the nearest one.
    """
    from sphinx import addnodes

    while node is not None:
        # Sphinx's start_of_file wrappers, or the sections that carry the docname of their page
        if isinstance(node, (addnodes.start_of_file, nodes.section)) and node.attributes.get("docname"):
            return node["docname"]
        node = node.parent
    return env.config.root_doc  # the root page is not wrapped


def patch_sphinx_proof():
    import sphinx_proof.nodes as proof_nodes

    proof_nodes.find_parent = _docname_of


LATEX_PART_PREFIX = re.compile(r"^Part [IVXLC]+,\s*")


def _parts_for_latex(tree, root_doc):
    """Turn the captions of the root page's toctrees (the parts of _toc.yml) into LaTeX structure.

    Sphinx's LaTeX writer drops toctree captions (and names the table of contents after the first
    one). Before the pages are inlined, put ``\\part{...}`` before each part, start the numbered
    chapters with ``\\mainmatter`` (the introduction stays unnumbered front matter, as on the site)
    and the unnumbered appendices with ``\\backmatter``.
    """
    from sphinx import addnodes

    first = True
    for toctree in list(tree.findall(addnodes.toctree)):
        caption = toctree.get("caption")
        if not caption:
            continue
        title = LATEX_PART_PREFIX.sub("", caption)
        if toctree.get("numbered"):
            tex = ("\\mainmatter\n" if first else "") + f"\\part{{{title}}}\n"
            first = False
        else:
            tex = (f"\\backmatter\n\\setcounter{{secnumdepth}}{{-1}}\n"
                   f"\\cleardoublepage\\phantomsection\\part*{{{title}}}\n"
                   f"\\addcontentsline{{toc}}{{part}}{{{title}}}\n")
        toctree["caption"] = None
        # the toctree sits in a compound wrapper: insert before the wrapper
        holder = toctree.parent if isinstance(toctree.parent, nodes.compound) else toctree
        holder.parent.insert(holder.parent.index(holder), nodes.raw("", tex, format="latex"))
    tree.insert(0, nodes.raw("", "\\frontmatter\n", format="latex"))


def patch_latex_parts():
    import sphinx.builders.latex as latex_builder

    original = latex_builder.inline_all_toctrees

    def inline_with_parts(builder, docnameset, docname, tree, *args, **kwargs):
        if docname == builder.config.root_doc:
            _parts_for_latex(tree, docname)
        return original(builder, docnameset, docname, tree, *args, **kwargs)

    latex_builder.inline_all_toctrees = inline_with_parts


def setup(app):
    patch_sphinx_proof()
    patch_latex_parts()
    app.connect("html-page-context", dedupe_scripts, priority=999)
    app.connect("config-inited", on_config_inited)
    app.connect("env-get-outdated", on_env_get_outdated)
    app.connect("env-before-read-docs", read_index_last)
    app.add_directive("formula-index", FormulaIndex)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
