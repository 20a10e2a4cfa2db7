"""The refinery as a list: RefinedWeb's MacroData Refinement stages in the paper's order.

RefinedWeb Fig. 2 / §3: URL filtering, text extraction, language identification, repetition
removal, document-wise quality filtering, line-wise corrections; deduplication follows over all
shards of a run (refinedweb/dedup/). The run's config is ``pipeline/config.py``'s ``PipelineConfig``.
"""

from __future__ import annotations

from typing import Protocol

from refinedweb.core.stage import Stage
from refinedweb.filters.language import LanguageConfig, LanguageFilter
from refinedweb.filters.lines import LineFilter, LinesConfig
from refinedweb.filters.pii import PiiAnonymizer, PiiConfig
from refinedweb.filters.quality import QualityConfig, QualityFilter
from refinedweb.filters.repetition import RepetitionConfig, RepetitionFilter
from refinedweb.filters.url import UrlFilter, UrlFilterConfig
from refinedweb.pipeline.extract import ExtractConfig, Extractor


class StageConfigs(Protocol):
    """The sections of a run's config that configure the per-document stages (``PipelineConfig`` has them)."""

    url_filter: UrlFilterConfig
    extract: ExtractConfig
    language: LanguageConfig
    repetition: RepetitionConfig
    quality: QualityConfig
    lines: LinesConfig
    pii: PiiConfig


def build_stages(cfg: StageConfigs) -> list[Stage]:
    """The per-document stages in RefinedWeb's order; switched-off ones are left out."""
    stages: list[Stage] = []
    if cfg.url_filter.enabled:
        stages.append(UrlFilter(cfg.url_filter))
    language = LanguageFilter(cfg.language) if cfg.language.enabled else None
    screen = language.make_screen() if language is not None else None  # drops are the language stage's
    stages.append(Extractor(cfg.extract, screen))  # always: HTML -> text (switched off, only WET text goes on)
    if language is not None:
        stages.append(language)
    if cfg.repetition.enabled:
        stages.append(RepetitionFilter(cfg.repetition))
    if cfg.quality.enabled:
        stages.append(QualityFilter(cfg.quality, cfg.language.languages if cfg.language.enabled else ()))
    if cfg.lines.enabled:
        stages.append(LineFilter(cfg.lines))
    if cfg.pii.enabled:
        stages.append(PiiAnonymizer(cfg.pii))  # last before dedup: pages differing only in an address still deduplicate
    return stages
