"""The refined corpus as input: Parquet files with ``id`` and ``text``, found, checked and streamed.

Both the tokenizer trainer and the ``tokenize`` command find the refinery's output with the one
input resolver (``refinedweb.core.inputs``: folders recursively, globs, files; sorted, so a run never
depends on the order the file system lists them), check ``REQUIRED_COLUMNS`` and refuse a run's ``data/`` whose dedup has
not finished (``core.output.check_dedup_done``). Text is streamed by Parquet record batch, never
the whole corpus at once.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from refinedweb import schema
from refinedweb.core.inputs import resolve_parquet
from refinedweb.core.io import check_columns, parquet_file
from refinedweb.core.output import check_dedup_done
from refinedweb.core.storage import StoragePath

REQUIRED_COLUMNS = (schema.ID, schema.TEXT)


def corpus_files(inputs: str | Sequence[str]) -> list[StoragePath]:
    """The Parquet files of ``inputs`` with ``REQUIRED_COLUMNS``; a run's ``data/`` only once its dedup is done."""
    files = resolve_parquet(inputs)
    check_dedup_done(files)  # first: a half-rewritten data/ is the error to name, not a column of one of its shards
    for path in files:
        check_columns(path, REQUIRED_COLUMNS)
    return files


def iter_texts(files: Sequence[StoragePath], batch_docs: int = 1024, limit_docs: int | None = None) -> Iterator[list[str]]:
    """Lists of at most ``batch_docs`` texts, file by file, record batch by record batch (nulls skipped)."""
    left = limit_docs
    for path in files:
        for batch in parquet_file(path).iter_batches(batch_size=batch_docs, columns=[schema.TEXT]):
            texts = [t for t in batch.column(0).to_pylist() if t is not None]
            if left is not None:
                texts, left = texts[:left], left - min(left, len(texts))
            if texts:
                yield texts
            if left == 0:
                return
