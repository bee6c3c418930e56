"""Fixtures of the report tests: the synthetic inputs, and contexts built from them."""

from __future__ import annotations

import pytest

from planktonlm.report.context import Context, build_context
from planktonlm.report.figures import style

from .synthetic import COMPACT, synthetic_inputs


@pytest.fixture(scope="package")
def context() -> Context:
    """The context of the full synthetic inputs under the compact config (read-only in tests)."""
    return build_context(synthetic_inputs(), COMPACT)


@pytest.fixture
def build():
    """``build(section_builder, inputs=None, config=COMPACT)`` -> the section's dict."""
    def run(builder, inputs=None, config=COMPACT):
        with style():
            return builder(build_context(inputs if inputs is not None else synthetic_inputs(), config))
    return run
