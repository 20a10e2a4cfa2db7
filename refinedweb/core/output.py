"""Output shards, per-file state and completion markers, all written atomically.

The unit of work and of resume is the input file: its kept documents land as one zstd Parquet shard
under ``out/refined/`` (the global dedup phase then writes the final corpus to ``out/data/``) and
its counters under ``out/state/``. Its rejected documents are merged into the run's one bounded
sample, ``out/rejected/sample.parquet`` (bottom-k per reason over the whole run, so a
billion-document run stores ``k`` rejects per reason, not its rejects). The state file is renamed
into place last, so it doubles as the completion marker: a crash at any point leaves either a
finished file or one that the next run redoes from scratch (merging its rejects again is a no-op).
An input that failed on every try has a record under ``out/quarantine/``; ``out/.lock`` is held by
the one run writing the folder.

``out`` may be object storage (``core/storage.py``): every key is uploaded whole, the state key
after the shard's, so a crash between the two leaves a shard without its marker, which the next run
redoes; there is no rename to make a folder's entry appear, and none is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from refinedweb import schema
from refinedweb.config import UserError, check
from refinedweb.core.executor import REJECTED_SCHEMA, merge_samples
from refinedweb.core.io import read_table, write_atomic, write_json_atomic
from refinedweb.core.storage import Remote, StoragePath, location
from refinedweb.core.stats import FileState

DATA_DIR, REJECTED_DIR, STATE_DIR = "data", "rejected", "state"
REJECTED_SAMPLE = "sample.parquet"  # under REJECTED_DIR: the run's sample of rejected documents
STATS_FILE, CONFIG_FILE = "stats.json", "config.json"  # the run's funnel and its resolved config
REFINED_DIR = "refined"  # per-file refinery shards, the dedup phase's input
QUARANTINE_DIR = "quarantine"  # a record per input that failed on every try (made when one does)
LOCK_FILE = ".lock"  # held by the run writing the folder (output_lock)
DEDUP_DIR, DEDUP_DONE = "dedup", "done.json"  # under DEDUP_DIR: written last, data/ is whole once it is there


@dataclass(frozen=True)
class OutputConfig:
    """Where and how shards are written."""

    compression: str = "zstd"
    """Parquet codec of the shards."""
    compression_level: int = 3
    """zstd level: 3 is fast to write and within a few percent of the best ratio on text."""
    row_group_size: int = 10_000
    """Rows per Parquet row group (readers stream a shard by row group)."""
    rejected_per_reason: int = 50
    """Rejected documents sampled per drop reason over the whole run (uniform, by a hash of the id); 0: none."""
    report: bool = True
    """Write ``report.html`` and ``funnel.png`` when ``refinedweb run`` ends (``refinedweb report``
    writes them later too); matplotlib takes a few seconds, which a batch of small runs may skip."""

    def __post_init__(self) -> None:
        check(self.compression in ("zstd", "snappy", "gzip", "brotli", "lz4", "none"), "compression", f"unknown codec {self.compression!r}")
        check(1 <= self.compression_level <= 22, "compression_level", f"must be in [1, 22] (zstd's levels), got {self.compression_level}")
        check(self.row_group_size > 0, "row_group_size", "must be > 0")
        check(self.rejected_per_reason >= 0, "rejected_per_reason", "must be >= 0")


def _holder(path: StoragePath) -> dict[str, Any] | None:
    """The pid and host in a lock file, or None when it cannot be read (half written, or gone)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether a process of this host has ``pid`` (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


@contextmanager
def _remote_lock(root: StoragePath, path: Remote, me: dict[str, Any], log: Callable[[str], None]) -> Iterator[None]:
    """The lock on object storage: read, then write (no create-if-absent in pyarrow's S3 API).

    Two runs starting within the same second may both take it; a later second run is refused,
    and a lock of a dead pid on this host is taken over, as on local disk.
    """
    holder = _holder(path) if path.is_file() else None
    if holder is not None and (holder.get("host") != me["host"] or _alive(holder["pid"])):
        raise UserError(f"{root}: another run is writing this output (pid {holder['pid']} on {holder.get('host')}, {path}); "
                        "wait for it, or delete the lock if no such run exists")
    if holder is not None:
        log(f"{root}: taking over the lock of pid {holder['pid']}, which is no longer running")
    path.write_text(json.dumps(me))
    try:
        yield
    finally:
        if _holder(path) == me:
            path.unlink(missing_ok=True)


@contextmanager
def output_lock(root: str | StoragePath, log: Callable[[str], None]) -> Iterator[None]:
    """Hold ``root/.lock`` (pid and host) while a run writes ``root``; a second run into it is refused.

    Two runs into one output overwrite each other's shards and state. The lock is created with
    O_EXCL, so of two runs starting at once one wins; a lock left by a dead pid on this host (a
    killed run) is taken over, with a message; one on another host is never guessed stale.
    """
    path = location(root) / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    if isinstance(path, Remote):
        with _remote_lock(root, path, me, log):
            yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            holder = _holder(path)
            if holder is None or holder.get("host") != me["host"] or _alive(holder["pid"]):
                who = f"pid {holder['pid']} on {holder.get('host')}" if holder else "an unreadable lock"
                raise UserError(f"{root}: another run is writing this output ({who}, {path}); "
                                "wait for it, or delete the lock if no such run exists") from None
            log(f"{root}: taking over the lock of pid {holder['pid']}, which is no longer running")
            path.unlink(missing_ok=True)
    else:
        raise UserError(f"{root}: another run took the lock ({path}) while this one was starting")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(me, f)
        f.flush()
        os.fsync(f.fileno())
    try:
        yield
    finally:
        if _holder(path) == me:
            path.unlink(missing_ok=True)


def check_dedup_done(files: list[StoragePath]) -> None:
    """Refuse files of a run's ``data/`` folder while its dedup is not done (no ``dedup/done.json``).

    A dedup phase killed half way leaves old and new shards side by side in ``data/``; the phase
    removes its done marker before it rewrites any, so the marker's absence is the signal. A run's
    data folder is a ``data/`` whose parent has ``dedup/`` (a refinery run's or a standalone dedup's).
    """
    seen: set[Path] = set()
    for folder in {location(f).parent for f in files}:
        for d in (folder, *folder.parents):
            if d in seen:
                break
            seen.add(d)
            run = d.parent
            if d.name == DATA_DIR and (run / DEDUP_DIR).is_dir() and not (run / DEDUP_DIR / DEDUP_DONE).is_file():
                raise UserError(f"{d}: the dedup phase of this run has not finished ({run / DEDUP_DIR / DEDUP_DONE} "
                                "missing), so data/ may mix old and new shards; re-run the command that wrote it")


def shard_name(source: str) -> str:
    """A readable, collision-free shard name: the input's base name plus a hash of its full path."""
    base = re.sub(r"\.(warc|arc|wet|wat)?(\.gz)?$", "", source.rstrip("/").rsplit("/", 1)[-1], flags=re.I)
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:80] or "input"
    return f"{base}-{hashlib.sha1(source.encode()).hexdigest()[:10]}"


def write_parquet_atomic(table: pa.Table, path: StoragePath, config: OutputConfig) -> None:
    """Write under a temporary name, fsync, then rename: a half shard never looks done."""
    codec = None if config.compression == "none" else config.compression
    level = config.compression_level if codec == "zstd" else None
    write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression=codec, compression_level=level,
                                                  row_group_size=config.row_group_size))


class OutputDir:
    """The layout of a run's output folder and the per-file completion state in it."""

    def __init__(self, root: str | StoragePath, subdirs: tuple[str, ...] = (REFINED_DIR, DATA_DIR, REJECTED_DIR, STATE_DIR)) -> None:
        self.root = location(root)
        for sub in subdirs:  # a standalone dedup's output has no refined/ or state/
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._sample: pa.Table | None = None  # the run's rejected sample, read on first use

    def state_path(self, source: str) -> StoragePath:
        return self.root / STATE_DIR / f"{shard_name(source)}.json"

    def refined_path(self, source: str) -> StoragePath:
        return self.root / REFINED_DIR / f"{shard_name(source)}.parquet"

    def is_done(self, source: str) -> bool:
        """Marked done and its shard present (an output from before refined/ existed is redone)."""
        return self.state_path(source).is_file() and self.refined_path(source).is_file()

    def has_done_files(self) -> bool:
        """Whether any input file is done here (this run's config then has to match theirs)."""
        return any((self.root / STATE_DIR).glob("*.json"))

    def states(self) -> list[FileState]:
        """Every finished file's state, this run's and earlier runs' into the same folder."""
        return [FileState.from_state_json(json.loads(p.read_text(encoding="utf-8")))
                for p in sorted((self.root / STATE_DIR).glob("*.json"))]

    def quarantine_path(self, source: str) -> StoragePath:
        return self.root / QUARANTINE_DIR / f"{shard_name(source)}.json"

    def quarantine(self, source: str, reason: str, tries: int) -> dict[str, Any]:
        """Record that ``source`` failed on every try; resumes skip it until the record is deleted."""
        record = {"path": source, "reason": reason, "tries": tries}
        self.quarantine_path(source).parent.mkdir(exist_ok=True)
        write_json_atomic(self.quarantine_path(source), record)
        return record

    def quarantined(self, sources: list[str]) -> list[dict[str, Any]]:
        """The quarantine records of those of ``sources`` that have one, in input order."""
        paths = [self.quarantine_path(s) for s in sources]
        return [json.loads(p.read_text(encoding="utf-8")) for p in paths if p.is_file()]

    def add_rejected(self, rejected: list[pa.Table], config: OutputConfig) -> None:
        """Merge rejected documents into the run's sample and rewrite it atomically (idempotent by id)."""
        if not rejected or config.rejected_per_reason <= 0:
            return
        path = self.root / REJECTED_DIR / REJECTED_SAMPLE
        if self._sample is None:
            self._sample = read_table(path) if path.is_file() else REJECTED_SCHEMA.empty_table()
        self._sample = merge_samples([self._sample, *rejected], config.rejected_per_reason)
        write_parquet_atomic(self._sample, path, config)

    def absorb_rejected(self, config: OutputConfig) -> None:
        """Merge per-shard samples (the dedup phase's, older runs' per-file ones) into the run's sample."""
        others = sorted(p for p in (self.root / REJECTED_DIR).glob("*.parquet") if p.name != REJECTED_SAMPLE)
        if not others:
            return
        self.add_rejected([read_table(p) for p in others], config)
        for p in others:
            p.unlink()

    def finish_file(self, state: FileState, kept: list[pa.Table], rejected: list[pa.Table], config: OutputConfig) -> int:
        """Write one input file's shard, rejected sample and state (last); return documents refined."""
        table = concat_kept(kept)
        write_parquet_atomic(table, self.refined_path(state.path), config)
        self.add_rejected(rejected, config)
        state.docs_refined = len(table)
        write_json_atomic(self.state_path(state.path), state.state_json())
        return len(table)


def concat_kept(parts: list[pa.Table]) -> pa.Table:
    """Kept rows of one file in input order, without the runner's bookkeeping column."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pa.table({c: pa.array([], pa.float32() if c == schema.LANGUAGE_SCORE else pa.string()) for c in schema.OUTPUT_BASE_COLUMNS})
    table = pa.concat_tables(parts, promote_options="permissive")
    if schema.ROW in table.column_names:
        table = table.sort_by(schema.ROW).drop_columns([schema.ROW])
    first = [c for c in schema.OUTPUT_BASE_COLUMNS if c in table.column_names]
    return table.select(first + [c for c in table.column_names if c not in first])


def read_rejected(root: str | StoragePath) -> pa.Table:
    """The run's rejected sample (older runs' per-file samples included), in the rejected-sample schema."""
    paths = sorted((location(root) / REJECTED_DIR).glob("*.parquet"))
    return merge_samples([read_table(p) for p in paths], k=2**62)
