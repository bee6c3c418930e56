"""The report's sections: each ``build_<section>(context) -> dict`` gives the section's numbers and
sentences, and its ``blocks`` (headings, captions, tables, figures) for the template."""

from __future__ import annotations

from collections.abc import Callable

from planktonlm.report.context import Context
from planktonlm.report.sections.community import build_diversity, build_ordination, build_otus
from planktonlm.report.sections.comparison import build_comparison
from planktonlm.report.sections.cruise import build_cruise, build_environment, build_read_accounting
from planktonlm.report.sections.dbrda import build_dbrda
from planktonlm.report.sections.overview import build_overview
from planktonlm.report.sections.predictions import build_importances, build_predictions
from planktonlm.report.sections.provenance import build_provenance
from planktonlm.report.sections.season import build_season
from planktonlm.report.sections.timeseries import build_timeseries
from planktonlm.report.sections.training import build_training

#: section id -> (title, builder), in page order (the ids are a contract: tests and links rely on them)
SECTIONS: dict[str, tuple[str, Callable[[Context], dict]]] = {
    "overview": ("Overview and key findings", build_overview),
    "cruise": ("The cruise: where and when", build_cruise),
    "environment": ("Environment over time", build_environment),
    "read-accounting": ("Read accounting (quality control)", build_read_accounting),
    "training": ("Training the DNA encoder", build_training),
    "diversity": ("Alpha diversity over time", build_diversity),
    "ordination": ("Community composition (PCoA)", build_ordination),
    "otus": ("Most variable OTUs over time", build_otus),
    "dbrda": ("Which variables structure the community (dbRDA)", build_dbrda),
    "predictions": ("Predicting the environment from the community", build_predictions),
    "importances": ("Which OTUs carry the signal", build_importances),
    "season": ("The season as a baseline", build_season),
    "timeseries": ("Time series", build_timeseries),
    "comparison": ("Embedding OTUs versus the k-mer baseline", build_comparison),
    "provenance": ("Provenance", build_provenance),
}
SECTION_IDS = tuple(SECTIONS)
SECTION_TITLES = {section_id: title for section_id, (title, _) in SECTIONS.items()}
