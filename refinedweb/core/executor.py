"""The fused per-document executor: every stage over one batch, counted by the runner, not the stages.

Running the cheap stages back to back inside one Ray Data ``map_batches`` actor avoids serialising
every document between operators (issue 7's profile: that copy costs more than the filters). The
executor splits kept from dropped after each stage, counts documents, characters and reasons, and
keeps a bounded, deterministic sample of rejected documents (bottom-k of a hash of the id per
reason, which merges exactly across batches, actors and files). It also bins the threshold signals a
stage adds over every document entering it (core/histogram.py), for the report's histograms.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.core.histogram import signal_histograms
from refinedweb.core.stage import Stage
from refinedweb.core.stats import StageStats

READ_STAGE = "read"
REJECTED_TEXT_CHARS = 5_000
REJECTED_SCHEMA = pa.schema(
    [
        ("key", pa.uint64()),
        (schema.ID, pa.string()),
        (schema.URL, pa.string()),
        (schema.SOURCE, pa.string()),
        ("stage", pa.string()),
        (schema.DROP_REASON, pa.string()),
        (schema.TEXT, pa.string()),
        ("signals", pa.string()),
    ]
)
_NOT_SIGNALS = {schema.ID, schema.URL, schema.DATE, schema.SOURCE, schema.HTML, schema.TEXT, schema.DROP_REASON, schema.ROW, schema.FILE_META, schema.SCREENED}


def sample_key(doc_id: str) -> int:
    """A stable pseudo-random 64-bit key: the same documents are sampled in every run and layout."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def chars(table: pa.Table) -> int:
    """Characters of the text, or of the HTML where there is no text yet."""
    if len(table) == 0:
        return 0
    cols = [table.column(c) for c in (schema.TEXT, schema.HTML) if c in table.column_names]
    content = pc.coalesce(*cols) if len(cols) > 1 else cols[0]
    total = pc.sum(pc.utf8_length(content)).as_py()
    return int(total or 0)


def bottom_k(rows: pa.Table, k: int) -> pa.Table:
    """The ``k`` rows of each reason with the smallest keys (an exact uniform sample, mergeable)."""
    if len(rows) == 0 or k <= 0:
        return rows.slice(0, 0)
    rows = rows.sort_by([(schema.DROP_REASON, "ascending"), ("key", "ascending")])
    reasons = rows.column(schema.DROP_REASON).to_pylist()
    take, seen, prev = [], 0, None
    for i, r in enumerate(reasons):
        seen = seen + 1 if r == prev else 1
        prev = r
        if seen <= k:
            take.append(i)
    return rows.take(pa.array(take, pa.int64()))


def merge_samples(parts: Sequence[pa.Table], k: int) -> pa.Table:
    """One bottom-k per reason over ``parts``, a document present twice (a file redone) counted once."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return REJECTED_SCHEMA.empty_table()
    table = pa.concat_tables(parts)
    seen: set[tuple[str, str]] = set()
    first = []
    for i, key in enumerate(zip(table.column(schema.ID).to_pylist(), table.column(schema.DROP_REASON).to_pylist())):
        if key not in seen:
            seen.add(key)
            first.append(i)
    return bottom_k(table.take(pa.array(first, pa.int64())), k)


def _rejected_rows(dropped: pa.Table, stage: str, k: int) -> pa.Table:
    """Rejected documents of one stage in the REJECTED_SCHEMA, reduced to ``k`` per reason."""
    ids = dropped.column(schema.ID).to_pylist()
    keys = pa.array([sample_key(i or "") for i in ids], pa.uint64())
    order = pa.table({"key": keys, schema.DROP_REASON: dropped.column(schema.DROP_REASON), "_i": pa.array(range(len(ids)))})
    chosen = bottom_k(order, k)
    idx = chosen.column("_i").to_pylist()
    sub = dropped.take(pa.array(idx, pa.int64()))
    signal_cols = [c for c in sub.column_names if c not in _NOT_SIGNALS]
    signals = [json.dumps({c: sub.column(c)[i].as_py() for c in signal_cols}) for i in range(len(sub))]
    text = sub.column(schema.TEXT) if schema.TEXT in sub.column_names else pa.nulls(len(sub), pa.string())
    text = pc.utf8_slice_codeunits(text.cast(pa.string()), 0, REJECTED_TEXT_CHARS)
    return pa.table(
        {
            "key": chosen.column("key"),
            schema.ID: sub.column(schema.ID),
            schema.URL: sub.column(schema.URL),
            schema.SOURCE: sub.column(schema.SOURCE),
            "stage": pa.array([stage] * len(sub), pa.string()),
            schema.DROP_REASON: sub.column(schema.DROP_REASON),
            schema.TEXT: text,
            "signals": pa.array(signals, pa.string()),
        },
        schema=REJECTED_SCHEMA,
    )


def run_stage(
    name: str, table: pa.Table, fn: Callable[[pa.Table], pa.Table], rejected_k: int = 0, chars_in: int | None = None
) -> tuple[pa.Table, StageStats, pa.Table | None]:
    """Apply one stage; return the kept rows, the stage's counters and a sample of what it dropped.

    ``chars_in`` is the previous stage's ``chars_out`` where known: counting the HTML's characters
    again at every stage boundary was a visible share of the per-page cost outside trafilatura.
    """
    stats = StageStats(name, docs_in=len(table), chars_in=chars(table) if chars_in is None else chars_in)
    start = time.perf_counter()
    out = fn(table) if len(table) else table
    stats.seconds = time.perf_counter() - start
    if schema.DROP_REASON not in out.column_names:
        out = out.append_column(schema.DROP_REASON, pa.nulls(len(out), pa.string()))
    if len(out) != stats.docs_in:
        raise RuntimeError(f"stage {name} returned {len(out)} rows for {stats.docs_in}: a stage must keep every row")
    stats.histograms = signal_histograms(name, out)
    reasons = out.column(schema.DROP_REASON)
    keep = pc.is_null(reasons)
    kept = out.filter(keep).drop_columns([schema.DROP_REASON])
    rejected = None
    if len(kept) < len(out):
        dropped = out.filter(pc.invert(keep))
        for item in pc.value_counts(dropped.column(schema.DROP_REASON)).to_pylist():
            stats.dropped[item["values"]] = item["counts"]
        if rejected_k > 0:
            rejected = _rejected_rows(dropped, name, rejected_k)
    stats.docs_out = len(kept)
    stats.chars_out = chars(kept)
    return kept, stats, rejected


def refine(stages: Sequence[Stage], table: pa.Table, rejected_k: int = 0) -> tuple[pa.Table, list[StageStats], pa.Table]:
    """Run the reader's verdicts then every stage in order over one file's batch of records."""
    all_stats, samples = [], []
    table, st, rej = run_stage(READ_STAGE, table, lambda t: t, rejected_k)
    all_stats.append(st)
    samples.append(rej)
    for stage in stages:
        table, st, rej = run_stage(stage.name, table, stage, rejected_k, st.chars_out)
        all_stats.append(st)
        samples.append(rej)
    samples = [s for s in samples if s is not None and len(s)]
    rejected = pa.concat_tables(samples) if samples else REJECTED_SCHEMA.empty_table()
    return table, all_stats, rejected


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


RESULT_SCHEMA = pa.schema(
    [
        (schema.SOURCE, pa.string()),
        ("rows", pa.int64()),
        ("stats", pa.string()),
        ("kept", pa.binary()),
        ("rejected", pa.binary()),
        ("meta", pa.string()),
    ]
)


def refine_batch(stages: Sequence[Stage], batch: pa.Table, rejected_k: int = 0) -> pa.Table:
    """One result row per input file present in ``batch``: counters, kept rows and rejected samples.

    Rows carrying the reader's per-file counters (``schema.FILE_META``) pass through as ``meta``; the
    driver knows a file is complete once it has its meta row and as many rows as the meta says.
    """
    results: dict[str, dict[str, Any]] = {}
    meta_mask = pc.is_valid(batch.column(schema.FILE_META))
    for row in batch.filter(meta_mask).select([schema.SOURCE, schema.FILE_META]).to_pylist():
        results[row[schema.SOURCE]] = {"rows": 0, "stats": None, "kept": None, "rejected": None, "meta": row[schema.FILE_META]}
    docs = batch.filter(pc.invert(meta_mask)).drop_columns([schema.FILE_META])
    for source in pc.unique(docs.column(schema.SOURCE)).to_pylist():
        part = docs.filter(pc.equal(docs.column(schema.SOURCE), source))
        kept, stats, rejected = refine(stages, part, rejected_k)
        entry = results.setdefault(source, {"meta": None})
        entry.update(
            rows=len(part),
            stats=json.dumps([s.to_json() for s in stats]),
            kept=to_ipc(kept),
            rejected=to_ipc(rejected) if len(rejected) else None,
        )
    rows = [{schema.SOURCE: src, **r} for src, r in results.items()]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
