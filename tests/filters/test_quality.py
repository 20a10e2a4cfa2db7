"""Gopher quality: every rule's reason on hand-written text, exact signals, and real documents."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict, to_dict
from refinedweb.filters.quality import QualityConfig, QualityFilter

# 12 ordinary words per sentence, two of them stop words ("the", "of").
SENTENCE = "Researchers measured the growth of coastal forests across several northern regions this year."


def _prose(sentences: int = 6) -> str:
    return " ".join([SENTENCE] * sentences)


def _run(texts, cfg: QualityConfig | None = None) -> pa.Table:
    batch = pa.table({schema.ID: [str(i) for i in range(len(texts))], schema.TEXT: pa.array(texts, pa.string())})
    return QualityFilter(cfg or QualityConfig())(batch)


def _reasons(texts, cfg=None):
    return _run(texts, cfg).column(schema.DROP_REASON).to_pylist()


def test_signals_by_hand():
    text = "# The cat... sat\n• on the mat …\n- with 2 dogs -\n"
    row = _run([text]).to_pylist()[0]
    # tokens: # The cat... sat • on the mat … - with 2 dogs -  (14); words with a letter or digit: 9
    assert row[schema.WORD_COUNT] == 9
    assert row[schema.MEAN_WORD_LENGTH] == pytest.approx(len("Thecat...satonthematwith2dogs") / 9)
    assert row[schema.HASH_RATIO] == pytest.approx(1 / 14)
    assert row[schema.ELLIPSIS_RATIO] == pytest.approx(2 / 14)
    assert row[schema.BULLET_LINE_FRAC] == pytest.approx(2 / 3)
    assert row[schema.ELLIPSIS_LINE_FRAC] == pytest.approx(1 / 3)
    assert row[schema.ALPHA_WORD_FRAC] == pytest.approx(8 / 14)
    assert row[schema.STOP_WORD_COUNT] == 3  # The, the, with
    assert row[schema.DROP_REASON] == schema.GOPHER_TOO_FEW_WORDS


def test_word_tests_per_distinct_token_match_a_test_per_token():
    """The signals count each distinct token once, weighted; a test of every token gives the same."""
    import random
    import re

    from refinedweb.filters.quality import quality_signals
    from refinedweb.filters.text import Document, strip_punctuation

    alnum, alpha = re.compile(r"[^\W_]"), re.compile(r"[^\W\d_]")
    pieces = ["the", "The,", "“of", "_x", "__", "2", "²", "x²", "٣", "日本", "é", "\u0301e", "...", "-", "#", "a_1", "ǅ", "Ⅻ"]
    rng = random.Random(3)
    cfg = QualityConfig()
    stops = frozenset(cfg.stop_words)
    for _ in range(200):
        tokens = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 40))]
        signals = quality_signals(Document(" ".join(tokens)), cfg, stops)
        words = [t for t in tokens if alnum.search(t)]
        assert signals[schema.WORD_COUNT] == len(words)
        assert signals[schema.MEAN_WORD_LENGTH] == (sum(map(len, words)) / len(words) if words else 0.0)
        assert signals[schema.ALPHA_WORD_FRAC] == sum(1 for t in tokens if alpha.search(t)) * (1.0 / len(tokens))
        assert signals[schema.STOP_WORD_COUNT] == sum(strip_punctuation(t).lower() in stops for t in tokens)


def test_stop_words_ignore_case_and_punctuation():
    text = _prose().replace("the", "").replace("of", "")  # no stop word left
    assert _reasons([text]) == [schema.GOPHER_TOO_FEW_STOP_WORDS]
    assert _reasons([text + " (The, THAT."]) == [None]
    assert _reasons([text + " the the"], QualityConfig(stop_words_distinct=True)) == [schema.GOPHER_TOO_FEW_STOP_WORDS]
    assert _reasons([text + " the with"], QualityConfig(stop_words_distinct=True)) == [None]


@pytest.mark.parametrize(
    "reason, text",
    [
        (schema.GOPHER_TOO_FEW_WORDS, SENTENCE),
        (schema.GOPHER_TOO_MANY_WORDS, _prose(8_400)),
        (schema.GOPHER_WORDS_TOO_SHORT, "to be or not to be, that is it; so we go on. " * 6),
        (schema.GOPHER_WORDS_TOO_LONG, "internationalisation of telecommunications infrastructures " * 15),
        (schema.GOPHER_HASH_RATIO, _prose() + " #news #forests #climate #science #research #today #trees #coast #north #data"),
        (schema.GOPHER_ELLIPSIS_RATIO, _prose().replace(" ", "... ", 10)),
        (schema.GOPHER_BULLET_LINES, "\n".join(f"• {SENTENCE}" for _ in range(6))),
        (schema.GOPHER_ELLIPSIS_LINES, "\n".join(f"{SENTENCE[:-1]} ..." for _ in range(6))),
        (schema.GOPHER_TOO_FEW_ALPHA_WORDS, _prose() + " " + " ".join(str(1990 + i) for i in range(30))),
        (schema.GOPHER_TOO_FEW_STOP_WORDS, _prose().replace("the ", "").replace("of ", "")),
    ],
)
def test_each_rule_has_its_reason(reason, text):
    assert _reasons([text]) == [reason]


def test_prose_passes_and_bounds_are_inclusive():
    fifty = " ".join(["word"] * 48 + ["the", "of"])
    assert _reasons([_prose(), fifty]) == [None, None]
    assert _reasons([fifty], QualityConfig(min_words=51)) == [schema.GOPHER_TOO_FEW_WORDS]
    assert _reasons([fifty], QualityConfig(min_words=10, max_words=49)) == [schema.GOPHER_TOO_MANY_WORDS]


def test_first_failing_rule_wins_and_empty_text():
    short_and_hashy = "# # # # a b"  # too few words and too many hashes: the word count comes first
    out = _run([short_and_hashy, "", None])
    assert out.column(schema.DROP_REASON).to_pylist() == [schema.GOPHER_TOO_FEW_WORDS] * 3
    assert out.column(schema.WORD_COUNT).to_pylist() == [2, 0, 0]
    assert out.schema.field(schema.WORD_COUNT).type == pa.int64()
    assert out.schema.field(schema.ALPHA_WORD_FRAC).type == pa.float32()


def test_real_text(shared_data):
    quality = shared_data / "dev" / "quality"
    wiki = (quality / "cs336__high_quality_wiki_reference.txt").read_text(encoding="utf-8")
    with gzip.open(quality / "dolma__cc_en_head-0091.jsonl.gz", "rt", encoding="utf-8") as f:
        head = [json.loads(line)["text"] for line in f]
    reasons = _reasons([wiki, *head])
    assert reasons[0] is None
    assert sum(r is None for r in reasons[1:]) >= 8, reasons


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="min_words"):
        QualityConfig(min_words=-1)
    with pytest.raises(ConfigError, match="max_words"):
        QualityConfig(min_words=100, max_words=10)
    with pytest.raises(ConfigError, match="min_alpha_word_frac"):
        QualityConfig(min_alpha_word_frac=1.2)
    with pytest.raises(ConfigError, match="stop_words"):
        QualityConfig(stop_words=("The",))
    with pytest.raises(ConfigError, match="nope"):
        from_dict(QualityConfig, {"nope": 1})
    with pytest.raises(ConfigError, match="min_words"):
        from_dict(QualityConfig, {"min_words": "fifty"})
    assert from_dict(QualityConfig, {"stop_words": ["the", "and"]}).stop_words == ("the", "and")


def test_config_round_trips_through_a_mapping():
    assert from_dict(QualityConfig, to_dict(QualityConfig())) == QualityConfig()
