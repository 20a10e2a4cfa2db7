"""Line-wise corrections: each line rule, each edit kind, the 5% drop, rewritten text and real text."""

from __future__ import annotations

import gzip
import json
import time

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict, to_dict
from refinedweb.filters.lines import LineFilter, LineRules, LinesConfig, correct_text

RULES = LineRules(LinesConfig())
BODY = "\n".join(
    [
        "The city council approved the new budget for public schools on Tuesday evening after a long debate.",
        "Teachers welcomed the decision, saying that classrooms had been short of books and equipment for years.",
        "The mayor said the plan would be reviewed again next spring, once the first results are known to everyone.",
    ]
    * 4
)


def _run(texts, cfg: LinesConfig | None = None) -> pa.Table:
    batch = pa.table({schema.ID: [str(i) for i in range(len(texts))], schema.TEXT: pa.array(texts, pa.string())})
    return LineFilter(cfg or LinesConfig())(batch)


@pytest.mark.parametrize(
    "line",
    [
        "BREAKING NEWS FROM THE CITY HALL",  # mainly upper case
        "2019",  # numerical
        "+1 (555) 123-4567",
        "3 likes",  # counters
        "12 Comments",
        "1.2k views",
        "Share 5",
        "Likes: 12",
        "Comments (3)",
        "Newsletter",  # a single word
    ],
)
def test_removed_lines(line):
    assert RULES.correct(line) is None


@pytest.mark.parametrize(
    "line, edited",
    [
        ("Sign-in to comment on this story", "comment on this story"),  # start of the line
        ("Log in | Register", None),  # nothing useful left: the line goes
        ("Great recipe for a rainy day. Read more...", "Great recipe for a rainy day."),  # end of the line
        ("Our guide to the best hiking trails (read more)", "Our guide to the best hiking trails"),
        ("You have 3 items in cart", "You have 3"),  # anywhere
        ("Copyright © 2021 Example Media. All rights reserved.", None),
        ("Privacy Policy | Terms of Use | Contact Us", "Contact Us"),
    ],
)
def test_edited_lines(line, edited):
    assert RULES.correct(line) == edited


@pytest.mark.parametrize(
    "line",
    [
        "The NASA and ESA missions launched in 2021.",
        "Teachers say reading more helps students.",  # "read more" only as a suffix, and as whole words
        "Registered nurses staffed the clinic.",  # "register" only as a whole word
        "Copyright law is complex.",
        # long lines are never edited: only lines of at most 10 words are
        "Readers who want to sign in can do so from the top of the page, it said.",
    ],
)
def test_kept_lines(line):
    assert RULES.correct(line) == line


def test_document_text_is_rewritten_and_counted():
    text = f"Home\n{BODY}\n{BODY}\n\n3 comments\nGreat recipe for a rainy day. Read more..."
    out = _run([text]).to_pylist()[0]
    assert out[schema.DROP_REASON] is None
    assert out[schema.TEXT] == f"{BODY}\n{BODY}\n\nGreat recipe for a rainy day."
    assert out[schema.LINES_REMOVED] == 3
    total = len(text.split())
    assert out[schema.LINES_REMOVED_WORD_FRAC] == pytest.approx((1 + 2 + 8) / total)


def test_too_many_flagged_words_drops_the_document_and_keeps_its_text():
    text = "\n".join([BODY, *["Sign in to see more stories"] * 6])  # 36 flagged words of ~250
    out = _run([text]).to_pylist()[0]
    assert out[schema.DROP_REASON] == schema.LINES_TOO_MUCH_REMOVED
    assert out[schema.LINES_REMOVED_WORD_FRAC] > 0.05
    assert out[schema.TEXT] == text  # a dropped document keeps its text, for inspection
    assert _run([text], LinesConfig(max_removed_word_frac=0.5)).column(schema.DROP_REASON).to_pylist() == [None]


def test_untouched_and_null_texts_pass_through():
    out = _run([BODY, None, ""])
    assert out.column(schema.TEXT).to_pylist() == [BODY, None, ""]
    assert out.column(schema.DROP_REASON).to_pylist() == [None, None, None]
    assert out.column(schema.LINES_REMOVED).to_pylist() == [0, 0, 0]
    assert out.schema.field(schema.LINES_REMOVED_WORD_FRAC).type == pa.float32()


def test_rules_can_be_switched_off():
    cfg = LinesConfig(remove_single_word=False, remove_counters=False, remove_numeric=False, max_uppercase_frac=1.0)
    rules = LineRules(cfg)
    assert [rules.correct(x) for x in ("Newsletter", "3 likes", "2019", "ALL CAPS TITLE")] == ["Newsletter", "3 likes", "2019", "ALL CAPS TITLE"]
    no_edit = LineRules(LinesConfig(prefix_patterns=(), suffix_patterns=(), anywhere_patterns=()))
    assert no_edit.correct("Log in | Register") == "Log in | Register"


def test_real_text(shared_data):
    quality = shared_data / "dev" / "quality"
    wiki = (quality / "cs336__high_quality_wiki_reference.txt").read_text(encoding="utf-8")
    low = (quality / "cs336__low_quality_cc.txt").read_text(encoding="utf-8")
    with gzip.open(quality / "dolma__cc_en_head-0091.jsonl.gz", "rt", encoding="utf-8") as f:
        head = [json.loads(line)["text"] for line in f]
    out = _run([wiki, low, *head])
    reasons = out.column(schema.DROP_REASON).to_pylist()
    assert reasons[0] is None and reasons[1] == schema.LINES_TOO_MUCH_REMOVED
    assert all(r is None for r in reasons[2:]), reasons
    c = correct_text(low, RULES)
    assert "All Rights Reserved" not in c.text and "Powered by phpBB" not in c.text


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="prefix_patterns"):
        LinesConfig(prefix_patterns=("sign (in",))
    with pytest.raises(ConfigError, match="max_removed_word_frac"):
        LinesConfig(max_removed_word_frac=2.0)
    with pytest.raises(ConfigError, match="max_edit_words"):
        LinesConfig(max_edit_words=-1)
    with pytest.raises(ConfigError, match="max_pattern_line_chars"):
        LinesConfig(max_pattern_line_chars=-1)
    with pytest.raises(ConfigError, match="nope"):
        from_dict(LinesConfig, {"nope": 1})
    cfg = from_dict(LinesConfig, {"suffix_patterns": ["read more", "weiterlesen"]})
    assert LineRules(cfg).correct("Ein schöner Tag am See. Weiterlesen") == "Ein schöner Tag am See."


def test_config_round_trips_through_a_mapping():
    assert from_dict(LinesConfig, to_dict(LinesConfig())) == LinesConfig()


# Lines on which the former patterns backtracked (issue 18): each took over 2 s there (the numeric
# one ~10 s, a 200k-character line minutes), and WET text reaches this stage without a timeout.
PATHOLOGICAL = [
    pytest.param("1 " * 10_000 + "x", "1 " * 9_999 + "1 x", id="numeric-then-letter"),  # not numeric: kept as is
    pytest.param("likes 1" + " " * 700 + "x", "likes 1" + " " * 700 + "x", id="counter-then-spaces"),
    pytest.param("a" + " " * 6_000 + "b", "a" + " " * 6_000 + "b", id="suffix-lead-run"),
]


@pytest.mark.parametrize("line, expected", PATHOLOGICAL)
def test_every_rule_is_linear_in_the_line(line, expected):
    start = time.perf_counter()
    out = RULES.correct(line)
    assert time.perf_counter() - start < 0.5  # now about a millisecond
    assert out == expected


def test_lines_longer_than_the_cap_skip_the_patterns_but_not_the_linear_rules():
    line = "Sign in " + "x" * 2_500  # two words: short enough to edit, too long for the patterns
    assert RULES.correct(line) == line
    assert LineRules(LinesConfig(max_pattern_line_chars=10_000)).correct(line) is None  # "x..." alone: one word
    assert RULES.correct("12 " * 1_000) is None  # numeric, however long
    assert RULES.correct("SHOUTING " * 300) is None  # upper case, however long
