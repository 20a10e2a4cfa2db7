"""HTTP body decoding: ``Transfer-Encoding: chunked`` and ``Content-Encoding`` (gzip, deflate, br).

Done here in C (``zlib``) under a size cap rather than by warcio, whose own body decoder cuts a
corrupt gzip body short without telling. Every decoder bounds its output while decoding (a body of
a few KB can inflate to GBs) and fails on hostile input with ``BodyError``, which the reader turns
into a ``warc_record_error`` row.
"""

from __future__ import annotations

import zlib

from warcio.statusandheaders import StatusAndHeaders

MAX_CHUNK_LINE = 256  # bytes searched for the end of a chunk-size line


class BodyError(Exception):
    """One record's body cannot be decoded (bad Content-Encoding data, a corrupt chunk size)."""


def decode_transfer(body: bytes, http: StatusAndHeaders, cap: int) -> bytes:
    """Undo ``Transfer-Encoding: chunked`` and ``Content-Encoding`` (gzip, deflate; brotli if installed)."""
    if "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
        body = dechunk(body)
    encodings = [e.strip().lower() for e in (http.get_header("Content-Encoding") or "").split(",")]
    for encoding in reversed(encodings):
        body = decompress_body(body, encoding, cap)
    return body


def dechunk(data: bytes) -> bytes:
    """Join the chunks of an HTTP/1.1 chunked body (RFC 9112 §7.1).

    Data that does not start with a chunk-size line is returned as is (servers and crawlers often
    keep the header after un-chunking); a body cut mid-chunk keeps what is there. A negative chunk
    size (``-4``, which ``int`` accepts) is a ``BodyError``: it would move backwards, forever.
    """
    parts, pos, size_end = [], 0, len(data)
    while pos < size_end:
        eol = data.find(b"\n", pos, pos + MAX_CHUNK_LINE)
        if eol < 0:
            if pos == 0:
                return data
            break
        try:
            size = int(data[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            if pos == 0:
                return data
            break
        if size < 0:
            raise BodyError(f"negative chunk size {size} at byte {pos}")
        if size == 0:
            break
        start = eol + 1
        parts.append(data[start : start + size])
        pos = start + size
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif data.startswith(b"\n", pos):
            pos += 1
    return b"".join(parts)


def decompress_body(data: bytes, encoding: str, cap: int) -> bytes:
    """Undo one ``Content-Encoding``; data that is plainly not encoded (no gzip magic) passes through.

    Crawlers often store the decoded body but keep the header (ClueWeb09 does), hence the magic
    check. A body cut short (Common Crawl truncates at 1 MiB) inflates to what is there.
    """
    if encoding in ("", "identity", "none"):
        return data
    if encoding in ("gzip", "x-gzip"):
        if not data.startswith(b"\x1f\x8b"):
            return data
        return _inflate(data, 16 + zlib.MAX_WBITS, cap)
    if encoding == "deflate":
        if data[:1] in (b"<", b" ", b"\n", b"\r", b"\t"):
            return data
        try:
            return _inflate(data, zlib.MAX_WBITS, cap)  # zlib-wrapped, as the RFC says
        except zlib.error:
            return _inflate(data, -zlib.MAX_WBITS, cap)  # raw deflate, as many servers send
    if encoding == "br":
        return _unbrotli(data, cap)
    raise BodyError(f"unsupported Content-Encoding {encoding!r}")


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    return decompressor.decompress(data, cap)


def _unbrotli(data: bytes, cap: int) -> bytes:
    """Brotli, decoded to at most ``cap`` bytes (``Decompressor.process(data, max_output_length=cap)``).

    Google's brotli package has that limit since 1.2; an older one (or brotlicffi) can only inflate
    a body whole, a bomb included, so it is refused rather than used.
    """
    try:
        import brotli  # optional: only where the environment has it
    except ImportError:
        raise BodyError("Content-Encoding br needs the brotli package") from None
    decompressor = brotli.Decompressor()
    try:
        return decompressor.process(data, max_output_length=cap)[:cap]
    except TypeError:
        raise BodyError("Content-Encoding br needs brotli >= 1.2 (bounded decompression)") from None
    except brotli.error as exc:
        raise BodyError(f"bad brotli body: {exc}") from None
