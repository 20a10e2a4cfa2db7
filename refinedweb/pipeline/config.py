"""A refinery run's config: one section per component, mapped one to one from ``configs/refinedweb.yaml``.

Each section's class lives with its component (filters/, pipeline/, dedup/, core/output.py); this
module composes them and owns the runner's own settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from refinedweb.config import check, load_yaml, to_dict
from refinedweb.core.output import OutputConfig
from refinedweb.core.storage import StorageConfig
from refinedweb.dedup.config import DedupConfig
from refinedweb.filters.language import LanguageConfig
from refinedweb.filters.lines import LinesConfig
from refinedweb.filters.pii import PiiConfig
from refinedweb.filters.quality import QualityConfig
from refinedweb.filters.repetition import RepetitionConfig
from refinedweb.filters.url import UrlFilterConfig
from refinedweb.pipeline.extract import ExtractConfig
from refinedweb.pipeline.sources import SourcesConfig
from refinedweb.pipeline.warc import ReaderConfig


@dataclass(frozen=True)
class RunnerConfig:
    """How the per-document stages are spread over Ray."""

    workers: int = 2
    """Refining actors (one CPU each); `--workers` overrides. Locally, also the Ray instance's CPUs."""
    batch_size: int = 64
    """Documents per map_batches call: large enough to amortise the call, small enough to balance."""
    block_mb: int = 16
    """Ray Data's target block size; smaller blocks spread one big input file over several actors."""
    reader_cpus: float = 0.0
    """CPUs reserved per reading task; 0 lets reading overlap refining (it costs ~5% of extraction)."""
    readers: int = 0
    """Files read at once (0: one per 8 workers). Files finish in about the order they are read, so
    this bounds what the driver holds (the kept rows of the files in flight) and lets resume skip
    whole files early in a run. One reader outpaces ~50 refining actors on local disk."""
    files_per_worker: int = 2
    """With at least this many input files per worker, each actor reads and refines whole files,
    the next one to the first free actor (no Ray Data: nothing but results crosses the object
    store); with fewer, a Ray Data plan streams files as blocks that spread over every actor. 0
    always streams."""
    local_single_worker: bool = True
    """With one worker and no ``--address``, refine in this process without starting Ray (the same
    reader and stages; Ray's start-up would cost more than refining a small input)."""

    file_tries: int = 2
    """Tries of an input file that fails to read (cannot be opened, a 404, an unreadable stream)
    before it is quarantined: listed in stats.json and skipped by resumes (sources.py already
    retries each HTTP request; a second try here covers a fault of the file's whole read)."""

    def reader_count(self, workers: int) -> int:
        return self.readers or max(1, workers // 8)

    def __post_init__(self) -> None:
        check(self.workers >= 1, "workers", f"must be >= 1, got {self.workers}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.block_mb >= 1, "block_mb", "must be >= 1")
        check(self.reader_cpus >= 0, "reader_cpus", "must be >= 0")
        check(self.readers >= 0, "readers", "must be >= 0")
        check(self.files_per_worker >= 0, "files_per_worker", "must be >= 0")
        check(1 <= self.file_tries <= 10, "file_tries", f"must be in [1, 10], got {self.file_tries}")


@dataclass(frozen=True)
class PipelineConfig:
    """One refinery run: a section per component, the paper's numbers as defaults."""

    sources: SourcesConfig = field(default_factory=SourcesConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    url_filter: UrlFilterConfig = field(default_factory=UrlFilterConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    repetition: RepetitionConfig = field(default_factory=RepetitionConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    lines: LinesConfig = field(default_factory=LinesConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)


NOT_OUTPUT = ("runner", "sources", "storage", "output.report", "reader.batch_size", "reader.max_batch_bytes")
"""Settings a resumed run may change: how the work is spread (runner), how inputs are fetched
(sources) and object storage reached (storage), the HTML report, and the reader's block sizes
(rows are put back in input order)."""


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys: ``{"quality": {"min_words": 50}}`` -> ``{"quality.min_words": 50}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def output_changes(old: dict[str, Any], new: PipelineConfig) -> list[str]:
    """``field: old -> new`` for each setting that changes the output between a folder's config.json and ``new``.

    Resuming into a folder made with another config would keep its shards and stats while
    config.json claims the new one; a key only one side has counts as changed.
    """
    a, b = _flatten(old), _flatten(json.loads(json.dumps(to_dict(new))))
    show = lambda d, k: repr(d[k]) if k in d else "(none)"
    changed = [k for k in sorted(set(a) | set(b)) if k not in a or k not in b or a[k] != b[k]]
    return [f"{k}: {show(a, k)} -> {show(b, k)}" for k in changed
            if not any(k == n or k.startswith(n + ".") for n in NOT_OUTPUT)]


def load_config(path: str) -> PipelineConfig:
    """``configs/refinedweb.yaml`` (or any YAML of the same shape) onto ``PipelineConfig``."""
    return load_yaml(path, PipelineConfig)
