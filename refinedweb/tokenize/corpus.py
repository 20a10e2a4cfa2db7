"""The refined corpus as input: Parquet files with ``id`` and ``text``, found, checked and streamed.

Both the tokenizer trainer and the ``tokenize`` command read the refinery's output the same way:
a folder (every ``*.parquet`` in it), a glob or a list of files, in sorted order so a run never
depends on the order the file system lists them. Text is streamed by Parquet record batch, never
the whole corpus at once.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from refinedweb import schema
from refinedweb.config import UserError

REQUIRED_COLUMNS = (schema.ID, schema.TEXT)


def _expand(pattern: str) -> list[Path]:
    if glob.has_magic(pattern):
        return sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p))
    path = Path(pattern).expanduser()
    if path.is_dir():
        return sorted(p for p in path.glob("*.parquet") if p.is_file())
    if path.is_file():
        return [path]
    raise UserError(f"{pattern}: input not found")


def check_columns(path: Path, columns: Sequence[str] = REQUIRED_COLUMNS) -> pq.ParquetFile:
    """Open ``path`` and check it has string ``columns``; anything else is a ``UserError`` naming it."""
    try:
        pf = pq.ParquetFile(path)
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


def resolve_parquet(patterns: str | Sequence[str], columns: Sequence[str] = REQUIRED_COLUMNS) -> list[Path]:
    """Sorted, deduplicated Parquet files named by folders, globs or paths, each checked for ``columns``."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [str(patterns)]
    files: dict[Path, None] = {}
    for pattern in patterns:
        found = _expand(str(pattern))
        if not found:
            raise UserError(f"{pattern}: no Parquet files found")
        files.update(dict.fromkeys(p.resolve() for p in found))
    for path in files:
        check_columns(path, columns)
    return sorted(files)


def iter_texts(files: Sequence[Path], batch_docs: int = 1024, limit_docs: int | None = None) -> Iterator[list[str]]:
    """Lists of at most ``batch_docs`` texts, file by file, record batch by record batch (nulls skipped)."""
    left = limit_docs
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_docs, columns=[schema.TEXT]):
            texts = [t for t in batch.column(0).to_pylist() if t is not None]
            if left is not None:
                texts, left = texts[:left], left - min(left, len(texts))
            if texts:
                yield texts
            if left == 0:
                return
