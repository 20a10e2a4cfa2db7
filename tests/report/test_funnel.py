"""`refinedweb stats`: the funnel of one run, two runs side by side, any list of stages and reasons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refinedweb.cli import main
from refinedweb.config import UserError
from refinedweb.report.funnel import Run, compare_json, format_compare, format_funnel, funnel_rows
from tests.pipeline.test_runner import split_warc

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "refinedweb.cli"]


def _stats(stages):
    """A stats.json with ``stages`` as (name, docs_in, {reason: n}); documents out follow from the drops."""
    out = []
    for name, docs_in, dropped in stages:
        n_out = docs_in - sum(dropped.values())
        out.append({"name": name, "docs_in": docs_in, "docs_out": n_out, "chars_in": 10 * docs_in, "chars_out": 10 * n_out,
                    "dropped": dropped, "seconds": 0.5})  # fmt: skip
    return {"records_read": stages[0][1], "docs_written": out[-1]["docs_out"], "stages": out}


def _write(path: Path, stats) -> Path:
    path.mkdir(parents=True)
    (path / "stats.json").write_text(json.dumps(stats))
    return path


def test_terminal_funnel_shows_every_stage_and_top_reasons(pages_a_run):
    _, stats, _ = pages_a_run
    text = format_funnel(stats)
    rows = {line.split()[0]: line for line in text.splitlines()[1:-1]}
    assert list(rows) == [s["name"] for s in stats["stages"]]
    for st in stats["stages"]:
        line = rows[st["name"]].split()
        assert [int(v) for v in line[1:3]] == [st["docs_in"], st["docs_out"]]
        assert [int(v) for v in line[5:7]] == [st["chars_in"], st["chars_out"]]
        assert line[4] == f"{st['docs_out'] / stats['records_read']:.1%}"
        for reason, n in list(st["dropped"].items())[:3]:
            assert f"{reason} {n}" in rows[st["name"]]


def test_stages_and_reasons_are_generic(tmp_path, capsys):
    a = _stats([("read", 100, {}), ("quality", 100, {"q1": 10}), ("minhash", 90, {"near_duplicate": 30})])
    b = _stats([("read", 100, {}), ("quality", 100, {"q1": 20, "q2": 5}), ("exact_substring", 75, {"dup_span": 5})])
    rows = funnel_rows(a)
    assert [r["kept_of_input"] for r in rows] == [1.0, 0.9, 0.6]
    cmp = compare_json(Run(tmp_path / "a", a, None), Run(tmp_path / "b", b, None))
    assert [s["name"] for s in cmp["stages"]] == ["read", "quality", "minhash", "exact_substring"]
    quality = cmp["stages"][1]
    assert quality["reasons"] == {"q1": {"a": 10, "b": 20, "diff": 10}, "q2": {"a": 0, "b": 5, "diff": 5}}
    assert cmp["stages"][3]["a"]["docs_out"] == 0 and cmp["stages"][3]["b"]["docs_out"] == 70
    assert cmp["docs_written"] == {"a": 60, "b": 70, "diff": 10}
    assert main(["stats", str(_write(tmp_path / "a", a)), "--json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)["stages"]] == ["read", "quality", "minhash"]


def test_missing_run_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(UserError, match="stats.json"):
        Run.load(tmp_path)
    assert main(["stats", str(tmp_path)]) == 2
    assert "stats.json" in capsys.readouterr().err


@pytest.mark.slow
def test_side_by_side_shows_both_runs(pages_a_run, tmp_path):
    """A second, stricter run over a slice of pages-A through the CLI, compared with the pages-A run."""
    out_a, stats_a, _ = pages_a_run
    part = split_warc(REPO.parent / "shared" / "data" / "pages" / "pages-A.warc.gz", tmp_path / "in", parts=1, records=150)[0]
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("language:\n  min_score: 0.9\nquality:\n  min_words: 200\n")
    out_b = tmp_path / "strict"
    res = subprocess.run(CLI + ["run", str(cfg), "--input", str(part), "--output", str(out_b), "--workers", "2"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert (out_b / "report.html").is_file() and (out_b / "funnel.png").is_file()  # every run writes its report
    assert json.loads((out_b / "config.json").read_text())["quality"]["min_words"] == 200
    stats_b = json.loads((out_b / "stats.json").read_text())

    res = subprocess.run(CLI + ["stats", str(out_a), str(out_b), "--json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    cmp = json.loads(res.stdout)
    assert (cmp["a"], cmp["b"]) == (str(out_a), str(out_b))
    for stage_a, stage_b, row in zip(stats_a["stages"], stats_b["stages"], cmp["stages"]):
        assert row["name"] == stage_a["name"] == stage_b["name"]
        assert (row["a"]["docs_out"], row["b"]["docs_out"]) == (stage_a["docs_out"], stage_b["docs_out"])
        assert row["diff"]["docs_out"] == stage_b["docs_out"] - stage_a["docs_out"]
        for reason, c in row["reasons"].items():
            assert (c["a"], c["b"]) == (stage_a["dropped"].get(reason, 0), stage_b["dropped"].get(reason, 0))
    assert cmp["records_read"] == {"a": stats_a["records_read"], "b": 150, "diff": 150 - stats_a["records_read"]}

    text = format_compare(Run.load(out_a), Run.load(out_b))
    assert f"A = {out_a}" in text and f"B = {out_b}" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines()[4:]}
    for stage_a, stage_b in zip(stats_a["stages"], stats_b["stages"]):
        cols = lines[stage_a["name"]]
        assert [int(v) for v in cols[1:6]] == [stage_a["docs_in"], stage_b["docs_in"], stage_a["docs_out"], stage_b["docs_out"],
                                              stage_b["docs_out"] - stage_a["docs_out"]]  # fmt: skip
    quality_b = next(s for s in stats_b["stages"] if s["name"] == "quality")
    assert quality_b["dropped"].get("gopher_too_few_words", 0) > 0  # the stricter threshold shows
