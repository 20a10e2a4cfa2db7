"""The `dedup:` section of the pipeline config: one sub-section per kind, all on by default.

RefinedWeb §3.3 / Fig. 2 deduplicates fuzzily (MinHash), then exactly (substrings), then by URL;
the phase runs them in that order over every shard of a run (refinedweb/dedup/phase.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from refinedweb.config import ConfigError
from refinedweb.dedup.exact import ExactConfig
from refinedweb.dedup.minhash import MinHashConfig
from refinedweb.dedup.urls import UrlDedupConfig

KINDS = ("minhash", "exact", "url")


@dataclass(frozen=True)
class DedupConfig:
    """Deduplication over all shards of a run (RefinedWeb App. G.3); each kind has `enabled`."""

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    """Fuzzy deduplication, MinHash LSH (App. G.3.1)."""
    exact: ExactConfig = field(default_factory=ExactConfig)
    """Exact-substring deduplication with a suffix array (App. G.3.2)."""
    url: UrlDedupConfig = field(default_factory=UrlDedupConfig)
    """URL deduplication across the run's inputs (§3.3)."""

    def enabled_kinds(self) -> list[str]:
        return [k for k in KINDS if getattr(self, k).enabled]

    def with_kinds(self, kinds: list[str]) -> "DedupConfig":
        """This config with exactly ``kinds`` switched on (``--kind``); an unknown kind is an error."""
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"--kind: unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
        return replace(self, **{k: replace(getattr(self, k), enabled=k in kinds) for k in KINDS})
