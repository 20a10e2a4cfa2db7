"""The refinery with object storage: a snapshot read over s3:// into an s3:// output, SIGKILLed and resumed, equals a local run; a file without its marker is redone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.core.io import read_table
from refinedweb.core.storage import location
from tests.pipeline.ccserver import SNAPSHOT, build_snapshot
from tests.pipeline.test_runner import _kill_ray_under

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


def _killed_run(cmd: list[str], out: str) -> None:
    """``cmd`` SIGKILLed (with its Ray processes) as soon as its first input file is marked done in ``out``."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rw", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    proc = subprocess.Popen(CLI + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "RAY_TMPDIR": str(ray_tmp)})
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list((location(out) / "state").glob("*.json")) and proc.poll() is None:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        _kill_ray_under(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_snapshot_over_s3_into_s3_equals_a_local_run_and_resumes(s3_bucket, sample_warc, tmp_path):
    crawl = tmp_path / "cc"
    listed = build_snapshot(crawl, files=2, pages=4, extra=[sample_warc])
    _upload(crawl, location(s3_bucket.url("cc")))
    cfg = tmp_path / "s3.yaml"
    cfg.write_text(f"sources:\n  cc_base_url: {s3_bucket.url('cc')}\noutput:\n  report: false\n"
                   "reader:\n  batch_size: 10\nrunner:\n  batch_size: 10\n")  # files then finish one by one
    local_cfg = tmp_path / "local.yaml"
    local_cfg.write_text("output:\n  report: false\n")
    out = s3_bucket.url("runs/out")
    run = ["run", str(cfg), "--snapshot", SNAPSHOT, "--output", out, "--workers", "1"]
    _killed_run(run, out)
    assert list((location(out) / "state").glob("*.json")) and not (location(out) / "stats.json").is_file()
    _cli(*run)  # resumes after SIGKILL
    _cli("run", str(local_cfg), "--input", *[str(crawl / p) for p in listed], "--output", str(tmp_path / "local"), "--workers", "1")

    stats = json.loads((location(out) / "stats.json").read_text())
    local = json.loads((tmp_path / "local" / "stats.json").read_text())
    assert [f["path"] for f in stats["files"]] == [s3_bucket.url(f"cc/{p}") for p in listed]
    assert stats["records_read"] == local["records_read"] == 2 * 13 + 37
    assert _counts(stats) == _counts(local)
    assert _corpus(out) == _corpus(tmp_path / "local") and stats["docs_written"] > 0
    assert not (location(out) / ".lock").is_file()
    from refinedweb.report.html import write_report
    from refinedweb.report.inspect import kept_docs

    assert write_report(out).is_file() and (location(out) / "funnel.png").is_file()  # `refinedweb report s3://...`
    assert {d[schema.ID] for d in kept_docs(out, 3)} <= {r[schema.ID] for r in _corpus(out)}

    # a crash after a file's shard was uploaded but before its state (the marker): the next run redoes it
    state = sorted((location(out) / "state").glob("*.json"), key=lambda p: p.name)[0]
    shard = location(out) / "refined" / state.name.replace(".json", ".parquet")
    state.unlink()
    shard.write_bytes(b"PAR1 half an upload")
    res = _cli("run", str(cfg), "--snapshot", SNAPSHOT, "--output", out, "--workers", "1")
    assert "resuming: 2 of 3 input files already done" in res.stderr
    assert _corpus(out) == _corpus(tmp_path / "local")
    assert _counts(json.loads((location(out) / "stats.json").read_text())) == _counts(local)
    assert isinstance(read_table(shard), pa.Table)
