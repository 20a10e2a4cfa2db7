"""The Ray runner: input files -> the fused stages on Ray actors -> shards and stats.

Many input files (at least ``runner.files_per_worker`` per worker, the usual crawl): a pool of
``FileRefineActor`` each reading and refining whole files, the next file to the first free actor.
Few files: a Ray Data plan, ``from_items(files)`` -> ``map_batches(read_records)`` (tasks streaming
a file's records as blocks) -> ``map_batches(RefineActor)``, so one large WARC spreads over every
actor. Either way the stages (fastText included) are built once per actor, and the driver gathers
each file's kept rows and counters, writes its shard (``out/refined/``) atomically and marks it
done; files already done are skipped, so re-running the same command resumes. Then the global dedup
phase (refinedweb/dedup/phase.py) turns every input's refined shard into the final ``out/data/``.
A local Ray instance is started unless ``address`` names an existing cluster; one local worker runs
the same reading and stages in this process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import UserError, to_dict
from refinedweb.dedup.phase import Shard, add_to_run_stats, dedup_phase
from refinedweb.pipeline.extract import Extractor
from refinedweb.pipeline.config import PipelineConfig, output_changes
from refinedweb.pipeline.pipeline import build_stages
from refinedweb.core.executor import READ_STAGE, from_ipc, refine_batch
from refinedweb.core.cluster import init_ray
from refinedweb.core.io import read_json_file, write_json_atomic
from refinedweb.core.stats import StageStats, check_accounting, merge_stages, run_stats, stages_from_json
from refinedweb.pipeline.warc import ROW_SCHEMA, FileStats, ReaderConfig, read_file
from refinedweb.core.output import CONFIG_FILE, OutputDir, output_lock

RAW_SCHEMA = ROW_SCHEMA.append(pa.field(schema.ROW, pa.int64())).append(pa.field(schema.FILE_META, pa.string()))


def read_records(batch: dict[str, Any], reader: ReaderConfig, sources: Any) -> Iterator[pa.Table]:
    """Ray Data read step: each input file's records, then one row with the file's counters."""
    for path in batch["path"]:
        stats = FileStats(path=str(path))
        start, n, seconds = time.perf_counter(), 0, 0.0
        for table in read_file(str(path), reader, stats, sources):
            table = table.append_column(schema.ROW, pa.array(range(n, n + len(table)), pa.int64()))
            n += len(table)
            seconds += time.perf_counter() - start  # reading only, not the consumer's time between blocks
            yield table.append_column(schema.FILE_META, pa.nulls(len(table), pa.string()))
            start = time.perf_counter()
        meta = {
            "records": n,
            "html_docs": stats.html_docs,
            "errors": stats.errors,
            "error_messages": list(stats.error_messages)[:20],
            "read_seconds": seconds + time.perf_counter() - start,
        }
        if stats.records != n:
            raise RuntimeError(f"{path}: reader counted {stats.records} records but yielded {n} rows")
        row = {c: None for c in RAW_SCHEMA.names}
        row.update({schema.SOURCE: str(path), schema.FILE_META: json.dumps(meta)})
        yield pa.Table.from_pylist([row], schema=RAW_SCHEMA)


class RefineActor:
    """Ray Data actor: the per-document stages built once (fastText, trafilatura worker) and run fused."""

    def __init__(self, config: PipelineConfig, rejected_k: int) -> None:
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        self.stages = build_stages(config)
        self.rejected_k = rejected_k
        for stage in self.stages:  # the trafilatura process starts while the first batch is read
            if isinstance(stage, Extractor):
                stage.start()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return refine_batch(self.stages, batch, self.rejected_k)

    def close(self) -> None:
        """Stop the trafilatura process (a Ray actor's ends with the actor)."""
        for stage in self.stages:
            if isinstance(stage, Extractor):
                stage.worker.close()


@dataclass
class _FileProgress:
    """What the driver has received of one input file so far."""

    rows: int = 0
    meta: dict[str, Any] | None = None
    stages: list[StageStats] = field(default_factory=list)
    kept: list[pa.Table] = field(default_factory=list)
    rejected: list[pa.Table] = field(default_factory=list)

    def complete(self) -> bool:
        return self.meta is not None and self.rows == self.meta["records"]


def _reader_config(config: PipelineConfig) -> ReaderConfig:
    """Blocks of one refining batch, so even a single input file spreads over every actor."""
    return replace(config.reader, batch_size=min(config.reader.batch_size, config.runner.batch_size))


class FileRefineActor(RefineActor):
    """Ray actor for many input files: reads one whole file and refines it in place.

    With at least ``runner.files_per_worker`` files per worker every actor is kept busy by whole
    files, so no HTML crosses the object store, no reading task competes for the cores and Ray
    Data's executor (its driver thread and helper actors: about a tenth of 2 cores) is not needed.
    A file's results come back as one object, so a retried file is redone whole, never doubled.
    """

    def __init__(self, config: PipelineConfig, rejected_k: int) -> None:
        super().__init__(config, rejected_k)
        self.reader, self.sources = _reader_config(config), config.sources

    def refine_file(self, path: str) -> list[pa.Table]:
        """The result rows of every block of ``path``, its counters row last."""
        blocks = read_records({"path": [path]}, self.reader, self.sources)
        return [refine_batch(self.stages, block, self.rejected_k) for block in blocks]


def _local_size(path: str) -> int:
    """Bytes of a local input (0 for a URL): the longest files are handed out first."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def file_results(config: PipelineConfig, files: list[str], workers: int, rejected_k: int) -> Iterator[pa.Table]:
    """Whole files on ``workers`` Ray actors, each next file to the first actor that is free.

    Longest files first, so the run does not end waiting on one big file (LPT scheduling). An
    actor that dies (out of memory) is restarted and its file redone.
    """
    import ray

    remote = ray.remote(num_cpus=1, max_restarts=2, max_task_retries=2)(FileRefineActor)
    actors = [remote.remote(config, rejected_k) for _ in range(min(workers, len(files)))]
    queue = sorted(files, key=_local_size, reverse=True)
    pending: dict[Any, Any] = {}
    try:
        for actor in actors:
            pending[actor.refine_file.remote(queue.pop(0))] = actor
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ref)
            if queue:
                pending[actor.refine_file.remote(queue.pop(0))] = actor
            yield from ray.get(ref)
    finally:
        for actor in actors:
            ray.kill(actor)  # its trafilatura process sees the socket close and exits


def local_results(config: PipelineConfig, files: list[str], rejected_k: int) -> Iterator[pa.Table]:
    """The plan of ``build_dataset`` run in this process, for one local worker.

    Ray brings nothing to a single local worker but its start-up (the Ray instance, the reader
    task and the actor processes: seconds, more than pages-A's refining), so the same reading and
    the same ``RefineActor`` run here and yield the same result rows in the same order.
    """
    actor = RefineActor(config, rejected_k)
    reader = _reader_config(config)
    try:
        for path in files:
            for block in read_records({"path": [path]}, reader, config.sources):
                yield actor(block)
    finally:
        actor.close()


def build_dataset(config: PipelineConfig, files: list[str], workers: int, rejected_k: int):
    """The Ray Data plan for few input files (nothing runs until it is iterated).

    Reading tasks stream each file's records as blocks that spread over every ``RefineActor``,
    so even a single large WARC keeps all workers busy.
    """
    import ray

    # Fewer input blocks than actors is expected for a single small file; not worth a warning.
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
    ctx = ray.data.DataContext.get_current()
    ctx.target_max_block_size = config.runner.block_mb * 1024 * 1024
    ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))
    ds = ds.map_batches(
        read_records,
        fn_kwargs={"reader": _reader_config(config), "sources": config.sources},
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=config.runner.reader_cpus,
        compute=ray.data.TaskPoolStrategy(size=config.runner.reader_count(workers)),
    )
    return ds.map_batches(
        RefineActor,
        fn_constructor_kwargs={"config": config, "rejected_k": rejected_k},
        batch_size=config.runner.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _finish(out: OutputDir, source: str, prog: _FileProgress, config: PipelineConfig) -> int:
    """Check one file's accounting, then write its shard, rejected sample and state (the marker)."""
    meta = prog.meta or {}
    if prog.stages and prog.stages[0].name == READ_STAGE:
        prog.stages[0].seconds += meta.get("read_seconds", 0.0)
    written = sum(len(t) for t in prog.kept)
    check_accounting(meta["records"], written, prog.stages, source)
    state = {
        "path": source,
        "records": meta["records"],
        "html_docs": meta["html_docs"],
        "errors": meta["errors"],
        "error_messages": meta["error_messages"],
        "stages": [s.to_json() for s in prog.stages],
    }
    return out.finish_file(source, prog.kept, prog.rejected, state, config.output)


def _check_config(out: OutputDir, config: PipelineConfig) -> None:
    """Refuse to resume into a folder whose done files were made with a config that changes the output."""
    path = out.root / CONFIG_FILE
    if not path.is_file() or not out.has_done_files():
        return
    changed = output_changes(read_json_file(path, "the run's config"), config)
    if changed:
        more = f"; and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise UserError(f"{out.root}: its files were made with another config ({'; '.join(changed[:5])}{more}); "
                        "resuming would mix the two: use a new --output, or delete this one")


def run(
    config: PipelineConfig,
    inputs: list[str],
    output: str | Path,
    workers: int | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Refine ``inputs`` into ``output``; files already done there are skipped. Returns stats.json."""
    with output_lock(output, _log):
        return _run(config, inputs, output, workers, address)


def _run(config: PipelineConfig, inputs: list[str], output: str | Path, workers: int | None, address: str | None) -> dict[str, Any]:
    start = time.perf_counter()
    out = OutputDir(output)
    _check_config(out, config)
    write_json_atomic(Path(output) / CONFIG_FILE, to_dict(config))  # the report draws its thresholds
    workers = workers or config.runner.workers
    todo = [s for s in inputs if not out.is_done(s)]
    if len(todo) < len(inputs):
        _log(f"resuming: {len(inputs) - len(todo)} of {len(inputs)} input files already done in {output}")
    if todo:
        rejected_k = config.output.rejected_per_reason
        if workers == 1 and not address and config.runner.local_single_worker:
            results = local_results(config, todo, rejected_k)
        else:
            build_stages(config)  # fail here, with the field named, not inside a Ray actor
            init_ray(workers, address)
            if config.runner.files_per_worker and len(todo) >= config.runner.files_per_worker * workers:
                results = file_results(config, todo, workers, rejected_k)
            else:
                results = build_dataset(config, todo, workers, rejected_k).iter_batches(batch_format="pyarrow", batch_size=None)
        progress: dict[str, _FileProgress] = {s: _FileProgress() for s in todo}
        done = 0
        for result in results:
            for row in result.to_pylist():
                source = row[schema.SOURCE]
                prog = progress[source]
                prog.rows += row["rows"]
                if row["meta"]:
                    prog.meta = json.loads(row["meta"])
                if row["stats"]:
                    merge_stages(prog.stages, stages_from_json(json.loads(row["stats"])))
                if row["kept"]:
                    prog.kept.append(from_ipc(row["kept"]))
                if row["rejected"]:
                    prog.rejected.append(from_ipc(row["rejected"]))
                if prog.complete():
                    written = _finish(out, source, progress.pop(source), config)
                    done += 1
                    _log(f"[{done}/{len(todo)}] {source}: {prog.meta['records']} records -> {written} documents")
        if progress:
            raise RuntimeError(f"input files never completed: {sorted(progress)}")
    refined = time.perf_counter()
    shards = [Shard(str(out.refined_path(s)), out.refined_path(s).name) for s in inputs]
    result = dedup_phase(shards, output, config.dedup, config.output, workers, address, config.output.rejected_per_reason)
    out.absorb_rejected(config.output)  # the dedup phase's per-shard samples join the run's one sample
    if result.skipped:
        _log(f"dedup: already done for these {len(shards)} shards in {output}")
    states = [s for s in out.states() if s["path"] in set(inputs)]
    stats = add_to_run_stats(run_stats(states, time.perf_counter() - start), result)
    stats["phase_seconds"] = {"refine": round(refined - start, 2), "dedup": round(time.perf_counter() - refined, 2)}
    check_accounting(stats["records_read"], stats["docs_written"], stages_from_json(stats["stages"]), str(output))
    write_json_atomic(Path(output) / "stats.json", stats)
    return stats
