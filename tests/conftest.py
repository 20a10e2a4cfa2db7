"""Shared fixtures: where the real web data lies, and skipping with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# loopback Common Crawl and S3 servers, the S3 fault proxy, the two-node Ray cluster
pytest_plugins = ["tests.pipeline.ccserver", "tests.s3server", "tests.faultproxy", "tests.raycluster"]


def _shared_data() -> Path:
    env = os.environ.get("REFINEDWEB_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or $REFINEDWEB_SHARED_DATA); skips the test where it is absent."""
    path = _shared_data()
    if not path.is_dir():
        pytest.skip(f"real web data not found at {path} (set REFINEDWEB_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def pages_a(shared_data: Path) -> Path:
    """The 567-page real WARC used for end-to-end checks."""
    path = shared_data / "pages" / "pages-A.warc.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def pages_a_run(pages_a, tmp_path_factory):
    """pages-A refined once per test session with the paper's config: (output dir, stats, seconds).

    The real corpus for every test downstream of the refinery (dedup, tokenizer, report).
    """
    import time

    from refinedweb.pipeline.config import load_config
    from refinedweb.pipeline.runner import run

    out = tmp_path_factory.mktemp("pages_a")
    start = time.perf_counter()
    stats = run(load_config(str(REPO / "configs" / "refinedweb.yaml")), [str(pages_a)], out, workers=2)
    return out, stats, time.perf_counter() - start
