"""The dedup phase end to end: in `refinedweb run`, standalone over Parquet folders, planted duplicates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.cli import main
from refinedweb.dedup.standalone import dedup_folder
from refinedweb.core.output import OutputConfig
from refinedweb.dedup.config import DedupConfig
from refinedweb.pipeline.config import PipelineConfig
from refinedweb.core.stats import stages_from_json
from refinedweb.core.output import read_rejected
from tests.dedup.test_exact import _passage, _pieces, _plant

CLI = [sys.executable, "-m", "refinedweb.cli"]
DEDUP_STAGES = ["minhash", "exact_substring", "url_dedup"]
pytestmark = pytest.mark.slow


def _assert_accounting(stats: dict) -> None:
    dropped = sum(sum(s["dropped"].values()) for s in stats["stages"])
    assert stats["records_read"] == stats["docs_written"] + dropped
    stages = stages_from_json(stats["stages"])
    assert all(a.docs_out == b.docs_in for a, b in zip(stages, stages[1:]))


def _chars(table: pa.Table) -> int:
    return int(pc.sum(pc.utf8_length(table.column(schema.TEXT))).as_py() or 0)


def test_run_on_pages_a_adds_the_dedup_stages_and_writes_the_final_corpus(pages_a_run):
    out, stats, _ = pages_a_run
    assert [s["name"] for s in stats["stages"]][-4:] == ["lines"] + DEDUP_STAGES
    _assert_accounting(stats)
    assert stats == json.loads((out / "stats.json").read_text())
    refined, final = pq.read_table(out / "refined"), pq.read_table(out / "data")
    lines, minhash, exact, url = stats["stages"][-4:]
    assert minhash["docs_in"] == lines["docs_out"] == len(refined) and minhash["chars_in"] == _chars(refined)
    assert len(final) == stats["docs_written"] == url["docs_out"] and _chars(final) == url["chars_out"]
    assert exact["chars_in"] - exact["chars_out"] >= exact["extra"]["chars_cut"] > 0  # pages-A repeats a boilerplate paragraph
    assert set(final[schema.ID].to_pylist()) <= set(refined[schema.ID].to_pylist())
    assert final.column_names == refined.column_names
    file = stats["files"][0]
    assert file["shard"].startswith("data/") and file["docs_written"] == len(final) and file["docs_refined"] == len(refined)
    assert (out / "dedup" / "done.json").is_file()


@pytest.fixture(scope="module")
def refined(pages_a_run) -> pa.Table:
    return pq.read_table(pages_a_run[0] / "refined")


def _set_text(table: pa.Table, row: int, text: str) -> pa.Table:
    texts = table.column(schema.TEXT).to_pylist()
    texts[row] = text
    return table.set_column(table.schema.get_field_index(schema.TEXT), schema.TEXT, pa.array(texts, pa.string()))


def _append(table: pa.Table, row: dict) -> pa.Table:
    return pa.concat_tables([table, pa.Table.from_pylist([row], schema=table.schema)])


def test_planted_duplicates_are_removed_under_their_reasons(refined, tmp_path):
    texts = refined.column(schema.TEXT).to_pylist()
    long_p, short_p = _passage(texts[100], 60), _passage(texts[101], 40)
    assert len(_pieces(long_p)) >= 59 and len(_pieces(short_p)) <= 41
    a = refined.slice(0, 70)
    for i in (10, 20, 30):
        a = _set_text(a, i, _plant(texts[i], long_p))
    for i in (12, 22):
        a = _set_text(a, i, _plant(texts[i], short_p))
    a = _set_text(a, 40, long_p + "\nok, bye.")
    b = refined.slice(70).drop_columns([schema.ID])  # ids become "b.parquet:<row>"
    copy = {**a.slice(5, 1).to_pylist()[0], schema.URL: "https://example.org/elsewhere"}
    b = _append(b, {k: copy[k] for k in b.column_names})
    same_url = {**b.slice(0, 1).to_pylist()[0], schema.URL: a[schema.URL][7].as_py() + "#reviews",
                schema.TEXT: " ".join(reversed(texts[8].split()))}
    b = _append(b, same_url)
    (tmp_path / "in").mkdir()
    pq.write_table(a, tmp_path / "in" / "a.parquet")
    pq.write_table(b, tmp_path / "in" / "b.parquet")
    stats = dedup_folder(DedupConfig(), OutputConfig(), tmp_path / "in", tmp_path / "out", workers=2)
    assert [s["name"] for s in stats["stages"]] == DEDUP_STAGES
    _assert_accounting(stats)
    rejected = {(r[schema.DROP_REASON], r[schema.ID]) for r in read_rejected(tmp_path / "out").to_pylist()}
    n = len(b)
    assert (schema.DEDUP_MINHASH_DUPLICATE, f"b.parquet:{n - 2}") in rejected
    assert (schema.DEDUP_EXACT_TOO_SHORT, a[schema.ID][40].as_py()) in rejected
    assert (schema.DEDUP_URL_DUPLICATE, f"b.parquet:{n - 1}") in rejected
    final_a = pq.read_table(tmp_path / "out" / "data" / "a.parquet")
    final_texts = dict(zip(final_a[schema.ID].to_pylist(), final_a[schema.TEXT].to_pylist()))
    for i in (10, 20, 30):
        assert long_p[:40] not in final_texts[a[schema.ID][i].as_py()]
    for i in (12, 22):
        assert short_p in final_texts[a[schema.ID][i].as_py()]
    final_b = pq.read_table(tmp_path / "out" / "data" / "b.parquet")
    assert final_b.column_names == b.column_names and len(final_b) <= n - 2
    assert all(long_p[:40] not in t for t in final_b[schema.TEXT].to_pylist())  # the source copy is cut too
    assert stats["stages"][1]["extra"]["spans_cut"] >= 5


def _two_snapshots(pages_a_run, root: Path) -> Path:
    shard = next((pages_a_run[0] / "refined").glob("*.parquet"))
    for snap in ("snap-1", "snap-2"):
        (root / snap).mkdir(parents=True)
        shutil.copy(shard, root / snap / shard.name)
    return shard


def test_standalone_cli_removes_cross_snapshot_duplicates_and_skips_a_rerun(pages_a_run, tmp_path):
    shard = _two_snapshots(pages_a_run, tmp_path / "in")
    cmd = CLI + ["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--workers", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    _assert_accounting(stats)
    one_run = pq.read_table(pages_a_run[0] / "data")  # the same dedup over one snapshot
    first = pq.read_table(tmp_path / "out" / "data" / "snap-1" / shard.name)
    second = pq.read_table(tmp_path / "out" / "data" / "snap-2" / shard.name)
    assert first[schema.ID].to_pylist() == one_run[schema.ID].to_pylist()
    assert first[schema.TEXT].to_pylist() == one_run[schema.TEXT].to_pylist()
    assert len(second) == 0 and stats["docs_written"] == len(one_run)
    assert stats["stages"][0]["dropped"][schema.DEDUP_MINHASH_DUPLICATE] >= stats["records_read"] // 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data", "dedup", "logs", "rejected", "stats.json"]  # logs/: ray.log
    assert [p.name for p in (tmp_path / "out" / "rejected").iterdir()] == ["sample.parquet"]  # one bounded sample
    done = tmp_path / "out" / "dedup" / "done.json"
    before = done.stat().st_mtime_ns, (tmp_path / "out" / "data" / "snap-1" / shard.name).stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already done" in again.stderr
    assert (done.stat().st_mtime_ns, (tmp_path / "out" / "data" / "snap-1" / shard.name).stat().st_mtime_ns) == before
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["stages"] == stats["stages"]


def test_url_kind_alone_keeps_the_first_snapshot(pages_a_run, refined, tmp_path):
    shard = _two_snapshots(pages_a_run, tmp_path / "in")
    assert main(["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--kind", "url"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert [s["name"] for s in stats["stages"]] == ["url_dedup"]
    urls = [u for u in refined[schema.URL].to_pylist() if u]
    assert stats["stages"][0]["dropped"] == {schema.DEDUP_URL_DUPLICATE: len(refined) + len(urls) - len(set(urls))}
    first = pq.read_table(tmp_path / "out" / "data" / "snap-1" / shard.name)
    assert len(first) == len(set(urls)) + len(refined) - len(urls)


def test_every_kind_off_links_the_input_through(pages_a_run, tmp_path):
    shard = _two_snapshots(pages_a_run, tmp_path / "in")
    assert main(["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--kind", ""]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["stages"] == [] and stats["docs_written"] == stats["records_read"]
    assert pq.read_table(tmp_path / "out" / "data" / "snap-2" / shard.name).equals(pq.read_table(shard))


def test_bad_input_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notext").mkdir()
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "notext" / "t.parquet")
    cases = [(tmp_path / "empty", str(tmp_path / "empty")), (tmp_path / "notext", str(tmp_path / "notext" / "t.parquet")),
             (tmp_path / "missing", str(tmp_path / "missing"))]
    for folder, named in cases:
        assert main(["dedup", "--input", str(folder), "--output", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert named in err and len(err.splitlines()) == 1
    assert main(["dedup", "--input", str(tmp_path / "notext"), "--output", str(tmp_path / "o"), "--kind", "fuzzy"]) == 2
    assert "--kind" in capsys.readouterr().err


def test_switching_the_report_off_does_not_redo_the_dedup_phase(tmp_path):
    from dataclasses import replace

    from refinedweb.dedup.phase import Shard, _fingerprint
    from refinedweb.core.output import OutputConfig

    pq.write_table(pa.table({schema.TEXT: ["x"]}), tmp_path / "a.parquet")
    shards, cfg = [Shard(str(tmp_path / "a.parquet"), "a.parquet")], PipelineConfig().dedup
    on, off = OutputConfig(), replace(OutputConfig(), report=False)
    assert _fingerprint(shards, cfg, on, 50) == _fingerprint(shards, cfg, off, 50)
    assert _fingerprint(shards, cfg, on, 50) != _fingerprint(shards, cfg, replace(on, compression="snappy"), 50)
