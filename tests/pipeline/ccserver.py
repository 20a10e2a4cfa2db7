"""A loopback HTTP server laid out like Common Crawl, with fault injection, for tests.

``crawl-data/CC-MAIN-TEST/warc.paths.gz`` lists ``crawl-data/CC-MAIN-TEST/segments/<seg>/warc/*.warc.gz``,
files written with warcio's ``WARCWriter`` (warcinfo, then request + response + metadata per page,
as Common Crawl writes them). The server answers ``Range`` requests like S3 does (with ``ETag`` and
``Last-Modified``), and can be told to drop the connection half-way through a file (then answer
errors, or change the file), to answer 503, to trickle bytes, or to send a malformed
``Content-Length``, to test retry and resume.

Other tests use it as a fixture::

    from tests.pipeline.ccserver import cc_server  # noqa: F401  (registers the fixture)

    def test_x(cc_server):
        urls = snapshot_inputs(SNAPSHOT, SourcesConfig(cc_base_url=cc_server.base_url), None)
"""

from __future__ import annotations

import email.utils
import gzip
import http.server
import io
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SNAPSHOT = "CC-MAIN-TEST"
SEGMENT = "1700000000000.00"
TOPICS = ("rivers", "bridges", "orchards", "lighthouses", "libraries", "glaciers", "markets", "railways")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def page_html(file_index: int, page_index: int) -> str:
    """A small, distinct English HTML page (navigation, article, footer)."""
    topic = TOPICS[(file_index * 3 + page_index) % len(TOPICS)]
    paragraphs = "".join(
        f"<p>Paragraph {k} of page {page_index} in file {file_index} describes how {topic} shaped the towns "
        f"around them, why people travelled to see them, and what the records of the time still tell us.</p>"
        for k in range(3)
    )
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>On {topic} {file_index}-{page_index}"
        f"</title></head><body><nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav><article>"
        f"<h1>On {topic}</h1>{paragraphs}</article><footer>Copyright 2023</footer></body></html>"
    )


def write_warc(path: Path, file_index: int, pages: int) -> None:
    """A Common-Crawl-shaped ``.warc.gz`` with ``pages`` HTML pages (``3 * pages + 1`` records).

    Record ids and dates are fixed, so the same call writes the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    date = "2023-06-01T00:00:00Z"
    counter = iter(range(1 << 20))

    def headers(**extra: str) -> dict[str, str]:
        return {"WARC-Date": date, "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{file_index:04d}{next(counter):08d}>", **extra}

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        info = f"isPartOf: {SNAPSHOT}\r\nsoftware: ccserver test\r\n".encode()
        writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(info), length=len(info),
                                                      warc_content_type="application/warc-fields",
                                                      warc_headers_dict=headers(**{"WARC-Filename": path.name})))
        for i in range(pages):
            host = f"site{file_index}.example.com"
            url = f"http://{host}/page/{i}"
            request = StatusAndHeaders(f"GET /page/{i} HTTP/1.1", [("Host", host)], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", http_headers=request, warc_headers_dict=headers()))
            body = page_html(file_index, i).encode("utf-8")
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                                                          warc_headers_dict=headers(**{"WARC-Identified-Payload-Type": "text/html"})))
            meta = f"fetchTimeMs: {100 + i}\r\ncharset-detected: UTF-8\r\n".encode()
            writer.write_record(writer.create_warc_record(url, "metadata", payload=io.BytesIO(meta), length=len(meta),
                                                          warc_content_type="application/warc-fields", warc_headers_dict=headers()))


def build_snapshot(root: Path, files: int = 2, pages: int = 4, extra: Sequence[Path] = ()) -> list[str]:
    """Lay out ``root`` like Common Crawl; returns the paths listed in ``warc.paths.gz``.

    ``extra`` files (e.g. a WARC from the demo script) are copied in after the generated ones.
    """
    base = f"crawl-data/{SNAPSHOT}/segments/{SEGMENT}/warc"
    listed = []
    for i in range(files):
        rel = f"{base}/{SNAPSHOT}-{SEGMENT}-{i:05d}.warc.gz"
        write_warc(root / rel, i, pages)
        listed.append(rel)
    for j, source in enumerate(extra, start=files):
        rel = f"{base}/{SNAPSHOT}-{SEGMENT}-{j:05d}.warc.gz"
        (root / rel).write_bytes(Path(source).read_bytes())
        listed.append(rel)
    (root / f"crawl-data/{SNAPSHOT}/warc.paths.gz").write_bytes(gzip.compress(("\n".join(listed) + "\n").encode(), mtime=0))
    return listed


@dataclass
class Request:
    """One request the server saw."""

    path: str
    range: str | None
    status: int


@dataclass
class _Faults:
    drop: set[str] = field(default_factory=set)  # paths whose next full answer stops half-way
    fail: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first
    ignore_range: bool = False  # answer 200 with the whole body even to a Range request
    after_drop: dict[str, tuple[list[int], bytes | None]] = field(default_factory=dict)  # path -> (statuses, new bytes)
    validators: bool = True  # send ETag and Last-Modified
    trickle_s: float = 0.0  # pause between 512-byte pieces of a body
    content_length: str | None = None  # sent instead of the true Content-Length (the connection then closes)


class CCServer:
    """A threaded ``http.server`` on 127.0.0.1 (port 0) serving ``root``, with injectable faults."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[Request] = []
        self.faults = _Faults()
        self._lock = threading.Lock()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, rel: str) -> str:
        return f"{self.base_url}/{rel.lstrip('/')}"

    def drop_once(self, rel: str, then: Sequence[int] = (), replace: bytes | None = None) -> None:
        """The next full (non-Range) answer for ``rel`` sends half its body, then closes the connection.

        After the drop, the next ``len(then)`` requests are answered with those statuses (an outage),
        and ``replace`` (if given) becomes the file's content (the object changed on the server).
        """
        path = "/" + rel.lstrip("/")
        self.faults.drop.add(path)
        self.faults.after_drop[path] = (list(then), replace)

    def fail_once(self, rel: str, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``rel`` with ``status``."""
        self.faults.fail["/" + rel.lstrip("/")] = [status] * times

    def start(self) -> CCServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CCServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(server: CCServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            range_header = self.headers.get("Range")
            pending = server.faults.fail.get(path)
            if pending:
                status = pending.pop(0)
                server.log(Request(path, range_header, status))
                self.send_error(status)
                return
            target = (server.root / path.lstrip("/")).resolve()
            if not target.is_relative_to(server.root.resolve()) or not target.is_file():
                server.log(Request(path, range_header, 404))
                self.send_error(404)
                return
            self._send_file(path, target, range_header)

        def _send_file(self, path: str, target: Path, range_header: str | None) -> None:
            data = target.read_bytes()
            match = _RANGE.match(range_header or "")
            if match and not server.faults.ignore_range:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                if start >= len(data):
                    server.log(Request(path, range_header, 416))
                    self.send_error(416)
                    return
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
                status = 206
            else:
                body, status = data, 200
                self.send_response(200)
            self._send_headers(target, data, body)
            server.log(Request(path, range_header, status))
            if status == 200 and path in server.faults.drop:
                server.faults.drop.discard(path)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                statuses, replace = server.faults.after_drop.pop(path, ([], None))
                if statuses:
                    server.faults.fail[path] = statuses
                if replace is not None:
                    target.write_bytes(replace)
                return
            self._write_body(body)

        def _send_headers(self, target: Path, data: bytes, body: bytes) -> None:
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", server.faults.content_length or str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if server.faults.validators:
                self.send_header("ETag", f'"{zlib.crc32(data):08x}-{len(data)}"')
                self.send_header("Last-Modified", email.utils.formatdate(target.stat().st_mtime, usegmt=True))
            if server.faults.content_length is not None:
                self.close_connection = True
            self.end_headers()

        def _write_body(self, body: bytes) -> None:
            if not server.faults.trickle_s:
                self.wfile.write(body)
                return
            try:
                for start in range(0, len(body), 512):
                    self.wfile.write(body[start : start + 512])
                    self.wfile.flush()
                    time.sleep(server.faults.trickle_s)
            except OSError:  # the client gave up
                self.close_connection = True

    return Handler


@pytest.fixture
def cc_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CCServer]:
    """A running ``CCServer`` over a fresh two-file ``CC-MAIN-TEST`` snapshot in ``tmp_path/cc``."""
    for name in ("no_proxy", "NO_PROXY"):  # a proxy configured in the environment must not catch loopback
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    root = tmp_path / "cc"
    build_snapshot(root)
    with CCServer(root) as server:
        yield server
