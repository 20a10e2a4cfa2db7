"""The refinery end to end on Ray: exact accounting on every real fixture, pages-A, resume, clusters."""

from __future__ import annotations

import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from refinedweb import schema
from refinedweb.pipeline.config import PipelineConfig, load_config
from refinedweb.pipeline.runner import run
from refinedweb.core.stats import stages_from_json

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "refinedweb.yaml"
CLI = [sys.executable, "-m", "refinedweb.cli"]
pytestmark = pytest.mark.slow


def _kept(out: Path):
    return pq.read_table(out / "data")


def _assert_accounting(stats: dict) -> None:
    dropped = sum(sum(s["dropped"].values()) for s in stats["stages"])
    assert stats["records_read"] == stats["docs_written"] + dropped
    assert sum(f["records"] for f in stats["files"]) == stats["records_read"]
    stages = stages_from_json(stats["stages"])
    assert all(a.docs_out == b.docs_in for a, b in zip(stages, stages[1:]))


def split_warc(path: Path, folder: Path, parts: int, records: int | None = None) -> list[Path]:
    """Cut a per-record-gzip WARC into ``parts`` files by byte ranges (the records stay byte-identical)."""
    spans = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for rec in it:
            rec.content_stream().read()
            spans.append((it.get_record_offset(), it.get_record_length()))
            if records and len(spans) >= records:
                break
    data = path.read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    step = -(-len(spans) // parts)
    for i in range(parts):
        chunk = spans[i * step : (i + 1) * step]
        p = folder / f"part-{i:02d}.warc.gz"
        p.write_bytes(b"".join(data[o : o + n] for o, n in chunk))
        out.append(p)
    return out


def test_pages_a_accounts_for_every_record_and_keeps_english(pages_a_run):
    out, stats, _ = pages_a_run
    assert stats["records_read"] == 567
    _assert_accounting(stats)
    names = [s["name"] for s in stats["stages"]]
    assert names == ["read", "url_filter", "extract", "language", "repetition", "quality", "lines", "minhash", "exact_substring", "url_dedup"]
    table = _kept(out)
    assert len(table) == stats["docs_written"] > 50
    assert set(table.column(schema.LANGUAGE).to_pylist()) == {"en"}
    assert pc.min(table.column(schema.LANGUAGE_SCORE)).as_py() >= 0.65
    assert table.column_names[:7] == list(schema.OUTPUT_BASE_COLUMNS)
    assert len(set(table.column(schema.ID).to_pylist())) == len(table)
    state = json.loads(next((out / "state").glob("*.json")).read_text())
    assert state["records"] == 567 and state["docs_refined"] == len(pq.read_table(out / "refined"))
    assert "docs_written" not in state  # the final corpus's count, known only after dedup: stats.json's
    phases = stats["phase_seconds"]
    assert set(phases) == {"refine", "dedup"} and phases["refine"] > 0 and phases["dedup"] > 0
    assert phases["refine"] + phases["dedup"] <= stats["wall_seconds"] + 0.05


def test_rejected_samples_carry_their_reason(pages_a_run):
    out, stats, _ = pages_a_run
    rejected = pq.read_table(out / "rejected")
    reasons = set(rejected.column(schema.DROP_REASON).to_pylist())
    all_reasons = {r for s in stats["stages"] for r in s["dropped"]}
    assert reasons == all_reasons
    lang = rejected.filter(pc.equal(rejected[schema.DROP_REASON], schema.LANGUAGE_NOT_TARGET))
    assert all(json.loads(s)[schema.LANGUAGE] != "en" for s in lang["signals"].to_pylist())


def test_local_worker_streamed_blocks_and_whole_files_give_the_same_run(pages_a, tmp_path):
    import ray

    parts = split_warc(pages_a, tmp_path / "in", parts=2, records=60)
    cfg = load_config(str(CONFIG))
    cfg = replace(cfg, dedup=cfg.dedup.with_kinds([]))  # the global dedup phase runs on Ray whatever the workers
    was_up = ray.is_initialized()
    local = run(cfg, [str(p) for p in parts], tmp_path / "local", workers=1)
    assert ray.is_initialized() == was_up, "one local worker must not start Ray"
    on_ray = run(cfg, [str(p) for p in parts], tmp_path / "ray", workers=2)  # 2 files < 2 per worker: streamed blocks
    whole = replace(cfg, runner=replace(cfg.runner, files_per_worker=1))
    whole_files = run(whole, [str(p) for p in parts], tmp_path / "whole", workers=2)  # each actor reads whole files
    _assert_accounting(local)
    strip = lambda st: [{k: s[k] for k in ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped")} for s in st]
    assert strip(local["stages"]) == strip(on_ray["stages"]) == strip(whole_files["stages"])
    ids = _kept(tmp_path / "local")[schema.ID].to_pylist()
    assert ids == _kept(tmp_path / "ray")[schema.ID].to_pylist() == _kept(tmp_path / "whole")[schema.ID].to_pylist()
    assert local["docs_written"] > 0


def test_every_dev_fixture_runs_with_exact_accounting(shared_data, tmp_path):
    files = sorted(str(p) for d in ("warc", "wet") for p in (shared_data / "dev" / d).iterdir())
    stats = run(PipelineConfig(), files, tmp_path / "out", workers=2)
    _assert_accounting(stats)
    by_name = {Path(f["path"]).name: f for f in stats["files"]}
    assert len(by_name) == len(files)
    assert by_name["resiliparse__CC-MAIN-20200808165417-20200808195417-00395.excerpt.warc.gz"]["html_docs"] == 16
    assert by_name["jeffharwell__appended_zip_fragment_unexpected_eof.wet.gz"]["errors"] >= 1
    assert by_name["jeffharwell__fragment2_no_header.wet.gz"]["errors"] >= 1
    kept = _kept(tmp_path / "out")
    assert set(kept.column(schema.LANGUAGE).to_pylist()) == {"en"}


def _kill_ray_under(temp_dir: Path) -> None:
    """SIGKILL every process whose command line names ``temp_dir`` (a killed driver's Ray daemons)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(temp_dir).encode() in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass


def test_resume_after_sigkill_equals_an_uninterrupted_run(pages_a, tmp_path):
    parts = split_warc(pages_a, tmp_path / "in", parts=6, records=180)
    cfg = tmp_path / "small-batches.yaml"
    cfg.write_text("reader:\n  batch_size: 10\nrunner:\n  batch_size: 10\n")  # files then finish one by one
    pattern = str(tmp_path / "in" / "part-*.warc.gz")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    cmd = CLI + ["run", str(cfg), "--input", pattern, "--workers", "2"]
    subprocess.run(cmd + ["--output", str(straight)], check=True, capture_output=True, timeout=600)
    ray_tmp = Path(tempfile.mkdtemp(prefix="rw", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    proc = subprocess.Popen(cmd + ["--output", str(resumed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "RAY_TMPDIR": str(ray_tmp)})
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list((resumed / "state").glob("*.json")):
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        _kill_ray_under(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    done = list((resumed / "state").glob("*.json"))
    assert 1 <= len(done) < len(parts), "the kill should land half-way"
    subprocess.run(cmd + ["--output", str(resumed)], check=True, capture_output=True, timeout=600)
    a = json.loads((straight / "stats.json").read_text())
    b = json.loads((resumed / "stats.json").read_text())
    assert set(_kept(straight)[schema.ID].to_pylist()) == set(_kept(resumed)[schema.ID].to_pylist())
    for key in ("records_read", "docs_written"):
        assert a[key] == b[key]
    strip = lambda st: [{k: s[k] for k in ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped")} for s in st]
    assert strip(a["stages"]) == strip(b["stages"])
    assert not list((resumed / "data").glob(".*.tmp"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_joins_an_existing_cluster_with_address(pages_a, tmp_path):
    parts = split_warc(pages_a, tmp_path / "in", parts=2, records=30)
    port = _free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    ray_tmp = Path(tempfile.mkdtemp(prefix="rw", dir="/tmp"))  # its own temp dir: stopping it stops only it
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_TMPDIR": str(ray_tmp)}
    try:
        subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                        f"--temp-dir={ray_tmp}", "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env, timeout=120)
        res = subprocess.run(CLI + ["run", str(CONFIG), "--input", *map(str, parts), "--output", str(tmp_path / "out"),
                                    "--address", f"127.0.0.1:{port}"], capture_output=True, text=True, env=env, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        assert stats["records_read"] == 30
        _assert_accounting(stats)
    finally:
        _kill_ray_under(ray_tmp)  # never `ray stop`: it would also stop this test process's own Ray
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "/nonexistent/*.warc.gz"], "/nonexistent/*.warc.gz"),
        (["--input", "X", "--workers", "0"], "--workers"),
    ],
)
def test_cli_errors_name_the_input(args, message, tmp_path):
    res = subprocess.run(CLI + ["run", str(CONFIG), "--output", str(tmp_path / "o"), *args], capture_output=True, text=True)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "yaml_text, field",
    [("quality:\n  min_wordz: 3\n", "quality.min_wordz"), ("language:\n  min_score: 2.0\n", "language.min_score")],
)
def test_cli_config_errors_name_the_field(yaml_text, field, tmp_path, pages_a):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    res = subprocess.run(CLI + ["run", str(cfg), "--input", str(pages_a), "--output", str(tmp_path / "o")], capture_output=True, text=True)
    assert res.returncode == 2
    assert field in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_snapshot_reads_common_crawl_over_http(cc_server, tmp_path):
    cfg = tmp_path / "cc.yaml"
    cfg.write_text(f"sources:\n  cc_base_url: {cc_server.base_url}\n")
    out = tmp_path / "out"
    res = subprocess.run(CLI + ["run", str(cfg), "--snapshot", "CC-MAIN-TEST", "--max-files", "1", "--output", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    first = sorted((cc_server.root / "crawl-data").rglob("*.warc.gz"))[0].relative_to(cc_server.root)
    assert [f["path"] for f in stats["files"]] == [cc_server.url(str(first))]
    assert stats["records_read"] == 13 and stats["files"][0]["html_docs"] == 4
    _assert_accounting(stats)
    unknown = subprocess.run(CLI + ["run", str(cfg), "--snapshot", "CC-MAIN-NOPE", "--output", str(out)], capture_output=True, text=True)
    assert unknown.returncode == 2 and "CC-MAIN-NOPE" in unknown.stderr
