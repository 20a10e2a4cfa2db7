"""A loopback HTTP proxy in front of an S3 server that answers a share of requests with faults.

Issue 13 item 5: object stores answer ``503 SlowDown`` and drop connections; the pipeline must retry
with backoff and lose nothing. The proxy forwards every request to the upstream server (moto's
standalone server in the tests) and, for a configurable share of them, instead answers S3's
``SlowDown`` error (HTTP 503, S3's XML error body, ``Retry-After``) or resets the connection (a close
with ``SO_LINGER`` 0 sends a TCP RST). Which requests fail depends only on the seed, the method, the
path and how many times that same request was seen, not on thread timing: the same requests fail
in every run. A request is faulted at most ``max_in_a_row`` times in a row, so a client that retries
more often than that always gets through. The proxy counts what it forwarded and injected, and the
bytes both ways.

Other tests use it as a fixture::

    def test_x(fault_proxy_factory, s3_server):
        proxy = fault_proxy_factory(s3_server.endpoint_url, slowdown=0.1, reset=0.05, seed=7)
        ...  # point the S3 client at proxy.endpoint_url
        assert proxy.counts()["slowdown"] > 0
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import socket
import struct
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass

import pytest

SLOWDOWN_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<Resource>{resource}</Resource><RequestId>{request_id}</RequestId><HostId>faultproxy</HostId></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_COPY_CHUNK = 1 << 16


@dataclass(frozen=True)
class FaultPlan:
    """Which share of requests fail, and how; the same seed faults the same requests."""

    slowdown: float = 0.0
    """Share of requests answered ``503 SlowDown`` (nothing reaches the upstream server)."""
    reset: float = 0.0
    """Share of requests whose connection is reset (RST) after the request was read, unanswered."""
    seed: int = 0
    """Seed of the choice: which (method, path, n-th attempt) fail."""
    max_in_a_row: int = 2
    """At most this many faults in a row for one request: its next attempt goes through."""

    def __post_init__(self) -> None:
        for name in ("slowdown", "reset"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"FaultPlan.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.slowdown + self.reset > 1.0:
            raise ValueError(f"FaultPlan.slowdown + FaultPlan.reset must be at most 1, got {self.slowdown + self.reset}")
        if self.max_in_a_row < 0:
            raise ValueError(f"FaultPlan.max_in_a_row must be >= 0, got {self.max_in_a_row}")

    def draw(self, method: str, target: str, attempt: int) -> float:
        """A number in [0, 1) fixed by the seed, the request and its attempt number."""
        digest = hashlib.blake2b(f"{self.seed}\0{method}\0{target}\0{attempt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def fault(self, method: str, target: str, attempt: int, in_a_row: int) -> str | None:
        """``"slowdown"``, ``"reset"`` or ``None`` (forward) for this attempt of the request."""
        if in_a_row >= self.max_in_a_row:
            return None
        u = self.draw(method, target, attempt)
        if u < self.slowdown:
            return "slowdown"
        if u < self.slowdown + self.reset:
            return "reset"
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect
    server: "_ProxyServer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base class's name)
        pass

    def _read_body(self) -> bytes:
        """The request body, de-chunked where the client sent it chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        proxy = self.server.proxy
        kind = proxy.decide(self.command, self.path, len(body))
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if kind == "slowdown":
            self._send_slowdown(proxy)
            return
        self._forward(proxy, body)

    def _send_slowdown(self, proxy: "FaultProxy") -> None:
        resource = urllib.parse.urlsplit(self.path).path
        payload = SLOWDOWN_BODY.format(resource=resource, request_id=proxy.counts()["requests"]).encode()
        self.send_response(503, "Slow Down")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Retry-After", "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, proxy: "FaultProxy", body: bytes) -> None:
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            for i in range(0, len(data), _COPY_CHUNK):
                self.wfile.write(data[i : i + _COPY_CHUNK])
            proxy.add_bytes("bytes_down", len(data))

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: "FaultProxy"


class FaultProxy:
    """The proxy on ``127.0.0.1:<free port>`` in front of ``upstream`` (an ``http://host:port`` URL)."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host, self.upstream_port, self.plan = parts.hostname, parts.port, plan
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._in_a_row: Counter[tuple[str, str]] = Counter()
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def decide(self, method: str, target: str, body_bytes: int) -> str | None:
        """Count one request and pick its fate from the plan."""
        key = (method, target)
        with self._lock:
            attempt = self._seen[key]
            self._seen[key] += 1
            kind = self.plan.fault(method, target, attempt, self._in_a_row[key])
            self._in_a_row[key] = self._in_a_row[key] + 1 if kind else 0
            self._counts["requests"] += 1
            self._counts[kind or "forwarded"] += 1
            self._counts[f"{method}:{kind or 'forwarded'}"] += 1
            if not kind:
                self._counts["bytes_up"] += body_bytes
        return kind

    def add_bytes(self, key: str, n: int) -> None:
        with self._lock:
            self._counts[key] += n

    def counts(self) -> dict[str, int]:
        """``requests``, ``forwarded``, ``slowdown``, ``reset``, ``bytes_up`` (request bodies forwarded: written to
        the store), ``bytes_down`` (response bodies forwarded: read from it), per method ``GET:slowdown`` and the like."""
        with self._lock:
            out = {"requests": 0, "forwarded": 0, "slowdown": 0, "reset": 0, "bytes_up": 0, "bytes_down": 0}
            out.update(self._counts)
            return out

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def fault_proxy_factory():
    """``make(upstream, slowdown=, reset=, seed=, max_in_a_row=)`` -> a started ``FaultProxy``, stopped after the test."""
    proxies: list[FaultProxy] = []

    def make(upstream: str, **plan) -> FaultProxy:
        proxy = FaultProxy(upstream, FaultPlan(**plan)).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
