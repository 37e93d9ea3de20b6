"""Draw a computation graph recorded by ``Value`` or ``Tensor`` with matplotlib (chapter 8; book machinery).

Nodes are placed in columns by depth (the length of the longest path from an input), so every arrow
points to the right; within a column nodes are ordered by the mean height of their parents, which
keeps crossings few on small graphs. Each box shows the node's name or operation, its value and its
gradient. No graphviz: only matplotlib and NumPy.
"""
from __future__ import annotations

import numpy as np

from dlmath.autograd.scalar import topological_order

__all__ = ["draw_graph", "graph_layout"]


def graph_layout(root):
    """Nodes in topological order, and a dict id(node) -> (column, row) for drawing.

    A computed node sits one column right of its rightmost parent; an input sits one column left of
    its leftmost user, so that constants used late do not send long arrows across the picture.
    In each column the inputs come first (top), then the computed nodes ordered by their parents' rows.
    """
    order = topological_order(root)
    depth, users = {}, {}
    for node in order:  # parents come first, so their depths are known
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents), default=-1)
        for p in node.parents:
            users.setdefault(id(p), []).append(node)
    for node in order:
        if not node.parents and id(node) in users:
            depth[id(node)] = min(depth[id(u)] for u in users[id(node)]) - 1
    columns = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    pos = {}
    for d in sorted(columns):
        leaves = [n for n in columns[d] if not n.parents]
        inner = sorted((n for n in columns[d] if n.parents),
                       key=lambda n: -np.mean([pos[id(p)][1] for p in n.parents]))
        nodes = leaves + inner
        k = len(nodes)
        for i, node in enumerate(nodes):
            pos[id(node)] = (d, (k - 1) / 2 - i)
    return order, pos


def _fmt(x):
    if x is None:
        return "None"
    a = np.asarray(x, dtype=float)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]):.4g}"
    return "shape " + "x".join(str(n) for n in a.shape)


def _text(node):
    name = node.label or node.op or "input"
    if node.label and node.op:
        name = f"{node.label} = {node.op}"
    return f"{name}\nvalue {_fmt(node.data)}\ngrad {_fmt(node.grad)}"


def draw_graph(root, ax=None, dx=1.6, dy=1.0, fontsize=8, colors=("#E8F1F8", "#FCEBDC")):
    """Draw the graph ending in ``root`` on ``ax`` (a new axes if None) and return the axes.

    Inputs (leaves) are shaded with ``colors[0]``, computed nodes with ``colors[1]``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    order, pos = graph_layout(root)
    boxes = {}
    for node in order:
        c, r = pos[id(node)]
        face = colors[0] if not node.parents else colors[1]
        boxes[id(node)] = ax.text(c * dx, r * dy, _text(node), ha="center", va="center", fontsize=fontsize,
                                  bbox=dict(boxstyle="round,pad=0.35", fc=face, ec="0.35", lw=0.8), zorder=3)
    for node in order:
        for p in node.parents:
            ax.annotate("", xy=(pos[id(node)][0] * dx, pos[id(node)][1] * dy),
                        xytext=(pos[id(p)][0] * dx, pos[id(p)][1] * dy),
                        arrowprops=dict(arrowstyle="-|>", color="0.3", lw=0.9, shrinkA=0, shrinkB=0,
                                        patchA=boxes[id(p)].get_bbox_patch(),
                                        patchB=boxes[id(node)].get_bbox_patch()),
                        zorder=4)  # after the boxes: their patches have their final size
    cols = [v[0] for v in pos.values()]
    rows = [v[1] for v in pos.values()]
    ax.set_xlim((min(cols) - 0.5) * dx, (max(cols) + 0.5) * dx)
    ax.set_ylim((min(rows) - 0.6) * dy, (max(rows) + 0.6) * dy)
    ax.set_axis_off()
    return ax
