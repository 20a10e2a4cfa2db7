"""The progress renderer (counts -> the line) and what each console mode writes."""

from __future__ import annotations

import io

import pytest

from refinedweb.core.console import LIVE, PLAIN, QUIET, Console, Counts, format_eta, format_progress, current, use_console


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@pytest.mark.parametrize("done,total,items,kept,seconds", [(3, 10, 1234, 345, 20.0), (1, 90_000, 40_000, 9_000, 3_700.0),
                                                           (7, 8, 5, 0, 0.5)])
def test_line_has_files_rate_kept_and_eta(done, total, items, kept, seconds):
    line = format_progress("refine", Counts(done, total, items, kept, seconds))
    assert line.startswith("refine: ")
    assert f"{done}/{total} files" in line
    assert f"{items:,} pages ({items / seconds:,.1f} pages/s)" in line
    assert f"{kept:,} kept" in line
    assert line.endswith(f"ETA {_hms(seconds * (total - done) / done)}")


def test_eta_unknown_before_the_first_file_and_zero_at_the_end():
    assert format_eta(Counts(0, 5, 100, 10, 30.0)) == "?"
    assert format_eta(Counts(5, 5, 100, 10, 30.0)) == "0:00:00"
    assert format_eta(Counts(2, 4, 0, 0, 0.0)) == "?"


def test_units_are_named():
    line = format_progress("dedup apply", Counts(1, 2, 10, 4, 2.0), unit="docs", of="shards")
    assert "1/2 shards" in line and "10 docs (5.0 docs/s)" in line


def test_plain_console_writes_a_line_per_file_with_its_note():
    out = io.StringIO()
    with Console(PLAIN, out).phase("refine", 2) as phase:
        phase.add(items=10, kept=3)
        phase.file_done("a.warc.gz: 10 records -> 3 documents")
        phase.add(items=5, kept=1)
        phase.file_done("b.warc.gz: 5 records -> 1 documents")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("refine: 1/2 files, 10 pages") and lines[0].endswith("| a.warc.gz: 10 records -> 3 documents")
    assert lines[1].startswith("refine: 2/2 files, 15 pages") and "4 kept" in lines[1]


def test_plain_console_heartbeat_when_no_file_finishes():
    out = io.StringIO()
    phase = Console(PLAIN, out, heartbeat_s=60).phase("refine", 3)
    phase._draw("", force=False)  # just started: no line yet
    assert out.getvalue() == ""
    phase.last_line -= 61  # a minute without a finished file
    phase._draw("", force=False)
    phase.close()
    assert out.getvalue().startswith("refine: 0/3 files")


def test_quiet_console_writes_only_errors():
    out = io.StringIO()
    console = Console(QUIET, out)
    with console.phase("refine", 1) as phase:
        phase.add(items=3, kept=1)
        phase.file_done("x: 3 records -> 1 documents")
        phase.rename("refine again")
    console.info("resuming: 1 of 2 input files already done")
    console.error("quarantined x: broken")
    assert out.getvalue() == "quarantined x: broken\n"


def test_live_console_draws_the_last_line():
    out = io.StringIO()
    with Console(LIVE, out).phase("tokenize", 2, unit="docs", of="shards") as phase:
        phase.add(items=4, kept=4)
        phase.file_done()
    assert "tokenize: 1/2 shards, 4 docs" in out.getvalue()


def test_auto_is_plain_off_a_terminal_and_quiet_when_asked():
    assert Console.auto(stream=io.StringIO()).mode == PLAIN
    assert Console.auto(quiet=True, stream=io.StringIO()).mode == QUIET


def test_current_is_the_console_set():
    mine = Console(QUIET, io.StringIO())
    with use_console(mine):
        assert current() is mine
    assert current() is not mine and current().mode == PLAIN
