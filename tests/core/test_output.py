"""Output layout: the run's one rejected sample, bounded over the whole run and safe to merge again."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from refinedweb import schema
from refinedweb.core.executor import REJECTED_SCHEMA, bottom_k, sample_key
from refinedweb.core.output import REJECTED_DIR, REJECTED_SAMPLE, OutputConfig, OutputDir, read_rejected


def _rejects(source: str, n: int, reasons=("r1", "r2")) -> pa.Table:
    ids = [f"{source}#{i}" for i in range(n)]
    return pa.table(
        {
            "key": pa.array([sample_key(i) for i in ids], pa.uint64()),
            schema.ID: ids,
            schema.URL: [f"http://x/{i}" for i in ids],
            schema.SOURCE: [source] * n,
            "stage": ["s"] * n,
            schema.DROP_REASON: [reasons[i % len(reasons)] for i in range(n)],
            schema.TEXT: ["t"] * n,
            "signals": ["{}"] * n,
        },
        schema=REJECTED_SCHEMA,
    )


def _keys(table: pa.Table) -> set:
    return set(zip(table[schema.DROP_REASON].to_pylist(), table[schema.ID].to_pylist()))


def test_one_sample_per_run_bounded_per_reason_and_resume_safe(tmp_path):
    cfg = OutputConfig(rejected_per_reason=4)
    files = {f"f{j}": _rejects(f"f{j}", 30) for j in range(3)}
    out = OutputDir(tmp_path)
    for table in files.values():
        out.add_rejected([table], cfg)
    expected = bottom_k(pa.concat_tables(list(files.values())), 4)
    sample = pq.read_table(tmp_path / REJECTED_DIR / REJECTED_SAMPLE)
    assert _keys(sample) == _keys(expected) and len(sample) == 8
    assert [p.name for p in (tmp_path / REJECTED_DIR).iterdir()] == [REJECTED_SAMPLE]
    again = OutputDir(tmp_path)  # a resumed run redoes file f1 (it crashed before its marker)
    again.add_rejected([files["f1"]], cfg)
    assert _keys(read_rejected(tmp_path)) == _keys(expected) and len(read_rejected(tmp_path)) == 8


def test_rejected_per_reason_zero_keeps_nothing(tmp_path):
    OutputDir(tmp_path).add_rejected([_rejects("f", 10)], OutputConfig(rejected_per_reason=0))
    assert not (tmp_path / REJECTED_DIR / REJECTED_SAMPLE).exists()
    assert len(read_rejected(tmp_path)) == 0
