"""FastWARC for the common WARC path: WARC/1.0 and 1.1 files, gzip per record or one stream, or plain.

Reading the record envelope and inflating gzip cost about a tenth of a worker's time with warcio's
pure-Python parser; FastWARC (resiliparse's WARC library, in Rust) does both natively. It is used
for files whose first record says ``WARC/1.0`` or ``WARC/1.1``, which covers Common Crawl's WARC and
WET files; legacy ARC and WARC/0.17, 0.18 (and anything unrecognised, so that its error message
stays warcio's) go on to warcio (warc_io.py). ``open_records`` sniffs the first bytes and hands both
readers the same stream, those bytes replayed first.

Records come out shaped as warc.py reads warcio's (``rec_type``, ``rec_headers``, ``raw_stream``,
``length``), so one classification serves both and reads the HTTP head itself, bounded, as before.
A record shorter than its Content-Length (a truncated file) shows as ``raw_stream.limit`` > 0 after
draining, as with warcio; a header line or block past ``max_header_bytes``, and bytes that are not
a WARC record where one should start, are FastWARC errors, which read_file counts as file errors.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from refinedweb.pipeline.warc_io import HeaderTooLong, Records


class InputCorrupt(Exception):
    """The file cannot be read past this point (junk where a record should start; a record without
    Content-Length has no known end)."""

SNIFF_BYTES = 1 << 12  # raw bytes read to see the first record's version line
FAST_VERSIONS = (b"WARC/1.0\r\n", b"WARC/1.1\r\n", b"WARC/1.0\n", b"WARC/1.1\n")


class _Replay:
    """A read-only stream: ``head`` first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            out = self.stream.read(size)
        elif size is None or size < 0:
            out, self.head = self.head + self.stream.read(), b""
        else:
            out, self.head = self.head[:size], self.head[size:]
        self.pos += len(out)
        return out

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.stream.close()


def _first_line(head: bytes) -> bytes:
    """The first line of the decompressed stream (gzip inflated from ``head`` as far as it goes)."""
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(31).decompress(head, 256)
        except zlib.error:
            return b""
    return head.lstrip(b"\r\n")[:16]


class _Payload:
    """A FastWARC record's block as warcio's ``raw_stream``: ``read``, ``readline`` and ``limit``."""

    def __init__(self, reader, length: int) -> None:
        self.reader = reader
        self.limit = length  # bytes the Content-Length promises that were not read yet

    def read(self, size: int = -1) -> bytes:
        data = self.reader.read(self.limit if size is None or size < 0 else min(size, self.limit))
        self.limit -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        want = self.limit if size is None or size < 0 else min(size, self.limit)
        data = self.reader.readline(want) if want > 0 else b""
        self.limit -= len(data)
        return data


class _Headers:
    """FastWARC's header map under warcio's ``get_header`` name, the target URI as warcio gives it."""

    def __init__(self, headers) -> None:
        self.headers = headers

    def get_header(self, name: str, default=None):
        value = self.headers.get(name, default)
        if name == "WARC-Target-URI" and value:  # warcio: <...> unwrapped, spaces as %20
            if value.startswith("<") and value.endswith(">"):
                value = value[1:-1]
            value = value.replace(" ", "%20")
        return value


class FastRecord:
    """One FastWARC record as warc.py reads a warcio record."""

    format = "warc"

    def __init__(self, record) -> None:
        headers = record.headers
        self.rec_headers = _Headers(headers)
        self.rec_type = (headers.get("WARC-Type") or "").strip()
        length = headers.get("Content-Length")
        self.length = record.content_length if length is not None and length.strip().isdigit() else None
        self.content_type = headers.get("Content-Type")
        self.raw_stream = _Payload(record.reader, self.length or 0)


class FastRecords:
    """FastWARC's record iterator; ``offset`` is where the record last returned starts."""

    def __init__(self, stream, max_header_bytes: int) -> None:
        self.records = iter(ArchiveIterator(stream, record_types=WarcRecordType.any_type, parse_http=False,
                                            max_header_len=max_header_bytes, stream_detect=True))
        self.max_header_bytes = max_header_bytes
        self.offset = 0

    def __iter__(self) -> Iterator[FastRecord]:
        return self

    def __next__(self) -> FastRecord:
        try:
            record = next(self.records)
        except OSError as exc:  # FastWARC's messages, said as the warcio path says them
            if "Maximum header length" in str(exc):
                raise HeaderTooLong(f"a header line or block longer than {self.max_header_bytes} bytes "
                                    "(hostile, or not a WARC file)") from exc
            if "Invalid WARC header" in str(exc):
                raise InputCorrupt("not a WARC record here (junk between records, or the file starts mid-record "
                                   "or holds garbage)") from exc
            raise
        self.offset = record.stream_pos
        return FastRecord(record)


def open_records(stream: BinaryIO, block_size: int, max_header_bytes: int):
    """Records of ``stream``: FastWARC's for a WARC/1.0 or 1.1 file, warcio's (bounded) for any other."""
    head = stream.read(SNIFF_BYTES)
    replay = _Replay(head, stream)
    if _first_line(head).startswith(FAST_VERSIONS):
        return FastRecords(replay, max_header_bytes)
    return Records(replay, block_size, max_header_bytes)


