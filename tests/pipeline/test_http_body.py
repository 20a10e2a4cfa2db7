"""HTTP body decoding: de-chunking and Content-Encoding, bounded on hostile input."""

from __future__ import annotations

import contextlib
import signal
import sys
import types

import pytest

from refinedweb.pipeline.http_body import BodyError, decompress_body, dechunk


def test_dechunk():
    assert dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    assert dechunk(b"<html>not chunked</html>") == b"<html>not chunked</html>"


@contextlib.contextmanager
def within(seconds: float):
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_negative_chunk_size_is_a_body_error_not_a_loop():
    with within(2), pytest.raises(BodyError, match="negative chunk size"):
        dechunk(b"-4\r\n<html><body>loop</body></html>\r\n0\r\n\r\n")
    with within(2), pytest.raises(BodyError, match="negative chunk size"):
        dechunk(b"4\r\nWiki\r\n-2\r\npedia\r\n0\r\n\r\n")


class FakeBrotli(types.ModuleType):
    """A stand-in brotli module whose every 'body' expands to 64 MiB (a bomb), counting what it produced."""

    BOMB = 64 << 20

    class error(Exception):  # noqa: N801 (brotli's own name)
        pass

    def __init__(self, bounded: bool) -> None:
        super().__init__("brotli")
        self.produced = 0
        fake = self

        class Decompressor:
            if bounded:
                def process(self, data: bytes, max_output_length: int | None = None) -> bytes:
                    return fake._emit(max_output_length)
            else:
                def process(self, data: bytes) -> bytes:
                    return fake._emit(None)

        self.Decompressor = Decompressor

    def decompress(self, data: bytes) -> bytes:
        return self._emit(None)

    def _emit(self, limit: int | None) -> bytes:
        n = self.BOMB if limit is None else min(limit, self.BOMB)
        self.produced += n
        return b"<" * n


def test_brotli_is_decoded_under_the_cap(monkeypatch):
    fake = FakeBrotli(bounded=True)
    monkeypatch.setitem(sys.modules, "brotli", fake)
    assert decompress_body(b"\x8b\x02\x80bomb", "br", 4096) == b"<" * 4096
    assert fake.produced == 4096  # never more than the cap, not the 64 MiB the body expands to


def test_brotli_without_an_output_limit_is_refused(monkeypatch):
    fake = FakeBrotli(bounded=False)
    monkeypatch.setitem(sys.modules, "brotli", fake)
    with pytest.raises(BodyError, match="brotli >= 1.2"):
        decompress_body(b"\x8b\x02\x80bomb", "br", 4096)
    assert fake.produced == 0
