"""Where input files come from: local paths and globs, or Common Crawl (or any HTTP server) by URL.

A Common Crawl WARC is ~1 GB fetched over HTTP for minutes; connections do drop half-way. The
HTTP stream here resumes where it broke with a ``Range`` request instead of restarting, and checks
that the server really resumed at that byte of the same object (ETag, Last-Modified, size), so a
flaky link neither restarts nor corrupts a file. A failure that may pass (an outage, 5xx, a server
trickling bytes past the file's deadline, the object replaced mid-read) raises
``TransientInputError``, which the reader passes on instead of counting it as a broken file, so a
run can leave the file not done and read it again on resume.
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
from refinedweb.core.storage import Remote, location, scheme_of

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
    """Common Crawl's public HTTP endpoint (commoncrawl.org/get-started); a mirror or a test server;
    or its bucket, ``s3://commoncrawl`` (with ``storage.s3.anonymous: true`` outside AWS accounts)."""
    http_retries: int = 5
    """Consecutive failed attempts (connection error, timeout, 5xx, 429) before a file is given up."""
    http_timeout_s: float = 60.0
    """Socket timeout for connecting and for each read."""
    retry_backoff_s: float = 1.0
    """First wait between retries; doubles per consecutive failure, capped at 60 s."""
    http_deadline_s: float = 6 * 3600.0
    """Wall-clock limit on reading one file over HTTP, retries included: a server that trickles
    bytes just faster than the socket timeout would otherwise hold a worker forever (a ~1 GB
    Common Crawl WARC takes minutes). Past it the file is a ``TransientInputError``."""

    def __post_init__(self) -> None:
        check(scheme_of(self.cc_base_url) in ("http", "https", "s3", "gs"), "cc_base_url",
              f"must be an http(s), s3:// or gs:// URL, got {self.cc_base_url!r}")
        check(0 <= self.http_retries <= 100, "http_retries", f"must be in [0, 100], got {self.http_retries}")
        # finite and bounded: an infinite timeout overflows the socket layer (OverflowError), not a user error
        check(0 < self.http_timeout_s <= 3600, "http_timeout_s", f"must be in (0, 3600] seconds, got {self.http_timeout_s}")
        check(0 <= self.retry_backoff_s <= 3600, "retry_backoff_s", f"must be in [0, 3600] seconds, got {self.retry_backoff_s}")
        check(0 < self.http_deadline_s <= 7 * 86400, "http_deadline_s", f"must be in (0, 604800] seconds, got {self.http_deadline_s}")


class RemoteInputError(OSError):
    """An HTTP input that stayed unreachable or broken after every retry."""


class TransientInputError(RemoteInputError):
    """An HTTP input that failed for a reason that may pass: the file is not done, read it again later.

    Retries exhausted on connection errors, timeouts, 429 or 5xx; the per-file deadline passed; or
    the object changed on the server while being read. ``read_file`` re-raises it (it is not a
    corrupt file); anything catching ``RemoteInputError`` or ``OSError`` still catches it.
    """


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
    if scheme_of(source) is not None:
        return io.BufferedReader(StorageStream(source), buffer_size=BUFFER_BYTES)
    path = Path(os.path.expanduser(source.removeprefix("file://")))
    if not path.is_file():
        raise UserError(f"{source}: input file not found")
    return open(path, "rb", buffering=BUFFER_BYTES)


class StorageStream(io.RawIOBase):
    """An object-storage input (``s3://``) read in order; the client retries each request itself.

    ``core/storage.py`` configures the retries (backoff on 503 SlowDown, 5xx, reset connections);
    a missing key is a ``UserError`` naming it, a read that fails after them all a
    ``TransientInputError`` (the file is left not done, for a resume to read again).
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        where = location(url)
        assert isinstance(where, Remote)
        try:
            if not where.is_file():
                raise UserError(f"{url}: input file not found")
            self._file = where.open_input()
        except OSError as exc:
            raise TransientInputError(f"{url}: cannot open it ({exc})") from None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self._file.read(len(buffer))
        except OSError as exc:
            raise TransientInputError(f"{self.url}: read failed after the client's retries ({exc})") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class HttpStream(io.RawIOBase):
    """A read-only HTTP(S) body that reconnects with ``Range: bytes=N-`` where the stream breaks.

    Retries connection errors, timeouts, 429 and 5xx with exponential backoff, on one budget of
    ``http_retries`` consecutive failed attempts (connecting or reading alike; progress resets it).
    A resumed response must be a 206 starting exactly at the byte we need (a 200 is skipped forward
    instead) with the first answer's ETag, Last-Modified and size, so the bytes handed on are those
    of one object; reads return as soon as any bytes arrive, so the deadline holds on a trickle.
    """

    def __init__(self, url: str, config: SourcesConfig) -> None:
        super().__init__()
        self.url = url
        self.config = config
        self.pos = 0  # bytes handed to the reader so far
        self.size: int | None = None  # total body size, when the server tells
        self.reconnects = 0  # resumed connections (for tests and logs)
        self.deadline = time.monotonic() + config.http_deadline_s
        self._failures = 0  # consecutive failed attempts
        self._first: tuple[str | None, str | None, int | None] | None = None  # ETag, Last-Modified, size
        self._response: http.client.HTTPResponse | None = None
        self._open()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while self.size is None or self.pos < self.size:
            self._check_deadline()
            if self._response is None:
                self._open()
            try:
                data = self._response.read1(len(buffer))  # type: ignore[union-attr]
            except (OSError, http.client.HTTPException) as exc:
                self._failed(exc)
                continue
            if data:
                memoryview(buffer)[: len(data)] = data
                self.pos += len(data)
                self._failures = 0
                return len(data)
            if self.size is None:
                return 0  # the server gave no length: a clean end of body is the end
            self._failed(f"connection closed at byte {self.pos} of {self.size}")
        return 0

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

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            self._drop_response()
            raise TransientInputError(
                f"{self.url}: deadline of {self.config.http_deadline_s:g} s (sources.http_deadline_s) passed at byte {self.pos}"
            )

    def _failed(self, reason: object) -> None:
        """One failed attempt: drop the connection, give up past ``http_retries`` in a row, else back off."""
        self._drop_response()
        self._failures += 1
        if self._failures > self.config.http_retries:
            raise TransientInputError(f"{self.url}: {reason} at byte {self.pos} (after {self._failures} attempts in a row)")
        backoff = min(self.config.retry_backoff_s * 2 ** (self._failures - 1), MAX_BACKOFF_S)
        time.sleep(max(min(backoff, self.deadline - time.monotonic()), 0))
        self._check_deadline()

    def _open(self) -> None:
        """Open the body at ``self.pos``, failed attempts counted on the one retry budget."""
        while self._response is None:
            self._check_deadline()
            try:
                self._response = self._request()
            except _Transient as exc:
                self._failed(exc)
        if self.pos:
            self.reconnects += 1

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
        except (urllib.error.URLError, socket.timeout, OSError, http.client.HTTPException) as exc:
            raise _Transient(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None
        return self._check_start(response)

    def _check_start(self, response: http.client.HTTPResponse) -> http.client.HTTPResponse:
        """Make sure the body is the object being read and starts at ``self.pos``; learn the total size."""
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != self.pos:
                response.close()
                raise _Transient(f"server resumed at the wrong byte ({response.headers.get('Content-Range')})")
            total = None if match.group(3) == "*" else int(match.group(3))
        else:
            total = content_length(response.headers.get("Content-Length"))
        self._check_same(response, total)
        skip = self.pos if response.status != 206 else 0  # the server ignored Range: read forward to where we were
        while skip:
            chunk = response.read(min(skip, BUFFER_BYTES))
            if not chunk:
                response.close()
                raise _Transient(f"body ended before byte {self.pos} while skipping forward")
            skip -= len(chunk)
        return response

    def _check_same(self, response: http.client.HTTPResponse, total: int | None) -> None:
        """The first answer's ETag, Last-Modified and size, or ``TransientInputError`` if any differs."""
        seen = (response.headers.get("ETag"), response.headers.get("Last-Modified"), total)
        if self._first is None:
            self._first = seen
        for name, before, now in zip(("ETag", "Last-Modified", "size"), self._first, seen):
            if before is not None and now is not None and before != now:
                response.close()
                raise TransientInputError(f"{self.url}: changed on the server while being read ({name} {before} -> {now}, at byte {self.pos})")
        if self.size is None:
            self.size = total


def content_length(value: str | None) -> int | None:
    """A Content-Length header as a number; None where absent or malformed (``12abc``, ``-5``, ``1e3``)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and value.isascii() else None


class _Transient(Exception):
    """A failure worth retrying (connection error, timeout, 429, 5xx, a bad resume)."""
