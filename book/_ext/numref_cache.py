"""Build time: resolve each ``{numref}`` without unpickling the target page's whole doctree every time.

Sphinx 7's standard domain looks up the target of every numbered reference with
``env.get_doctree(docname)``, which unpickles the target page afresh on each call: a chapter's doctree
(its executed outputs included) is 200 to 400 kB, and the book has dozens of ``{numref}``, so the write
phase spent seconds unpickling the same few pages again and again. The lookup only reads the tree, so
during a build each target page is unpickled once for it. The trees that pages are written from are
untouched: ``get_and_resolve_doctree`` still gets a fresh copy.
"""
from __future__ import annotations

_TREES: dict[int, dict] = {}


def _patch():
    from sphinx.domains.std import StandardDomain

    original = StandardDomain._resolve_numref_xref
    if getattr(original, "_cached_targets", False):
        return

    def resolve_numref(self, env, *args, **kwargs):
        trees = _TREES.setdefault(id(env), {})
        fresh = env.get_doctree

        def cached(docname):
            if docname not in trees:
                trees[docname] = fresh(docname)
            return trees[docname]

        env.get_doctree = cached  # this call only: an instance attribute in front of the method
        try:
            return original(self, env, *args, **kwargs)
        finally:
            del env.get_doctree

    resolve_numref._cached_targets = True
    StandardDomain._resolve_numref_xref = resolve_numref


def _forget(app, *args):
    _TREES.pop(id(app.env), None)


def setup(app):
    _patch()
    app.connect("env-before-read-docs", lambda app, env, docnames: _forget(app))
    app.connect("build-finished", _forget)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
