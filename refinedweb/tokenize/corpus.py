"""The refined corpus as input: Parquet files with ``id`` and ``text``, found, checked and streamed.

Both the tokenizer trainer and the ``tokenize`` command find the refinery's output with the one
input resolver (``refinedweb.core.inputs``: folders recursively, globs, files; sorted, so a run never
depends on the order the file system lists them) and check ``REQUIRED_COLUMNS``. Text is streamed by Parquet record batch, never
the whole corpus at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import pyarrow.parquet as pq

from refinedweb import schema

REQUIRED_COLUMNS = (schema.ID, schema.TEXT)


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
