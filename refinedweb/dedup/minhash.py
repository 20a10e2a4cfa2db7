"""Fuzzy deduplication with MinHash LSH (RefinedWeb App. G.3.1), distributed on Ray.

Each document is normalised (lower case; NFD with combining marks, i.e. accents, removed;
punctuation removed; whitespace collapsed), split into words and into word 5-grams ("shingles"),
and summarised by 9,000 MinHash values laid out as 450 bands of 20 rows. Two documents sharing all
20 values of any band are candidates: with Jaccard similarity ``s`` of their shingle sets that
happens with probability ``1 - (1 - s**20)**450`` (76% at 0.75, 99.4% at 0.8; the main text's
"20 buckets of 450 hashes" would not give these). Documents linked by shared bands form connected
components; in each, the first document in input order (file position, row) is kept.

Hashing (numba kernels in dedup/minhash_kernels.py): code points are classified by a table (keep,
delete, whitespace), words are FNV-1a hashed over code points and mixed, a shingle is the 64-bit
mix of its words' hashes cut to 32 bits ``x``. Signature slot ``k`` is ``min over shingles of
((a_k * x + b_k) mod 2**64) >> 32`` with random 64-bit ``a_k, b_k``: Dietzfelbinger's
multiply-add-shift, a strongly universal family for 32-bit keys, one independent function per slot
(a true MinHash, not one-permutation hashing), and a 64-bit multiply, add and min per shingle and
slot that the compiler vectorises. A band key is the 64-bit hash of the band's index and 20 values.

Phases on Ray, with the memory each needs per document (by construction; ``bench/minhash.py``
measures the peaks in one process):

1. **Signatures**, one task per ``task_docs`` documents (whole row groups of one file): the texts
   of the chunk, a fixed 64-document batch of signatures (9,000 x 4 bytes each, 2.3 MB), and the
   output, 16 bytes per band (64-bit key, 64-bit document index) = 7.2 KB per document, put in
   the object store as one block per shuffle partition (Ray spills the store to disk when full).
   The whole corpus's entries (7.2 KB per document) wait there for the shuffle.
2. **Band shuffle**: partition ``j`` of ``P`` gets every block ``j`` (keys are hashes, so all
   entries of a key meet in one task), i.e. 7.2 KB / P per document of the corpus; ``P`` is chosen
   so that no partition holds more than ``partition_mb`` of entries. Sorting adds the sort index
   and one sorted copy of the keys (16 bytes per entry) plus the documents of buckets of two or
   more: 7.2 KB per document when buckets are singletons, up to ~3x that when every document has
   a duplicate. Out comes one edge per duplicate document and band at most (member -> the
   bucket's least document), deduplicated within the partition.
3. **Components**: alternating large-star / small-star rounds over edges hash-partitioned by
   node (``refinedweb.dedup.components``): two 16-byte records per edge, only for documents that
   share a band with another. The first round may see a pair's edge once per partition that held
   one of its shared bands (at most ``min(P, 450)`` copies) before deduplicating it; rounds never
   add edges. Only the final stars (one row per duplicate document) come back to the driver, as
   the result table.

Two distinct band contents collide in a 64-bit key with probability 2**-64 per pair of entries:
about ``(450 N)**2 / 2**65`` false links among ``N`` documents.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

from refinedweb import schema
from refinedweb.config import UserError, check
from refinedweb.core.cluster import init_ray
from refinedweb.core.io import parquet_file, read_table
from refinedweb.core.storage import location
from refinedweb.core.output import OutputConfig, write_parquet_atomic
from refinedweb.dedup.components import ByNode, adjacency_blocks, connected_components, unique_pairs
from refinedweb.dedup.exchange import EMPTY, ByHash, Plan, as_list, concat, deliver, returned, send
from refinedweb.dedup.normalize import char_classes, code_points

# Output columns of ``minhash_clusters`` (the dedup contract).
FILE, ROW, CLUSTER, KEEP = "file", "row", "cluster", "keep"
CLUSTER_SCHEMA = pa.schema([(FILE, pa.string()), (ROW, pa.int64()), (schema.ID, pa.string()), (CLUSTER, pa.int64()), (KEEP, pa.bool_())])
BAND_ENTRY_BYTES = 16  # 64-bit band key + 64-bit global document index
BATCH_DOCS = 64  # documents per signature batch (9,000 x 4 bytes each)
MAX_HASHES = 65_536  # bands x rows: 7x the paper's 9,000; each hash costs 4 bytes per document in a signature
INDEX_OUTPUT = OutputConfig(compression="none", row_group_size=65_536)  # hashes do not compress


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
    """Seed of the word, shingle and band hashes and of the 9,000 hash functions: same seed, same clusters."""
    task_docs: int = 10_000
    """Most documents per signature task (whole Parquet row groups), so a large file spreads over workers."""
    partition_mb: int = 128
    """Most band-key bytes (16 per document and band) per shuffle partition; sets the partition count."""
    max_rounds: int = 100
    """Most large-star / small-star rounds of the components phase (Kiveris et al. 2014) before an error."""

    def __post_init__(self) -> None:
        check(self.ngram >= 1, "ngram", "must be >= 1")
        check(self.bands >= 1, "bands", "must be >= 1")
        check(self.rows_per_band >= 1, "rows_per_band", "must be >= 1")
        check(self.bands * self.rows_per_band <= MAX_HASHES, "rows_per_band",
              f"must be <= {MAX_HASHES // self.bands} with {self.bands} bands (bands x rows_per_band <= {MAX_HASHES}), got {self.rows_per_band}")
        check(0 <= self.seed < 2**63, "seed", "must be >= 0 and < 2**63")
        check(self.task_docs >= 1, "task_docs", "must be >= 1")
        check(self.partition_mb >= 1, "partition_mb", "must be >= 1")
        check(self.max_rounds >= 1, "max_rounds", "must be >= 1")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows_per_band

    def partitions(self, docs: int, workers: int) -> int:
        """Shuffle partitions: at least one per worker, and no more than ``partition_mb`` of band keys in one."""
        return max(workers, math.ceil(docs * self.bands * BAND_ENTRY_BYTES / (self.partition_mb * 2**20)))


# --- signatures ------------------------------------------------------------------------------------


class MinHasher:
    """Shingles, 9,000-value signatures and band keys of texts, the hash functions drawn once from the seed."""

    def __init__(self, cfg: MinHashConfig) -> None:
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)
        top = np.iinfo(np.uint64).max
        self.a = rng.integers(0, top, size=cfg.num_perm, dtype=np.uint64, endpoint=True)
        self.b = rng.integers(0, top, size=cfg.num_perm, dtype=np.uint64, endpoint=True)
        self.shingle_seed, self.band_seed = rng.integers(0, top, size=2, dtype=np.uint64, endpoint=True)
        self.classes = char_classes()
        # numba compiles on import (0.4 s): only a run that dedups pays for it.
        from refinedweb.dedup import minhash_kernels

        self.kernels = minhash_kernels

    def shingles(self, text: str | None) -> np.ndarray:
        """32-bit hashes (in uint64) of the text's word n-grams after normalisation, in text order."""
        return self.kernels.shingle_kernel(code_points(text or ""), self.classes, self.cfg.ngram, self.shingle_seed)

    def signatures(self, texts: Sequence[str | None]) -> np.ndarray:
        """``(len(texts), num_perm)`` uint32 signatures; a text without words gets all 0xFFFFFFFF."""
        return self._signatures(texts)[0]

    def band_keys(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """``(len(texts), bands)`` uint64 band keys, and which texts have words (only those are compared)."""
        sig, counts = self._signatures(texts)
        keys = np.empty((len(texts), self.cfg.bands), np.uint64)
        self.kernels.band_kernel(sig, self.cfg.rows_per_band, self.band_seed, keys)
        return keys, counts > 0

    def _signatures(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """The signatures and each text's number of shingles."""
        parts = [self.shingles(t) for t in texts]
        counts = np.array([len(p) for p in parts], np.int64)
        offsets = np.zeros(len(parts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        flat = np.concatenate(parts) if parts else np.empty(0, np.uint64)
        out = np.empty((len(parts), self.cfg.num_perm), np.uint32)
        self.kernels.signature_kernel(flat, offsets, self.a, self.b, out)
        return out, counts


@functools.lru_cache(maxsize=4)
def _hasher(cfg: MinHashConfig) -> MinHasher:
    return MinHasher(cfg)


def band_entries(texts: Sequence[str | None], first_doc: int, cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Phase 1 on some texts: ``(key, document index)`` for every band of every text with words."""
    hasher = _hasher(cfg)
    keys = np.empty(len(texts) * cfg.bands, np.int64)  # filled in place: the output is the phase's memory
    docs = np.empty(len(texts) * cfg.bands, np.int64)
    n = 0
    for lo in range(0, len(texts), BATCH_DOCS):
        k, ok = hasher.band_keys(texts[lo : lo + BATCH_DOCS])
        idx = np.flatnonzero(ok)
        m = len(idx) * cfg.bands
        keys[n : n + m] = k[idx].reshape(-1).view(np.int64)
        docs[n : n + m] = np.repeat(first_doc + lo + idx, cfg.bands)
        n += m
    return keys[:n], docs[:n]


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """P(two documents of Jaccard similarity ``s`` share at least one band): ``1 - (1 - s**rows)**bands``.

    The S-curve of banded MinHash (Leskovec et al., Mining of Massive Datasets §3.4); bench/minhash_scurve.py
    compares it with the rate measured on real near-duplicates."""
    return 1.0 - (1.0 - s**rows) ** bands


def bucket_edges(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phase 2 on all entries of some keys: an edge from each bucket member to the bucket's least document.

    Most buckets hold one document; only entries of buckets of two or more are gathered, so the peak
    is the sort index and one sorted copy of the keys (16 bytes per entry) besides the input.
    """
    if not len(keys):
        return EMPTY[0], EMPTY[1]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]  # entry i + 1 is in entry i's bucket
    del sorted_keys
    member = np.zeros(len(keys), bool)
    member[1:] |= same
    member[:-1] |= same
    first = np.concatenate([[True], ~same])[member]
    docs = docs[order[member]]
    del order, same, member
    group = np.cumsum(first)
    group -= 1
    least = np.minimum.reduceat(docs, np.flatnonzero(first))[group] if len(docs) else docs
    linked = docs != least
    return unique_pairs(docs[linked], least[linked])  # a pair sharing several bands: one edge


# --- on Ray ------------------------------------------------------------------------------------------


def _num_rows(path: str) -> int:
    """Rows of a Parquet file with a ``text`` column; anything else is a ``UserError`` naming the file."""
    try:
        meta = parquet_file(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    if schema.TEXT not in meta.schema.names:
        raise UserError(f"{path}: no '{schema.TEXT}' column")
    return meta.num_rows


def _chunks(paths: list[str], offsets: np.ndarray, task_docs: int) -> Iterable[tuple[str, list[int], int]]:
    """``(path, row groups, global index of its first row)`` work units of at most ``task_docs`` rows (or one row group)."""
    for i, path in enumerate(paths):
        meta = parquet_file(path).metadata
        first, groups, rows = int(offsets[i]), [], 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if groups and rows + n > task_docs:
                yield path, groups, first
                first, groups, rows = first + rows, [], 0
            groups.append(g)
            rows += n
        if rows:
            yield path, groups, first


def _by_key(keys: np.ndarray, docs: np.ndarray, plan: Plan):
    """Band entries sent towards their shuffle partition (keys are hashes)."""
    return send(plan, (keys.view(np.uint64) % np.uint64(plan.parts)).astype(np.int64), keys, docs)


def _signature_task(path: str, groups: list[int], first_doc: int, cfg: MinHashConfig, plan: Plan, index: str | None):
    """Band entries of some row groups of one file; stored as ``index/c<first_doc>.parquet`` when ``index`` is given."""
    texts = parquet_file(path).read_row_groups(groups, columns=[schema.TEXT]).column(schema.TEXT).to_pylist()
    keys, docs = band_entries(texts, first_doc, cfg)
    if index is not None:
        per_doc = pa.FixedSizeListArray.from_arrays(pa.array(keys), cfg.bands)
        write_parquet_atomic(pa.table({"doc": docs[:: cfg.bands], "keys": per_doc}), location(index) / f"c{first_doc}.parquet", INDEX_OUTPUT)
    return _by_key(keys, docs, plan)


def _prior_task(path: str, plan: Plan):
    """Band entries stored by an earlier run, its documents numbered ``-1 - doc`` so they precede every new one."""
    table = read_table(path, columns=["doc", "keys"])
    keys = table.column("keys").combine_chunks().flatten().to_numpy()
    docs = np.repeat(-1 - table.column("doc").to_numpy(), len(keys) // max(1, len(table)))
    return _by_key(keys, docs, plan)


def _bucket_task(plan: Plan, *blocks: np.ndarray):
    """All band entries of one partition's keys -> bucket edges, as large-star blocks by node."""
    return returned(adjacency_blocks(*bucket_edges(*concat(blocks)), plan))


def _ids_task(path: str, rows: np.ndarray) -> list[str]:
    """The ``id`` of some rows of a file, or ``<file>:<row>`` where it has no ``id`` column."""
    if schema.ID not in parquet_file(path).schema_arrow.names:
        return [f"{path}:{r}" for r in rows.tolist()]
    return read_table(path, columns=[schema.ID]).column(schema.ID).take(pa.array(rows)).cast(pa.string()).to_pylist()


def _cluster_table(paths: list[str], offsets: np.ndarray, node: np.ndarray, root: np.ndarray) -> pa.Table:
    """The contract's table: one row per document of a cluster, in global order, ids read per file on Ray."""
    import ray

    roots = np.unique(root[root >= 0])
    new = node >= 0  # an earlier corpus's documents (negative) are never rows; a cluster of one is kept elsewhere
    doc = np.concatenate([node[new], roots])
    cluster = np.concatenate([root[new], roots])
    order = np.argsort(doc, kind="stable")
    doc, cluster = doc[order], cluster[order]
    file_idx = np.searchsorted(offsets, doc, side="right") - 1
    row = doc - offsets[file_idx]
    files = np.unique(file_idx)
    ids_task = ray.remote(_ids_task)
    ids = ray.get([ids_task.remote(paths[f], row[file_idx == f]) for f in files])
    return pa.table(
        {FILE: [paths[f] for f in file_idx.tolist()], ROW: row, schema.ID: [i for part in ids for i in part],
         CLUSTER: cluster, KEEP: doc == cluster},
        schema=CLUSTER_SCHEMA,
    )


def minhash_clusters(paths: list[str], cfg: MinHashConfig, workers: int, index: str | None = None,
                     prior: Sequence[str] = ()) -> pa.Table:
    """Documents in MinHash duplicate clusters of two or more, with the one to keep (first in input order).

    One row per such document: ``file`` (the path as given), ``row`` (its row in that file), ``id``,
    ``cluster`` (global index of the cluster's kept member; documents are numbered in order of
    ``(position of file in paths, row)``) and ``keep`` (True for exactly that member). Runs on the
    Ray instance the caller initialised (``refinedweb.core.cluster.init_ray``), or starts a
    local one with ``workers`` CPUs. Disabled, it returns an empty table.

    ``index``: a folder where the band keys are stored (``c<n>.parquet``: ``doc``, its ``keys``) for a
    later run's ``prior``; ``prior``: such files of an earlier corpus, whose documents come before
    all of ``paths`` and are never rows: a document clustered with one has ``cluster < 0`` and is
    not kept.
    """
    paths = [str(p) for p in paths]
    counts = [_num_rows(p) for p in paths]
    offsets = np.zeros(len(paths) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    if not cfg.enabled or offsets[-1] + len(prior) < 2:
        return CLUSTER_SCHEMA.empty_table()
    init_ray(workers, None)
    import ray

    parts = cfg.partitions(int(offsets[-1]) + sum(parquet_file(p).metadata.num_rows for p in prior), workers)
    plan = Plan.of(parts)
    sign, prior_task, bucket = (ray.remote(f).options(num_returns=plan.radix) for f in (_signature_task, _prior_task, _bucket_task))
    entries = [as_list(sign.remote(path, groups, first, cfg, plan, index)) for path, groups, first in _chunks(paths, offsets, cfg.task_docs)]
    entries += [as_list(prior_task.remote(p, plan)) for p in prior]
    inbox = deliver(plan, entries, ByHash(parts))
    del entries  # the object store frees the band entries once the bucket tasks have read them
    edges = [as_list(bucket.remote(plan, *refs)) for refs in inbox]
    del inbox
    node, root = connected_components(deliver(plan, edges, ByNode(parts)), plan, cfg.max_rounds)
    return _cluster_table(paths, offsets, node, root)
