"""One bad input file never stops a run (issue 18 item 6): its error is counted, it is tried again, then quarantined."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from refinedweb.config import UserError
from refinedweb.pipeline import runner, sources, warc
from refinedweb.pipeline.config import load_config
from refinedweb.pipeline.runner import run

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "refinedweb.yaml"
MISSING = "crawl-data/CC-MAIN-TEST/segments/gone.warc.gz"


def _config(**runner_settings):
    """The paper's config without dedup (no Ray start: these tests are about reading)."""
    config = load_config(str(CONFIG))
    return replace(config, dedup=config.dedup.with_kinds([]), runner=replace(config.runner, **runner_settings))


def _good(cc_server) -> str:
    rel = sorted((cc_server.root / "crawl-data").rglob("*.warc.gz"))[0].relative_to(cc_server.root)
    return cc_server.url(str(rel))


def _tries(monkeypatch) -> dict[str, int]:
    """Count the reads of each input (the real ``read_file`` runs)."""
    calls: dict[str, int] = {}
    real = runner.read_file

    def counted(path, *args):
        calls[path] = calls.get(path, 0) + 1
        return real(path, *args)

    monkeypatch.setattr(runner, "read_file", counted)
    return calls


def test_a_404_input_is_quarantined_after_its_tries_and_the_other_files_are_written(cc_server, tmp_path, monkeypatch):
    good, gone, out = _good(cc_server), cc_server.url(MISSING), tmp_path / "out"
    tries = _tries(monkeypatch)
    stats = run(_config(file_tries=2), [good, gone], out, workers=1)  # the 404 raised and ended the whole run
    assert [f["path"] for f in stats["files"]] == [good] and stats["records_read"] == 13
    assert stats["files"][0]["html_docs"] == 4 and stats["docs_written"] == stats["files"][0]["docs_written"]
    [q] = stats["quarantined"]
    assert q["path"] == gone and q["tries"] == 2 and "RemoteNotFound" in q["reason"] and "404" in q["reason"]
    assert tries == {good: 1, gone: 2}
    assert json.loads((out / "stats.json").read_text())["quarantined"] == [q]


def test_a_resume_skips_a_quarantined_file_instead_of_failing_on_it_again(cc_server, tmp_path, monkeypatch):
    good, gone, out = _good(cc_server), cc_server.url(MISSING), tmp_path / "out"
    first = run(_config(), [good, gone], out, workers=1)
    tries = _tries(monkeypatch)
    again = run(_config(), [good, gone], out, workers=1)
    assert tries == {}  # neither read again: one done, one quarantined
    assert again["quarantined"] == first["quarantined"] and again["files"] == first["files"]


def test_a_missing_local_file_is_quarantined_not_fatal(cc_server, tmp_path):
    gone = str(tmp_path / "deleted-after-listing.warc.gz")
    stats = run(_config(file_tries=1), [_good(cc_server), gone], tmp_path / "out", workers=1)
    assert [q["path"] for q in stats["quarantined"]] == [gone] and "input file not found" in stats["quarantined"][0]["reason"]
    assert stats["records_read"] == 13


def test_a_read_error_while_skipping_a_record_body_is_the_file_error_not_the_end_of_the_run(cc_server, tmp_path, monkeypatch):
    """The reader counts the record, then the skip fails: it used to raise 'reader counted N records but yielded M rows'."""
    real, drained = warc._drain, []

    def broken_skip(stream):
        drained.append(1)
        if len(drained) == 5:
            raise ConnectionResetError("connection reset while skipping a body")
        return real(stream)

    monkeypatch.setattr(warc, "_drain", broken_skip)
    good = _good(cc_server)
    stats = run(_config(), [good], tmp_path / "out", workers=1)
    [f] = stats["files"]
    assert f["records"] == 4  # the four records before the one whose skip failed
    assert any("counted 5 records but yielded 4 rows" in m for m in f["error_messages"])
    assert f["errors"] == 2  # the reader's own (the reset) and the uncounted record


def test_a_transient_failure_is_left_not_done_for_a_resume_to_retry(cc_server, tmp_path, monkeypatch):
    from refinedweb.pipeline.sources import TransientInputError

    good, out = _good(cc_server), tmp_path / "out"
    real = runner.read_file

    def outage(path, *args):
        raise TransientInputError(f"{path}: network unreachable")
        yield  # a generator, like read_file

    monkeypatch.setattr(runner, "read_file", outage)
    stats = run(_config(), [good], out, workers=1)
    assert stats["not_done"] == [{"path": good, "reason": f"TransientInputError: {good}: network unreachable"}]
    assert "quarantined" not in stats and stats["files"] == []
    monkeypatch.setattr(runner, "read_file", real)  # the network is back
    resumed = run(_config(), [good], out, workers=1)
    assert "not_done" not in resumed and resumed["records_read"] == 13


def test_remote_inputs_switched_off_stop_the_run_instead_of_quarantining_every_file(cc_server, tmp_path):
    config = _config()
    config = replace(config, sources=replace(config.sources, enabled=False))
    with pytest.raises(UserError, match="remote inputs are disabled"):
        run(config, [_good(cc_server)], tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "quarantine").exists()


@pytest.mark.slow
@pytest.mark.parametrize("files_per_worker", [1, 0], ids=["whole-files-on-actors", "ray-data-blocks"])
def test_on_ray_a_failed_file_is_quarantined_and_the_others_are_written(files_per_worker, cc_server, tmp_path):
    good, gone = _good(cc_server), cc_server.url(MISSING)
    stats = run(_config(files_per_worker=files_per_worker, file_tries=1), [good, gone], tmp_path / "out", workers=2)
    assert [q["path"] for q in stats["quarantined"]] == [gone]
    assert [f["path"] for f in stats["files"]] == [good] and stats["records_read"] == 13
