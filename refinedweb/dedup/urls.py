"""URL deduplication across the inputs of a run: the first document with a URL is kept, later ones dropped.

RefinedWeb deduplicates URLs across the Common Crawl dumps it processed (§3.3); here across every
input of a run (or of a standalone ``refinedweb dedup``). "First" is the global (file, row) order:
files in the order the phase was given them, rows in file order. Normalisation is minimal on
purpose: only the fragment (``#...``) is stripped, since it never reaches the server; scheme, host
case, ``www.``, trailing slashes and query strings are kept, as two such URLs may serve different
pages. Documents without a URL (null or empty) are never duplicates.

Distributed as a hash shuffle: each shard maps its URLs to 128-bit keys (blake2b) and sends them by
key to ``partitions`` reducers; a reducer sorts its (key, order) pairs and reports every pair whose
key equals the previous one's. Memory: a reducer receives 24 bytes per document (two uint64 key
halves and an int64 order) and peaks at 56 more while sorting (measured with
scripts/measure_dedup_memory.py), for ``docs_per_partition`` documents at most.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from refinedweb.config import check

ROW_BITS = 32  # order = file << 32 | row: a shard holds fewer than 2**32 rows


@dataclass(frozen=True)
class UrlDedupConfig:
    """URL deduplication across a run's inputs (RefinedWeb §3.3)."""

    enabled: bool = True
    """Run URL deduplication."""
    docs_per_partition: int = 10_000_000
    """Documents per shuffle reducer at most (~80 bytes each at the reducer's peak: ~0.8 GB)."""

    def __post_init__(self) -> None:
        check(self.docs_per_partition >= 1, "docs_per_partition", f"must be >= 1, got {self.docs_per_partition}")

    def partitions(self, docs: int, workers: int) -> int:
        """Reducers for ``docs`` documents: one per worker at least, more when the cap needs it."""
        return max(1, workers, -(-docs // self.docs_per_partition))


def normalize_url(url: str | None) -> str | None:
    """The URL with its fragment stripped; None for a missing or empty URL."""
    if not url:
        return None
    url = url.split("#", 1)[0]
    return url or None


def url_keys(urls: list[str | None], rows: np.ndarray, file: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """128-bit keys (two uint64 halves) and global orders of the rows that have a URL."""
    hi, lo, order = [], [], []
    for url, row in zip(urls, rows.tolist()):
        url = normalize_url(url)
        if url is None:
            continue
        digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hi.append(int.from_bytes(digest[:8], "little"))
        lo.append(int.from_bytes(digest[8:], "little"))
        order.append((file << ROW_BITS) | row)
    return np.array(hi, np.uint64), np.array(lo, np.uint64), np.array(order, np.int64)


def partition(keys: tuple[np.ndarray, np.ndarray, np.ndarray], parts: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split keys by ``hi % parts`` (the shuffle's map side)."""
    hi, lo, order = keys
    which = hi % np.uint64(parts)
    return [(hi[m], lo[m], order[m]) for m in (which == np.uint64(p) for p in range(parts))]


def duplicates(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Orders of every document whose key came earlier in global order (the shuffle's reduce side)."""
    hi = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.uint64)
    lo = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.uint64)
    order = np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.int64)
    idx = np.lexsort((order, lo, hi))
    hi, lo, order = hi[idx], lo[idx], order[idx]
    same = (hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1])
    return np.sort(order[1:][same])


def split_order(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(file, row) of global orders."""
    return order >> ROW_BITS, order & ((1 << ROW_BITS) - 1)
