"""Train a Falcon-style byte-level BPE on the refined corpus and save a folder transformers loads as is.

Falcon's tokenizer (``tiiuae/falcon-7b`` tokenizer.json) is a byte-level BPE with no normalizer,
the pre-tokenizer sequence Punctuation(contiguous) -> ByteLevel(GPT-2 regex, no prefix space) ->
Digits -> Split into groups of at most three digits, no post-processor, a ByteLevel decoder, and
12 special tokens at ids 0-11 (``>>TITLE<<`` ... ``>>MIDDLE<<``, then ``<|endoftext|>``). Its
tokenizer_config.json declares ``PreTrainedTokenizerFast`` with ``<|endoftext|>`` as end of
sequence; here it is also the beginning of sequence, as the trainer packs documents with it between.
Byte-level means every string is encodable and ``decode(encode(text)) == text``.

The trainer streams Parquet record batches into ``Tokenizer.train_from_iterator``: the BPE trainer
keeps word counts, not documents, so the corpus never sits in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from refinedweb.config import UserError, check
from refinedweb.core.io import write_atomic
from refinedweb.core.storage import StoragePath, copy_file, location
from refinedweb.tokenize.corpus import corpus_files, iter_texts
from refinedweb.tokenize.manifest import TOKENIZER_FILE

CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
EOT = "<|endoftext|>"
# Falcon-7B/40B tokenizer.json "added_tokens", in id order (0-11).
FALCON_SPECIAL_TOKENS = (
    ">>TITLE<<", ">>ABSTRACT<<", ">>INTRODUCTION<<", ">>SUMMARY<<", ">>COMMENT<<", ">>ANSWER<<",
    ">>QUESTION<<", ">>DOMAIN<<", ">>PREFIX<<", ">>SUFFIX<<", ">>MIDDLE<<", EOT,
)


@dataclass(frozen=True)
class TokenizerTrainConfig:
    """How the BPE is trained (``refinedweb tokenizer train``)."""

    vocab_size: int = 65024
    """Entries including the special tokens and the 256 byte symbols (Falcon-7B/40B config.json: 65024)."""
    min_frequency: int = 2
    """A pair is merged only if it occurs at least this often (1 merges singletons, which only memorise)."""
    special_tokens: tuple[str, ...] = FALCON_SPECIAL_TOKENS
    """Tokens never split and never produced by merges, at ids 0.. in this order (Falcon's 12)."""
    eot_token: str = EOT
    """End of text: appended to every document by ``tokenize``, BOS and EOS for transformers."""
    model_max_length: int = 2048
    """Written to tokenizer_config.json (Falcon: 2048, its training sequence length)."""
    batch_docs: int = 1024
    """Documents per Parquet record batch streamed into the trainer."""
    limit_docs: int | None = None
    """Train on the first this many documents only (null = all)."""

    def __post_init__(self) -> None:
        check(self.eot_token in self.special_tokens, "eot_token", "must be one of special_tokens")
        check(len(set(self.special_tokens)) == len(self.special_tokens), "special_tokens", "must be distinct")
        check(self.vocab_size >= 256 + len(self.special_tokens), "vocab_size",
              f"must be >= {256 + len(self.special_tokens)} (256 byte symbols + the special tokens)")
        check(self.min_frequency >= 1, "min_frequency", "must be >= 1")
        check(self.model_max_length >= 1, "model_max_length", "must be >= 1")
        check(self.batch_docs >= 1, "batch_docs", "must be >= 1")
        check(self.limit_docs is None or self.limit_docs >= 1, "limit_docs", "must be >= 1 or null")


def falcon_style_tokenizer():
    """An untrained ``tokenizers.Tokenizer`` with Falcon's model, pre-tokenizer and decoder."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated"),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(inputs: str | Sequence[str], output: str | StoragePath, config: TokenizerTrainConfig = TokenizerTrainConfig(),
                    show_progress: bool = False):
    """Train on the ``text`` of ``inputs`` (folders, globs, files) and save the folder; returns the tokenizer."""
    from tokenizers import pre_tokenizers, trainers

    files = corpus_files(inputs)
    tok = falcon_style_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size, min_frequency=config.min_frequency, special_tokens=list(config.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=show_progress,
    )
    seen = 0

    def stream():
        nonlocal seen
        for texts in iter_texts(files, config.batch_docs, config.limit_docs):
            seen += len(texts)
            yield texts

    tok.train_from_iterator(stream(), trainer=trainer)
    if not seen:
        raise UserError(f"{', '.join(map(str, files))}: no text to train on")
    save_tokenizer(tok, output, eot_token=config.eot_token, model_max_length=config.model_max_length)
    return tok


def transformers_files(special_tokens: Sequence[str], eot_token: str, model_max_length: int) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json as Falcon writes them, with EOT also as BOS."""
    extra = [t for t in special_tokens if t != eot_token]
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": eot_token,
        "eos_token": eot_token,
        "additional_special_tokens": extra,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": model_max_length,
    }
    special = {"bos_token": eot_token, "eos_token": eot_token, "additional_special_tokens": extra}
    return {CONFIG_FILE: config, SPECIAL_TOKENS_FILE: special}


def save_tokenizer(tok, output: str | StoragePath, *, eot_token: str = EOT, model_max_length: int = 2048) -> StoragePath:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into ``output`` (a folder or a storage prefix)."""
    out = location(output)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / TOKENIZER_FILE, lambda tmp: tok.save(str(tmp)))
    specials = [t.content for _, t in sorted(tok.get_added_tokens_decoder().items()) if t.special]
    for name, doc in transformers_files(specials, eot_token, model_max_length).items():
        (out / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return out


def load_tokenizer(path: str | StoragePath):
    """A ``tokenizers.Tokenizer`` from a folder (or storage prefix) holding tokenizer.json, or from the file itself."""
    from tokenizers import Tokenizer

    p = location(path)
    file = p / TOKENIZER_FILE if p.is_dir() else p
    if not file.is_file():
        raise UserError(f"{path}: no {TOKENIZER_FILE} found (train one with `refinedweb tokenizer train`)")
    try:
        return Tokenizer.from_file(str(file)) if isinstance(file, Path) else Tokenizer.from_str(file.read_text())
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise UserError(f"{file}: not a tokenizers JSON file ({str(exc).splitlines()[0]})") from None


def copy_tokenizer(source: str | StoragePath, target: StoragePath, eot_token: str = EOT, model_max_length: int = 2048) -> StoragePath:
    """Copy a tokenizer (folder or bare tokenizer.json) into ``target``, adding transformers' files if absent."""
    src = location(source)
    file = src / TOKENIZER_FILE if src.is_dir() else src
    target.mkdir(parents=True, exist_ok=True)
    if file.resolve() == (target / TOKENIZER_FILE).resolve():
        return target
    copy_file(file, target / TOKENIZER_FILE)
    siblings = [file.parent / name for name in (CONFIG_FILE, SPECIAL_TOKENS_FILE)]
    if all(p.is_file() for p in siblings):
        for p in siblings:
            copy_file(p, target / p.name)
    else:
        tok = load_tokenizer(target)
        specials = [t.content for _, t in sorted(tok.get_added_tokens_decoder().items()) if t.special]
        for name, doc in transformers_files(specials, eot_token, model_max_length).items():
            (target / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return target
