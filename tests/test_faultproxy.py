"""The fault proxy (tests/faultproxy.py) against a small loopback store: forwarding, faults, their counts."""

from __future__ import annotations

import http.client
import re
import http.server
import threading
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from tests.faultproxy import FaultPlan, FaultProxy


class _Store(http.server.BaseHTTPRequestHandler):
    """PUT stores the body under the path, GET returns it (404 if absent), HEAD its size."""

    protocol_version = "HTTP/1.1"
    objects: dict[str, bytes] = {}

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_PUT(self):
        self.objects[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(200, b"")

    def do_GET(self):
        body = self.objects.get(self.path)
        self._answer(200 if body is not None else 404, body or b"")

    def do_HEAD(self):
        body = self.objects.get(self.path, b"")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def store():
    handler = type("Store", (_Store,), {"objects": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.objects
    server.shutdown()
    server.server_close()


def _request(endpoint: str, method: str, path: str, body: bytes | None = None) -> tuple[int | str, bytes]:
    """One request on a fresh connection: (status, body), or ``"reset"`` when the connection was reset."""
    parts = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "reset", b""
    finally:
        conn.close()


def test_forwards_requests_and_counts_bytes(store, fault_proxy_factory):
    upstream, objects = store
    proxy = fault_proxy_factory(upstream)
    payload = bytes(range(256)) * 1000
    assert _request(proxy.endpoint_url, "PUT", "/bucket/key", payload)[0] == 200
    assert objects["/bucket/key"] == payload
    assert _request(proxy.endpoint_url, "GET", "/bucket/key") == (200, payload)
    assert _request(proxy.endpoint_url, "GET", "/bucket/missing")[0] == 404
    counts = proxy.counts()
    assert counts["requests"] == counts["forwarded"] == 3
    assert counts["slowdown"] == counts["reset"] == 0
    assert counts["bytes_up"] == counts["bytes_down"] == len(payload)


def test_keep_alive_connection_carries_several_requests(store, fault_proxy_factory):
    upstream, objects = store
    objects["/b/k"] = b"x" * 10
    proxy = fault_proxy_factory(upstream)
    parts = urllib.parse.urlsplit(proxy.endpoint_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/b/k")
        assert conn.getresponse().read() == b"x" * 10
    conn.request("HEAD", "/b/k")
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == "10" and resp.read() == b""
    conn.close()


def test_slowdown_is_s3s_error_and_never_reaches_the_store(store, fault_proxy_factory):
    upstream, objects = store
    proxy = fault_proxy_factory(upstream, slowdown=1.0, max_in_a_row=1)
    status, body = _request(proxy.endpoint_url, "PUT", "/bucket/k", b"data")
    assert status == 503
    assert ET.fromstring(body).findtext("Code") == "SlowDown"
    assert "/bucket/k" not in objects
    assert _request(proxy.endpoint_url, "PUT", "/bucket/k", b"data")[0] == 200, "the next attempt goes through"
    assert objects["/bucket/k"] == b"data"
    assert proxy.counts()["slowdown"] == 1 and proxy.counts()["PUT:slowdown"] == 1


def test_reset_drops_the_connection_unanswered(store, fault_proxy_factory):
    upstream, objects = store
    proxy = fault_proxy_factory(upstream, reset=1.0, max_in_a_row=2)
    outcomes = [_request(proxy.endpoint_url, "PUT", "/b/k", b"v")[0] for _ in range(3)]
    assert outcomes == ["reset", "reset", 200]
    assert proxy.counts()["reset"] == 2 and objects["/b/k"] == b"v"


def _outcomes(endpoint: str, n: int) -> list:
    return [_request(endpoint, "GET", f"/b/{i % 7}")[0] for i in range(n)]


def test_the_seed_fixes_which_requests_fail(store, fault_proxy_factory):
    upstream, objects = store
    objects.update({f"/b/{i}": b"." for i in range(7)})
    plan = {"slowdown": 0.2, "reset": 0.1}
    first = _outcomes(fault_proxy_factory(upstream, seed=1, **plan).endpoint_url, 60)
    again = _outcomes(fault_proxy_factory(upstream, seed=1, **plan).endpoint_url, 60)
    other = _outcomes(fault_proxy_factory(upstream, seed=2, **plan).endpoint_url, 60)
    assert first == again
    assert first != other
    assert {503, "reset", 200} <= set(first), first


def test_shares_are_about_the_plan():
    plan = FaultPlan(slowdown=0.2, reset=0.1, seed=3, max_in_a_row=100)
    kinds = [plan.fault("GET", f"/b/{i}", 0, 0) for i in range(5000)]
    assert 0.17 < kinds.count("slowdown") / 5000 < 0.23
    assert 0.08 < kinds.count("reset") / 5000 < 0.12


@pytest.mark.parametrize("kwargs, field", [({"slowdown": 1.5}, "slowdown"), ({"reset": -0.1}, "reset"),
                                           ({"slowdown": 0.6, "reset": 0.6}, "slowdown + FaultPlan.reset"),
                                           ({"max_in_a_row": -1}, "max_in_a_row")])
def test_bad_plans_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=re.escape(f"FaultPlan.{field}")):
        FaultPlan(**kwargs)


def test_upstream_must_be_an_http_address():
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("s3://bucket", FaultPlan())
