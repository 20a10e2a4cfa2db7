"""HTTP body decoding: de-chunking and Content-Encoding, bounded on hostile input."""

from __future__ import annotations

from refinedweb.pipeline.http_body import dechunk


def test_dechunk():
    assert dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    assert dechunk(b"<html>not chunked</html>") == b"<html>not chunked</html>"
