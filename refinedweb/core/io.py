"""Small I/O helpers every phase shares: atomic writes (temp names unique per writer, fsynced), one JSON reader, and Parquet column checks and row ranges.

Each takes a local ``Path`` or an object-storage ``Remote`` (``core/storage.py``): on local disk a
write goes to a temporary name, fsync, rename; on object storage to a local temporary file of this
process, then one upload onto the key, which appears whole or not at all.

Each lived twice or three times before (the dedup phase and the tokenizer both read row ranges of a
shard; the run's stats.json and the token manifest were read by two JSON readers); one copy here.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from refinedweb.config import UserError
from refinedweb.core.storage import Remote, StoragePath, location


def temp_path(path: Path) -> Path:
    """A temporary name beside ``path`` that is this writer's alone (pid and a random part).

    A shared ``.{name}.tmp`` let two writers of one file (two runs, a retried task beside its
    first try) overwrite each other's half-written file and rename it away under the other.
    """
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it), so the rename survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_temp(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it onto ``path`` and fsync the folder: ``path`` is whole or absent, never half."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_atomic(path: StoragePath, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary name of this writer's, then commit it onto ``path``; a failure leaves no temp."""
    if isinstance(path, Remote):
        with tempfile.TemporaryDirectory(prefix="refinedweb-upload-") as folder:
            tmp = Path(folder) / path.name
            write(tmp)
            path.upload(tmp)
        return
    tmp = temp_path(path)
    try:
        write(tmp)
        commit_temp(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: StoragePath, data: Any) -> None:
    """Write JSON to a temporary name then rename, so a reader never sees half a file."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json_file(path: StoragePath, missing: str) -> Any:
    """A JSON file's content; a missing file (``missing`` says what was expected) or bad JSON is a ``UserError`` naming it."""
    path = location(path)
    if not path.is_file():
        raise UserError(f"{path}: {missing}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def _source(path: str | os.PathLike | Remote) -> Any:
    """What pyarrow's Parquet readers open: a local path as is, a URL as a seekable pyarrow file."""
    where = location(path)
    return where.open_input() if isinstance(where, Remote) else where


def parquet_file(path: str | os.PathLike | Remote) -> pq.ParquetFile:
    """``pq.ParquetFile`` of a local path or a storage URL."""
    return pq.ParquetFile(_source(path))


def read_table(path: str | os.PathLike | Remote, **kwargs: Any) -> pa.Table:
    """``pq.read_table`` of a local path or a storage URL (``columns``, ``filters`` as there)."""
    where = location(path)
    if isinstance(where, Remote):  # through open_input: each ranged read is retried where the SDK gives up on it
        with where.open_input() as source:
            return pq.read_table(source, **kwargs)
    return pq.read_table(where, **kwargs)


def write_table(table: pa.Table, path: str | os.PathLike | Remote, **kwargs: Any) -> None:
    """``pq.write_table`` onto a local path or a storage URL (one upload: the key appears whole)."""
    where = location(path)
    if isinstance(where, Remote):
        write_atomic(where, lambda tmp: pq.write_table(table, tmp, **kwargs))
    else:
        pq.write_table(table, where, **kwargs)


def check_columns(path: str | os.PathLike | Remote, columns: Sequence[str]) -> pq.ParquetFile:
    """Open ``path`` and check it has string ``columns``; anything else is a ``UserError`` naming it."""
    try:
        pf = parquet_file(path)
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    arrow_schema = pf.schema_arrow
    for name in columns:
        if name not in arrow_schema.names:
            raise UserError(f"{path}: no column {name!r} (has: {', '.join(arrow_schema.names)})")
        tp = arrow_schema.field(name).type
        if not (pa.types.is_string(tp) or pa.types.is_large_string(tp)):
            raise UserError(f"{path}: column {name!r} must be text, got {tp}")
    return pf


def read_rows(path: str | os.PathLike | Remote, start: int, stop: int, columns: Sequence[str]) -> pa.Table:
    """``columns`` of rows [start, stop) of a Parquet file, reading only the row groups that hold them."""
    pf = parquet_file(path)
    groups, first, offset = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if offset < stop and offset + n > start:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    if not groups:
        return pf.schema_arrow.empty_table().select(list(columns))
    table = pf.read_row_groups(groups, columns=list(columns))
    lo = max(start, first)
    return table.slice(lo - first, min(stop, offset) - lo)
