"""Where input files come from: local paths and globs, or Common Crawl (or any HTTP server) by URL.

A Common Crawl WARC is ~1 GB fetched over HTTP for minutes; connections do drop half-way. The
HTTP stream here resumes where it broke with a ``Range`` request instead of restarting, and checks
that the server really resumed at that byte, so a flaky link neither restarts nor corrupts a file.
Only the standard library is used (``urllib``), and bytes are passed through undecoded: a
``.warc.gz`` served with ``Content-Encoding: gzip`` still reaches the WARC reader as gzip.
"""

from __future__ import annotations

import gzip
import http.client
import io
import os
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from refinedweb.config import UserError, check
from refinedweb.core.inputs import is_url

BUFFER_BYTES = 1 << 20  # read-ahead of every input stream; WARC records are read in big blocks
MAX_BACKOFF_S = 60.0  # ceiling of the exponential backoff between two HTTP retries
NOT_FOUND = (403, 404, 410)  # S3/CloudFront answer 403 for a key that does not exist
USER_AGENT = "refinedweb/0.1 (RefinedWeb reproduction; Python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class SourcesConfig:
    """Where Common Crawl lives and how hard to try over HTTP."""

    enabled: bool = True
    """Remote inputs allowed at all; false makes any http(s) input a user error (offline runs)."""
    cc_base_url: str = "https://data.commoncrawl.org"
    """Common Crawl's public HTTP endpoint (commoncrawl.org/get-started); a mirror or a test server."""
    http_retries: int = 5
    """Consecutive failed attempts (connection error, timeout, 5xx, 429) before a file is given up."""
    http_timeout_s: float = 60.0
    """Socket timeout for connecting and for each read."""
    retry_backoff_s: float = 1.0
    """First wait between retries; doubles per consecutive failure, capped at 60 s."""

    def __post_init__(self) -> None:
        check(self.cc_base_url.startswith(("http://", "https://")), "cc_base_url", "must be an http(s) URL")
        check(self.http_retries >= 0, "http_retries", f"must be >= 0, got {self.http_retries}")
        check(self.http_timeout_s > 0, "http_timeout_s", f"must be > 0, got {self.http_timeout_s}")
        check(self.retry_backoff_s >= 0, "retry_backoff_s", f"must be >= 0, got {self.retry_backoff_s}")


class RemoteInputError(OSError):
    """An HTTP input that stayed unreachable or broken after every retry."""


class RemoteNotFound(UserError):
    """An HTTP input the server says does not exist (403/404/410)."""


def snapshot_inputs(name: str, config: SourcesConfig, max_files: int | None = None) -> list[str]:
    """The WARC URLs of Common Crawl snapshot ``name`` (e.g. ``CC-MAIN-2023-50``), first ``max_files``.

    Reads ``{base}/crawl-data/{name}/warc.paths.gz``, the listing Common Crawl publishes per crawl.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise UserError(f"{name!r}: not a Common Crawl snapshot name (e.g. CC-MAIN-2023-50)")
    if max_files is not None and max_files < 1:
        raise UserError(f"max_files: must be >= 1, got {max_files}")
    base = config.cc_base_url.rstrip("/")
    listing = f"{base}/crawl-data/{name}/warc.paths.gz"
    try:
        with open_input(listing, config) as stream:
            data = stream.read()
    except RemoteNotFound:
        raise UserError(f"unknown Common Crawl snapshot {name!r}: {listing} not found") from None
    try:
        lines = gzip.decompress(data).decode("utf-8").split()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise RemoteInputError(f"{listing}: not a gzipped path listing ({exc})") from None
    paths = lines if max_files is None else lines[:max_files]
    return [f"{base}/{path.lstrip('/')}" for path in paths]


def open_input(source: str, config: SourcesConfig | None = None) -> BinaryIO:
    """A buffered binary stream over a local file or an http(s) URL (resuming, see ``HttpStream``).

    A missing local file or a remote 403/404/410 is a ``UserError`` naming the input; a server that
    stays unreachable through every retry raises ``RemoteInputError``.
    """
    config = config or SourcesConfig()
    if is_url(source):
        if not config.enabled:
            raise UserError(f"{source}: remote inputs are disabled (sources.enabled: false)")
        return io.BufferedReader(HttpStream(source, config), buffer_size=BUFFER_BYTES)
    path = Path(os.path.expanduser(source.removeprefix("file://")))
    if not path.is_file():
        raise UserError(f"{source}: input file not found")
    return open(path, "rb", buffering=BUFFER_BYTES)


class HttpStream(io.RawIOBase):
    """A read-only HTTP(S) body that reconnects with ``Range: bytes=N-`` where the stream breaks.

    Retries connection errors, timeouts, 429 and 5xx with exponential backoff; a resumed response
    must be a 206 starting exactly at the byte we need (a 200 is skipped forward instead), so the
    bytes handed on are those of one consistent download.
    """

    def __init__(self, url: str, config: SourcesConfig) -> None:
        super().__init__()
        self.url = url
        self.config = config
        self.pos = 0  # bytes handed to the reader so far
        self.size: int | None = None  # total body size, when the server tells
        self.reconnects = 0  # resumed connections (for tests and logs)
        self._response: http.client.HTTPResponse | None = None
        self._connect()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        failures = 0
        while True:
            if self.size is not None and self.pos >= self.size:
                return 0
            if self._response is None:
                self._connect()
            error: Exception | None = None
            try:
                n = self._response.readinto(buffer)  # type: ignore[union-attr]
            except (OSError, http.client.HTTPException) as exc:
                n, error = 0, exc
            if n:
                self.pos += n
                return n
            if error is None and self.size is None:
                return 0  # the server gave no length: a clean end of body is the end
            failures += 1
            reason = error or f"connection closed at byte {self.pos} of {self.size}"
            self._drop_response()
            if failures > self.config.http_retries:
                raise RemoteInputError(f"{self.url}: stream broke at byte {self.pos}: {reason}")
            self._sleep(failures)

    def close(self) -> None:
        self._drop_response()
        super().close()

    def _drop_response(self) -> None:
        if self._response is not None:
            try:
                self._response.close()
            except OSError:
                pass
            self._response = None

    def _sleep(self, failures: int) -> None:
        time.sleep(min(self.config.retry_backoff_s * 2 ** (failures - 1), MAX_BACKOFF_S))

    def _connect(self) -> None:
        """Open the body at ``self.pos``, retrying transient failures."""
        failures = 0
        while True:
            try:
                self._response = self._request()
                if self.pos:
                    self.reconnects += 1
                return
            except (UserError, RemoteInputError):
                raise
            except (OSError, http.client.HTTPException, _Transient) as exc:
                failures += 1
                if failures > self.config.http_retries:
                    raise RemoteInputError(f"{self.url}: {exc} (after {failures} attempts)") from None
                self._sleep(failures)

    def _request(self) -> http.client.HTTPResponse:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if self.pos:
            headers["Range"] = f"bytes={self.pos}-"
        request = urllib.request.Request(self.url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.config.http_timeout_s)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in NOT_FOUND and not self.pos:
                raise RemoteNotFound(f"{self.url}: not found (HTTP {exc.code})") from None
            if exc.code == 429 or exc.code >= 500:
                raise _Transient(f"HTTP {exc.code}") from None
            raise RemoteInputError(f"{self.url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, socket.timeout) as exc:
            raise _Transient(str(getattr(exc, "reason", exc))) from None
        return self._check_start(response)

    def _check_start(self, response: http.client.HTTPResponse) -> http.client.HTTPResponse:
        """Make sure the body starts at ``self.pos``; learn the total size."""
        length = response.headers.get("Content-Length")
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != self.pos:
                response.close()
                raise _Transient(f"server resumed at the wrong byte ({response.headers.get('Content-Range')})")
            if match.group(3) != "*":
                self.size = int(match.group(3))
            return response
        if length is not None:
            self.size = int(length)
        skip = self.pos  # the server ignored Range: read forward to where we were
        while skip:
            chunk = response.read(min(skip, BUFFER_BYTES))
            if not chunk:
                response.close()
                raise _Transient(f"body ended before byte {self.pos} while skipping forward")
            skip -= len(chunk)
        return response


class _Transient(Exception):
    """A failure worth retrying (connection error, timeout, 429, 5xx, a bad resume)."""
