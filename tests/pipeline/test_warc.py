"""WARC / ARC / WET reading: every real fixture with exact accounting, each drop reason, charsets, corrupt input."""

from __future__ import annotations

import gzip
import importlib.util
import io
import re
import sys
import tracemalloc
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refinedweb import schema
from refinedweb.config import ConfigError, UserError, from_dict
from refinedweb.pipeline.warc import COLUMNS, FileStats, ReaderConfig, read_file

REPO = Path(__file__).resolve().parents[2]
CC_2020 = "resiliparse__CC-MAIN-20200808165417-20200808195417-00395.excerpt.warc.gz"
CLUEWEB = "resiliparse__clueweb09-ja-quirk.warc.gz"
DOLMA = "dolma__sample-0000.warc.gz"
ARC = "ukwa-test-suite__IAH-20080430204825-00000-blackbook-truncated.arc.gz"
CHUNKED = "warcio__example-iana.org-chunked.warc"
WET_CLEAN = "jeffharwell__filter_test_1.wet.gz"
WET_TRUNCATED = "jeffharwell__appended_zip_fragment_unexpected_eof.wet.gz"
WET_NO_HEADER = "jeffharwell__fragment2_no_header.wet.gz"

# (records, kept) per dev fixture, from dev/MANIFEST.md; the truncated WET keeps its 15 complete texts.
EXPECTED = {
    CC_2020: (50, 16),
    "whirlwind__CC-MAIN-20240517233122-20240518023122-00000.excerpt.warc.gz": (4, 1),
    "whirlwind__CC-MAIN-20240517233122-20240518023122-00000.excerpt.warc.wet.gz": (2, 1),
    "whirlwind__CC-MAIN-20240517233122-20240518023122-00000.excerpt.warc.wat.gz": (2, 0),
    DOLMA: (48, 22),
    CLUEWEB: (30, 29),
    "ukwa-test-suite__IAH-20080430204825-00000-blackbook-truncated.warc.gz": (23, 2),
    ARC: (9, 2),
    CHUNKED: (3, 1),
    WET_CLEAN: (26, 25),
    WET_TRUNCATED: (17, 15),
    WET_NO_HEADER: (0, 0),
}
FILE_ERRORS = {WET_TRUNCATED: 1, WET_NO_HEADER: 1}


def read_all(path, config: ReaderConfig | None = None) -> tuple[list[dict], FileStats]:
    stats = FileStats(path=str(path))
    rows = [row for table in read_file(str(path), config or ReaderConfig(), stats) for row in table.to_pylist()]
    return rows, stats


def check_rows(rows: list[dict], stats: FileStats) -> None:
    """Exact accounting: one row per record, one reason per dropped row, content only on kept rows."""
    assert len(rows) == stats.records
    assert sum(r[schema.DROP_REASON] is None for r in rows) == stats.html_docs
    for row in rows:
        assert row[schema.ID]
        if row[schema.DROP_REASON] is None:
            assert (row[schema.HTML] is None) != (row[schema.TEXT] is None)
        else:
            assert row[schema.HTML] is None and row[schema.TEXT] is None


class Warc:
    """Hand-written WARC records (warcio's writer), for rules no real fixture shows."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=True)
        self.count = 0

    def response(self, url: str, body: bytes, status: str = "200 OK", headers=(("Content-Type", "text/html"),),
                 payload_type: str | None = None) -> Warc:
        http = StatusAndHeaders(status, list(headers), protocol="HTTP/1.1")
        extra = {"WARC-Identified-Payload-Type": payload_type} if payload_type else {}
        return self._add(url, "response", body, http=http, **extra)

    def raw(self, url: str, kind: str, block: bytes, content_type: str = "application/http; msgtype=response") -> Warc:
        """A record whose block is written as is (warcio does not parse it: URI not http, or not a response)."""
        return self._add(url, kind, block, content_type=content_type)

    def _add(self, url, kind, payload, http=None, content_type="", **extra) -> Warc:
        self.count += 1
        headers = {"WARC-Date": "2023-06-01T00:00:00Z", "WARC-Record-ID": f"<urn:uuid:{self.count:08d}-0000-4000-8000-000000000000>", **extra}
        record = self.writer.create_warc_record(url, kind, payload=io.BytesIO(payload), length=len(payload),
                                                http_headers=http, warc_content_type=content_type, warc_headers_dict=headers)
        self.writer.write_record(record)
        return self

    def save(self, path: Path) -> Path:
        path.write_bytes(self.buffer.getvalue())
        return path


def one_row(tmp_path: Path, warc: Warc, config: ReaderConfig | None = None) -> dict:
    rows, stats = read_all(warc.save(tmp_path / "t.warc.gz"), config)
    check_rows(rows, stats)
    assert len(rows) == 1 and stats.errors == 0
    return rows[0]


PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Hello reader.</p></body></html>"


# --- real files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dev_fixture_counts(shared_data, name):
    folder = "wet" if name.startswith("jeffharwell") else "warc"
    rows, stats = read_all(shared_data / "dev" / folder / name)
    check_rows(rows, stats)
    assert (stats.records, stats.html_docs) == EXPECTED[name]
    assert stats.errors == FILE_ERRORS.get(name, 0)
    for message in stats.error_messages:
        assert name in message


def test_every_dev_file_reads_without_raising(shared_data):
    files = [p for d in ("warc", "wet") for p in sorted((shared_data / "dev" / d).iterdir())]
    assert len(files) >= len(EXPECTED)  # new fixtures are read too, with exact accounting
    for path in files:
        rows, stats = read_all(path)
        check_rows(rows, stats)


def _warcio_only(monkeypatch) -> None:
    """Route every file to warcio, as before FastWARC (pipeline/warc_fast.py)."""
    from refinedweb.pipeline import warc_fast

    monkeypatch.setattr(warc_fast, "FAST_VERSIONS", ())


def test_fastwarc_reads_warc_1x_files_and_warcio_the_others(shared_data, tmp_path):
    from refinedweb.pipeline.warc_fast import FastRecords, open_records
    from refinedweb.pipeline.warc_io import Records

    members = (shared_data / "dev" / "warc" / CC_2020).read_bytes()
    plain = gzip.decompress(members)
    for data in (members, gzip.compress(plain, mtime=0), plain):
        assert isinstance(open_records(io.BytesIO(data), 1 << 16, 1 << 20), FastRecords)
    for name in (ARC, CLUEWEB):  # legacy ARC, WARC/0.18
        assert isinstance(open_records(io.BytesIO((shared_data / "dev" / "warc" / name).read_bytes()), 1 << 16, 1 << 20), Records)


def test_fastwarc_gives_the_rows_and_errors_warcio_gives(shared_data, pages_a, tmp_path, monkeypatch):
    """Every real file, and cut copies of them: the same rows (ids, html, text, reasons) and file errors."""
    files = [p for d in ("warc", "wet") for p in sorted((shared_data / "dev" / d).iterdir())] + [pages_a]
    plain = gzip.decompress((shared_data / "dev" / "warc" / CC_2020).read_bytes())
    for fraction in (0.3, 0.7):
        files.append(_write(tmp_path / f"cut{fraction}.warc", plain[: int(len(plain) * fraction)]))
    fast = [read_all(p) for p in files]
    _warcio_only(monkeypatch)
    for path, (rows, stats) in zip(files, fast):
        old_rows, old_stats = read_all(path)
        assert rows == old_rows, path
        assert (stats.records, stats.html_docs, stats.errors) == (old_stats.records, old_stats.html_docs, old_stats.errors), path


def test_pages_a_all_html(pages_a):
    rows, stats = read_all(pages_a)
    check_rows(rows, stats)
    assert stats.records == 567 and stats.errors == 0
    assert stats.html_docs >= 560
    # 21 records have non-http URIs ("hard::...") that warcio leaves unparsed: their HTTP head must not leak
    assert not any(r[schema.HTML].startswith("HTTP/") for r in rows if r[schema.HTML])
    assert all(r[schema.SOURCE] == str(pages_a) for r in rows)


def test_table_schema_and_batches(shared_data):
    path = shared_data / "dev" / "warc" / CC_2020
    tables = list(read_file(str(path), ReaderConfig(batch_size=7), FileStats(str(path))))
    assert [t.num_rows for t in tables] == [7] * 7 + [1]
    assert all(t.schema == pa.schema([(c, pa.string()) for c in COLUMNS]) for t in tables)


def test_cc_ids_dates_and_charsets(shared_data):
    rows, _ = read_all(shared_data / "dev" / "warc" / CC_2020)
    assert all(re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", r[schema.ID]) for r in rows)
    assert len({r[schema.ID] for r in rows}) == 50
    assert all(r[schema.DATE].startswith("2020-08-08T") for r in rows)
    kept = {r[schema.URL]: r[schema.HTML] for r in rows if r[schema.DROP_REASON] is None}
    assert "О компании" in kept["http://01spb.ru/company/"]  # windows-1251 from the HTTP header
    assert "\ufffd" not in kept["http://037426.cn/"]  # gb2312 label, decoded as GB18030


def test_clueweb_euc_jp_decodes_to_japanese(shared_data):
    rows, stats = read_all(shared_data / "dev" / "warc" / CLUEWEB)
    pages = [r[schema.HTML] for r in rows if r[schema.HTML]]
    assert len(pages) == 29 and stats.errors == 0
    for html in pages:  # gzip Content-Encoding header over an already-decoded body, EUC-JP
        text = re.sub(r"<[^>]*>", "", html)
        cjk = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", text))
        assert cjk / max(len(text.strip()), 1) > 0.1
        assert "\ufffd" not in html and "¥" not in html  # no mojibake
    assert rows[1][schema.DATE] == "2008-10-294T05:21:46-0700"  # malformed date kept as written


def test_chunked_capture_decodes(shared_data):
    rows, _ = read_all(shared_data / "dev" / "warc" / CHUNKED)
    (html,) = [r[schema.HTML] for r in rows if r[schema.HTML]]
    assert html.startswith("<!doctype html>")
    assert html.rstrip().endswith("</html>")
    assert not re.search(r"^[0-9a-f]{2,6}\r?$", html, re.M)  # no chunk-size lines left


def test_angle_bracket_uris_unwrapped(shared_data, tmp_path):
    rows, _ = read_all(shared_data / "dev" / "warc" / DOLMA)
    assert all(not r[schema.URL].startswith("<") for r in rows if r[schema.URL])
    kept = [r[schema.URL] for r in rows if r[schema.DROP_REASON] is None]
    assert len(kept) == 22 and all(u.startswith("https://") and not u.endswith(">") for u in kept)
    row = one_row(tmp_path, Warc().raw("<http://example.com/a>", "response", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE))
    assert row[schema.URL] == "http://example.com/a"


def test_arc_records_get_stable_ids_and_iso_dates(shared_data):
    path = shared_data / "dev" / "warc" / ARC
    first, _ = read_all(path)
    again, _ = read_all(path)
    assert [r[schema.ID] for r in first] == [r[schema.ID] for r in again]
    assert len({r[schema.ID] for r in first}) == 9
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[schema.DATE]) for r in first)
    reasons = {r[schema.URL]: r[schema.DROP_REASON] for r in first}
    assert reasons["http://www.archive.org/"] is None
    assert reasons["http://www.archive.org/images/logoc.jpg"] == schema.NOT_HTML
    assert reasons["dns:www.archive.org"] == schema.NOT_HTML


def test_wet_conversion_records_are_text(shared_data):
    path = shared_data / "dev" / "wet" / WET_CLEAN  # one single gzip stream, not per-record members
    rows, _ = read_all(path)
    kept = [r for r in rows if r[schema.DROP_REASON] is None]
    assert len(kept) == 25 and all(r[schema.HTML] is None and len(r[schema.TEXT]) > 50 for r in kept)
    rows, stats = read_all(path, ReaderConfig(keep_wet=False))
    assert stats.html_docs == 0 and {r[schema.DROP_REASON] for r in rows} == {schema.WARC_NOT_RESPONSE}


def test_truncated_file_is_an_error_after_the_records_before_it(shared_data):
    path = shared_data / "dev" / "wet" / WET_TRUNCATED
    rows, stats = read_all(path)
    check_rows(rows, stats)
    assert stats.errors == 1 and "truncated" in stats.error_messages[0] and str(path) in stats.error_messages[0]
    assert [r[schema.DROP_REASON] for r in rows[-2:]] == [None, schema.WARC_RECORD_ERROR]
    assert sum(r[schema.TEXT] is not None for r in rows) == 15


def test_file_starting_mid_record_is_an_error(shared_data):
    path = shared_data / "dev" / "wet" / WET_NO_HEADER
    rows, stats = read_all(path)
    assert rows == [] and stats.errors == 1 and str(path) in stats.error_messages[0]


@pytest.mark.parametrize("layout", ["members", "single", "plain"])
def test_truncation_and_garbage_never_raise(shared_data, tmp_path, layout):
    plain = gzip.decompress((shared_data / "dev" / "warc" / CC_2020).read_bytes())
    data = {"members": (shared_data / "dev" / "warc" / CC_2020).read_bytes(), "single": gzip.compress(plain, mtime=0),
            "plain": plain}[layout]
    whole, _ = read_all(_write(tmp_path / "whole", data))
    assert len(whole) == 50
    for fraction in (0.05, 0.5, 0.9):
        rows, stats = read_all(_write(tmp_path / f"cut{fraction}", data[: int(len(data) * fraction)]))
        check_rows(rows, stats)
        assert stats.errors == 1 and 0 < len(rows) < 50
        assert [r[schema.ID] for r in rows[:-1]] == [r[schema.ID] for r in whole[: len(rows) - 1]]
    rows, stats = read_all(_write(tmp_path / "tail", data + b"\x00garbage after the last record\n" * 3))
    assert len(rows) == 50 and stats.errors == 1


def test_garbage_and_empty_files(tmp_path):
    rows, stats = read_all(_write(tmp_path / "junk.warc.gz", bytes(range(256)) * 20))
    assert rows == [] and stats.errors == 1
    rows, stats = read_all(_write(tmp_path / "junk2.warc.gz", b"\x1f\x8b" + bytes(range(256)) * 20))
    assert rows == [] and stats.errors == 1
    rows, stats = read_all(_write(tmp_path / "empty.warc", b""))
    assert rows == [] and stats.errors == 0


def test_missing_file_is_a_user_error(tmp_path):
    missing = tmp_path / "nope.warc.gz"
    with pytest.raises(UserError, match=re.escape(str(missing))):
        list(read_file(str(missing), ReaderConfig(), FileStats(str(missing))))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- each reading rule on a hand-written record ------------------------------------------------


def test_non_response_records_dropped(tmp_path):
    warc = Warc().raw("http://a.example/", "request", b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "application/http; msgtype=request")
    warc.raw("http://a.example/", "metadata", b"fetchTimeMs: 12\r\n", "application/warc-fields")
    warc.raw("http://a.example/", "revisit", b"", "application/http; msgtype=response")
    rows, stats = read_all(warc.save(tmp_path / "t.warc.gz"))
    assert [r[schema.DROP_REASON] for r in rows] == [schema.WARC_NOT_RESPONSE] * 3
    assert [r[schema.URL] for r in rows] == ["http://a.example/"] * 3


def test_status_not_200(tmp_path):
    row = one_row(tmp_path, Warc().response("http://a.example/x", b"<html>gone</html>", status="404 Not Found"))
    assert row[schema.DROP_REASON] == schema.HTTP_NOT_200
    assert row[schema.ID] == "<urn:uuid:00000001-0000-4000-8000-000000000000>"
    assert row[schema.URL] == "http://a.example/x" and row[schema.DATE] == "2023-06-01T00:00:00Z"


def test_non_http_uri_http_head_is_parsed(tmp_path):
    block = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /b\r\nContent-Type: text/html\r\n\r\n" + PAGE
    assert one_row(tmp_path, Warc().raw("hard::a.html", "response", block))[schema.DROP_REASON] == schema.HTTP_NOT_200
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + PAGE
    assert one_row(tmp_path, Warc().raw("hard::b.html", "response", block))[schema.HTML] == PAGE.decode()


def test_not_html(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    assert one_row(tmp_path, Warc().response("http://a.example/i.png", png, headers=[("Content-Type", "image/png")]))[
        schema.DROP_REASON] == schema.NOT_HTML
    row = one_row(tmp_path, Warc().response("http://a.example/t", b"just text", headers=[("Content-Type", "text/plain")]))
    assert row[schema.DROP_REASON] == schema.NOT_HTML


def test_identified_payload_type_wins_over_http_header(tmp_path):
    row = one_row(tmp_path, Warc().response("http://a.example/p", b"%PDF-1.4 ...", payload_type="application/pdf"))
    assert row[schema.DROP_REASON] == schema.NOT_HTML
    row = one_row(tmp_path, Warc().response("http://a.example/q", PAGE, headers=[("Content-Type", "text/plain")],
                                            payload_type="application/xhtml+xml"))
    assert row[schema.DROP_REASON] is None


def test_untyped_payload_is_sniffed(tmp_path):
    row = one_row(tmp_path, Warc().response("http://a.example/u", b"\n  " + PAGE, headers=[]))
    assert row[schema.DROP_REASON] is None and row[schema.HTML].strip() == PAGE.decode()
    row = one_row(tmp_path, Warc().response("http://a.example/v", b"\x89PNG\r\n\x1a\n" + bytes(32), headers=[]))
    assert row[schema.DROP_REASON] == schema.NOT_HTML


def test_empty_payload(tmp_path):
    assert one_row(tmp_path, Warc().response("http://a.example/e", b""))[schema.DROP_REASON] == schema.EMPTY_PAYLOAD
    assert one_row(tmp_path, Warc().response("http://a.example/w", b" \r\n\t "))[schema.DROP_REASON] == schema.EMPTY_PAYLOAD


def test_undecodable_body_is_a_record_error(tmp_path):
    corrupt = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 200
    warc = Warc().response("http://a.example/c", corrupt, headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
    warc.response("http://a.example/ok", PAGE)
    rows, stats = read_all(warc.save(tmp_path / "t.warc.gz"))
    assert [r[schema.DROP_REASON] for r in rows] == [schema.WARC_RECORD_ERROR, None]
    assert stats.errors == 0  # the body is bad, not the file


def test_resource_record_with_html_type(tmp_path):
    row = one_row(tmp_path, Warc().raw("file:///site/index.html", "resource", PAGE, "text/html; charset=utf-8"))
    assert row[schema.DROP_REASON] is None and row[schema.HTML] == PAGE.decode()
    row = one_row(tmp_path, Warc().raw("file:///site/log.txt", "resource", b"log line\n", "text/plain"))
    assert row[schema.DROP_REASON] == schema.NOT_HTML


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "chunked+gzip"])
def test_content_and_transfer_encodings(tmp_path, encoding):
    if encoding == "gzip":
        body, headers = gzip.compress(PAGE), [("Content-Encoding", "gzip")]
    elif encoding == "deflate":
        body, headers = zlib.compress(PAGE), [("Content-Encoding", "deflate")]
    elif encoding == "deflate-raw":
        raw = zlib.compressobj(wbits=-15)
        body, headers = raw.compress(PAGE) + raw.flush(), [("Content-Encoding", "deflate")]
    else:
        packed = gzip.compress(PAGE)
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (packed[:10], packed[10:])) + b"0\r\n\r\n"
        headers = [("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]
    row = one_row(tmp_path, Warc().response("http://a.example/z", body, headers=[("Content-Type", "text/html"), *headers]))
    assert row[schema.HTML] == PAGE.decode()


def test_payload_over_cap_is_kept_cut(tmp_path):
    big = b"<html><body>" + b"<p>word word word</p>" * 2000 + b"</body></html>"
    row = one_row(tmp_path, Warc().response("http://a.example/big", big), ReaderConfig(max_payload_bytes=4096))
    assert row[schema.DROP_REASON] is None and row[schema.HTML] == big[:4096].decode()


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="^batch_size:"):
        ReaderConfig(batch_size=0)
    with pytest.raises(ConfigError, match="^max_payload_bytes:"):
        ReaderConfig(max_payload_bytes=10)
    with pytest.raises(ConfigError, match="^max_header_bytes:"):
        ReaderConfig(max_header_bytes=100)
    with pytest.raises(ConfigError, match=r"^reader\.max_batch_bytes:"):
        from_dict(ReaderConfig, {"max_batch_bytes": 0}, "reader")


# --- the demo sample -------------------------------------------------------------------------------


def _sample_script():
    spec = importlib.util.spec_from_file_location("make_sample_warc", REPO / "scripts" / "make_sample_warc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_sample_warc_is_deterministic_and_fully_read(tmp_path):
    script = _sample_script()
    first, second = tmp_path / "a" / "sample.warc.gz", tmp_path / "b" / "sample.warc.gz"
    assert script.main(["--output", str(first)]) == 0
    script.write_sample(second)
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size < 2_000_000
    rows, stats = read_all(first)
    check_rows(rows, stats)
    assert 190 <= stats.records <= 210 and stats.errors == 0
    reasons = [r[schema.DROP_REASON] for r in rows]
    assert reasons.count(schema.HTTP_NOT_200) == 2 and reasons.count(schema.NOT_HTML) == 1
    kept = {r[schema.URL]: r[schema.HTML] for r in rows if r[schema.DROP_REASON] is None}
    assert len(kept) == 63
    htmls = list(kept.values())
    assert len(set(htmls)) == len(htmls) - 4  # four exact duplicates
    assert any("/print/" in url for url in kept)  # the page without any payload type, sniffed
    for lang in ("de", "fr", "es"):
        assert sum(f'<html lang="{lang}">' in h for h in htmls) == 2
    assert any("Apprendre à jardiner sur un balcon" in h for h in htmls)  # the ISO-8859-1 page
    assert any("Consejos para aprender un idioma" in h for h in htmls)  # the gzip-encoded page
    assert not any("\ufffd" in h for h in htmls)
    assert any("porn" in url for url in kept) and any("cheap-watches" in url for url in kept)
    assert all("Read more" in h or "Continue reading" in h for u, h in kept.items() if "/articles/" in u)


# --- hostile bytes: each ends as a named drop or a file error, in bounded time and memory ------------


def test_negative_chunk_size_is_a_record_error(tmp_path):
    headers = [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")]
    warc = Warc().response("http://a.example/neg", b"-4\r\n" + PAGE + b"\r\n0\r\n\r\n", headers=headers)
    rows, stats = read_all(warc.response("http://a.example/ok", PAGE).save(tmp_path / "t.warc.gz"))
    assert [r[schema.DROP_REASON] for r in rows] == [schema.WARC_RECORD_ERROR, None] and stats.errors == 0


def _gzip_member(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _peak_bytes(path: Path, config: ReaderConfig) -> tuple[list[dict], FileStats, int]:
    """Rows, stats and the peak of Python allocations while reading ``path``."""
    tracemalloc.start()
    try:
        rows, stats = read_all(path, config)
        return rows, stats, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BOUNDED = ReaderConfig(max_header_bytes=1 << 16)
HUGE = 16 << 20  # a 16 MiB line gzips to ~16 KB


def test_huge_warc_header_line_is_a_file_error_in_bounded_memory(tmp_path):
    record = b"WARC/1.0\r\nWARC-Type: response\r\nX-Junk: " + b"a" * HUGE + b"\r\nContent-Length: 0\r\n\r\n\r\n\r\n"
    path = _write(tmp_path / "line.warc.gz", _gzip_member(record) + Warc().response("http://a.example/", PAGE).buffer.getvalue())
    rows, stats, peak = _peak_bytes(path, BOUNDED)
    assert rows == [] and stats.errors == 1 and "longer than 65536 bytes" in stats.error_messages[0]
    assert peak < 8 << 20  # the line is never held whole


def test_junk_line_between_records_is_a_file_error_in_bounded_memory(tmp_path):
    data = Warc().response("http://a.example/", PAGE).buffer.getvalue() + _gzip_member(b"\x00" * HUGE + b"\n")
    rows, stats, peak = _peak_bytes(_write(tmp_path / "junk.warc.gz", data), BOUNDED)
    assert [r[schema.DROP_REASON] for r in rows] == [None] and stats.errors == 1
    # a WARC/1.x file is FastWARC's (pipeline/warc_fast.py): junk is not a record, whatever its length
    assert "junk between records" in stats.error_messages[0] and peak < 8 << 20


@pytest.mark.parametrize("shape", ["one line", "many lines"])
def test_huge_http_header_is_a_record_error_in_bounded_memory(tmp_path, shape):
    junk = b"X-Junk: " + b"a" * HUGE + b"\r\n" if shape == "one line" else b"X-Junk: aaaaaaaaaaaaaaaa\r\n" * (HUGE // 26)
    block = b"HTTP/1.1 200 OK\r\n" + junk + b"Content-Type: text/html\r\n\r\n" + PAGE
    warc = Warc().raw("http://a.example/big-head", "response", block).response("http://a.example/ok", PAGE)
    rows, stats, peak = _peak_bytes(warc.save(tmp_path / "t.warc.gz"), BOUNDED)
    assert [r[schema.DROP_REASON] for r in rows] == [schema.WARC_RECORD_ERROR, None] and stats.errors == 0
    assert peak < 8 << 20


def test_gzip_member_is_inflated_in_bounded_blocks(tmp_path):
    """A 32 MiB body gzips to ~32 KB: one read block of it must not inflate whole."""
    warc = Warc().raw("http://a.example/zeros.bin", "resource", b"\x00" * (32 << 20), "image/png")
    rows, stats, peak = _peak_bytes(warc.response("http://a.example/ok", PAGE).save(tmp_path / "t.warc.gz"), BOUNDED)
    assert [r[schema.DROP_REASON] for r in rows] == [schema.NOT_HTML, None] and stats.errors == 0
    assert peak < 8 << 20
