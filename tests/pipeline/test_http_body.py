"""HTTP body decoding: de-chunking and Content-Encoding, bounded on hostile input."""

from __future__ import annotations

import contextlib
import signal

import pytest

from refinedweb.pipeline.http_body import BodyError, dechunk


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
