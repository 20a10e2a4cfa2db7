"""``refinedweb ablate`` end to end at toy size: held-out text removed from both corpora, table and curves written."""

from __future__ import annotations

import json
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.ablate import AblateConfig, ablate, raw_refinery_config, read_eval_docs
from refinedweb.config import UserError

TINY = """model: {n_layer: 1, d_model: 32, n_head: 2, n_kv_head: 1, max_seq_len: 32}
data: {seq_len: 32}
optim: {lr: 1.0e-3}
train: {batch_size: 4, micro_batch_size: 4, num_threads: 2}
"""


@pytest.fixture(scope="module")
def corpora(shared_data, tmp_path_factory):
    """raw = good + bad text, refined = good text; both hold two eval documents (one by id, one by URL)."""
    q = shared_data / "dev" / "quality"
    good = [p.strip() for p in (q / "cs336__high_quality_wiki_reference.txt").read_text().split("\n\n") if p.strip()]
    bad = [p.strip() for p in (q / "cs336__low_quality_cc.txt").read_text().splitlines() if p.strip()]
    root = tmp_path_factory.mktemp("ablate-in")
    rows = lambda texts, tag: [{"id": f"{tag}{i}", "url": f"http://{tag}/{i}", "text": t}  # noqa: E731
                               for i, t in enumerate(texts)]
    leaked = [{"id": "e0", "url": "http://elsewhere/0", "text": good[0]},
              {"id": "other", "url": "http://eval/1", "text": good[1]}]
    corpora = {"raw": rows(good[5:], "g") + rows(bad, "b") + leaked, "refined": rows(good[5:], "g") + leaked}
    for name, docs in corpora.items():
        (root / name).mkdir()
        pq.write_table(pa.Table.from_pylist(docs), root / name / "part.parquet")
    held_out = [{"id": f"e{i}", "url": f"http://eval/{i}", "text": good[i]} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(held_out), root / "eval.parquet")
    (root / "tiny.yaml").write_text(TINY)
    return root


def test_ablate_holds_out_the_eval_text_and_writes_table_and_curves(tmp_path, corpora):
    cfg = AblateConfig(train_config=str(corpora / "tiny.yaml"), max_steps=4, eval_every=2, vocab_size=512)
    result = ablate([], [str(corpora / "eval.parquet")], tmp_path, cfg,
                    corpora={"raw": str(corpora / "raw"), "refined": str(corpora / "refined")})
    for name in ("raw", "refined"):
        assert result["corpora"][name]["held_out"] == 2  # e0 by id, "other" by URL
        texts = set(pq.read_table(tmp_path / f"corpus-{name}" / "docs.parquet").column("text").to_pylist())
        assert not texts & {d["text"] for d in read_eval_docs([corpora / "eval.parquet"])}
        steps = [p["step"] for p in result["curves"][name]]
        assert steps == [2, 4]
    assert result["corpora"]["raw"]["kept"] > result["corpora"]["refined"]["kept"]
    assert result["curves"]["raw"][-1]["tokens"] == result["curves"]["refined"][-1]["tokens"] == 4 * 4 * 32
    runs = [json.loads((tmp_path / f"model-{n}" / "run.json").read_text()) for n in ("raw", "refined")]
    assert runs[0]["tokenizer"]["sha256"] == runs[1]["tokenizer"]["sha256"]  # one tokenizer for both
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1000, 400)
    page = (tmp_path / "ablation.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert "src='http" not in page and "<link" not in page and "<script" not in page  # self-contained
    assert (tmp_path / "ablation.md").read_text().count("\n| 4 |") == 1


def test_the_raw_corpus_config_keeps_only_extraction_and_language(shared_data):
    from refinedweb.pipeline.config import load_config
    from refinedweb.pipeline.pipeline import build_stages

    from .conftest import REPO

    raw = raw_refinery_config(load_config(str(REPO / "configs" / "refinedweb.yaml")))
    assert [type(s).__name__ for s in build_stages(raw)] == ["Extractor", "LanguageFilter"]
    assert raw.dedup.enabled_kinds() == []


def test_eval_files_must_hold_text(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="no text"):
        read_eval_docs([tmp_path / "empty.txt"])
