"""The token-folder manifest shared by `refinedweb tokenize` and the trainer (refinedweb/tokenize/manifest.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from refinedweb.config import UserError
from refinedweb.tokenize.manifest import (
    FORMAT,
    check_tokenizer,
    read_manifest,
    resolve_tokenizer,
    tokenizer_sha256,
    write_manifest,
)


@pytest.fixture
def tok(tmp_path):
    d = tmp_path / "tok"
    d.mkdir()
    (d / "tokenizer.json").write_text('{"version": "1.0"}')
    return d


def test_sha256_is_of_the_tokenizer_json_bytes(tok):
    want = hashlib.sha256(b'{"version": "1.0"}').hexdigest()
    assert tokenizer_sha256(tok) == tokenizer_sha256(tok / "tokenizer.json") == want


def test_round_trip_sums_split_totals(tmp_path, tok):
    write_manifest(tmp_path, sha256=tokenizer_sha256(tok), vocab_size=512, eot_id=0, dtype="uint16",
                   tokenizer_path="tok",
                   splits={"train": [{"path": "train/00000.parquet", "documents": 3, "tokens": 30},
                                     {"path": "train/00001.parquet", "documents": 2, "tokens": 12}]})
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["format"] == FORMAT and raw["splits"]["train"]["tokens"] == 42
    m = read_manifest(tmp_path)
    assert (m.vocab_size, m.eot_id, m.dtype, m.split("train").documents) == (512, 0, "uint16", 5)
    assert m.shard_paths("train") == [tmp_path / "train/00000.parquet", tmp_path / "train/00001.parquet"]
    assert resolve_tokenizer(m) == tok  # relative to the token folder
    with pytest.raises(UserError, match="no split 'val'"):
        m.split("val")


def test_a_different_tokenizer_is_refused(tmp_path, tok):
    write_manifest(tmp_path, sha256="0" * 64, vocab_size=512, eot_id=0, dtype="uint16", splits={"train": []})
    with pytest.raises(UserError, match="tokenizer mismatch"):
        check_tokenizer(read_manifest(tmp_path), tok)
    with pytest.raises(UserError, match="no tokenizer path"):
        resolve_tokenizer(read_manifest(tmp_path))


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    ('{"format": "other"}', "format must be"),
    ('{"format": "refinedweb-tokens/1", "tokenizer": {}}', "tokenizer"),
])
def test_bad_manifests_are_user_errors(tmp_path, content, message):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(UserError, match=message):
        read_manifest(tmp_path)


def test_writer_rejects_impossible_values(tmp_path):
    with pytest.raises(ValueError):
        write_manifest(tmp_path, sha256="x", vocab_size=70000, eot_id=0, dtype="uint16", splits={})
    with pytest.raises(ValueError):
        write_manifest(tmp_path, sha256="x", vocab_size=10, eot_id=10, dtype="uint32", splits={})
