"""The one input resolver: files, folders (recursive), globs and URLs, with non-data files skipped."""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.config import UserError
from refinedweb.core.inputs import CRAWL, PARQUET, resolve_inputs, resolve_parquet


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


def test_globs_sorted_deduplicated_and_other_kinds_skipped(tmp_path):
    for name in ("b.warc.gz", "a.warc.gz", "c.wet.gz", "notes.gz", "stats.json"):
        _touch(tmp_path / name)
    got = resolve_inputs([str(tmp_path / "*.warc.gz"), str(tmp_path / "a.warc.gz"), str(tmp_path / "*")])
    assert got == [str(tmp_path / n) for n in ("a.warc.gz", "b.warc.gz", "c.wet.gz")]


def test_a_folder_is_read_recursively_skipping_hidden_and_non_data_files(tmp_path):
    want = [_touch(tmp_path / "x" / "2.arc.gz"), _touch(tmp_path / "y.warc"), _touch(tmp_path / "z" / "deep" / "1.WARC.GZ")]
    _touch(tmp_path / ".y.warc.tmp")
    _touch(tmp_path / ".hidden" / "3.warc.gz")
    _touch(tmp_path / "z" / "README.md")
    assert resolve_inputs(str(tmp_path)) == sorted(want)


def test_a_named_file_is_taken_whatever_its_name_and_urls_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _touch(tmp_path / "crawl.bin")
    url = "https://data.commoncrawl.org/crawl-data/CC-MAIN-2023-50/segments/1/warc/x.warc.gz"
    assert resolve_inputs(["~/crawl.bin", url, url]) == [os.path.join(str(tmp_path), "crawl.bin"), url]
    assert resolve_inputs([f"file://{tmp_path}/crawl.bin"]) == [str(tmp_path / "crawl.bin")]


def test_nothing_found_names_the_pattern(tmp_path):
    pattern = str(tmp_path / "nothing-*.warc.gz")
    with pytest.raises(UserError, match=re.escape(pattern) + ": no WARC/ARC/WET file matches"):
        resolve_inputs([pattern])
    with pytest.raises(UserError, match="input not found"):
        resolve_inputs([str(tmp_path / "missing.warc.gz")])
    _touch(tmp_path / "only.json")
    with pytest.raises(UserError, match=re.escape(str(tmp_path)) + ": no WARC/ARC/WET files in this folder"):
        resolve_inputs([str(tmp_path)], CRAWL)


def test_parquet_folders_skip_json_beside_the_shards(tmp_path):
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "b.parquet")
    (tmp_path / "sub").mkdir()
    pq.write_table(pa.table({"text": ["b"]}), tmp_path / "sub" / "a.parquet")
    (tmp_path / "stats.json").write_text("{}")
    assert resolve_inputs(str(tmp_path), PARQUET) == [str(tmp_path / "b.parquet"), str(tmp_path / "sub" / "a.parquet")]
    assert resolve_parquet(str(tmp_path), ("text",)) == sorted([(tmp_path / "b.parquet").resolve(), (tmp_path / "sub" / "a.parquet").resolve()])
    with pytest.raises(UserError, match="no column 'id'"):
        resolve_parquet(str(tmp_path), ("id",))
