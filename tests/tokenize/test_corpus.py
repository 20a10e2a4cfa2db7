"""Finding and streaming the refined Parquet: folders, globs, files, and clear errors."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.config import UserError
from refinedweb.core.inputs import resolve_parquet
from refinedweb.tokenize.corpus import REQUIRED_COLUMNS, iter_texts


def _write(path, **columns):
    pq.write_table(pa.table(columns), path)
    return path


def test_folders_globs_and_files_resolve_sorted_and_deduplicated(tmp_path):
    b = _write(tmp_path / "b.parquet", id=["b1"], text=["B"])
    a = _write(tmp_path / "a.parquet", id=["a1", "a2"], text=["A", None])
    (tmp_path / "notes.txt").write_text("not parquet")
    expected = [a.resolve(), b.resolve()]
    assert resolve_parquet(str(tmp_path), REQUIRED_COLUMNS) == expected
    assert resolve_parquet([str(tmp_path / "*.parquet"), str(b)], REQUIRED_COLUMNS) == expected
    assert [t for batch in iter_texts(expected, batch_docs=1) for t in batch] == ["A", "B"]  # nulls skipped
    assert list(iter_texts(expected, batch_docs=10, limit_docs=1)) == [["A"]]


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "input not found"),
    (lambda d: d, "no Parquet files in this folder"),
    (lambda d: _write(d / "x.parquet", id=["1"]), "no column 'text'"),
    (lambda d: _write(d / "x.parquet", id=["1"], text=[3]), "column 'text' must be text"),
    (lambda d: (d / "x.parquet").write_bytes(b"PAR1 broken") and d / "x.parquet", "not a readable Parquet file"),
])
def test_bad_input_is_a_user_error_naming_it(tmp_path, make, message):
    target = make(tmp_path)
    with pytest.raises(UserError, match=message) as info:
        resolve_parquet(str(target), REQUIRED_COLUMNS)
    assert str(tmp_path) in str(info.value)
