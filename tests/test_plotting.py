"""The house style: colour-blind-safe cycle, figure sizes in text widths, vector-friendly fonts."""
import matplotlib

matplotlib.use("Agg")  # tests only; the book's notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dlmath.book import plotting  # noqa: E402


def test_use_style_sets_the_palette_and_readable_fonts():
    plotting.use_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == [plotting.PALETTE["blue"], plotting.PALETTE["vermillion"], plotting.PALETTE["green"]]
    assert len(set(cycle)) == len(cycle) == 8
    assert matplotlib.rcParams["font.size"] >= 9
    assert matplotlib.rcParams["pdf.fonttype"] == 42  # TrueType in the PDF: text stays text


@pytest.mark.parametrize("ncols,nrows,width", [(1, 1, 1.0), (3, 1, 1.0), (2, 2, 0.5)])
def test_new_figure_size_follows_the_text_width(ncols, nrows, width):
    fig, axes = plotting.new_figure(ncols=ncols, nrows=nrows, width=width)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(plotting.TEXT_WIDTH_IN * width)
    assert h == pytest.approx(w * 0.62 * nrows / ncols)
    assert len(fig.axes) == ncols * nrows
    plt.close(fig)


def test_new_figure_rejects_empty_grids():
    with pytest.raises(ValueError, match="positive"):
        plotting.new_figure(ncols=0)


def test_label_lines_places_text_at_the_line():
    fig, ax = plotting.new_figure()
    (line,) = ax.plot([0, 1, 2], [0, 1, 4])
    plotting.label_lines(ax, [(line, "square")], x=1.1)
    texts = [t for t in ax.texts if t.get_text() == "square"]
    assert len(texts) == 1 and texts[0].xy == (1, 1)
    plt.close(fig)
