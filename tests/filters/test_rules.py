"""Rule tables: every drop reason comes from one rule or stage, each rule gives its reason, in order."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.core.histogram import FRACTION, linear_edges
from refinedweb.core.stage import DocumentFilter, Rule, RuleChecks, histogram_specs
from refinedweb.filters.language import LanguageConfig
from refinedweb.filters.lines import LinesConfig
from refinedweb.filters.quality import QualityConfig
from refinedweb.filters.repetition import RepetitionConfig
from refinedweb.filters.rules import FILTERS, RULES_BY_FIELD, SIGNALS, drops_below
from refinedweb.filters.url import UrlFilterConfig
from refinedweb.pipeline.extract import Extractor

PACKAGE = Path(schema.__file__).parent
CONFIGS = {"url_filter": UrlFilterConfig, "language": LanguageConfig, "repetition": RepetitionConfig, "quality": QualityConfig, "lines": LinesConfig}
# Stages whose reasons are not declared on a stage class: the modules that produce them.
PRODUCING_MODULES = {"read": "pipeline/warc.py", "dedup": "dedup/phase.py"}


def schema_reasons() -> dict[str, str]:
    """``{reason: constant}`` of every drop reason in schema.py (its "drop reasons" section)."""
    source = (PACKAGE / "schema.py").read_text()
    first = source[: source.index("# --- drop reasons")].count("\n") + 1
    last = source[: source.index("OUTPUT_BASE_COLUMNS =")].count("\n") + 1
    reasons = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and first < node.lineno < last:
            name = node.targets[0].id
            value = getattr(schema, name)
            for reason in value.values() if isinstance(value, dict) else [value]:
                reasons[reason] = name
    return reasons


def producers() -> dict[str, list[str]]:
    """``{reason: [stages giving it]}`` from the stage classes and the reading and dedup modules."""
    found: dict[str, list[str]] = defaultdict(list)
    for cls in (*FILTERS, Extractor):
        for reason in [r.reason for r in getattr(cls, "rules", ())] + list(cls.reasons):
            found[reason].append(cls.name)
    for stage, module in PRODUCING_MODULES.items():
        source = (PACKAGE / module).read_text()
        for reason, name in schema_reasons().items():
            if f"schema.{name}" in source:
                found[reason].append(stage)
    return found


def test_every_schema_reason_is_given_by_exactly_one_rule_or_stage():
    reasons, found = schema_reasons(), producers()
    assert len(reasons) > 40  # the section was found
    assert set(found) <= set(reasons), f"not schema constants: {set(found) - set(reasons)}"
    assert {r: p for r, p in found.items() if len(p) != 1} == {}
    assert set(reasons) - set(found) == set(), "reasons no stage gives"


def test_every_rule_names_a_config_field_of_its_stage_and_its_direction():
    for cls in FILTERS:
        fields = CONFIGS[cls.name].__dataclass_fields__
        for rule in cls.rules:
            assert rule.field in fields, (cls.name, rule.field)
            assert rule.signal in cls.signal_types, (cls.name, rule.signal)
            assert drops_below(f"{cls.name}.{rule.field}") == (rule.op == "<")
    assert drops_below("quality.min_stop_words") and not drops_below("url_filter.soft_word_threshold")
    assert not drops_below("quality.no_such_field")
    assert set(SIGNALS) == {r.signal for r in RULES_BY_FIELD.values()}


def _values(rule: Rule, threshold: float) -> tuple[float, float]:
    """(a value the rule passes, one it fails) around its threshold."""
    return {"<": (threshold, threshold - 1), ">": (threshold, threshold + 1), ">=": (threshold - 1, threshold)}[rule.op]


def _passing(rules: tuple[Rule, ...], config) -> dict[str, float]:
    """Signals passing every rule: per signal, a candidate near its thresholds that all its rules pass."""
    signals = {}
    for signal in dict.fromkeys(r.signal for r in rules):
        own = [r for r in rules if r.signal == signal]
        candidates = [v for r in own for v in _values(r, getattr(config, r.field))]
        signals[signal] = next(v for v in candidates if RuleChecks(own, config).first_failing({signal: v}) is None)
    return signals


@pytest.mark.parametrize("cls", FILTERS, ids=lambda c: c.name)
def test_each_rule_gives_its_exact_reason_and_the_first_failing_rule_wins(cls):
    config = CONFIGS[cls.name]()
    checks = RuleChecks(cls.rules, config)
    passing = _passing(cls.rules, config)
    assert checks.first_failing(passing) is None
    for rule in cls.rules:
        failing = {**passing, rule.signal: _values(rule, getattr(config, rule.field))[1]}
        assert checks.first_failing(failing) == rule.reason
    for earlier, later in zip(cls.rules, cls.rules[1:]):
        if earlier.signal != later.signal:
            both = {**passing, earlier.signal: _values(earlier, getattr(config, earlier.field))[1]}
            both[later.signal] = _values(later, getattr(config, later.field))[1]
            assert checks.first_failing(both) == earlier.reason


def test_tables_keep_the_papers_order():
    from refinedweb.filters.quality import RULES as quality
    from refinedweb.filters.repetition import RULES as repetition

    assert [r.reason for r in quality] == [
        schema.GOPHER_TOO_FEW_WORDS, schema.GOPHER_TOO_MANY_WORDS, schema.GOPHER_WORDS_TOO_SHORT,
        schema.GOPHER_WORDS_TOO_LONG, schema.GOPHER_HASH_RATIO, schema.GOPHER_ELLIPSIS_RATIO,
        schema.GOPHER_BULLET_LINES, schema.GOPHER_ELLIPSIS_LINES, schema.GOPHER_TOO_FEW_ALPHA_WORDS,
        schema.GOPHER_TOO_FEW_STOP_WORDS,
    ]  # fmt: skip  (Gopher App. A)
    assert [r.reason for r in repetition] == [
        schema.GOPHER_DUP_LINES, schema.GOPHER_DUP_PARAS, schema.GOPHER_DUP_LINE_CHARS, schema.GOPHER_DUP_PARA_CHARS,
        *(schema.GOPHER_TOP_NGRAM[n] for n in (2, 3, 4)), *(schema.GOPHER_DUP_NGRAM[n] for n in range(5, 11)),
    ]  # fmt: skip  (Gopher Table A1)


def test_bad_rules_are_errors():
    with pytest.raises(ValueError, match="op must be"):
        Rule(schema.WORD_COUNT, "min_words", "<=", schema.GOPHER_TOO_FEW_WORDS, FRACTION)
    a = Rule(schema.WORD_COUNT, "min_words", "<", schema.GOPHER_TOO_FEW_WORDS, FRACTION)
    b = Rule(schema.WORD_COUNT, "max_words", ">", schema.GOPHER_TOO_MANY_WORDS, linear_edges(0, 2, 4))
    with pytest.raises(ValueError, match="disagree on its bins"):
        histogram_specs("quality", (a, b))


class Length(DocumentFilter):
    """A one-rule filter: drops texts shorter than ``min_chars``."""

    name = "length"
    rules = (Rule("chars", "min_chars", "<", "too_short", linear_edges(0, 10, 10)),)
    signal_types = {"chars": pa.int32(), "ratio": pa.float64()}

    def judge(self, text: str):
        signals = {"chars": len(text), "ratio": len(text) / 10}
        return self.checks.first_failing(signals), signals


class LengthConfig:
    min_chars = 3


def test_a_document_filter_turns_judge_into_the_batch_contract():
    stage = Length(LengthConfig())
    out = stage(pa.table({schema.ID: ["a", "b", "c"], schema.TEXT: ["abcd", "ab", None]}))
    assert out.column(schema.DROP_REASON).to_pylist() == [None, "too_short", "too_short"]
    assert out.column("chars").to_pylist() == [4, 2, 0] and out.schema.field("chars").type == pa.int32()
    assert out.schema.field("ratio").type == pa.float64()  # the declared type, not the float32 default
    assert Length.histogram_specs["chars"].thresholds == ("length.min_chars",)


class Swapped(Length):
    """Returns its signals out of ``signal_types``' order."""

    def judge(self, text: str):
        return None, {"ratio": 0.0, "chars": len(text)}


def test_signals_out_of_declared_order_are_an_error_naming_the_stage():
    with pytest.raises(ValueError, match="stage length: judge returned"):
        Swapped(LengthConfig())(pa.table({schema.ID: ["a"], schema.TEXT: ["abcd"]}))
