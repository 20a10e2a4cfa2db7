"""The Falcon-style BPE: trained on the real refined corpus, lossless, loadable by transformers as is."""

from __future__ import annotations

import json
import shutil

import pytest

from refinedweb.config import ConfigError, UserError
from refinedweb.tokenize.bpe import (EOT, FALCON_SPECIAL_TOKENS, TokenizerTrainConfig, copy_tokenizer,
                                     load_tokenizer, train_tokenizer)

from .conftest import SMALL_VOCAB


def test_trained_tokenizer_has_falcon_special_tokens_first(small_tokenizer):
    tok = load_tokenizer(small_tokenizer)
    assert tok.get_vocab_size() == SMALL_VOCAB
    assert [tok.id_to_token(i) for i in range(len(FALCON_SPECIAL_TOKENS))] == list(FALCON_SPECIAL_TOKENS)
    assert tok.token_to_id(EOT) == 11  # Falcon-7B's end-of-text id
    assert tok.encode(f"a{EOT}b", add_special_tokens=False).ids[1] == 11  # never split


def test_decode_encode_is_the_identity_on_every_document(small_tokenizer, refined_docs):
    tok = load_tokenizer(small_tokenizer)
    texts = [text for _, text in refined_docs]
    encodings = tok.encode_batch(texts, add_special_tokens=False)
    assert [tok.decode(e.ids) for e in encodings] == texts
    # byte-level: text the corpus never showed (scripts, emoji, control characters) round-trips too
    odd = "Ünïcödé – 日本語 🙂\t\x00 1234567 ,,,!!"
    assert tok.decode(tok.encode(odd).ids) == odd


def test_transformers_loads_the_folder_and_gives_the_same_ids(small_tokenizer, refined_docs):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    ours = load_tokenizer(small_tokenizer)
    auto = AutoTokenizer.from_pretrained(str(small_tokenizer))
    fast = PreTrainedTokenizerFast.from_pretrained(str(small_tokenizer))
    assert auto.eos_token == auto.bos_token == EOT and auto.eos_token_id == 11
    for _, text in refined_docs:
        ids = ours.encode(text, add_special_tokens=False).ids
        assert auto(text)["input_ids"] == ids
        assert fast(text)["input_ids"] == ids
        assert auto.decode(ids) == text
    assert auto.convert_tokens_to_ids(">>TITLE<<") == 0


def test_training_is_deterministic_and_limit_docs_changes_it(tmp_path, refined_dir, small_tokenizer):
    train_tokenizer(refined_dir, tmp_path / "again", TokenizerTrainConfig(vocab_size=SMALL_VOCAB))
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (small_tokenizer / "tokenizer.json").read_bytes()
    train_tokenizer(refined_dir, tmp_path / "few", TokenizerTrainConfig(vocab_size=SMALL_VOCAB, limit_docs=5))
    assert (tmp_path / "few" / "tokenizer.json").read_bytes() != (small_tokenizer / "tokenizer.json").read_bytes()


def test_a_bare_tokenizer_json_gets_the_transformers_files(tmp_path, small_tokenizer):
    bare = tmp_path / "falcon.json"
    shutil.copyfile(small_tokenizer / "tokenizer.json", bare)
    out = copy_tokenizer(bare, tmp_path / "copy")
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert (config["eos_token"], config["tokenizer_class"]) == (EOT, "PreTrainedTokenizerFast")
    assert json.loads((out / "special_tokens_map.json").read_text())["additional_special_tokens"][0] == ">>TITLE<<"


@pytest.mark.parametrize("changes, field", [
    ({"vocab_size": 100}, "vocab_size"), ({"eot_token": "</s>"}, "eot_token"),
    ({"min_frequency": 0}, "min_frequency"), ({"limit_docs": 0}, "limit_docs"),
])
def test_config_errors_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        TokenizerTrainConfig(**changes)


def test_bad_tokenizer_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="not a tokenizers JSON file"):
        load_tokenizer(tmp_path)
