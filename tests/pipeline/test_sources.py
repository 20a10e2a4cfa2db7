"""Input sources: local globs, Common Crawl listings over HTTP, and a download that resumes where it broke."""

from __future__ import annotations

import gzip
import os
import re
import time

import pytest

from refinedweb.config import ConfigError, UserError, from_dict
from refinedweb.pipeline.sources import (
    HttpStream,
    RemoteInputError,
    SourcesConfig,
    TransientInputError,
    open_input,
    snapshot_inputs,
)
from refinedweb.pipeline.warc import FileStats, ReaderConfig, read_file
from tests.pipeline.ccserver import SNAPSHOT, CCServer, build_snapshot


def fast(server: CCServer, **kw) -> SourcesConfig:
    """Sources pointed at the test server, with no sleeping between retries."""
    return SourcesConfig(cc_base_url=server.base_url, retry_backoff_s=0.0, http_timeout_s=10.0, **kw)


def rows_of(source: str, sources: SourcesConfig | None = None) -> tuple[list[dict], FileStats]:
    stats = FileStats(path=source)
    rows = [r for t in read_file(source, ReaderConfig(), stats, sources) for r in t.to_pylist()]
    return rows, stats


def warc_paths(server: CCServer) -> list[str]:
    listing = gzip.decompress((server.root / f"crawl-data/{SNAPSHOT}/warc.paths.gz").read_bytes()).decode()
    return listing.split()


# --- local inputs --------------------------------------------------------------------------------


def test_open_input_missing_local_file(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "gone.warc"))):
        open_input(str(tmp_path / "gone.warc"))


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="^http_retries:"):
        SourcesConfig(http_retries=-1)
    with pytest.raises(ConfigError, match="^cc_base_url:"):
        SourcesConfig(cc_base_url="ftp://x")
    with pytest.raises(ConfigError, match=r"^sources\.http_timeout_s:"):
        from_dict(SourcesConfig, {"http_timeout_s": 0}, "sources")


# --- Common Crawl over HTTP ----------------------------------------------------------------------------


def test_snapshot_inputs_lists_the_files(cc_server):
    urls = snapshot_inputs(SNAPSHOT, fast(cc_server), None)
    assert urls == [cc_server.url(p) for p in warc_paths(cc_server)] and len(urls) == 2
    assert snapshot_inputs(SNAPSHOT, fast(cc_server), 1) == urls[:1]


def test_unknown_snapshot_is_a_user_error(cc_server):
    with pytest.raises(UserError, match="CC-MAIN-1999-99"):
        snapshot_inputs("CC-MAIN-1999-99", fast(cc_server), None)
    with pytest.raises(UserError, match="not a Common Crawl snapshot name"):
        snapshot_inputs("../etc", fast(cc_server), None)


def test_read_file_over_http_equals_local(cc_server):
    for rel in warc_paths(cc_server):
        remote, remote_stats = rows_of(cc_server.url(rel), fast(cc_server))
        local, local_stats = rows_of(str(cc_server.root / rel))
        assert len(remote) == 13 and remote_stats.errors == 0 and remote_stats.html_docs == 4
        strip = [{k: v for k, v in r.items() if k != "source"} for r in remote]
        assert strip == [{k: v for k, v in r.items() if k != "source"} for r in local]
        assert all(r["source"] == cc_server.url(rel) for r in remote)


def test_mid_stream_drop_resumes_with_range(cc_server):
    rel = warc_paths(cc_server)[0]
    expected, _ = rows_of(str(cc_server.root / rel))
    cc_server.drop_once(rel)
    rows, stats = rows_of(cc_server.url(rel), fast(cc_server))
    assert stats.errors == 0
    assert [(r["id"], r["html"]) for r in rows] == [(r["id"], r["html"]) for r in expected]
    seen = [r for r in cc_server.requests if r.path.endswith(rel)]
    size = (cc_server.root / rel).stat().st_size
    assert [(r.range, r.status) for r in seen] == [(None, 200), (f"bytes={size // 2}-", 206)]


def test_stream_bytes_identical_after_drop_and_503(cc_server):
    rel = warc_paths(cc_server)[1]
    cc_server.fail_once(rel, 503)
    cc_server.drop_once(rel)
    with open_input(cc_server.url(rel), fast(cc_server)) as stream:
        data = stream.read()
        raw = stream.raw
    assert data == (cc_server.root / rel).read_bytes()
    assert isinstance(raw, HttpStream) and raw.reconnects == 1
    assert [r.status for r in cc_server.requests if r.path.endswith(rel)] == [503, 200, 206]


def test_server_ignoring_range_is_skipped_forward(cc_server):
    rel = warc_paths(cc_server)[0]
    cc_server.faults.ignore_range = True
    cc_server.drop_once(rel)
    with open_input(cc_server.url(rel), fast(cc_server)) as stream:
        assert stream.read() == (cc_server.root / rel).read_bytes()
    assert [r.status for r in cc_server.requests if r.path.endswith(rel)] == [200, 200]


def test_retries_exhausted_raise_remote_error(cc_server):
    rel = warc_paths(cc_server)[0]
    cc_server.fail_once(rel, 503, times=3)
    with pytest.raises(RemoteInputError, match="HTTP 503"):
        open_input(cc_server.url(rel), fast(cc_server, http_retries=2))
    assert len([r for r in cc_server.requests if r.path.endswith(rel)]) == 3


def test_missing_remote_file_is_a_user_error(cc_server):
    url = cc_server.url("crawl-data/CC-MAIN-TEST/segments/x/warc/missing.warc.gz")
    with pytest.raises(UserError, match=re.escape(url)):
        rows_of(url, fast(cc_server))


def test_remote_inputs_can_be_disabled(cc_server):
    with pytest.raises(UserError, match="remote inputs are disabled"):
        open_input(cc_server.url(warc_paths(cc_server)[0]), fast(cc_server, enabled=False))
    with pytest.raises(UserError, match="remote inputs are disabled"):
        snapshot_inputs(SNAPSHOT, fast(cc_server, enabled=False), None)


def test_build_snapshot_with_extra_files(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    source = tmp_path / "extra.warc.gz"
    source.write_bytes(gzip.compress(b""))
    listed = build_snapshot(tmp_path / "cc", files=1, pages=2, extra=[source])
    assert len(listed) == 2 and (tmp_path / "cc" / listed[1]).read_bytes() == source.read_bytes()
    with CCServer(tmp_path / "cc") as server:
        assert snapshot_inputs(SNAPSHOT, fast(server), None) == [server.url(p) for p in listed]


# --- hostile or failing servers (issue 18.7) -------------------------------------------------------


def test_outage_mid_file_is_transient_not_a_file_error(cc_server):
    rel = warc_paths(cc_server)[0]
    cc_server.drop_once(rel, then=[503] * 5)
    with pytest.raises(TransientInputError, match="503"):
        rows_of(cc_server.url(rel), fast(cc_server, http_retries=2))


def test_permanent_error_mid_file_is_a_file_error(cc_server):
    rel = warc_paths(cc_server)[0]
    cc_server.drop_once(rel, then=[401])
    rows, stats = rows_of(cc_server.url(rel), fast(cc_server))
    assert stats.errors == 1 and "HTTP 401" in stats.error_messages[0] and len(rows) < 13


def test_one_retry_budget_across_reconnects(cc_server):
    rel = warc_paths(cc_server)[0]
    cc_server.drop_once(rel, then=[503] * 10)
    with pytest.raises(TransientInputError):
        with open_input(cc_server.url(rel), fast(cc_server, http_retries=2)) as stream:
            stream.read()
    # the drop, then two failed reconnects: 3 consecutive failures in all, not 3 per reconnect
    assert [r.status for r in cc_server.requests if r.path.endswith(rel)] == [200, 503, 503]


@pytest.mark.parametrize("validators", [True, False])
def test_resume_of_a_changed_object_is_refused(cc_server, validators):
    rel = warc_paths(cc_server)[0]
    data = (cc_server.root / rel).read_bytes()
    changed = bytes(reversed(data)) if validators else data + b"\0" * 100  # same size: only the ETag tells
    cc_server.faults.validators = validators
    cc_server.drop_once(rel, replace=changed)
    with pytest.raises(TransientInputError, match="changed on the server"):
        with open_input(cc_server.url(rel), fast(cc_server)) as stream:
            stream.read()


def test_trickling_server_hits_the_file_deadline(cc_server):
    rel = warc_paths(cc_server)[0]
    assert (cc_server.root / rel).stat().st_size > 4 * 512
    cc_server.faults.trickle_s = 0.25  # 512 bytes every 250 ms: never a socket timeout, done after > 1 s
    start = time.monotonic()
    with pytest.raises(TransientInputError, match="deadline"):
        rows_of(cc_server.url(rel), fast(cc_server, http_deadline_s=0.5))
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("length", ["12abc", "-5", "1e3"])
def test_malformed_content_length_reads_to_the_end(cc_server, length):
    rel = warc_paths(cc_server)[0]
    cc_server.faults.content_length = length
    rows, stats = rows_of(cc_server.url(rel), fast(cc_server))
    assert len(rows) == 13 and stats.errors == 0


def test_deadline_config_names_the_field():
    with pytest.raises(ConfigError, match="^http_deadline_s:"):
        SourcesConfig(http_deadline_s=0)
