"""The house style of the book's figures.

One palette (Okabe and Ito's colour-blind-safe eight colours), sans-serif labels large enough to read
at half a page width in the PDF, thin grids, no top or right spines. ``use_style()`` is called once at
the top of each chapter; ``new_figure`` returns a figure sized for the text block. Figures stay vector
in the PDF: the book's configuration asks the notebook for SVG and PDF renderings.
"""
from __future__ import annotations

import logging

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "use_style", "new_figure", "label_lines"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
CYCLE = [PALETTE[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "yellow")]

TEXT_WIDTH_IN = 6.3  # the PDF's text block, in inches


def use_style() -> None:
    """Set matplotlib's rcParams to the house style (and vector output in the notebook)."""
    # fontTools (font subsetting for vector output) logs harmless warnings about old font timestamps
    # to stderr, which the strict build would report.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    mpl.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.prop_cycle": mpl.cycler(color=CYCLE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.6,
        "lines.linewidth": 1.8,
        "legend.frameon": False,
        "image.cmap": "viridis",
        "mathtext.fontset": "cm",
        "svg.fonttype": "path",
        "pdf.fonttype": 42,
    })
    try:  # vector figures for the site (SVG) and the PDF (PDF), when running under IPython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("svg", "pdf")
    except Exception:  # pragma: no cover - outside a notebook
        pass


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 1.0, aspect: float = 0.62, **kwargs):
    """A figure ``width`` times the text width, with ``nrows x ncols`` axes; returns ``(fig, axes)``."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"nrows and ncols must be positive, got nrows={nrows}, ncols={ncols}")
    w = TEXT_WIDTH_IN * width
    h = w * aspect * nrows / ncols
    return plt.subplots(nrows, ncols, figsize=(w, h), constrained_layout=True, **kwargs)


def label_lines(ax, lines_and_labels, x):
    """Write each line's label next to it at abscissa ``x`` (direct labels instead of a legend)."""
    for line, text in lines_and_labels:
        xs, ys = line.get_data()
        i = min(range(len(xs)), key=lambda k: abs(xs[k] - x))
        ax.annotate(text, (xs[i], ys[i]), xytext=(4, 4), textcoords="offset points", color=line.get_color(), fontsize=9)
