"""CONTRACT SHIM, replaced by the `minhash` branch at merge: the MinHash API the dedup phase calls.

Only the config and the signature of ``minhash_clusters`` as agreed in the dedup contract
(/work/prompts/dedup_contract.md), so the `dedup` branch imports and configures; the real module
(RefinedWeb App. G.3.1, 450 bands x 20 rows on Ray) comes from the `minhash` branch. Tests replace
``minhash_clusters`` with an exact-Jaccard placeholder (tests/dedup/placeholder.py) through
$REFINEDWEB_MINHASH_STANDIN (tests/conftest.py), which CLI subprocesses inherit.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import pyarrow as pa

from refinedweb.config import check

CONTRACT_SHIM = True


@dataclass(frozen=True)
class MinHashConfig:
    """Fuzzy deduplication with MinHash LSH (RefinedWeb App. G.3.1)."""

    enabled: bool = True
    """Run MinHash deduplication."""
    ngram: int = 5
    """Word n-gram size of the shingles (App. G.3.1: 5)."""
    bands: int = 450
    """LSH bands (App. G.3.1: 450)."""
    rows_per_band: int = 20
    """Hashes per band (App. G.3.1: 20; 450 x 20 = 9,000 hashes)."""
    seed: int = 1
    """Seed of the hash functions."""

    def __post_init__(self) -> None:
        check(self.ngram >= 1, "ngram", "must be >= 1")
        check(self.bands >= 1, "bands", "must be >= 1")
        check(self.rows_per_band >= 1, "rows_per_band", "must be >= 1")


def minhash_clusters(paths: list[str], cfg: MinHashConfig, workers: int) -> pa.Table:
    """Documents in duplicate clusters of size >= 2: file, row, id, cluster, keep (see the contract)."""
    stand_in = os.environ.get("REFINEDWEB_MINHASH_STANDIN")  # "module:function", set by the tests only
    if stand_in:
        module, name = stand_in.split(":")
        return getattr(importlib.import_module(module), name)(paths, cfg, workers)
    raise NotImplementedError("the MinHash module lands with the `minhash` branch")
