"""Gopher repetition: exact signal values, every reason, a brute-force cross-check and real text."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from dataclasses import fields

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict, to_dict
from refinedweb.filters.repetition import (
    DUP_NGRAM_SIZES,
    TOP_NGRAM_SIZES,
    RepetitionConfig,
    RepetitionFilter,
    duplicate_fractions,
    ngram_fractions,
)

THRESHOLDS = [f.name for f in fields(RepetitionConfig) if f.name != "enabled"]


def _batch(texts):
    return pa.table({schema.ID: [str(i) for i in range(len(texts))], schema.TEXT: pa.array(texts, pa.string())})


def _only(field: str) -> RepetitionConfig:
    """Every threshold switched off (1.0 is never exceeded) except ``field`` at its paper value."""
    return RepetitionConfig(**{name: 1.0 for name in THRESHOLDS if name != field})


def _reason(cfg: RepetitionConfig, text: str) -> str | None:
    return RepetitionFilter(cfg)(_batch([text])).column(schema.DROP_REASON)[0].as_py()


def _reference(words, n):
    """Brute force over n-gram tuples: (top n-gram covered-char fraction, duplicated n-gram fraction)."""
    total = sum(map(len, words))
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    if not grams:
        return 0.0, 0.0
    best = max(counts.values())
    top = 0.0
    if best > 1:
        winner = max((g for g, c in counts.items() if c == best), key=lambda g: sum(map(len, g)))
        covered = {i + k for i, g in enumerate(grams) if g == winner for k in range(n)}
        top = sum(len(words[i]) for i in covered) / total
    covered = {i + k for i, g in enumerate(grams) if counts[g] > 1 for k in range(n)}
    return top, sum(len(words[i]) for i in covered) / total


def test_duplicate_fractions_count_repeats_after_the_first():
    assert duplicate_fractions(["a", "bb", "a", "a", "ccc"]) == (2 / 5, 2 / 8)
    assert duplicate_fractions([]) == (0.0, 0.0)


def test_ngram_fractions_by_hand():
    top, dup = ngram_fractions("a b a b a b c".split())
    assert top == {2: 6 / 7, 3: 5 / 7, 4: 6 / 7}  # overlapping occurrences cover each word once
    assert all(v == 0.0 for v in dup.values())
    words = "the cat sat on the mat the cat sat on the mat".split()
    top, dup = ngram_fractions(words)
    assert top[2] == pytest.approx(12 / 34)  # "the cat" x2 (ties broken towards the longest n-gram)
    assert dup[5] == dup[6] == 1.0 and dup[7] == 0.0
    assert ngram_fractions(["one"]) == ({n: 0.0 for n in TOP_NGRAM_SIZES}, {n: 0.0 for n in DUP_NGRAM_SIZES})


def test_ngram_fractions_match_brute_force():
    rng = random.Random(7)
    for trial in range(60):
        vocab = [rng.choice("abcdefgh") * rng.randint(1, 4) for _ in range(rng.randint(2, 12))]
        words = [rng.choice(vocab) for _ in range(rng.randint(2, 120))]
        top, dup = ngram_fractions(words)
        for n in TOP_NGRAM_SIZES:
            assert top[n] == pytest.approx(_reference(words, n)[0]), (trial, n)
        for n in DUP_NGRAM_SIZES:
            assert dup[n] == pytest.approx(_reference(words, n)[1]), (trial, n)


PROSE = "Falcon models were trained on a refined web corpus built from Common Crawl dumps over many months"


@pytest.mark.parametrize(
    "field, reason, text",
    [
        ("dup_line_frac", schema.GOPHER_DUP_LINES, "Home\nHome\nHome\n" + PROSE),
        ("dup_para_frac", schema.GOPHER_DUP_PARAS, "Cookie notice.\n\nCookie notice.\n\n" + PROSE),
        ("dup_line_char_frac", schema.GOPHER_DUP_LINE_CHARS, f"{PROSE}\n{PROSE}\nA short closing line."),
        ("dup_para_char_frac", schema.GOPHER_DUP_PARA_CHARS, f"{PROSE}\n\n{PROSE}\n\nA short closing line."),
        ("top_2gram_char_frac", schema.GOPHER_TOP_NGRAM[2], "buy now " * 4 + PROSE),
        ("top_3gram_char_frac", schema.GOPHER_TOP_NGRAM[3], "buy it now " * 4 + PROSE),
        ("top_4gram_char_frac", schema.GOPHER_TOP_NGRAM[4], "buy it right now " * 4 + PROSE),
        *[(f"dup_{n}gram_char_frac", schema.GOPHER_DUP_NGRAM[n], f"{PROSE} {PROSE}") for n in DUP_NGRAM_SIZES],
    ],
)
def test_each_rule_has_its_reason(field, reason, text):
    assert _reason(_only(field), text) == reason
    assert _reason(_only(field), PROSE) is None


def test_first_failing_rule_in_table_order():
    spam = "\n".join(["Click here to win a prize today"] * 5 + [PROSE])
    out = RepetitionFilter(RepetitionConfig())(_batch([spam, PROSE, "", None]))
    assert out.column(schema.DROP_REASON).to_pylist() == [schema.GOPHER_DUP_LINES, None, None, None]
    row = out.slice(0, 1).to_pylist()[0]
    assert row[schema.DUP_LINE_FRAC] == pytest.approx(4 / 6)
    assert row[schema.DUP_NGRAM_CHAR_FRAC[10]] > 0.1 and row[schema.TOP_NGRAM_CHAR_FRAC[2]] > 0.2
    for column in RepetitionFilter.signal_columns():
        assert out.schema.field(column).type == pa.float32()


def test_real_text(shared_data):
    quality = shared_data / "dev" / "quality"
    wiki = (quality / "cs336__high_quality_wiki_reference.txt").read_text(encoding="utf-8")
    with gzip.open(quality / "dolma__cc_en_head-0091.jsonl.gz", "rt", encoding="utf-8") as f:
        head = [json.loads(line)["text"] for line in f]
    out = RepetitionFilter(RepetitionConfig())(_batch([wiki, *head]))
    reasons = out.column(schema.DROP_REASON).to_pylist()
    assert reasons[0] is None
    assert sum(r is None for r in reasons[1:]) >= 8, reasons


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="dup_line_frac"):
        RepetitionConfig(dup_line_frac=1.5)
    with pytest.raises(ConfigError, match="top_3gram_char_frac"):
        RepetitionConfig(top_3gram_char_frac=-0.1)
    with pytest.raises(ConfigError, match="dup_10gram_char_frac"):
        from_dict(RepetitionConfig, {"dup_10gram_char_frac": "high"})
    with pytest.raises(ConfigError, match="nope"):
        from_dict(RepetitionConfig, {"nope": 1})
    assert from_dict(RepetitionConfig, {"dup_5gram_char_frac": 0.2}).dup_5gram_char_frac == 0.2


def test_config_round_trips_through_a_mapping():
    assert from_dict(RepetitionConfig, to_dict(RepetitionConfig())) == RepetitionConfig()
