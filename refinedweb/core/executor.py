"""The fused per-document executor: every stage over one batch, counted by the runner, not the stages.

Running the cheap stages back to back inside one Ray Data ``map_batches`` actor avoids serialising
every document between operators (issue 7's profile: that copy costs more than the filters). The
executor splits kept from dropped after each stage, counts documents, characters and reasons, and
keeps a bounded, deterministic sample of rejected documents (bottom-k of a hash of the id per
reason, which merges exactly across batches, actors and files) and returns typed ``FileResult``s; only
the Ray Data adapter encodes them as Arrow (``results_to_arrow``). It also bins the threshold signals a
stage adds over every document entering it (core/histogram.py), for the report's histograms.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.core.histogram import SignalSpec, signal_histograms
from refinedweb.core.stage import Stage
from refinedweb.core.stats import FileMeta, StageStats, stages_from_json

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
    name: str,
    table: pa.Table,
    fn: Callable[[pa.Table], pa.Table],
    rejected_k: int = 0,
    chars_in: int | None = None,
    specs: Mapping[str, SignalSpec] | None = None,
    by_language: bool = False,
) -> tuple[pa.Table, StageStats, pa.Table | None]:
    """Apply one stage; return the kept rows, the stage's counters and a sample of what it dropped.

    ``by_language``: also count per ``language`` label (runs of several target languages).

    ``specs`` are the signals the stage thresholds (its ``histogram_specs``), binned over its rows.

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
    stats.histograms = signal_histograms(specs or {}, out)
    for column in getattr(fn, "totals", ()):  # a stage's count signals, summed into the funnel
        stats.extra[column] = int(pc.sum(out.column(column)).as_py() or 0)
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
    if by_language and schema.LANGUAGE in out.column_names:
        stats.languages = language_counts(out, keep)
    return kept, stats, rejected


def language_counts(out: pa.Table, keep: pa.ChunkedArray) -> dict[str, dict[str, Any]]:
    """``{label: {docs_in, docs_out, chars_out, dropped}}`` of one stage's rows (``out``, ``keep`` its mask)."""
    labels = pc.fill_null(out.column(schema.LANGUAGE), "")
    text = out.column(schema.TEXT) if schema.TEXT in out.column_names else pa.nulls(len(out), pa.string())
    rows = pa.table({"lang": labels, "keep": keep, "reason": out.column(schema.DROP_REASON),
                     "chars": pc.fill_null(pc.utf8_length(text.cast(pa.string())), 0)})
    counts: dict[str, dict[str, Any]] = {}
    for r in rows.group_by(["lang", "keep", "reason"], use_threads=False).aggregate([("chars", "sum"), ("chars", "count")]).to_pylist():
        entry = counts.setdefault(r["lang"], {"docs_in": 0, "docs_out": 0, "chars_out": 0, "dropped": {}})
        entry["docs_in"] += r["chars_count"]
        if r["keep"]:
            entry["docs_out"] += r["chars_count"]
            entry["chars_out"] += r["chars_sum"]
        else:
            entry["dropped"][r["reason"]] = r["chars_count"]
    return counts


def refine(stages: Sequence[Stage], table: pa.Table, rejected_k: int = 0) -> tuple[pa.Table, list[StageStats], pa.Table]:
    """Run the reader's verdicts then every stage in order over one file's batch of records.

    Counts go per language too where a stage says the run has several target languages
    (``split_languages``: the language stage of RefinedWeb-Europe).
    """
    by_language = False  # from the language stage on: before it, documents have no language yet
    all_stats, samples = [], []
    table, st, rej = run_stage(READ_STAGE, table, lambda t: t, rejected_k)
    all_stats.append(st)
    samples.append(rej)
    for stage in stages:
        specs = getattr(stage, "histogram_specs", None)
        by_language = by_language or getattr(stage, "split_languages", False)
        table, st, rej = run_stage(stage.name, table, stage, rejected_k, st.chars_out, specs, by_language)
        all_stats.append(st)
        samples.append(rej)
    samples = [s for s in samples if s is not None and len(s)]
    rejected = pa.concat_tables(samples) if samples else REJECTED_SCHEMA.empty_table()
    return table, all_stats, rejected


@dataclass
class FileResult:
    """What the stages gave for the rows of one input file in one batch, or the reader's counters of the file."""

    source: str
    rows: int = 0
    stages: list[StageStats] = field(default_factory=list)
    kept: pa.Table | None = None
    rejected: pa.Table | None = None
    meta: FileMeta | None = None


def refine_batch(stages: Sequence[Stage], batch: pa.Table, rejected_k: int = 0) -> list[FileResult]:
    """One result per input file present in ``batch``, then one per reader counters row (``schema.FILE_META``).

    The driver knows a file is complete once it has its counters and as many rows as they say.
    """
    metas: list[FileResult] = []
    if schema.FILE_META in batch.column_names:  # a Ray Data block: counters travel as an extra row
        meta_mask = pc.is_valid(batch.column(schema.FILE_META))
        for row in batch.filter(meta_mask).select([schema.SOURCE, schema.FILE_META]).to_pylist():
            metas.append(FileResult(row[schema.SOURCE], meta=FileMeta.from_json(json.loads(row[schema.FILE_META]))))
        batch = batch.filter(pc.invert(meta_mask)).drop_columns([schema.FILE_META])
    results = []
    for source in pc.unique(batch.column(schema.SOURCE)).to_pylist():
        part = batch.filter(pc.equal(batch.column(schema.SOURCE), source))
        kept, stats, rejected = refine(stages, part, rejected_k)
        results.append(FileResult(source, len(part), stats, kept, rejected if len(rejected) else None))
    return results + metas


def _to_ipc(table: pa.Table | None) -> bytes | None:
    if table is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes | None) -> pa.Table | None:
    return None if data is None else pa.ipc.open_stream(pa.py_buffer(data)).read_all()


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


def results_to_arrow(results: list[FileResult]) -> pa.Table:
    """``FileResult``s as one Arrow table, for Ray Data (whose operators pass tables only)."""
    rows = [{schema.SOURCE: r.source, "rows": r.rows, "stats": json.dumps([s.to_json() for s in r.stages]),
             "kept": _to_ipc(r.kept), "rejected": _to_ipc(r.rejected), "meta": json.dumps(r.meta.to_json()) if r.meta else None}
            for r in results]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def results_from_arrow(table: pa.Table) -> list[FileResult]:
    """The inverse of ``results_to_arrow``."""
    return [FileResult(row[schema.SOURCE], row["rows"], stages_from_json(json.loads(row["stats"])), _from_ipc(row["kept"]),
                       _from_ipc(row["rejected"]), FileMeta.from_json(json.loads(row["meta"])) if row["meta"] else None)
            for row in table.to_pylist()]
