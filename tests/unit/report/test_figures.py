"""planktonlm.report.figures: a Figure -> an embedded, stamp-free PNG."""

from __future__ import annotations

import base64

from planktonlm.report.figures import embed, grid, new_figure, png, style


def _figure():
    with style():
        fig, axes = new_figure(30, 3.0, 2.0, 1, 2)
        axes[0].plot([0, 1], [1, 0])
    return fig, axes


def test_figure_is_a_png_without_software_stamp_and_same_bytes_twice():
    fig, axes = _figure()
    assert len(axes) == 2
    data = png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"Software" not in data and b"matplotlib" not in data
    assert png(_figure()[0]) == data
    block = embed(_figure()[0], "A line", "The <b>line</b>")
    assert block["alt"] == "A line" and str(block["caption"]) == "The <b>line</b>"
    assert base64.b64decode(block["src"].removeprefix("data:image/png;base64,")) == data


def test_grid_fills_rows_of_at_most_ncols():
    assert grid(7, 3) == (3, 3) and grid(2, 3) == (1, 2) and grid(1, 4) == (1, 1)
