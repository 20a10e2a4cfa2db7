"""`refinedweb dedup` from s3:// to s3:// (moto's server on loopback), and `--against` an s3 output, equal the same on local disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.cli import main
from refinedweb.core.io import read_table, write_table
from refinedweb.core.storage import location

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
COUNTS = ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped")


def _words(rng: np.random.Generator, n: int) -> str:
    syllables = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "en", "ix", "pra", "no"]
    return " ".join("".join(rng.choice(syllables, size=rng.integers(2, 4))) for _ in range(n))


def _snapshot(rng: np.random.Generator, prefix: str, docs: int, copies_of: list[str] = ()) -> pa.Table:
    """Distinct documents, then an exact copy, a near copy (1 word in 60 changed), a URL repeat and copies of ``copies_of``."""
    texts = [_words(rng, 150) for _ in range(docs)]
    near = texts[1].split()
    near[30] = "zyzzyva"
    texts += [texts[0], " ".join(near), _words(rng, 150), *copies_of]
    urls = [f"https://{prefix}.example/{i}" for i in range(len(texts))]
    urls[docs + 2] = urls[2]
    return pa.table({schema.ID: [f"{prefix}-{i}" for i in range(len(texts))], schema.URL: urls, schema.TEXT: texts})


def _dedup_cli(*args: str) -> None:
    """``refinedweb dedup`` in a fresh process: its Ray instance gets the fixture's AWS variables."""
    res = subprocess.run([sys.executable, "-m", "refinedweb.cli", "dedup", *args, "--workers", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


def _result(out) -> tuple[dict[str, list], list[dict]]:
    root = location(out)
    data = {str(p.relative_to(root / "data")): read_table(p).to_pylist() for p in (root / "data").rglob("*.parquet")}
    stats = json.loads((root / "stats.json").read_text())
    return data, [{k: s[k] for k in COUNTS} for s in stats["stages"]]


def test_dedup_s3_to_s3_and_against_an_s3_output_equal_local_runs(s3_bucket, tmp_path):
    rng = np.random.default_rng(7)
    old = {"snap-1/a.parquet": _snapshot(rng, "a", 12), "snap-2/b.parquet": _snapshot(rng, "b", 12)}
    carried = old["snap-1/a.parquet"].column(schema.TEXT).to_pylist()[3:5]
    new = _snapshot(rng, "c", 10, copies_of=carried)
    for rel, table in old.items():
        write_table(table, s3_bucket.url(f"in/{rel}"))
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp_path / "in" / rel)
    write_table(new, s3_bucket.url("new/c.parquet"))
    (tmp_path / "new").mkdir()
    pq.write_table(new, tmp_path / "new" / "c.parquet")

    _dedup_cli("--input", s3_bucket.url("in"), "--output", s3_bucket.url("out"))
    assert main(["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--workers", "1"]) == 0
    data, counts = _result(s3_bucket.url("out"))
    assert (data, counts) == _result(tmp_path / "out")
    dropped = {r: n for s in counts for r, n in s["dropped"].items()}
    assert {schema.DEDUP_MINHASH_DUPLICATE, schema.DEDUP_URL_DUPLICATE} <= set(dropped)
    assert sorted(data) == ["snap-1/a.parquet", "snap-2/b.parquet"]

    _dedup_cli("--input", s3_bucket.url("new"), "--output", s3_bucket.url("out2"), "--against", s3_bucket.url("out"))
    assert main(["dedup", "--input", str(tmp_path / "new"), "--output", str(tmp_path / "out2"), "--workers", "1",
                 "--against", str(tmp_path / "out")]) == 0
    data2, counts2 = _result(s3_bucket.url("out2"))
    assert (data2, counts2) == _result(tmp_path / "out2")
    kept = {r[schema.TEXT] for r in data2["c.parquet"]}
    assert not kept & set(carried)  # what the old corpus holds is gone from the new one
