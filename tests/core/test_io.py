"""Atomic writes (issue 18 item 10): temp names are each writer's own, files and renames are fsynced."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.core.io import write_json_atomic
from refinedweb.core.output import OutputConfig, write_parquet_atomic


def _write(kind: str, path, value: int) -> None:
    if kind == "json":
        write_json_atomic(path, {"writer": value})
    else:
        write_parquet_atomic(pa.table({"writer": [value]}), path, OutputConfig())


def _read(kind: str, path) -> int:
    return json.loads(path.read_text())["writer"] if kind == "json" else pq.read_table(path)["writer"][0].as_py()


@pytest.mark.parametrize("kind", ["json", "parquet"])
def test_two_writers_of_one_file_do_not_share_a_temp_name(kind, tmp_path, monkeypatch):
    """Writer B runs whole while writer A sits between its write and its rename (two runs, a retried task)."""
    path = tmp_path / f"state.{kind}"
    real_replace, fired = os.replace, []

    def replace_after_b(src, dst):
        if not fired:
            fired.append(src)
            _write(kind, path, 2)  # B: its own temp, renamed onto path
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_b)
    monkeypatch.setattr("pathlib.Path.replace", lambda self, dst: replace_after_b(self, dst))  # the old code's rename
    _write(kind, path, 1)  # A: with a shared ".state.json.tmp", B had renamed A's temp away (FileNotFoundError)
    assert _read(kind, path) == 1  # A renamed last
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp left behind


def test_a_failed_write_leaves_no_temp(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"not json": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["json", "parquet"])
def test_the_file_and_its_folder_are_fsynced(kind, tmp_path, monkeypatch):
    """A state file renamed into place but not fsynced, or a rename not flushed, can vanish in a power cut."""
    real_fsync, synced = os.fsync, []

    def fsync(fd):
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    _write(kind, tmp_path / f"x.{kind}", 1)
    assert synced == ["file", "dir"]
