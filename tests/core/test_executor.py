"""The fused executor: counting per stage, one reason per dropped row, mergeable rejected samples."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.core.executor import (READ_STAGE, FileResult, bottom_k, merge_samples, refine, refine_batch, results_from_arrow,
                                      results_to_arrow, run_stage)
from refinedweb.core.stats import FileMeta
from refinedweb.core.histogram import FRACTION, SignalSpec
from refinedweb.core.stage import annotate
from refinedweb.core.stats import AccountingError, StageStats, check_accounting


class DropShort:
    """Drops texts shorter than ``n`` characters (a stand-in filter with a signal column)."""

    name = "short"

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, batch: pa.Table) -> pa.Table:
        lengths = [len(t or "") for t in batch.column(schema.TEXT).to_pylist()]
        return annotate(batch, ["too_short" if n < self.n else None for n in lengths], {"length": lengths})


class Upper:
    name = "upper"

    def __call__(self, batch: pa.Table) -> pa.Table:
        up = [t.upper() for t in batch.column(schema.TEXT).to_pylist()]
        return annotate(batch.set_column(batch.schema.get_field_index(schema.TEXT), schema.TEXT, pa.array(up)), [None] * len(up))


class LosesRows:
    name = "broken"

    def __call__(self, batch: pa.Table) -> pa.Table:
        return batch.slice(1)


def _raw(texts, reasons=None, source="a.warc"):
    n = len(texts)
    return pa.table(
        {
            schema.ID: [f"{source}#{i}" for i in range(n)],
            schema.URL: [f"http://x/{i}" for i in range(n)],
            schema.SOURCE: [source] * n,
            schema.HTML: pa.nulls(n, pa.string()),
            schema.TEXT: pa.array(texts, pa.string()),
            schema.DROP_REASON: pa.array(reasons or [None] * n, pa.string()),
            schema.ROW: pa.array(range(n), pa.int64()),
        }
    )


def test_each_stage_counts_docs_chars_and_reasons():
    texts = ["hello world", "hi", None, "a longer text here"]
    kept, stats, rejected = refine([DropShort(5), Upper()], _raw(texts, [None, None, schema.NOT_HTML, None]), rejected_k=10)
    assert [s.name for s in stats] == [READ_STAGE, "short", "upper"]
    read, short, upper = stats
    assert (read.docs_in, read.docs_out, read.dropped) == (4, 3, {schema.NOT_HTML: 1})
    assert (short.docs_in, short.docs_out, short.dropped) == (3, 2, {"too_short": 1})
    assert short.chars_in == len("hello world") + 2 + len("a longer text here")
    assert upper.chars_out == len("hello world") + len("a longer text here")
    assert kept.column(schema.TEXT).to_pylist() == ["HELLO WORLD", "A LONGER TEXT HERE"]
    assert kept.column("length").to_pylist() == [11, 18]
    assert schema.DROP_REASON not in kept.column_names
    check_accounting(4, len(kept), stats, "test")
    assert sorted(rejected.column(schema.DROP_REASON).to_pylist()) == [schema.NOT_HTML, "too_short"]
    signals = json.loads(rejected.filter(pa.compute.equal(rejected["stage"], "short"))["signals"][0].as_py())
    assert signals == {"length": 2}


class Scores:
    """Adds a known threshold signal (language_score) and drops below 0.5."""

    name = "language"
    histogram_specs = {schema.LANGUAGE_SCORE: SignalSpec(FRACTION, ("language.min_score",))}  # the signal it thresholds

    def __call__(self, batch: pa.Table) -> pa.Table:
        scores = [len(t or "") / 20 for t in batch.column(schema.TEXT).to_pylist()]
        return annotate(batch, ["low" if s < 0.5 else None for s in scores], {schema.LANGUAGE_SCORE: scores})


def test_signal_histograms_cover_every_document_entering_the_stage():
    texts = ["x" * n for n in (1, 5, 9, 11, 15, 19)]
    kept, stats, _ = refine([DropShort(3), Scores()], _raw(texts))
    short, scores = stats[1], stats[2]
    assert short.histograms == {}  # "length" is no known threshold signal
    hist = scores.histograms[schema.LANGUAGE_SCORE]
    assert sum(hist["counts"]) + hist["missing"] == scores.docs_in == 5
    assert sum(c for e, c in zip(hist["edges"], hist["counts"]) if e < 0.5) == scores.dropped["low"] == 2
    merged = StageStats("language")
    merged.add(scores)
    merged.add(StageStats.from_json(scores.to_json()))
    assert merged.histograms[schema.LANGUAGE_SCORE]["counts"] == [2 * c for c in hist["counts"]]
    assert "histograms" not in short.to_json()  # stages without signals keep stats.json's old shape


def test_a_stage_that_loses_rows_is_an_error():
    with pytest.raises(RuntimeError, match="broken"):
        run_stage("broken", _raw(["a", "b"]), LosesRows())


def test_accounting_catches_a_lost_record():
    stats = [StageStats("read", docs_in=3, docs_out=3)]
    with pytest.raises(AccountingError, match="records read"):
        check_accounting(3, 2, stats, "f")


def test_bottom_k_merges_exactly():
    rows = pa.table({"key": pa.array(range(100, 0, -1), pa.uint64()), schema.DROP_REASON: ["r"] * 50 + ["s"] * 50})
    whole = bottom_k(rows, 5)
    parts = pa.concat_tables([bottom_k(rows.slice(0, 37), 5), bottom_k(rows.slice(37), 5)])
    assert sorted(bottom_k(parts, 5)["key"].to_pylist()) == sorted(whole["key"].to_pylist())
    assert len(whole) == 10


def test_merge_samples_counts_a_redone_document_once():
    _, _, rejected = refine([DropShort(100)], _raw([f"text {i}" for i in range(20)]), rejected_k=20)
    once = merge_samples([rejected], 5)
    assert merge_samples([once, rejected, rejected], 5).equals(once)
    assert len(once) == 5 and len(set(once[schema.ID].to_pylist())) == 5


def test_refine_batch_groups_by_file_and_passes_meta():
    a, b = _raw(["hello world"] * 3, source="a"), _raw(["x", "hello there"], source="b")
    meta = _raw([None], source="a").append_column(schema.FILE_META, pa.array(['{"records": 3, "html_docs": 2}']))
    batch = pa.concat_tables([a.append_column(schema.FILE_META, pa.nulls(3, pa.string())),
                              b.append_column(schema.FILE_META, pa.nulls(2, pa.string())), meta])
    out = refine_batch([DropShort(5)], batch)
    assert [(r.source, r.rows, r.meta) for r in out] == [("a", 3, None), ("b", 2, None), ("a", 0, FileMeta(records=3, html_docs=2))]
    assert len(out[1].kept) == 1 and out[1].stages[-1].dropped == {"too_short": 1}
    assert out[0].rejected is None  # nothing of a was dropped


def test_a_file_without_counters_rows_refines_the_same_as_a_ray_data_block():
    """Local and whole-file modes pass blocks without the counters column; Ray Data blocks carry it."""
    a = _raw(["hello world", "x", "hello there"], source="a")
    plain = refine_batch([DropShort(5)], a, rejected_k=5)
    block = refine_batch([DropShort(5)], a.append_column(schema.FILE_META, pa.nulls(3, pa.string())), rejected_k=5)
    assert [(r.rows, len(r.kept), r.rejected.num_rows) for r in plain] == [(r.rows, len(r.kept), r.rejected.num_rows) for r in block]


def test_results_cross_ray_data_as_arrow_and_come_back_equal():
    a, b = _raw(["hello world"] * 3, source="a"), _raw(["x", "hello there"], source="b")
    results = refine_batch([DropShort(5)], pa.concat_tables([a, b]), rejected_k=5) + [FileResult("a", meta=FileMeta(records=3, errors=1))]
    back = results_from_arrow(results_to_arrow(results))
    assert [(r.source, r.rows, r.meta, [s.to_json() for s in r.stages]) for r in back] == \
           [(r.source, r.rows, r.meta, [s.to_json() for s in r.stages]) for r in results]
    assert all((x.kept is None and y.kept is None) or x.kept.equals(y.kept) for x, y in zip(back, results))
    assert back[1].rejected.equals(results[1].rejected) and back[0].rejected is None
