"""Every filter's threshold rules by stage: the signals the report draws, their bins and directions.

Each rule is declared once, in its filter's table (``core.stage.Rule``). The core may not import the
filters (layering), so each stage hands the executor its own histogram specs; the report, a phase,
reads them all from here, with the side of each threshold that is dropped.
"""

from __future__ import annotations

from refinedweb.core.histogram import SignalSpec
from refinedweb.core.stage import DocumentFilter, Rule, histogram_specs
from refinedweb.filters.language import LanguageFilter
from refinedweb.filters.lines import LineFilter
from refinedweb.filters.quality import QualityFilter
from refinedweb.filters.repetition import RepetitionFilter
from refinedweb.filters.url import UrlFilter

FILTERS: tuple[type[DocumentFilter], ...] = (UrlFilter, LanguageFilter, RepetitionFilter, QualityFilter, LineFilter)
TABLES: dict[str, tuple[Rule, ...]] = {f.name: f.rules for f in FILTERS}
SIGNALS: dict[str, SignalSpec] = {s: spec for name, rules in TABLES.items() for s, spec in histogram_specs(name, rules).items()}
RULES_BY_FIELD: dict[str, Rule] = {f"{name}.{r.field}": r for name, rules in TABLES.items() for r in rules}


def drops_below(field: str) -> bool:
    """True when the rule of the dotted config field (``quality.min_words``) drops documents below it."""
    rule = RULES_BY_FIELD.get(field)
    return rule is not None and rule.drops_below
