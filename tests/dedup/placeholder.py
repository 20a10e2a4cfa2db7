"""An exact-Jaccard stand-in for ``minhash_clusters`` while the `minhash` branch is unmerged (tests only).

Same signature and output as the contract's ``minhash_clusters``: documents whose word 5-gram sets
(lower case, punctuation removed) have Jaccard >= 0.8 are connected; components of size >= 2 become
clusters whose kept member is the first in global (file, row) order. Quadratic: small inputs only.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq

THRESHOLD = 0.8


def _shingles(text: str, n: int) -> frozenset:
    words = re.sub(r"[^\w\s]", "", (text or "").lower()).split()
    return frozenset(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)))


def exact_jaccard_clusters(paths: list[str], cfg, workers: int) -> pa.Table:
    docs = []
    for path in paths:
        table = pq.read_table(path)
        ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * len(table)
        for row, (text, doc_id) in enumerate(zip(table.column("text").to_pylist(), ids)):
            docs.append((path, row, doc_id or f"{path}:{row}", _shingles(text, cfg.ngram)))
    parent = list(range(len(docs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(docs):
        for j in range(i + 1, len(docs)):
            b = docs[j][3]
            if a[3] and b and len(a[3] & b) >= THRESHOLD * len(a[3] | b):
                ri, rj = find(i), find(j)
                parent[max(ri, rj)] = min(ri, rj)
    roots = [find(i) for i in range(len(docs))]
    sizes: dict[int, int] = {}
    for r in roots:
        sizes[r] = sizes.get(r, 0) + 1
    rows = [(d[0], d[1], d[2], r, i == r) for i, (d, r) in enumerate(zip(docs, roots)) if sizes[r] > 1]
    return pa.table(
        {
            "file": pa.array([r[0] for r in rows], pa.string()),
            "row": pa.array([r[1] for r in rows], pa.int64()),
            "id": pa.array([r[2] for r in rows], pa.string()),
            "cluster": pa.array([r[3] for r in rows], pa.int64()),
            "keep": pa.array([r[4] for r in rows], pa.bool_()),
        }
    )
