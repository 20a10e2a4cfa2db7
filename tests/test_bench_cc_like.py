"""bench/make_cc_like.py: the Common-Crawl-like input holds the English share and sizes it promises."""

from __future__ import annotations

import importlib.util
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "dev" / "warc").is_dir(), reason="../shared/data/dev/warc is absent")


def _module():
    spec = importlib.util.spec_from_file_location("make_cc_like", REPO / "bench" / "make_cc_like.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small CC-like file drawn from dev/warc's modern crawls (fast), and the module that made it."""
    cc = _module()
    pool = [p for g in cc.POOL[1:] for p in sorted(DATA.glob(g))]
    out = tmp_path_factory.mktemp("cc-like") / "cc-like.warc.gz"
    subprocess.run([sys.executable, str(REPO / "bench" / "make_cc_like.py"), "--output", str(out), "--records", "80",
                    "--english", "0.25", "--pool", *map(str, pool)], check=True, capture_output=True, cwd=REPO)
    return cc, pool, out


def test_records_are_real_pages_with_distinct_ids_and_urls(made):
    cc, pool, out = made
    originals = {p.block: p.headers for p in cc.read_pool(pool)}
    changed = {"warc-record-id", "warc-target-uri"}
    with open(out, "rb") as f:
        records = [(r.rec_headers, r.raw_stream.read()) for r in ArchiveIterator(f, no_record_parse=True)]
    assert len(records) == 80
    assert len({h.get_header("WARC-Record-ID") for h, _ in records}) == 80
    assert len({h.get_header("WARC-Target-URI") for h, _ in records}) == 80
    assert all(block in originals for _, block in records)
    for headers, block in records:  # every other header, WARC-Identified-Payload-Type included, as it was
        assert [h for h in headers.headers if h[0].lower() not in changed] == \
            [h for h in originals[block] if h[0].lower() not in changed]
    assert any("cc-like-copy=" in h.get_header("WARC-Target-URI") for h, _ in records)


def test_english_share_and_sizes_follow_the_targets(made):
    cc, _, out = made
    pages = cc.read_pool([out])  # the refinery's reader keeps every record
    assert len(pages) == 80
    cc.label_languages(pages)
    assert sum(p.language == "en" for p in pages) == round(80 * 0.25)
    mu, sigma, n = cc.fit_cc_sizes(DATA)
    assert n >= 2 and sigma > 0
    median = statistics.median(p.size for p in pages)
    # the pool is small (39 pages), so the achieved median is only near the fitted one
    assert abs(math.log(median) - mu) < sigma
