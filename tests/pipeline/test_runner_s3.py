"""The refinery with object storage: a snapshot read over s3:// into an s3:// output equals a local run; resume redoes a file without its marker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.core.io import read_table
from refinedweb.core.storage import location
from tests.pipeline.ccserver import SNAPSHOT, build_snapshot

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "refinedweb.cli"]
pytestmark = pytest.mark.slow
COUNTS = ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped")


@pytest.fixture(scope="module")
def sample_warc(tmp_path_factory) -> Path:
    """The demo's sample WARC, small (12 pages: English prose, duplicates, spam, other languages)."""
    path = tmp_path_factory.mktemp("sample") / "sample.warc.gz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_warc.py"), "--output", str(path), "--pages", "12"],
                   check=True, capture_output=True, timeout=120)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _upload(folder: Path, base) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        (base / path.relative_to(folder).as_posix()).write_bytes(path.read_bytes())


def _corpus(out) -> list[dict]:
    shards = sorted((location(out) / "data").glob("*.parquet"), key=lambda p: p.name)
    rows = [r for p in shards for r in read_table(p, columns=[schema.ID, schema.URL, schema.TEXT]).to_pylist()]
    return sorted(rows, key=lambda r: r[schema.ID])


def _counts(stats: dict) -> list[dict]:
    return [{k: s[k] for k in COUNTS} for s in stats["stages"]]


def test_a_snapshot_over_s3_into_s3_equals_a_local_run_and_resumes(s3_bucket, sample_warc, tmp_path):
    crawl = tmp_path / "cc"
    listed = build_snapshot(crawl, files=1, pages=4, extra=[sample_warc])
    _upload(crawl, location(s3_bucket.url("cc")))
    cfg = tmp_path / "s3.yaml"
    cfg.write_text(f"sources:\n  cc_base_url: {s3_bucket.url('cc')}\noutput:\n  report: false\n")
    local_cfg = tmp_path / "local.yaml"
    local_cfg.write_text("output:\n  report: false\n")
    out = s3_bucket.url("runs/out")
    _cli("run", str(cfg), "--snapshot", SNAPSHOT, "--output", out, "--workers", "1")
    _cli("run", str(local_cfg), "--input", *[str(crawl / p) for p in listed], "--output", str(tmp_path / "local"), "--workers", "1")

    stats = json.loads((location(out) / "stats.json").read_text())
    local = json.loads((tmp_path / "local" / "stats.json").read_text())
    assert [f["path"] for f in stats["files"]] == [s3_bucket.url(f"cc/{p}") for p in listed]
    assert stats["records_read"] == local["records_read"] == 13 + 37
    assert _counts(stats) == _counts(local)
    assert _corpus(out) == _corpus(tmp_path / "local") and stats["docs_written"] > 0
    assert not (location(out) / ".lock").is_file()

    # a crash after a file's shard was uploaded but before its state (the marker): the next run redoes it
    state = sorted((location(out) / "state").glob("*.json"), key=lambda p: p.name)[0]
    shard = location(out) / "refined" / state.name.replace(".json", ".parquet")
    state.unlink()
    shard.write_bytes(b"PAR1 half an upload")
    res = _cli("run", str(cfg), "--snapshot", SNAPSHOT, "--output", out, "--workers", "1")
    assert "resuming: 1 of 2 input files already done" in res.stderr
    assert _corpus(out) == _corpus(tmp_path / "local")
    assert _counts(json.loads((location(out) / "stats.json").read_text())) == _counts(local)
    assert isinstance(read_table(shard), pa.Table)
