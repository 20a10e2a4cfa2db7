"""Read WARC / ARC / WET files into batches of raw documents: one row per record, kept or dropped.

RefinedWeb starts from raw WARC (not WET) so that its own extractor sees the HTML (RefinedWeb §3.1);
WET ``conversion`` records are accepted too and used as text. Every record read becomes exactly one
row, so the runner can check ``records == written + sum(dropped)``: HTTP 200 HTML responses (and
``resource`` records of an HTML type) are kept with their decoded HTML, everything else is a row with
a drop reason and null html/text.

FastWARC parses the record envelope of WARC 1.0/1.1 files and inflates their gzip (warc_fast.py);
warcio that of WARC 0.17/0.18 and legacy ARC. Around warcio, for a pipeline that must account for every record: a ``.warc.gz`` written as
one gzip stream, which warcio reads correctly but refuses after the first record (it could not seek
into it), is accepted, since a pipeline reads front to back; a record shorter than its declared
length (a truncated file, which warcio takes for a clean end) is a file error; the HTTP head is
parsed here for every response (warcio skips records whose URI is not http(s), e.g. ``hard::x``);
and bodies are de-chunked and inflated under a size cap (http_body.py).

Body decoding lives in http_body.py, charsets in charset.py.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import pyarrow as pa
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import timestamp_to_iso_date

from refinedweb import schema
from refinedweb.config import check
from refinedweb.pipeline.charset import (
    CHARSET_SCAN_BYTES,
    DETECT_BYTES,
    content_type_charset,
    html_to_utf8,
    is_utf8,
    sniff_html,
)
from refinedweb.pipeline.http_body import BodyError, decode_transfer
from refinedweb.pipeline.sources import SourcesConfig, TransientInputError, open_input
from refinedweb.pipeline.warc_fast import InputCorrupt, open_records
from refinedweb.pipeline.warc_io import BoundedHeaderParser, HeaderTooLong

COLUMNS = (schema.ID, schema.URL, schema.DATE, schema.SOURCE, schema.HTML, schema.TEXT, schema.DROP_REASON)
ROW_SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"})
UNKNOWN_TYPES = frozenset({"", "unknown/unknown", "application/unknown", "*/*", "application/octet-stream"})
MAX_ERROR_MESSAGES = 20  # per file: enough to diagnose, bounded on a file full of bad records
_BLOCK = 1 << 18  # warcio's read block; bigger than its 16 KiB default, fewer Python-level calls


@dataclass(frozen=True)
class ReaderConfig:
    """Reading WARC / ARC / WET records into raw-document batches."""

    batch_size: int = 256
    """Rows (records, kept or dropped) per yielded table."""
    max_batch_bytes: int = 256 << 20
    """A table is also yielded once its html/text reach this many bytes (bounds memory; < 1 GiB
    keeps every column within Arrow's 2 GiB per-array offsets)."""
    max_payload_bytes: int = 8 << 20
    """Cap on one record's payload (raw and decoded). Longer payloads are kept cut at the cap, as
    Common Crawl itself cuts at 1 MiB (``WARC-Truncated: length``), so CC files never reach it."""
    keep_wet: bool = True
    """Use WET ``conversion`` records as text (TEXT set, HTML null); false drops them."""
    sniff_bytes: int = 1024
    """Bytes looked at to sniff HTML where no payload type is given (WHATWG MIME Sniffing §7.1)."""
    charset_scan_bytes: int = CHARSET_SCAN_BYTES
    """Bytes searched for ``<meta charset>`` (WHATWG prescans 1024; pages with long heads need more)."""
    detect_bytes: int = DETECT_BYTES
    """Bytes given to charset_normalizer when nothing declares the charset and it is not UTF-8."""
    max_header_bytes: int = 1 << 20
    """Cap on one header line and on one header block (WARC, ARC or HTTP), and on a line of junk
    between records: real heads are a few KB, so a longer one is hostile or garbage. An HTTP head
    past it is a ``warc_record_error`` row, a WARC head or junk line a file error (issue 18)."""

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(1 <= self.max_batch_bytes <= 1 << 30, "max_batch_bytes", f"must be in [1, 2^30], got {self.max_batch_bytes}")
        check(1024 <= self.max_payload_bytes <= 1 << 30, "max_payload_bytes",
              f"must be in [1024, 2^30] (one record's body is held in memory), got {self.max_payload_bytes}")
        check(self.sniff_bytes >= 16, "sniff_bytes", f"must be >= 16, got {self.sniff_bytes}")
        check(self.charset_scan_bytes >= 64, "charset_scan_bytes", f"must be >= 64, got {self.charset_scan_bytes}")
        check(self.detect_bytes >= 64, "detect_bytes", f"must be >= 64, got {self.detect_bytes}")
        check(self.max_header_bytes >= 1024, "max_header_bytes", f"must be >= 1024, got {self.max_header_bytes}")


@dataclass
class FileStats:
    """What reading one file found, filled while reading.

    ``records`` counts every record whose header was read (= rows yielded); ``html_docs`` the kept
    ones (HTML pages, or WET texts). ``errors`` counts failures of the file itself (truncated,
    corrupt, starting mid-record, broken download), each with a message naming the file; a record
    whose body alone is bad is a ``warc_record_error`` row, not a file error.
    """

    path: str
    records: int = 0
    html_docs: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)

    def add_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            self.error_messages.append(message)



def read_file(
    source: str, config: ReaderConfig, stats: FileStats, sources: SourcesConfig | None = None
) -> Iterator[pa.Table]:
    """Yield tables of ``COLUMNS``, one row per record of ``source`` (a path or an http(s) URL).

    Never raises on bad content: a corrupt or truncated file ends the file with an error counted in
    ``stats`` (every record before it is kept). A missing local file raises ``UserError``.
    """
    stream = open_input(source, sources)
    batch = _Batch(source, config)
    try:
        records = open_records(stream, _BLOCK, config.max_header_bytes)
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            offset = records.offset  # start of this record, in uncompressed bytes
            _read_record(record, offset, source, config, stats, batch)
            if batch.full():
                yield batch.flush()
    except TransientInputError:
        raise  # the file is not done (an outage, a deadline): not a broken file
    except (ArchiveLoadFailed, InputCorrupt, HeaderTooLong, OSError, ValueError, EOFError, zlib.error) as exc:
        stats.add_error(f"{source}: {_describe(exc)} (after {stats.records} records)")
    finally:
        stream.close()
    if batch.rows:
        yield batch.flush()


def _read_record(
    record: ArcWarcRecord, offset: int, source: str, config: ReaderConfig, stats: FileStats, batch: _Batch
) -> None:
    """Classify one record, append its row, and leave the stream at the next record."""
    headers = record.rec_headers
    stats.records += 1
    if record.format == "arc":
        url = headers.get_header("uri")
        date = _arc_date(headers.get_header("archive-date"))
        record_id = None
    else:
        url = _unwrap(headers.get_header("WARC-Target-URI"))
        date = headers.get_header("WARC-Date")
        record_id = headers.get_header("WARC-Record-ID")
    if not record_id:
        record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{url}|{date}|{offset}')}>"
    if record.length is None:
        batch.add(record_id, url, date, None, None, schema.WARC_RECORD_ERROR)
        raise InputCorrupt(f"record {record_id} has no Content-Length")
    try:
        reason, html, text = _classify(record, config)
    except (InputCorrupt, OSError, EOFError):
        batch.add(record_id, url, date, None, None, schema.WARC_RECORD_ERROR)
        raise
    except (BodyError, HeaderTooLong, ValueError, LookupError, zlib.error):
        reason, html, text = schema.WARC_RECORD_ERROR, None, None
    missing = _drain(record.raw_stream)
    if missing:
        batch.add(record_id, url, date, None, None, schema.WARC_RECORD_ERROR)
        stats.add_error(f"{source}: record {record_id} cut short, {missing} bytes missing (truncated file)")
        return
    if reason is None:
        stats.html_docs += 1
    batch.add(record_id, url, date, html, text, reason)


def _classify(record: ArcWarcRecord, config: ReaderConfig) -> tuple[str | None, bytes | None, bytes | None]:
    """(drop reason, html, text) of one record, as UTF-8; reads at most ``max_payload_bytes`` of its body."""
    cap = config.max_payload_bytes
    rec_type = record.rec_type
    if rec_type == "conversion":
        if not config.keep_wet:
            return schema.WARC_NOT_RESPONSE, None, None
        body = record.raw_stream.read(cap)
        if not body or body.isspace():
            return schema.EMPTY_PAYLOAD, None, None
        return None, None, body if is_utf8(body) else body.decode("utf-8", "replace").encode("utf-8")
    if rec_type not in ("response", "resource"):
        return schema.WARC_NOT_RESPONSE, None, None

    http, head = _http_head(record, config.max_header_bytes) if rec_type == "response" else (None, b"")
    if http is not None and http.get_statuscode() != "200":
        return schema.HTTP_NOT_200, None, None
    declared = http.get_header("Content-Type") if http is not None else _payload_content_type(record)
    mime = _mime(record.rec_headers.get_header("WARC-Identified-Payload-Type"))
    if mime in UNKNOWN_TYPES:
        mime = _mime(declared)
    if mime not in UNKNOWN_TYPES and mime not in HTML_TYPES:
        return schema.NOT_HTML, None, None

    body = head + record.raw_stream.read(max(cap - len(head), 0))
    if http is not None:
        body = decode_transfer(body, http, cap)
    if not body or body.isspace():
        return schema.EMPTY_PAYLOAD, None, None
    if mime in UNKNOWN_TYPES and not sniff_html(body[: config.sniff_bytes]):
        return schema.NOT_HTML, None, None
    charset = content_type_charset(declared)
    return None, html_to_utf8(body, charset, config.charset_scan_bytes, config.detect_bytes), None


def _http_head(record: ArcWarcRecord, max_bytes: int) -> tuple[StatusAndHeaders | None, bytes]:
    """Parse the HTTP status line and headers at the start of a response body, if there are any.

    Done here for every response (warcio skips records whose URI is not http(s), e.g. ``hard::x``
    in pages-A): returns (headers, b"") or, for a body that is not HTTP, (None, its first line).
    """
    first = record.raw_stream.readline(8192)
    if not first.startswith(b"HTTP/"):
        return None, first
    return BoundedHeaderParser(["HTTP/"], False, max_bytes).parse(record.raw_stream, first), b""


def _payload_content_type(record: ArcWarcRecord) -> str | None:
    """The payload type of a record with no HTTP head: its WARC/ARC Content-Type."""
    if record.format == "arc":
        return record.rec_headers.get_header("content-type")
    value = record.content_type or ""
    return None if value.lower().startswith("application/http") else value


def _drain(stream) -> int:
    """Read the rest of a record; return how many bytes its declared length promised but were absent."""
    while stream.read(_BLOCK):
        pass
    return max(getattr(stream, "limit", 0), 0)


# --- small helpers -----------------------------------------------------------------------------


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _unwrap(uri: str | None) -> str | None:
    """``<http://x>`` -> ``http://x`` (wget 1.19-1.21 wrote WARC-Target-URI in angle brackets)."""
    if uri and uri.startswith("<") and uri.endswith(">"):
        return uri[1:-1]
    return uri


def _arc_date(value: str | None) -> str | None:
    """ARC's 14-digit ``YYYYMMDDhhmmss`` as ISO 8601, e.g. ``2008-04-30T20:48:25Z``."""
    if value and value.isdigit() and len(value) >= 14:
        return timestamp_to_iso_date(value[:14])
    return value


def _describe(exc: BaseException) -> str:
    """One printable line for an error message (garbage bytes must not reach a log as control codes)."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split()))
    if isinstance(exc, ArchiveLoadFailed) and "first line" in text:
        text = "not a WARC/ARC record here (file starts mid-record or holds garbage): " + text[:160]
    return f"{type(exc).__name__}: {text[:300]}"


class _Batch:
    """Column lists of the rows read so far; ``flush`` turns them into a table."""

    def __init__(self, source: str, config: ReaderConfig) -> None:
        self.source = source
        self.config = config
        self._reset()

    def _reset(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in COLUMNS}
        self.rows = 0
        self.chars = 0

    def add(self, record_id, url, date, html, text, reason) -> None:
        values = (record_id, url, date, self.source, html, text, reason)
        for name, value in zip(COLUMNS, values):
            self.columns[name].append(value)
        self.rows += 1
        self.chars += len(html or b"") + len(text or b"")

    def full(self) -> bool:
        return self.rows >= self.config.batch_size or self.chars >= self.config.max_batch_bytes

    def flush(self) -> pa.Table:
        """The rows so far as a table; html/text arrive as UTF-8 bytes and are cast (validated) in C."""
        arrays = {}
        for name in COLUMNS:
            if name in (schema.HTML, schema.TEXT):
                arrays[name] = pa.array(self.columns[name], pa.binary()).cast(pa.string())
            else:
                arrays[name] = pa.array(self.columns[name], pa.string())
        table = pa.table(arrays, schema=ROW_SCHEMA)
        self._reset()
        return table
