"""The HTML report: one self-contained file a marine ecologist can read.

:func:`render_report` turns a :class:`ReportInputs` (tables and dicts from every stage) into one
HTML page: inline CSS, every figure a base64 PNG data URI, no script, no external link. Each
section is a ``<section id=...>`` with an ``<h2>`` (the ids are a contract, see
``SECTION_IDS``); an input that was not given makes its section say "not available for this
run" instead of failing. The same inputs give a byte-identical page.

    inputs.py     ReportConfig, ReportInputs, reading stage outputs and the report rule's inputs
    context.py    the inputs checked and normalised once (sample order, series colours, tables)
    format.py     number formats, wording of p-values, the page's blocks (tables as data)
    selection.py  which rows a section shows (primary profile, metric and model; shared columns)
    figures.py    the figure style, Figure -> embedded PNG, shared drawing helpers
    sections/     one ``build_<section>(context) -> dict`` per section, ``plot_<name>`` per figure
    render.py     the sections rendered by ``templates/report.html.j2`` (Jinja2, autoescaped)
"""

from __future__ import annotations

from planktonlm.report.format import NO_DATES, NO_SERIES
from planktonlm.report.inputs import ReportConfig, ReportInputs, inputs_from_results, load_report_inputs
from planktonlm.report.render import build_sections, render_report, write_report
from planktonlm.report.sections import SECTION_IDS, SECTION_TITLES

__all__ = [
    "NO_DATES", "NO_SERIES", "SECTION_IDS", "SECTION_TITLES", "ReportConfig", "ReportInputs", "build_sections",
    "inputs_from_results", "load_report_inputs", "render_report", "write_report",
]

