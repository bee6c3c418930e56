"""planktonlm.report.render: the whole page from one template, self-contained and deterministic."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from planktonlm.report import SECTION_IDS, ReportInputs, render_report, write_report

from .synthetic import COMPACT, synthetic_inputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Structure(HTMLParser):
    """Checks tag balance and collects sections, their text, and attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: list[str] = []
        self.section_text: dict[str, list[str]] = {}
        self.section_h2: dict[str, int] = {}
        self.imgs: list[str] = []
        self.links: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._current = attrs.get("id")
            self.sections.append(self._current)
            self.section_text[self._current] = []
        if tag == "h2" and self._current:
            self.section_h2[self._current] = self.section_h2.get(self._current, 0) + 1
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "section":
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.section_text[self._current].append(data)


def parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser


def text_of(parsed: _Structure, section: str) -> str:
    return " ".join(" ".join(parsed.section_text[section]).split())


_RENDER_SCRIPT = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from report.synthetic import COMPACT, synthetic_inputs
from planktonlm.report import render_report
sys.stdout.write(hashlib.sha256(render_report(synthetic_inputs(), COMPACT).encode("utf-8")).hexdigest())
"""


@pytest.fixture(scope="module")
def compact_renders() -> tuple[str, subprocess.CompletedProcess]:
    """The compact page rendered here and, at the same time, in a fresh interpreter with another
    hash seed (so another set/dict order of strings) that shares nothing with this process."""
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    args = [sys.executable, "-c", _RENDER_SCRIPT, str(Path(__file__).parents[1])]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}) as child:
        page = render_report(synthetic_inputs(), COMPACT)
        out, err = child.communicate(timeout=300)
    return page, subprocess.CompletedProcess(args, child.returncode, out, err)


def test_page_is_balanced_self_contained_html_with_every_section_in_order(compact_renders):
    page = compact_renders[0]
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</footer></body></html>\n")
    assert parsed.errors == [] and parsed.stack == []
    assert parsed.sections == list(SECTION_IDS)
    assert all(parsed.section_h2.get(s) == 1 for s in SECTION_IDS)
    assert "not available" not in page  # every input was given
    assert 8 <= len(parsed.imgs) < 25
    for src in parsed.imgs:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)[:8] == PNG_MAGIC
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in parsed.links)
    assert not re.search(r"(?i)<(script|link)\b", page)
    assert "<title>Test cruise report</title>" in page and "PLK2021 · 30 samples · planktonlm" in page


def test_rendering_is_byte_identical_across_processes(compact_renders):
    page, other = compact_renders
    assert other.returncode == 0, other.stderr
    assert other.stdout == hashlib.sha256(page.encode("utf-8")).hexdigest()


def test_text_is_escaped_once_as_html_escape_does(tmp_path):
    inputs = synthetic_inputs()
    samples = inputs.samples.assign(cruise="R/V <Tara> & 'Co'")
    out = write_report(ReportInputs(samples=samples, title='A "quoted" <title>'), tmp_path / "r" / "report.html",
                       COMPACT)
    page = out.read_text(encoding="utf-8")
    assert "<title>A &quot;quoted&quot; &lt;title&gt;</title>" in page
    assert "R/V &lt;Tara&gt; &amp; &#x27;Co&#x27;" in page and "&amp;amp;" not in page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind


def test_missing_optional_inputs_say_not_available():
    page = render_report(ReportInputs(samples=synthetic_inputs().samples), COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    for section in ("read-accounting", "training", "diversity", "ordination", "otus", "dbrda", "predictions",
                    "importances", "season", "timeseries", "comparison", "provenance"):
        assert "not available for this run" in text_of(parsed, section), section
    assert "not available" not in text_of(parsed, "cruise") + text_of(parsed, "environment")
    assert len(parsed.imgs) == 3
