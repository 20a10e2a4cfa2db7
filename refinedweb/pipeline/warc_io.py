"""warcio's record iterator with every line, header block and gzip inflation bounded.

warcio's ``readline`` has no limit (and joins a long line by repeated concatenation), its header
parser reads lines until a blank one, and its gzip reader inflates a whole read block at once: one
100 MB header line, a gzip of 100 KB, took ~470 MB to read (a junk line between records ~1.5 GB).
Here a line or header block past ``max_header_bytes`` raises ``HeaderTooLong`` and a block inflates
to at most ``INFLATE_BYTES`` at a time, so reading hostile bytes costs memory in proportion to the
caps, not to the input. Everything else is warcio's own parsing.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

INFLATE_FACTOR = 4  # output bytes per inflate call, in read blocks: above WARC's usual ~4:1 gzip ratio


class HeaderTooLong(Exception):
    """A header line or header block (WARC, ARC or HTTP), or a junk line, longer than the cap."""


class BoundedReader(DecompressingBufferedReader):
    """warcio's buffered (gzip) reader whose ``readline`` stops at ``max_line`` bytes and whose
    inflation stops at ``INFLATE_FACTOR`` read blocks per call (the rest waits as zlib's tail)."""

    def __init__(self, stream: BinaryIO, block_size: int, max_line: int) -> None:
        self.max_line = max_line
        super().__init__(stream, block_size=block_size)

    def _init_decomp(self, decomp_type) -> None:
        super()._init_decomp(decomp_type)
        if self.decompressor is not None:
            self.decompressor = _CappedInflate(self.decompressor, self.block_size * INFLATE_FACTOR)

    def _fillbuff(self, block_size=None) -> None:
        if isinstance(self.decompressor, _CappedInflate) and self.decompressor.more and self.empty():
            data = self.decompressor.resume()  # output zlib still holds from input already read
            self.buff_size = len(data)
            self.num_read += len(data)
            self.num_block_read += len(data)
            self.buff = io.BytesIO(data)
        else:
            super()._fillbuff(block_size)

    def rem_length(self) -> int:
        """Read but not consumed bytes, the not yet inflated tail included (warcio's record offsets)."""
        tail = self.decompressor.unconsumed_tail if isinstance(self.decompressor, _CappedInflate) else b""
        return super().rem_length() + len(tail)

    def readline(self, length: int | None = None) -> bytes:
        """One line, at most ``length`` bytes; past ``max_line`` bytes (asked for more) ``HeaderTooLong``."""
        bounded = length is None or length > self.max_line
        want = self.max_line if bounded else length
        parts, got = [], 0
        while got < want:
            self._fillbuff()
            if self.empty():
                break
            part = self.buff.readline(want - got)
            parts.append(part)
            got += len(part)
            if part.endswith(b"\n"):
                return b"".join(parts)
        if bounded and got >= want:
            raise HeaderTooLong(f"a line longer than {self.max_line} bytes (hostile, or not a WARC/ARC file)")
        return b"".join(parts)


class _CappedInflate:
    """A zlib decompressor whose ``decompress`` returns at most ``cap`` bytes per call.

    ``more`` says a call stopped at the cap: zlib may then hold input (``unconsumed_tail``) or
    output not yet returned, which ``resume`` continues with before any new input is read.
    """

    def __init__(self, inner, cap: int) -> None:
        self.inner = inner
        self.cap = cap
        self.more = False

    def decompress(self, data: bytes) -> bytes:
        out = self.inner.decompress(data, self.cap)
        self.more = len(out) >= self.cap and not self.inner.eof
        return out

    def resume(self) -> bytes:
        return self.decompress(self.inner.unconsumed_tail)

    def flush(self) -> bytes:
        return self.inner.flush()

    @property
    def unused_data(self) -> bytes:
        return self.inner.unused_data

    @property
    def unconsumed_tail(self) -> bytes:
        return self.inner.unconsumed_tail


class _HeaderBlock:
    """A stream's ``readline`` over one header: ``HeaderTooLong`` past ``max_bytes`` for a line or in all.

    Lines are asked for with an explicit length, so a record's ``LimitReader`` keeps its count of
    the bytes read right and the record can still be skipped to its end.
    """

    def __init__(self, stream, max_bytes: int) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.left = max_bytes

    def readline(self, length: int | None = None) -> bytes:
        line = self.stream.readline(self.max_bytes if length is None else min(length, self.max_bytes))
        self.left -= len(line)
        if len(line) >= self.max_bytes and not line.endswith(b"\n"):
            raise HeaderTooLong(f"a header line longer than {self.max_bytes} bytes (hostile, or not a WARC/ARC file)")
        if self.left < 0:
            raise HeaderTooLong(f"a header block longer than {self.max_bytes} bytes (hostile, or not a WARC/ARC file)")
        return line


class BoundedHeaderParser(StatusAndHeadersParser):
    """warcio's status-and-headers parser over at most ``max_bytes`` of header."""

    def __init__(self, statuslist: list[str], verify: bool, max_bytes: int) -> None:
        super().__init__(statuslist, verify)
        self.max_bytes = max_bytes

    def parse(self, stream, full_statusline=None) -> StatusAndHeaders:
        return super().parse(_HeaderBlock(stream, self.max_bytes), full_statusline)


class Records(ArchiveIterator):
    """warcio's record iterator, bounded as the module says, also over a ``.warc.gz`` of one gzip stream.

    warcio parses such a file correctly but refuses it after the first record, because it could not
    seek to a record in it; a pipeline reads front to back and never seeks.
    """

    def __init__(self, stream: BinaryIO, block_size: int, max_header_bytes: int) -> None:
        super().__init__(stream, no_record_parse=True, block_size=block_size)
        self.reader = BoundedReader(self.fh, block_size, max_header_bytes)
        warc = self.loader.warc_parser
        self.loader.warc_parser = BoundedHeaderParser(warc.statuslist, warc.verify, max_header_bytes)

    def _raise_invalid_gzip_err(self) -> None:
        return None
