"""A real S3 API server on loopback for tests: moto's standalone server in its own process.

``moto.server.ThreadedMotoServer`` would run in the test's process (and share its interpreter, so
it would not see a client that blocks or a process that is killed); here ``python -m moto.server``
is a subprocess on a free port of 127.0.0.1, started once per session and killed at its end. The
fixtures skip with a reason when moto (the ``test`` extra's ``moto[server]``) is not installed.

    def test_x(s3_bucket):          # a fresh, empty bucket per test
        url = f"s3://{s3_bucket.bucket}/out"
        config = s3_bucket.server.storage_config()

``s3_server`` also sets the standard AWS environment variables (endpoint, keys, region) for the
test, so code that builds its filesystem from the environment reaches the server too.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint and the (dummy) credentials it accepts."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS environment variables that point a client at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region, "AWS_EC2_METADATA_DISABLED": "true"}

    def storage_config(self, **overrides):
        """A ``StorageConfig`` for this server (keys come from the environment the fixture sets)."""
        from refinedweb.core.storage import S3Config, StorageConfig

        return StorageConfig(s3=S3Config(**{"endpoint_url": self.endpoint, "region": self.region, **overrides}))

    def create_bucket(self, name: str) -> None:
        """Create a bucket with a plain REST call (no SDK needed by the fixture itself)."""
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def _wait_until_up(endpoint: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as response:
                response.read()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"moto server at {endpoint} did not answer within {START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def s3_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``python -m moto.server`` on a free loopback port for the whole session; killed at its end."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(endpoint, proc)
        yield S3Server(endpoint)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def s3_server(s3_server_process: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The session's server, with the standard AWS environment variables pointing at it for this test."""
    for name, value in s3_server_process.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server_process


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the test server."""

    server: S3Server
    bucket: str

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}".rstrip("/") if key else f"s3://{self.bucket}"


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Bucket:
    """A new empty bucket per test (named uniquely, so tests never see each other's keys)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    return S3Bucket(s3_server, name)
