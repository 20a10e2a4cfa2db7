"""The Ray runner: input files -> the fused stages on Ray actors -> shards and stats.

Many input files (at least ``runner.files_per_worker`` per worker, the usual crawl): a pool of
``FileRefineActor`` each reading and refining whole files, the next file to the first free actor.
Few files: a Ray Data plan, ``from_items(files)`` -> ``map_batches(read_records)`` (tasks streaming
a file's records as blocks) -> ``map_batches(RefineActor)``, so one large WARC spreads over every
actor. Either way the stages (fastText included) are built once per actor, and the driver gathers
each file's kept rows and counters, writes its shard (``out/refined/``) atomically and marks it
done; files already done are skipped, so re-running the same command resumes (with the same config:
another one that changes the output is refused). A file that fails to read is tried
``runner.file_tries`` times, then quarantined; the others go on. Then the global dedup
phase (refinedweb/dedup/phase.py) turns every input's refined shard into the final ``out/data/``.
A local Ray instance is started unless ``address`` names an existing cluster; one local worker runs
the same reading and stages in this process.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import UserError, to_dict
from refinedweb.dedup.phase import Shard, add_to_run_stats, dedup_phase
from refinedweb.pipeline.extract import Extractor
from refinedweb.pipeline.config import PipelineConfig, output_changes
from refinedweb.pipeline.pipeline import build_stages
from refinedweb.core.executor import READ_STAGE, FileResult, refine_batch, results_from_arrow, results_to_arrow
from refinedweb.core import console
from refinedweb.core.cluster import check_shared, init_ray
from refinedweb.core.inputs import is_url
from refinedweb.core.io import read_json_file, write_json_atomic
from refinedweb.core.stats import FileMeta, FileState, RunStats, StageStats, check_accounting, merge_stages
from refinedweb.pipeline.warc import ROW_SCHEMA, FileStats, ReaderConfig, read_file
from refinedweb.core.output import CONFIG_FILE, STATS_FILE, OutputDir, output_lock
from refinedweb.core.storage import StoragePath, configure, is_remote, location
from refinedweb.pipeline.sources import SourcesConfig, TransientInputError

RAW_SCHEMA = ROW_SCHEMA.append(pa.field(schema.ROW, pa.int64())).append(pa.field(schema.FILE_META, pa.string()))
MAX_MESSAGES = 20  # error messages kept per file in its state and stats.json


def is_transient(exc: BaseException) -> bool:
    """A failure a later try may not hit (sources.py's ``TransientInputError``: a network outage).

    Such a file is left not done, for a resume to retry, instead of being quarantined.
    """
    return isinstance(exc, TransientInputError)


def read_blocks(path: str, reader: ReaderConfig, sources: SourcesConfig) -> Iterator[pa.Table | FileMeta]:
    """One input file's record tables (with their row index), then its counters as a ``FileMeta``.

    A failure to read the file (it cannot be opened, a 404, a read error the reader lets through)
    ends it with ``FileMeta.failure`` set instead of ending the run: the driver discards its rows
    and tries it again. The reader counting a record it yielded no row for (a read error while
    skipping a body) is counted as the file's error, the file ending at the rows it has.
    """
    stats = FileStats(path=path)
    blocks = read_file(path, reader, stats, sources)
    start, n, seconds, failure, transient = time.perf_counter(), 0, 0.0, None, False
    while True:
        try:
            table = next(blocks)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - whatever stops one input must not stop the others
            failure, transient = f"{type(exc).__name__}: {exc}", is_transient(exc)
            break
        seconds += time.perf_counter() - start  # reading only, not the consumer's time between blocks
        yield table.append_column(schema.ROW, pa.array(range(n, n + len(table)), pa.int64()))
        n += len(table)
        start = time.perf_counter()
    if failure is None and stats.records != n:
        stats.add_error(f"{path}: the reader counted {stats.records} records but yielded {n} rows (a read error "
                        f"while skipping a record body); the file ends at row {n}")
    yield FileMeta(records=n, html_docs=stats.html_docs, errors=stats.errors, error_messages=list(stats.error_messages)[:MAX_MESSAGES],
                   read_seconds=seconds + time.perf_counter() - start, failure=failure, transient=transient)


def read_records(batch: dict[str, Any], reader: ReaderConfig, sources: SourcesConfig) -> Iterator[pa.Table]:
    """Ray Data read step: each input file's records, then one row with the file's counters (Ray Data passes tables)."""
    for path in batch["path"]:
        for item in read_blocks(str(path), reader, sources):
            if isinstance(item, FileMeta):
                row = {c: None for c in RAW_SCHEMA.names}
                row.update({schema.SOURCE: str(path), schema.FILE_META: json.dumps(item.to_json())})
                yield pa.Table.from_pylist([row], schema=RAW_SCHEMA)
            else:
                yield item.append_column(schema.FILE_META, pa.nulls(len(item), pa.string()))


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
        """Ray Data's call: a block in, its results as Arrow out."""
        return results_to_arrow(self.refine(batch))

    def refine(self, batch: pa.Table) -> list[FileResult]:
        """The fused stages over one block, as objects (local and whole-file modes)."""
        return refine_batch(self.stages, batch, self.rejected_k)

    def refine_blocks(self, path: str, reader: ReaderConfig, sources: SourcesConfig) -> Iterator[FileResult]:
        """Read and refine one whole file in this process, its counters last."""
        for item in read_blocks(path, reader, sources):
            if isinstance(item, FileMeta):
                yield FileResult(path, meta=item)
            else:
                yield from self.refine(item)

    def close(self) -> None:
        """Stop the trafilatura process (a Ray actor's ends with the actor)."""
        for stage in self.stages:
            if isinstance(stage, Extractor):
                stage.worker.close()


@dataclass
class _FileProgress:
    """What the driver has received of one input file so far."""

    rows: int = 0
    meta: FileMeta | None = None
    stages: list[StageStats] = field(default_factory=list)
    kept: list[pa.Table] = field(default_factory=list)
    rejected: list[pa.Table] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        """Count one result of the file in."""
        self.rows += result.rows
        self.meta = result.meta or self.meta
        merge_stages(self.stages, result.stages)
        self.kept += [result.kept] if result.kept is not None else []
        self.rejected += [result.rejected] if result.rejected is not None else []

    def complete(self) -> bool:
        return self.meta is not None and self.rows == self.meta.records


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

    def ready(self) -> bool:
        """Answers once the actor is up (its stages built): the driver then hands it a file."""
        return True

    def refine_file(self, path: str) -> list[FileResult]:
        """The results of every block of ``path``, its counters last (objects: no Arrow encoding)."""
        return list(self.refine_blocks(path, self.reader, self.sources))


def _local_size(path: str) -> int:
    """Bytes of an input (0 for a web URL, which would cost a request): the longest files are handed out first."""
    try:
        return os.path.getsize(path) if not is_remote(path) else location(path).size() if not is_url(path) else 0
    except OSError:
        return 0


LOST_FILE_TRIES = 3  # a file whose actor dies this often fails the run (Ray's max_restarts=2 gave as many tries)


class _FilePool:
    """The driver's side of ``file_results``: which actor refines which file, and what to redo when one is lost.

    An actor is lost with its node (a raylet killed, a machine gone) or its process (out of memory).
    Its file goes back to the front of the queue and a new actor is started in its place; since
    the driver writes a file's shard only once all of its results are in, a file redone on another
    actor is written once. An actor with nothing left to do is stopped at once, so its CPU can take
    an actor that is waiting for one (on a cluster that lost a node, the replacement).
    """

    def __init__(self, config: PipelineConfig, files: list[str], workers: int, rejected_k: int) -> None:
        import ray

        self.ray, self.lost_errors = ray, (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                                           ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError)
        self.remote = ray.remote(num_cpus=1, max_restarts=0)(FileRefineActor)  # the driver redoes lost files itself
        self.args = (config, rejected_k)
        self.queue = sorted(files, key=_local_size, reverse=True)
        self.refining: dict[Any, tuple[Any, str]] = {}  # ref of refine_file -> (actor, path)
        self.starting: dict[Any, Any] = {}  # ref of a new actor's ready() -> actor
        self.losses: dict[str, int] = {}
        self.failed_starts = 0
        self.actors = [self._start() for _ in range(min(workers, len(files)))]

    def _start(self) -> Any:
        actor = self.remote.remote(*self.args)
        self.starting[actor.ready.remote()] = actor
        return actor

    def _next(self, actor: Any) -> None:
        """Give ``actor`` the next file, or stop it when there is none."""
        if self.queue:
            path = self.queue.pop(0)
            self.refining[actor.refine_file.remote(path)] = (actor, path)
        else:
            self._stop(actor)

    def _stop(self, actor: Any) -> None:
        self.ray.kill(actor)  # its trafilatura process sees the socket close and exits
        self.actors.remove(actor)

    def _lost(self, actor: Any, path: str, error: Exception) -> None:
        self.losses[path] = self.losses.get(path, 0) + 1
        if self.losses[path] >= LOST_FILE_TRIES:
            raise RuntimeError(f"{path}: its refining actor was lost {self.losses[path]} times, last: {error}") from error
        console.current().info(f"{path}: its refining actor was lost ({type(error).__name__}); the file is redone on a new one")
        self._stop(actor)
        self.queue.insert(0, path)
        self.actors.append(self._start())

    def results(self) -> Iterator[FileResult]:
        """Every file's results as its actor returns them; files of a lost actor redone whole."""
        while self.refining or (self.queue and self.starting):
            [ref], _ = self.ray.wait(list(self.refining) + list(self.starting), num_returns=1)
            if ref in self.starting:
                actor = self.starting.pop(ref)
                try:
                    self.ray.get(ref)
                except self.lost_errors as error:  # the node went before the actor was up: start another
                    self._stop(actor)
                    self.failed_starts += 1
                    if self.failed_starts >= LOST_FILE_TRIES:
                        raise RuntimeError(f"refining actors failed to start {self.failed_starts} times, last: {error}") from error
                    self.actors.append(self._start())
                    continue
                self._next(actor)
                continue
            actor, path = self.refining.pop(ref)
            try:
                results = self.ray.get(ref)
            except self.lost_errors as error:
                self._lost(actor, path, error)
                continue
            self._next(actor)
            yield from results

    def close(self) -> None:
        for actor in list(self.actors):
            self._stop(actor)


def file_results(config: PipelineConfig, files: list[str], workers: int, rejected_k: int) -> Iterator[FileResult]:
    """Whole files on ``workers`` Ray actors, each next file to the first actor that is free.

    Longest files first, so the run does not end waiting on one big file (LPT scheduling). A file
    whose actor is lost (its node or process died) is redone whole on a new actor (``_FilePool``).
    """
    pool = _FilePool(config, files, workers, rejected_k)
    try:
        yield from pool.results()
    finally:
        pool.close()


def local_results(config: PipelineConfig, files: list[str], rejected_k: int) -> Iterator[FileResult]:
    """The plan of ``build_dataset`` run in this process, for one local worker.

    Ray brings nothing to a single local worker but its start-up (the Ray instance, the reader
    task and the actor processes: seconds, more than pages-A's refining), so the same reading and
    the same ``RefineActor`` run here and yield the same results in the same order.
    """
    actor = RefineActor(config, rejected_k)
    reader = _reader_config(config)
    try:
        for path in files:
            yield from actor.refine_blocks(path, reader, config.sources)
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
    ctx.enable_progress_bars = False  # the run's own progress line (core/console.py) is the one shown
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


def _finish(out: OutputDir, source: str, prog: _FileProgress, config: PipelineConfig) -> int:
    """Check one file's accounting, then write its shard, rejected sample and state (the marker)."""
    meta = prog.meta
    assert meta is not None
    if prog.stages and prog.stages[0].name == READ_STAGE:
        prog.stages[0].seconds += meta.read_seconds
    check_accounting(meta.records, sum(len(t) for t in prog.kept), prog.stages, source)
    state = FileState(source, meta.records, html_docs=meta.html_docs, errors=meta.errors,
                      error_messages=meta.error_messages, stages=prog.stages)
    return out.finish_file(state, prog.kept, prog.rejected, config.output)


def _results(config: PipelineConfig, todo: list[str], workers: int, address: str | None) -> Iterator[FileResult]:
    """Every result of refining ``todo``: in this process, whole files on actors, or a Ray Data plan."""
    rejected_k = config.output.rejected_per_reason
    if workers == 1 and not address and config.runner.local_single_worker:
        return local_results(config, todo, rejected_k)
    build_stages(config)  # fail here, with the field named, not inside a Ray actor
    init_ray(workers, address)
    check_shared(todo[:1], console.current().info)  # actors on any node open the inputs
    if config.runner.files_per_worker and len(todo) >= config.runner.files_per_worker * workers:
        return file_results(config, todo, workers, rejected_k)
    batches = build_dataset(config, todo, workers, rejected_k).iter_batches(batch_format="pyarrow", batch_size=None)
    return (r for batch in batches for r in results_from_arrow(batch))


def _refine(out: OutputDir, config: PipelineConfig, todo: list[str], workers: int, address: str | None) -> dict[str, FileMeta]:
    """Refine ``todo``, each complete file written and marked done; returns the files that failed, by path."""
    progress = {s: _FileProgress() for s in todo}
    failed: dict[str, FileMeta] = {}
    with console.current().phase("refine", len(todo)) as phase:
        for result in _results(config, todo, workers, address):
            prog = progress[result.source]
            prog.add(result)
            phase.add(items=result.rows, kept=len(result.kept) if result.kept is not None else 0)
            if not prog.complete():
                continue
            del progress[result.source]
            meta = prog.meta
            assert meta is not None
            if meta.failure:
                failed[result.source] = meta
                phase.file_done(f"{result.source}: failed ({meta.failure})")
                continue
            written = _finish(out, result.source, prog, config)
            phase.file_done(f"{result.source}: {meta.records} records -> {written} documents")
    if progress:
        raise RuntimeError(f"input files never completed: {sorted(progress)}")
    return failed


def _refine_with_tries(out: OutputDir, config: PipelineConfig, todo: list[str], workers: int, address: str | None) -> list[dict[str, Any]]:
    """Refine ``todo``, a failed file tried up to ``runner.file_tries`` times, then quarantined.

    Returns the files left not done by a transient failure (``path``, ``reason``), which a resume retries.
    """
    not_done: list[dict[str, Any]] = []
    for attempt in range(1, config.runner.file_tries + 1):
        failed = _refine(out, config, todo, workers, address) if todo else {}
        not_done += [{"path": s, "reason": m.failure} for s, m in failed.items() if m.transient]
        todo = [s for s in todo if s in failed and not failed[s].transient]
        if todo and attempt < config.runner.file_tries:
            console.current().error(f"trying {len(todo)} failed input files again ({attempt + 1} of {config.runner.file_tries} tries)")
    for source in todo:
        record = out.quarantine(source, failed[source].failure or "", config.runner.file_tries)
        console.current().error(f"quarantined {source}: {record['reason']} (delete {out.quarantine_path(source)} to try it again)")
    return not_done


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
    output: str | StoragePath,
    workers: int | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Refine ``inputs`` into ``output`` (a folder or an object-storage URL); files already done there are skipped. Returns stats.json."""
    configure(config.storage)
    with output_lock(output, console.current().info):
        return _run(config, inputs, output, workers, address)


def _run(config: PipelineConfig, inputs: list[str], output: str | StoragePath, workers: int | None, address: str | None) -> dict[str, Any]:
    """``run`` once it holds the output's lock."""
    start = time.perf_counter()
    out = OutputDir(output)
    _check_config(out, config)
    write_json_atomic(out.root / CONFIG_FILE, to_dict(config))  # the report draws its thresholds
    workers = workers or config.runner.workers
    remote = [s for s in inputs if is_url(s)]
    if remote and not config.sources.enabled:  # the config's error, not each file's: never quarantine them for it
        raise UserError(f"{remote[0]}: remote inputs are disabled (sources.enabled: false)")
    quarantined = {q["path"] for q in out.quarantined(inputs)}
    done_before = out.done(inputs)
    todo = [s for s in inputs if s not in done_before and s not in quarantined]
    if len(todo) < len(inputs):
        console.current().info(f"resuming: {len(inputs) - len(todo)} of {len(inputs)} input files already done or quarantined in {output}")
    not_done = _refine_with_tries(out, config, todo, workers, address)
    refined = time.perf_counter()
    done_now = out.done(inputs)
    done = [s for s in inputs if s in done_now]
    shards = [Shard(str(out.refined_path(s)), out.refined_path(s).name) for s in done]
    by_language = config.language.enabled and len(config.language.languages) > 1
    result = dedup_phase(shards, output, config.dedup, config.output, workers, address, config.output.rejected_per_reason,
                         by_language=by_language)
    out.absorb_rejected(config.output)  # the dedup phase's per-shard samples join the run's one sample
    if result.skipped:
        console.current().info(f"dedup: already done for these {len(shards)} shards in {output}")
    stats = add_to_run_stats(RunStats.of_files([s for s in out.states() if s.path in set(done)]), result)
    stats.wall_seconds = time.perf_counter() - start
    stats.phase_seconds = {"refine": refined - start, "dedup": time.perf_counter() - refined}
    stats.quarantined, stats.not_done = out.quarantined(inputs), not_done
    stats.check(str(output))
    write_json_atomic(out.root / STATS_FILE, stats.to_json())
    return stats.to_json()
