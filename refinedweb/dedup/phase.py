"""The global dedup phase: shards in, the final corpus out, counted like every refinery stage.

After the per-file refinery (or standalone over any Parquet with a `text` column), in RefinedWeb's
order (§3.3 / Fig. 2): MinHash (fuzzy), then exact substrings, then URLs. Each kind first decides
over all shards on Ray and records its decisions under ``OUT/dedup/``:

- ``minhash/<i>.parquet``: rows of shard ``i`` in a MinHash cluster whose kept member is another
  (``minhash_clusters.parquet``: the whole cluster table);
- ``exact/g<j>.parquet``: cut character spans of the documents of suffix-array group ``j``
  (refinedweb/dedup/exact.py), or of chunk ``j`` of the fingerprint shuffle (dedup/fingerprints.py);
- ``url/p<k>.parquet``: (file, row) of URL duplicates found by shuffle reducer ``k``.

- ``index/``: what a later snapshot is deduplicated against (``--against OUT``): ``minhash/c<n>.parquet``
  (the band keys of every document MinHash saw), ``exact/<name>.parquet`` (the window fingerprints of
  the final shard ``OUT/data/<name>``), and the parameters they depend on (``minhash.json``, ``exact.json``).

Then one Ray task per shard applies the three stages with the refinery's executor
(``core.executor.run_stage``: documents and characters in/out, drops per reason, a bounded rejected sample)
and writes ``OUT/data/<name>.parquet`` atomically: kept rows in input order, ``text`` shortened by
the exact cuts. ``OUT/dedup/done.json`` is written last; it records the inputs (path, size,
mtime) and the config, so a re-run with the same inputs skips the phase and new inputs redo it.

Every task reads its inputs and the decisions by path (a local one, or object storage:
``core/storage.py``), so on a multi-node cluster OUT and the inputs must be on storage every node
sees: an ``s3://`` URL where nodes share no disk.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.config import UserError, to_dict
from refinedweb.core import console
from refinedweb.core.cluster import check_shared, init_ray
from refinedweb.core.executor import REJECTED_SCHEMA, bottom_k, run_stage
from refinedweb.core.io import fsync_dir, parquet_file, read_rows, read_table, write_json_atomic, write_table
from refinedweb.core.storage import Remote, StoragePath, copy_file, location, remove_tree, stat_key
from refinedweb.core.output import DATA_DIR, DEDUP_DIR, DEDUP_DONE, REJECTED_DIR, OutputConfig, shard_name, write_parquet_atomic
from refinedweb.core.stage import annotate, set_column
from refinedweb.core.stats import RunStats, StageStats, check_accounting, merge_stages, stages_from_json
from refinedweb.dedup import exact as exact_mod
from refinedweb.dedup import minhash as minhash_mod
from refinedweb.dedup import urls as urls_mod
from refinedweb.dedup.config import DedupConfig

MINHASH_STAGE, EXACT_STAGE, URL_STAGE = "minhash", "exact_substring", "url_dedup"


@dataclass(frozen=True)
class Shard:
    """One input of the phase: a Parquet file and the name of its output under ``OUT/data/``."""

    path: str
    name: str  # relative path ending in .parquet, e.g. "x.parquet" or "snapshot-1/x.parquet"


@dataclass
class DedupResult:
    """The phase's funnel rows and the documents written per output shard."""

    stages: list[StageStats]
    written: dict[str, int]
    skipped: bool = False
    paths: dict[str, list[str]] = field(default_factory=dict)
    """Per input shard, its final files under ``OUT/data/`` (``<language>/<name>`` when split by language)."""


@dataclass(frozen=True)
class _Ctx:
    """What every task of one phase needs to find its inputs and decisions."""

    shards: tuple[Shard, ...]
    out: str
    cfg: DedupConfig
    output: OutputConfig
    rejected_k: int
    groups_of: tuple[tuple[int, ...], ...] = ()  # exact groups covering each shard
    url_parts: int = 0
    against: str | None = None  # an earlier deduplicated corpus (its OUT folder) to deduplicate against
    by_language: bool = False  # RefinedWeb-Europe: count per language, write data/<language>/<name>

    @property
    def state(self) -> StoragePath:
        return location(self.out) / DEDUP_DIR


def _fingerprint(shards: list[Shard], cfg: DedupConfig, output: OutputConfig, rejected_k: int) -> dict[str, Any]:
    inputs = []
    for s in shards:
        size, mtime_ns = stat_key(s.path)
        inputs.append([s.path, s.name, size, mtime_ns])
    written = {k: v for k, v in to_dict(output).items() if k != "report"}  # the HTML report is not the phase's output
    return {"inputs": inputs, "dedup": to_dict(cfg), "output": written, "rejected_k": rejected_k}


def _remote(fn, **options):
    import ray

    return ray.remote(num_cpus=1, max_retries=1, **options)(fn)


def _rows_of(state: StoragePath, kind: str, file: int, parts: list[str]) -> pa.Table | None:
    """Rows of shard ``file`` in the decision files ``state/kind/<part>.parquet`` (None if there are none)."""
    paths = [state / kind / f"{p}.parquet" for p in parts]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        return None
    tables = [read_table(p, filters=[("file", "=", file)]) for p in paths]
    table = pa.concat_tables(tables)
    return table if len(table) else None


def _minhash_rows(ctx: _Ctx, file: int) -> np.ndarray:
    if not ctx.cfg.minhash.enabled:
        return np.empty(0, np.int64)
    t = _rows_of(ctx.state, "minhash", file, ["dropped"])
    return np.empty(0, np.int64) if t is None else t.column("row").to_numpy()


def _exact_cuts(ctx: _Ctx, file: int) -> pa.Table:
    if not ctx.cfg.exact.enabled:
        return exact_mod.CUTS_SCHEMA.empty_table()
    t = _rows_of(ctx.state, "exact", file, [f"g{j}" for j in ctx.groups_of[file]])
    return exact_mod.CUTS_SCHEMA.empty_table() if t is None else t


def _url_rows(ctx: _Ctx, file: int) -> np.ndarray:
    if not ctx.cfg.url.enabled:
        return np.empty(0, np.int64)
    t = _rows_of(ctx.state, "url", file, [f"p{k}" for k in range(ctx.url_parts)])
    return np.empty(0, np.int64) if t is None else t.column("row").to_numpy()


# --- MinHash ---------------------------------------------------------------------------------------


def _minhash_step(ctx: _Ctx, workers: int) -> None:
    """Cluster every shard's documents (the minhash module) and record the dropped rows; store the band keys."""
    paths = [s.path for s in ctx.shards]
    index = _index_dir(ctx.state, "minhash", _minhash_params(ctx.cfg))
    prior = [str(p) for p in sorted(_prior_dir(ctx, "minhash").glob("c*.parquet"))] if ctx.against else []
    table = minhash_mod.minhash_clusters(paths, ctx.cfg.minhash, workers, str(index), prior)
    (ctx.state / "minhash").mkdir(parents=True, exist_ok=True)
    write_table(table, ctx.state / "minhash_clusters.parquet")
    index = {p: i for i, p in enumerate(paths)}
    dropped = table.filter(pc.invert(table.column("keep")))
    files = pa.array([index[p] for p in dropped.column("file").to_pylist()], pa.int32())
    rows = pa.table({"file": files, "row": dropped.column("row").cast(pa.int64()), "cluster": dropped.column("cluster")})
    rows = rows.sort_by([("file", "ascending"), ("row", "ascending")])
    write_table(rows, ctx.state / "minhash" / "dropped.parquet", row_group_size=65_536)  # tasks read their file's groups


# --- the index a later snapshot is deduplicated against (``--against``) ---------------------------------


INDEX_DIR = "index"


def _minhash_params(cfg: DedupConfig) -> dict[str, Any]:
    m = cfg.minhash
    return {"ngram": m.ngram, "bands": m.bands, "rows_per_band": m.rows_per_band, "seed": m.seed}


def _exact_params(cfg: DedupConfig) -> dict[str, Any]:
    return {"tokenizer": cfg.exact.tokenizer, "min_span_tokens": cfg.exact.min_span_tokens}


def _index_dir(state: StoragePath, kind: str, params: dict[str, Any]) -> StoragePath:
    """``state/index/<kind>/``, created, with the parameters its fingerprints depend on in ``<kind>.json``."""
    folder = state / INDEX_DIR / kind
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state / INDEX_DIR / f"{kind}.json", params)
    return folder


def _prior_dir(ctx: _Ctx, kind: str) -> StoragePath:
    """The earlier corpus's stored ``kind`` fingerprints; a ``UserError`` if absent or made with other parameters."""
    root = location(ctx.against) / DEDUP_DIR / INDEX_DIR
    params = (_minhash_params if kind == "minhash" else _exact_params)(ctx.cfg)
    meta = root / f"{kind}.json"
    if not meta.is_file() or not (root / kind).is_dir():
        raise UserError(f"--against {ctx.against}: no {kind} fingerprints under {root} (run its dedup with {kind} on)")
    stored = json.loads(meta.read_text(encoding="utf-8"))
    if stored != params:
        raise UserError(f"--against {ctx.against}: its {kind} fingerprints were made with {stored}, this run uses {params}")
    return root / kind


def _prior_exact(ctx: _Ctx) -> list[tuple[str, str]]:
    """``(final shard, its window fingerprints)`` of every shard of the earlier corpus."""
    folder, data = _prior_dir(ctx, "exact"), location(ctx.against) / DATA_DIR
    return [(str(data / p.relative_to(folder)), str(p)) for p in sorted(folder.rglob("*.parquet"))]


def _index_exact(ctx: _Ctx, name: str, table: pa.Table) -> None:
    """Store the window fingerprints of a final shard's texts (``index/exact/<name>``: row, hash, start)."""
    if not ctx.cfg.exact.enabled:
        return
    from refinedweb.dedup import fingerprints  # numba: imported by the runs that need it (0.13 s)

    hashes, rows, starts = fingerprints.window_hashes([t or "" for t in table.column(schema.TEXT).to_pylist()], ctx.cfg.exact)
    dest = ctx.state / INDEX_DIR / "exact" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(pa.table({"row": rows, "hash": hashes, "start": starts}), dest, minhash_mod.INDEX_OUTPUT)


# --- exact substrings ------------------------------------------------------------------------------


def _scan_task(ctx: _Ctx, file: int) -> list[tuple[int, int, int, int]]:
    """One shard's rows cut into chunks that fit a group: ``(file, lo, hi, chars)``; MinHash drops count 0."""
    path = ctx.shards[file].path
    lengths = []
    for batch in parquet_file(path).iter_batches(columns=[schema.TEXT], batch_size=65_536):
        lengths.append(pc.fill_null(pc.utf8_length(batch.column(0)), 0).to_numpy(zero_copy_only=False))
    lengths = np.concatenate(lengths) if lengths else np.empty(0, np.int64)
    lengths[_minhash_rows(ctx, file)] = 0
    return [(file, lo, hi, chars) for lo, hi, chars in exact_mod.chunk_rows(lengths, ctx.cfg.exact.group_chars())]


def _chunk_docs(ctx: _Ctx, chunk: tuple[int, int, int]) -> list[tuple[int, int, str]]:
    """``(file, row, text)`` of rows ``[lo, hi)`` of one shard, MinHash duplicates left out."""
    file, lo, hi = chunk
    skip = set(_minhash_rows(ctx, file).tolist())
    texts = read_rows(ctx.shards[file].path, lo, hi, [schema.TEXT]).column(schema.TEXT).to_pylist()
    return [(file, row, t or "") for row, t in enumerate(texts, lo) if row not in skip]


def _write_cuts(ctx: _Ctx, j: int, cuts: pa.Table) -> None:
    write_parquet_atomic(cuts, ctx.state / "exact" / f"g{j}.parquet", ctx.output)


def _exact_task(ctx: _Ctx, j: int, group: list[tuple[int, int, int]]) -> int:
    """Find the cut spans of group ``j`` and write them to ``exact/g<j>.parquet``; returns documents cut."""
    cuts = exact_mod.find_cuts([d for chunk in group for d in _chunk_docs(ctx, chunk)], ctx.cfg.exact)
    _write_cuts(ctx, j, cuts)
    return len(cuts)


def _exact_step(ctx: _Ctx, workers: int) -> tuple[tuple[int, ...], ...]:
    """Cut every repeated span; returns the decision files (``g<j>``) covering each shard.

    A corpus that fits one suffix-array group is one group (Lee et al.'s whole-corpus suffix array);
    a larger one goes through the window-fingerprint shuffle (refinedweb/dedup/fingerprints.py),
    one decision file per chunk, with the same result.
    """
    import ray

    (ctx.state / "exact").mkdir(parents=True, exist_ok=True)
    ref = ray.put(ctx)
    scan = _remote(_scan_task)
    chunks = [c for part in ray.get([scan.remote(ref, i) for i in range(len(ctx.shards))]) for c in part]
    groups = exact_mod.plan_groups(chunks, ctx.cfg.exact.group_chars())
    _index_dir(ctx.state, "exact", _exact_params(ctx.cfg))
    if len(groups) > 1 or ctx.against:
        groups = [[(file, lo, hi)] for file, lo, hi, _ in chunks]
        read, write = functools.partial(_chunk_docs, ctx), functools.partial(_write_cuts, ctx)
        prior = _prior_exact(ctx) if ctx.against else []
        from refinedweb.dedup import fingerprints  # numba: imported by the runs that need it (0.13 s)

        fingerprints.shuffle_cuts([g[0] for g in groups], sum(c[3] for c in chunks), read, write, ctx.cfg.exact, workers, prior)
    else:
        task = _remote(_exact_task)
        ray.get([task.remote(ref, j, g) for j, g in enumerate(groups)])
    groups_of: list[set[int]] = [set() for _ in ctx.shards]
    for j, g in enumerate(groups):
        for file, _, _ in g:
            groups_of[file].add(j)
    return tuple(tuple(sorted(s)) for s in groups_of)


# --- URLs --------------------------------------------------------------------------------------------


def _url_map_task(ctx: _Ctx, file: int, parts: int):
    """The surviving rows' URL keys of one shard, split into ``parts`` partitions."""
    path = ctx.shards[file].path
    urls: list[str | None] = []
    if schema.URL in parquet_file(path).schema_arrow.names:  # without a url column no document is a URL duplicate
        urls = read_table(path, columns=[schema.URL]).column(schema.URL).cast(pa.string()).to_pylist()
    alive = np.ones(len(urls), bool)
    if urls:  # only MinHash and exact-dedup survivors compete for their URL
        cuts = _exact_cuts(ctx, file)
        alive[_minhash_rows(ctx, file)] = False
        alive[cuts.filter(cuts.column("drop")).column("row").to_numpy()] = False
    rows = np.flatnonzero(alive)
    keys = urls_mod.url_keys([urls[r] for r in rows.tolist()], rows, file)
    split = urls_mod.partition(keys, parts)
    return split if parts > 1 else split[0]


def _url_reduce_task(ctx: _Ctx, k: int, *parts) -> int:
    """Find the duplicates of partition ``k`` and write them to ``url/p<k>.parquet``."""
    files, rows = urls_mod.split_order(urls_mod.duplicates(list(parts)))
    table = pa.table({"file": pa.array(files, pa.int32()), "row": pa.array(rows, pa.int64())})
    write_parquet_atomic(table, ctx.state / "url" / f"p{k}.parquet", ctx.output)
    return len(table)


def _url_step(ctx: _Ctx, workers: int) -> int:
    """The URL shuffle: map every shard's keys, reduce each partition; returns the partition count."""
    import ray

    (ctx.state / "url").mkdir(parents=True, exist_ok=True)
    docs = sum(parquet_file(s.path).metadata.num_rows for s in ctx.shards)
    parts = ctx.cfg.url.partitions(docs, workers)
    mapper = _remote(_url_map_task, num_returns=parts)
    ref = ray.put(ctx)
    maps = [mapper.remote(ref, i, parts) for i in range(len(ctx.shards))]
    maps = [m if parts > 1 else [m] for m in maps]
    reducer = _remote(_url_reduce_task)
    ray.get([reducer.remote(ref, k, *[m[k] for m in maps]) for k in range(parts)])
    return parts


# --- applying the decisions --------------------------------------------------------------------------


def _work_table(ctx: _Ctx, file: int) -> tuple[pa.Table, list[str]]:
    """Shard ``file`` with its row index, and id/url/source where it has none; returns the added columns."""
    shard = ctx.shards[file]
    table = read_table(shard.path)
    n = len(table)
    added = {schema.ROW: pa.array(np.arange(n, dtype=np.int64))}
    if schema.ID not in table.column_names:  # the contract's stable id: "<file>:<row>"
        added[schema.ID] = pa.array([f"{shard.name}:{r}" for r in range(n)], pa.string())
    if schema.URL not in table.column_names:
        added[schema.URL] = pa.nulls(n, pa.string())
    if schema.SOURCE not in table.column_names:
        added[schema.SOURCE] = pa.array([shard.path] * n, pa.string())
    for name, values in added.items():
        table = table.append_column(name, values)
    return table, list(added)


def _drop_rows(rows: np.ndarray, reason: str):
    """A stage that drops the rows whose index is in ``rows``."""

    def stage(batch: pa.Table) -> pa.Table:
        hit = np.isin(batch.column(schema.ROW).to_numpy(), rows)
        return annotate(batch, [reason if h else None for h in hit.tolist()])

    return stage


def _cut_stage(cuts: pa.Table):
    """A stage that cuts the exact duplicates out of the text, or drops the document if too little is left.

    Dropped documents keep their original text, so the rejected sample shows what was removed.
    """
    by_row = {r: i for i, r in enumerate(cuts.column("row").to_pylist())}
    starts, ends, drop = (cuts.column(c).to_pylist() for c in ("starts", "ends", "drop"))

    def stage(batch: pa.Table) -> pa.Table:
        texts = batch.column(schema.TEXT).to_pylist()
        reasons: list[str | None] = [None] * len(texts)
        for j, row in enumerate(batch.column(schema.ROW).to_pylist()):
            i = by_row.get(row)
            if i is None:
                continue
            if drop[i]:
                reasons[j] = schema.DEDUP_EXACT_TOO_SHORT
            else:
                texts[j] = exact_mod.apply_cuts(texts[j] or "", starts[i], ends[i])
        return annotate(set_column(batch, schema.TEXT, pa.array(texts, pa.string())), reasons)

    return stage


def _write_final(ctx: _Ctx, name: str, table: pa.Table) -> list[str]:
    """Write one shard's final rows: ``data/<name>``, or ``data/<language>/<name>`` per language present."""
    if not ctx.by_language or schema.LANGUAGE not in table.column_names:
        parts = {name: table}
    else:
        labels = pc.fill_null(table.column(schema.LANGUAGE), "und")
        parts = {f"{lang}/{name}": table.filter(pc.equal(labels, lang)) for lang in sorted(pc.unique(labels).to_pylist())}
    for rel, part in parts.items():
        dest = location(ctx.out) / DATA_DIR / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(part, dest, ctx.output)
    return list(parts)


def _apply_task(ctx: _Ctx, file: int) -> tuple[list[dict[str, Any]], int, str, list[str]]:
    """Apply the three kinds' decisions to one shard, write its final shard; returns its funnel rows."""
    shard = ctx.shards[file]
    table, added = _work_table(ctx, file)
    records = len(table)
    stages: list[StageStats] = []
    samples = []
    todo = []
    if ctx.cfg.minhash.enabled:
        todo.append((MINHASH_STAGE, _drop_rows(_minhash_rows(ctx, file), schema.DEDUP_MINHASH_DUPLICATE)))
    cuts = _exact_cuts(ctx, file)
    if ctx.cfg.exact.enabled:
        todo.append((EXACT_STAGE, _cut_stage(cuts)))
    if ctx.cfg.url.enabled:
        todo.append((URL_STAGE, _drop_rows(_url_rows(ctx, file), schema.DEDUP_URL_DUPLICATE)))
    for name, fn in todo:
        table, st, rejected = run_stage(name, table, fn, ctx.rejected_k, by_language=ctx.by_language)
        if name == EXACT_STAGE:
            st.extra = {"spans_cut": int(pc.sum(pc.list_value_length(cuts.column("starts"))).as_py() or 0),
                        "chars_cut": int(pc.sum(cuts.column("chars_cut")).as_py() or 0)}
        stages.append(st)
        if rejected is not None:
            samples.append(rejected)
    check_accounting(records, len(table), stages, shard.path)
    paths = _write_final(ctx, shard.name, table.drop_columns(added))
    _index_exact(ctx, shard.name, table)
    if samples:
        sample = bottom_k(pa.concat_tables(samples), ctx.rejected_k).cast(REJECTED_SCHEMA)
        write_parquet_atomic(sample, location(ctx.out) / REJECTED_DIR / _rejected_name(shard), ctx.output)
    return [s.to_json() for s in stages], len(table), shard.name, paths


def _rejected_name(shard: Shard) -> str:
    return "dedup-" + shard.name.replace("/", "__")


# --- the phase -----------------------------------------------------------------------------------------


def _link_all(shards: list[Shard], out: StoragePath) -> DedupResult:
    """Every kind switched off: the final corpus is the input, hard-linked (copied across file systems and on object storage)."""
    written = {}
    for s in shards:
        dest = out / DATA_DIR / s.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        source = location(s.path)
        try:
            if isinstance(dest, Remote) or isinstance(source, Remote):
                raise OSError("no hard links on object storage")
            os.link(source, dest)
        except OSError:
            copy_file(source, dest)
        written[s.name] = parquet_file(dest).metadata.num_rows
    return DedupResult([], written)


def _deduplicate(ctx: _Ctx, workers: int) -> DedupResult:
    """Decide with each enabled kind over all shards, then apply the decisions shard by shard.

    The console's ``dedup`` line names the kind deciding, then counts the shards applied.
    """
    import ray

    seconds: dict[str, float] = {}
    steps = [(MINHASH_STAGE, ctx.cfg.minhash.enabled), (EXACT_STAGE, ctx.cfg.exact.enabled), (URL_STAGE, ctx.cfg.url.enabled)]
    with console.current().phase("dedup", len(ctx.shards), unit="docs", of="shards") as phase:
        for name, enabled in steps:
            if not enabled:
                continue
            phase.rename(f"dedup {name}")
            start = time.perf_counter()
            if name == MINHASH_STAGE:
                _minhash_step(ctx, workers)
            elif name == EXACT_STAGE:
                ctx = replace(ctx, groups_of=_exact_step(ctx, workers))
            else:
                ctx = replace(ctx, url_parts=_url_step(ctx, workers))
            seconds[name] = time.perf_counter() - start
        phase.rename("dedup apply")
        apply = _remote(_apply_task)
        ref = ray.put(ctx)
        refs = [apply.remote(ref, i) for i in range(len(ctx.shards))]
        results, pending = {}, list(refs)
        while pending:
            [ready], pending = ray.wait(pending, num_returns=1)
            results[ready] = stats, n, name, _ = ray.get(ready)
            phase.add(items=stats[0]["docs_in"] if stats else 0, kept=n)
            phase.file_done(f"{name}: {n} documents")
    stages: list[StageStats] = []
    written, paths = {}, {}
    for stats, n, name, files in (results[r] for r in refs):  # in shard order, as before
        merge_stages(stages, stages_from_json(stats))
        written[name], paths[name] = n, files
    for st in stages:
        st.seconds += seconds.get(st.name, 0.0)
    return DedupResult(stages, written, paths=paths)


def _clear_outputs(out: StoragePath, shards: list[Shard]) -> None:
    """Remove earlier decisions, dedup reject samples and final shards that are not outputs of these inputs."""
    remove_tree(out / DEDUP_DIR)
    (out / DEDUP_DIR).mkdir(parents=True)
    for p in (out / REJECTED_DIR).glob("dedup-*.parquet"):
        p.unlink()
    names = {s.name for s in shards}
    for p in (out / DATA_DIR).rglob("*.parquet"):
        if p.relative_to(out / DATA_DIR).as_posix() not in names:
            p.unlink()


def dedup_phase(
    shards: list[Shard],
    out: str | StoragePath,
    cfg: DedupConfig,
    output: OutputConfig,
    workers: int,
    address: str | None = None,
    rejected_k: int = 0,
    against: str | StoragePath | None = None,
    by_language: bool = False,
) -> DedupResult:
    """Deduplicate ``shards`` (in this global order) into ``out/data``; skipped if done with the same inputs.

    ``by_language`` (runs of several target languages): the funnel is also counted per language and
    each shard's final rows land under ``data/<language>/``.
    """
    out = location(out)
    key = {**_fingerprint(shards, cfg, output, rejected_k), "against": against and str(location(against).resolve())}
    if by_language:
        key["by_language"] = True
    done = out / DEDUP_DIR / DEDUP_DONE
    if done.is_file():
        record = json.loads(done.read_text(encoding="utf-8"))
        paths = record.get("paths") or {s.name: [s.name] for s in shards}
        if record.get("key") == key and all((out / DATA_DIR / p).is_file() for s in shards for p in paths.get(s.name, [None])):
            return DedupResult(stages_from_json(record["stages"]), record["written"], skipped=True, paths=paths)
    if done.is_file():  # data/ is about to change: readers (tokenize) must see it as unfinished until done again
        done.unlink()
        if not isinstance(done, Remote):
            fsync_dir(done.parent)
    for sub in (DATA_DIR, REJECTED_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _clear_outputs(out, shards)
    if not cfg.enabled_kinds():
        result = _link_all(shards, out)
    else:
        init_ray(workers, address)
        check_shared([str(out), *(s.path for s in shards[:1])], console.current().info)
        ctx = _Ctx(tuple(shards), str(out), cfg, output, rejected_k, against=key["against"], by_language=by_language)
        result = _deduplicate(ctx, workers)
    record = {"key": key, "stages": [s.to_json() for s in result.stages], "written": result.written}
    if result.paths and any(p != [n] for n, p in result.paths.items()):
        record["paths"] = result.paths
    write_json_atomic(done, record)
    return result


def add_to_run_stats(stats: RunStats, result: DedupResult) -> RunStats:
    """A refinery run's stats with the dedup stages appended and each file's final shard and documents."""
    stats.stages = stats.stages + result.stages
    for f in stats.files:
        name = f"{shard_name(f.path)}.parquet"
        files = result.paths.get(name, [name])
        f.shard = f"{DATA_DIR}/{files[0]}" if len(files) == 1 else [f"{DATA_DIR}/{p}" for p in files]
        f.docs_written = result.written[name]
    return stats
