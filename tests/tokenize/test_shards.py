"""Token shards on Ray from the real refined corpus: contents, split, determinism, resume, errors."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, UserError
from refinedweb.tokenize.bpe import load_tokenizer
from refinedweb.tokenize.manifest import read_manifest, tokenizer_sha256
from refinedweb.tokenize.shards import TokenizeConfig, encode, is_validation, plan_units

from .conftest import SMALL_VOCAB, run_tokenize


def _read_split(token_dir, split):
    manifest = read_manifest(token_dir)
    tables = [pq.read_table(p) for p in manifest.shard_paths(split)]
    return pa.concat_tables(tables) if tables else None


def test_every_document_is_in_one_split_with_eot_appended(token_dir, refined_docs, small_tokenizer):
    manifest = read_manifest(token_dir)
    tok = load_tokenizer(small_tokenizer)
    assert (manifest.vocab_size, manifest.eot_id, manifest.dtype) == (SMALL_VOCAB, 11, "uint16")
    assert manifest.sha256 == tokenizer_sha256(small_tokenizer)
    rows = {}
    for split in ("train", "val"):
        table = _read_split(token_dir, split)
        assert table.schema.field(schema.INPUT_IDS).type == pa.list_(pa.uint16())
        assert manifest.split(split).documents == len(table)
        assert manifest.split(split).tokens == sum(len(x) for x in table.column(schema.INPUT_IDS).to_pylist())
        rows.update(zip(table.column(schema.ID).to_pylist(), table.column(schema.INPUT_IDS).to_pylist()))
    assert len(rows) == len(refined_docs)
    for doc_id, text in refined_docs:
        ids = rows[doc_id]
        assert ids[-1] == 11 and 11 not in ids[:-1]
        assert tok.decode(ids[:-1]) == text
    val = manifest.split("val").documents / len(refined_docs)
    assert 0.02 < val < 0.25  # 10% asked, 146 documents


def test_output_is_identical_across_runs_and_worker_counts(tmp_path, token_dir, refined_dir, small_tokenizer):
    run_tokenize(refined_dir, small_tokenizer, tmp_path / "one", workers=1)
    manifest, other = read_manifest(token_dir), read_manifest(tmp_path / "one")
    assert manifest.splits == other.splits
    for split in ("train", "val"):
        for a, b in zip(manifest.shard_paths(split), other.shard_paths(split)):
            assert pq.read_table(a).equals(pq.read_table(b))
    assert len(manifest.split("train").shards) == 4  # 146 documents / 40 per shard


def test_the_split_depends_on_the_id_and_seed_only():
    ids = [f"<urn:uuid:{i:08d}>" for i in range(20_000)]
    mask = is_validation(ids, 0.1, 0)
    assert abs(mask.mean() - 0.1) < 0.01
    assert (is_validation(ids[::-1], 0.1, 0) == mask[::-1]).all()  # per document, not per position
    assert (is_validation(ids, 0.1, 1) != mask).any()
    assert not is_validation(ids, 0.0, 0).any()
    assert (mask <= is_validation(ids, 0.2, 0)).all()  # a larger fraction only adds documents


def test_rerun_skips_finished_shards_and_redoes_a_missing_one(tmp_path, refined_dir, small_tokenizer):
    out = tmp_path / "tokens"
    first = run_tokenize(refined_dir, small_tokenizer, out)
    states = sorted((out / "state").glob("*.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in states}
    again = run_tokenize(refined_dir, small_tokenizer, out)
    assert again["skipped"] == again["shards"] == first["shards"]
    assert {p: p.stat().st_mtime_ns for p in states} == mtimes
    states[1].unlink()
    (out / "train" / states[1].with_suffix(".parquet").name).unlink()
    redone = run_tokenize(refined_dir, small_tokenizer, out)
    assert redone["skipped"] == first["shards"] - 1
    assert (redone["documents"], redone["tokens"]) == (first["documents"], first["tokens"])


def test_other_settings_in_the_same_output_are_refused(tmp_path, refined_dir, small_tokenizer, token_dir):
    with pytest.raises(UserError, match="another val_fraction"):
        run_tokenize(refined_dir, small_tokenizer, token_dir, val_fraction=0.2)


def test_an_input_changed_since_is_refused(tmp_path, small_tokenizer):
    src = tmp_path / "in" / "docs.parquet"
    src.parent.mkdir()
    pq.write_table(pa.table({schema.ID: ["a", "b"], schema.TEXT: ["one", "two"]}), src)
    run_tokenize(src.parent, small_tokenizer, tmp_path / "out")
    pq.write_table(pa.table({schema.ID: ["a", "b"], schema.TEXT: ["one", "two, longer now"]}), src)
    with pytest.raises(UserError, match="docs.parquet: changed since it was tokenized"):
        run_tokenize(src.parent, small_tokenizer, tmp_path / "out")


def test_a_null_text_is_a_user_error_naming_the_file(tmp_path, small_tokenizer, refined_dir):
    bad = tmp_path / "in" / "bad.parquet"
    bad.parent.mkdir()
    pq.write_table(pa.table({schema.ID: ["a", "b"], schema.TEXT: ["fine", None]}), bad)
    with pytest.raises(UserError, match=r"bad.parquet: row 1 has a null text"):
        run_tokenize(bad.parent, small_tokenizer, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_units_are_fixed_by_rows_and_names_must_not_collide(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        pq.write_table(pa.table({schema.ID: ["a"] * 5, schema.TEXT: ["t"] * 5}), tmp_path / d / "s.parquet")
    units = plan_units([tmp_path / "x" / "s.parquet"], 2)
    assert [(u.start, u.stop, u.name) for u in units] == [(0, 2, "s-00000"), (2, 4, "s-00001"), (4, 5, "s-00002")]
    with pytest.raises(UserError, match="same file name"):
        plan_units([tmp_path / "x" / "s.parquet", tmp_path / "y" / "s.parquet"], 2)


def test_encode_appends_eot_and_keeps_the_dtype(small_tokenizer):
    tok = load_tokenizer(small_tokenizer)
    texts = ["Hello world.", "", "Two\nlines 12345"]
    for dtype, arrow in (("uint16", pa.uint16()), ("uint32", pa.uint32())):
        array = encode(tok, texts, 11, dtype, batch_docs=2)
        assert array.type == pa.list_(arrow)
        assert array.to_pylist() == [tok.encode(t, add_special_tokens=False).ids + [11] for t in texts]


@pytest.mark.parametrize("changes, field", [({"val_fraction": 1.0}, "val_fraction"),
                                            ({"docs_per_shard": 0}, "docs_per_shard"), ({"workers": 0}, "workers")])
def test_config_errors_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        TokenizeConfig(**changes)
