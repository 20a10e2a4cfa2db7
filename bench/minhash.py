"""MinHash signature throughput on one core: ours (numba kernel) against datasketch, same documents and shingles.

Both compute 9,000-value MinHash signatures (RefinedWeb App. G.3.1: 450 bands x 20 rows) of the
same real documents, from text:

- ours: ``MinHasher.signatures`` of refinedweb.dedup.minhash (normalisation, word 5-gram shingle
  hashes and the multiply-add-shift kernel), one process, no Ray;
- datasketch: the same normalised word 5-grams as byte strings, ``MinHash(num_perm=9000)`` in
  its default scheme (its permutations drawn once and passed in, as its LSH users do), and
  ``update_batch``.

Batches alternate between the two so machine noise hits both alike. Then the peak memory per
document of each dedup phase is measured in one process on the same documents (tracemalloc peak
over the phase: the NumPy arrays it allocates; on Ray each shuffle partition holds 1/P of it).

    .venv/bin/python bench/minhash.py --input /work/pagesA-out/data [--docs 400]

``--input`` is a Parquet file or folder with a ``text`` column; with fewer documents than
``--docs`` they are cycled (copies are exact duplicates, which the memory phases then cluster).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from refinedweb.core.inputs import resolve_parquet  # noqa: E402
from refinedweb.dedup.components import components_local  # noqa: E402
from refinedweb.dedup.minhash import MinHashConfig, MinHasher, band_entries, bucket_edges  # noqa: E402
from refinedweb.dedup.normalize import normalize  # noqa: E402

BATCH = 25


def load_texts(path: str, docs: int) -> tuple[list[str], int]:
    files = resolve_parquet(path, ("text",))  # a folder: its Parquet files, a stats.json beside them skipped
    texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]
    if not texts:
        raise SystemExit(f"{path}: no documents with text")
    return [texts[i % len(texts)] for i in range(docs)], len(texts)


def datasketch_signatures(texts: list[str], ngram: int, template) -> list[np.ndarray]:
    """datasketch's MinHash over the same normalised word n-grams as ours."""
    from datasketch import MinHash

    out = []
    for text in texts:
        words = normalize(text).split()
        shingles = [" ".join(words[i : i + ngram]).encode() for i in range(max(1, len(words) - ngram + 1))]
        m = MinHash(num_perm=template.num_perm, permutations=template.permutations, scheme=template.scheme)
        m.update_batch(shingles)
        out.append(m.hashvalues)
    return out


def peak(fn: Callable, *args):
    """``fn(*args)`` and the tracemalloc peak of the arrays it allocated, in bytes."""
    tracemalloc.start()
    result = fn(*args)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, traced


PHASES = ("signatures", "band shuffle", "components")


def phase_peaks(texts: list[str], cfg: MinHashConfig) -> dict[str, int]:
    """Peak bytes of each phase run in one process over ``texts``, and the sizes it went through."""
    (keys, docs), sig = peak(band_entries, texts, 0, cfg)
    (child, parent), bucket = peak(bucket_edges, keys, docs)
    (node, _), comp = peak(components_local, child, parent, cfg.max_rounds)
    return {"signatures": sig, "band shuffle": bucket, "components": comp, "entries": len(keys), "edges": len(child), "dropped": len(node)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="Parquet file or folder with a text column")
    parser.add_argument("--docs", type=int, default=400, help="documents to hash (input cycled if smaller)")
    args = parser.parse_args()
    cfg = MinHashConfig()
    texts, distinct = load_texts(args.input, args.docs)
    words = np.mean([len(normalize(t).split()) for t in texts])
    print(f"input: {args.input}: {distinct} documents, cycled to {len(texts)}; {words:.1f} words per document on average")
    print(f"signatures: {cfg.num_perm} hashes ({cfg.bands} bands x {cfg.rows_per_band} rows), word {cfg.ngram}-grams, one core")

    from datasketch import MinHash

    hasher = MinHasher(cfg)
    hasher.signatures(texts[:2])  # compile (or load the numba cache) outside the timing
    template = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)  # its default scheme; permutations drawn once
    ours = theirs = 0.0
    for lo in range(0, len(texts), BATCH):
        batch = texts[lo : lo + BATCH]
        t0 = time.perf_counter()
        hasher.signatures(batch)
        t1 = time.perf_counter()
        datasketch_signatures(batch, cfg.ngram, template)
        ours, theirs = ours + t1 - t0, theirs + time.perf_counter() - t1
    print(f"ours (numba multiply-add-shift):          {len(texts) / ours:10.1f} docs/s ({1e3 * ours / len(texts):.3f} ms/doc)")
    print(f"datasketch MinHash(9000).update_batch:    {len(texts) / theirs:10.1f} docs/s ({1e3 * theirs / len(texts):.3f} ms/doc)")

    peaks = phase_peaks(texts, cfg)
    n = len(texts)
    print(f"band entries {peaks['entries']}, distinct bucket edges {peaks['edges']}, documents clustered and not kept {peaks['dropped']}")
    print(f"peak memory of each phase over the {n} documents in one process (tracemalloc: NumPy arrays, texts")
    print("excluded; the signature phase includes a fixed 64-document batch; on Ray a partition task holds 1/P):")
    for name in PHASES:
        print(f"  {name:13s} {peaks[name] / 2**20:8.2f} MiB = {peaks[name] / n / 1024:6.2f} KiB per document")
    print(f"ratio: {theirs / ours:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
