"""`refinedweb dedup --against OLD`: a new snapshot deduplicated against an earlier output from its stored fingerprints."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.cli import main
from refinedweb.core.output import read_rejected
from tests.dedup.test_exact import _passage, _pieces, _plant

pytestmark = pytest.mark.slow


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _near_copy(text: str, rng: np.random.Generator) -> str:
    """``text`` with one word in 60 replaced: Jaccard of the word 5-grams about 0.85."""
    words = text.split()
    for i in rng.choice(len(words), size=len(words) // 60, replace=False).tolist():
        words[i] = "zyzzyva"
    return " ".join(words)


def _texts(path: Path) -> dict[str, str]:
    table = pq.read_table(path)
    return dict(zip(table[schema.ID].to_pylist(), table[schema.TEXT].to_pylist()))


def test_new_snapshot_loses_what_the_old_corpus_holds_and_old_is_never_rewritten(pages_a_run, tmp_path):
    refined = pq.read_table(pages_a_run[0] / "refined")
    (tmp_path / "old_in").mkdir()
    pq.write_table(refined.slice(0, 70), tmp_path / "old_in" / "a.parquet")
    assert main(["dedup", "--input", str(tmp_path / "old_in"), "--output", str(tmp_path / "old"), "--workers", "2"]) == 0
    shutil.rmtree(tmp_path / "old_in")  # nothing of the old corpus is recomputed: its inputs are gone
    old_texts = _texts(tmp_path / "old" / "data" / "a.parquet")
    before = _tree(tmp_path / "old")

    rng = np.random.default_rng(0)
    new = refined.slice(70, 40).to_pylist()
    long_old = [i for i, t in old_texts.items() if t and len(t.split()) >= 400]
    copies = [{**new[k], schema.ID: f"copy-{j}", schema.URL: f"https://copy.example/{j}", schema.TEXT: _near_copy(old_texts[i], rng)}
              for k, (j, i) in enumerate(enumerate(long_old[:2]))]
    passage = _passage(old_texts[long_old[2]], 60)
    assert len(_pieces(passage)) >= 59
    new[5] = {**new[5], schema.TEXT: _plant(new[5][schema.TEXT], passage)}
    (tmp_path / "new_in").mkdir()
    pq.write_table(pa.Table.from_pylist(new + copies, schema=refined.schema), tmp_path / "new_in" / "b.parquet")

    base = ["dedup", "--input", str(tmp_path / "new_in"), "--workers", "2"]
    assert main(base + ["--output", str(tmp_path / "alone")]) == 0
    assert main(base + ["--output", str(tmp_path / "against"), "--against", str(tmp_path / "old")]) == 0
    assert _tree(tmp_path / "old") == before
    alone, against = _texts(tmp_path / "alone" / "data" / "b.parquet"), _texts(tmp_path / "against" / "data" / "b.parquet")
    assert {"copy-0", "copy-1"} <= set(alone) and not {"copy-0", "copy-1"} & set(against)
    rejected = {(r[schema.DROP_REASON], r[schema.ID]) for r in read_rejected(tmp_path / "against").to_pylist()}
    assert {(schema.DEDUP_MINHASH_DUPLICATE, "copy-0"), (schema.DEDUP_MINHASH_DUPLICATE, "copy-1")} <= rejected
    planted = new[5][schema.ID]
    assert passage in alone[planted] and passage[:40] not in against[planted]
    assert {i: t for i, t in against.items() if i != planted} == {i: t for i, t in alone.items() if i in against and i != planted}
    stored = tmp_path / "against" / "dedup" / "index"
    assert (stored / "exact" / "b.parquet").is_file() and list((stored / "minhash").glob("c*.parquet"))


def test_against_a_folder_without_fingerprints_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "old").mkdir()
    pq.write_table(pa.table({schema.TEXT: ["a first document here", "a second one"]}), tmp_path / "in" / "x.parquet")
    args = ["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--workers", "2"]
    assert main(args + ["--against", str(tmp_path / "old"), "--kind", "minhash"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--against" in err and "minhash" in err and len(err.splitlines()) == 1
