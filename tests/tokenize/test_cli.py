"""`refinedweb tokenizer train` and `refinedweb tokenize` end to end, then the trainer on their shards."""

from __future__ import annotations

import shutil

import pytest

from refinedweb.cli import main

REPO_TINY = "configs/train/tiny.yaml"


def test_cli_chain_and_trainer_refuses_a_swapped_tokenizer(tmp_path, refined_dir, small_tokenizer, capsys):
    from refinedweb.tokenize.shards import TOKENIZER_DIR

    from tests.conftest import REPO

    tok, tokens = tmp_path / "tok", tmp_path / "tokens"
    assert main(["tokenizer", "train", "--input", str(refined_dir), "--vocab-size", "512", "--output", str(tok)]) == 0
    assert "512-entry byte-level BPE" in capsys.readouterr().out
    assert main(["tokenize", "--input", str(refined_dir), "--tokenizer", str(tok), "--output", str(tokens),
                 "--workers", "2", "--val-fraction", "0.1", "--docs-per-shard", "50"]) == 0
    assert "tokenized 146 documents" in capsys.readouterr().out

    tiny = str(REPO / REPO_TINY)
    # another tokenizer than the one that made the shards: a clear refusal, not a garbled run
    assert main(["train", tiny, "--data", str(tokens), "--tokenizer", str(small_tokenizer),
                 "--out", str(tmp_path / "bad"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tokenizer mismatch" in err and len(err.splitlines()) == 1
    # the recorded tokenizer swapped on disk: refused too
    saved = tokens / TOKENIZER_DIR / "tokenizer.json"
    original = saved.read_bytes()
    shutil.copyfile(small_tokenizer / "tokenizer.json", saved)
    assert main(["train", tiny, "--data", str(tokens), "--out", str(tmp_path / "bad2"), "--max-steps", "1"]) == 2
    assert "tokenizer mismatch" in capsys.readouterr().err
    saved.write_bytes(original)

    # the trainer trains a few steps on the shards and validates on the val split
    assert main(["train", tiny, "--data", str(tokens), "--out", str(tmp_path / "run"), "--max-steps", "2"]) == 0
    assert "step 2: loss" in capsys.readouterr().out and "val_loss" in (tmp_path / "run" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("argv, message", [
    (["tokenizer", "train", "--input", "{tmp}/missing", "--output", "{tmp}/tok"], "input not found"),
    (["tokenizer", "train", "--input", "{tmp}", "--output", "{tmp}/tok", "--vocab-size", "10"], "--vocab-size: must be"),
    (["tokenize", "--input", "{tmp}", "--tokenizer", "{tmp}", "--output", "{tmp}/o"], "no Parquet files in this folder"),
    (["tokenize", "--input", "{data}", "--tokenizer", "{tmp}", "--output", "{tmp}/o"], "no tokenizer.json"),
    (["tokenize", "--input", "{data}", "--tokenizer", "{tmp}", "--output", "{tmp}/o", "--val-fraction", "1"],
     "--val-fraction: must be in [0, 1)"),
])
def test_user_errors_print_one_line_and_exit_2(tmp_path, refined_dir, capsys, argv, message):
    code = main([a.replace("{tmp}", str(tmp_path)).replace("{data}", str(refined_dir)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
