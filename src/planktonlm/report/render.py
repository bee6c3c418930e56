"""The page: every section built under the report's figure style, rendered by one Jinja2 template.

The template (``templates/report.html.j2``) autoescapes every value. Values are escaped the way
:func:`html.escape` does (``&quot;``/``&#x27;`` for quotes), through the environment's
``finalize``; captions that carry their own markup arrive as :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from planktonlm import __version__
from planktonlm.config import build_config
from planktonlm.io import atomic_path
from planktonlm.report.context import build_context
from planktonlm.report.figures import style
from planktonlm.report.inputs import ReportConfig, ReportInputs
from planktonlm.report.sections import SECTIONS

logger = logging.getLogger(__name__)


def _escape(value: Any) -> Any:
    """Text -> Markup escaped with ``html.escape`` (quotes included); Markup passes unchanged."""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


_ENV = Environment(loader=PackageLoader("planktonlm.report", "templates"), autoescape=True, finalize=_escape,
                   keep_trailing_newline=True, undefined=StrictUndefined)


def build_sections(inputs: ReportInputs, config: ReportConfig) -> tuple[Any, dict[str, dict]]:
    """The context and every section's dict, in page order (figures drawn in the report's style)."""
    ctx = build_context(inputs, config)
    built = {}
    with style():
        for section_id, (_, build) in SECTIONS.items():
            built[section_id] = build(ctx)
            logger.info("report: section %s (%d figures)", section_id,
                        sum(b["kind"] == "figure" for b in _walk(built[section_id]["blocks"])))
    return ctx, built


def _walk(blocks: list[dict]):
    for block in blocks:
        yield block
        if block["kind"] == "details":
            yield from _walk(block["blocks"])


def render_report(inputs: ReportInputs, config: ReportConfig | None = None) -> str:
    """The whole report as one self-contained HTML string (same inputs -> same bytes).

    ``config`` defaults to the schema's defaults of the ``report`` section.
    """
    config = config or build_config(ReportConfig, "report")
    ctx, built = build_sections(inputs, config)
    cruises = sorted(set(ctx.samples["cruise"])) if "cruise" in ctx.samples.columns else []
    subtitle = f"{', '.join(cruises) + ' · ' if cruises else ''}{len(ctx.samples)} samples · planktonlm {__version__}"
    sections = [{"id": section_id, "title": title, "blocks": built[section_id]["blocks"]}
                for section_id, (title, _) in SECTIONS.items()]
    logger.info("report: %d figures", sum(b["kind"] == "figure" for s in sections for b in _walk(s["blocks"])))
    return _ENV.get_template("report.html.j2").render(title=inputs.title or "planktonlm report", subtitle=subtitle,
                                                       sections=sections, version=__version__)


def write_report(inputs: ReportInputs, out_html: str | os.PathLike, config: ReportConfig | None = None) -> Path:
    """Render and write the report atomically; returns the path."""
    page = render_report(inputs, config)
    out = Path(out_html)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    logger.info("report: wrote %s (%.1f kB)", out, len(page.encode("utf-8")) / 1024)
    return out
