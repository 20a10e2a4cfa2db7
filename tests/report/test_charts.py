"""Charts: histograms counted over every document entering a stage, thresholds, character bases, PNGs."""

from __future__ import annotations

from refinedweb import schema
from refinedweb.filters.rules import SIGNALS
from refinedweb.report.charts import EXTRACT_STAGE, char_bases, drops_below, funnel_figure, histograms_figure
from refinedweb.report.funnel import Run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_histograms_count_every_document_entering_their_stage(pages_a_run):
    _, stats, _ = pages_a_run
    by_stage = {s["name"]: s for s in stats["stages"]}
    assert schema.LANGUAGE_SCORE in by_stage["language"]["histograms"]
    assert {schema.WORD_COUNT, schema.MEAN_WORD_LENGTH, schema.ALPHA_WORD_FRAC, schema.STOP_WORD_COUNT} <= set(by_stage["quality"]["histograms"])
    assert set(schema.DUP_NGRAM_CHAR_FRAC.values()) <= set(by_stage["repetition"]["histograms"])
    assert schema.LINES_REMOVED_WORD_FRAC in by_stage["lines"]["histograms"]
    for st in stats["stages"]:
        for name, h in st.get("histograms", {}).items():
            assert sum(h["counts"]) + h["missing"] == st["docs_in"], (st["name"], name)
            assert h["edges"] == list(SIGNALS[name].edges)


def test_thresholds_come_from_the_runs_config(pages_a_run):
    out, _, _ = pages_a_run
    run = Run.load(out)
    assert run.setting("language.min_score") == 0.65 and run.setting("quality.min_words") == 50
    assert run.setting("quality.no_such_field") is None
    assert drops_below("quality.min_words") and not drops_below("repetition.dup_5gram_char_frac")
    lang = next(s for s in run.stages if s["name"] == "language")
    assert histograms_figure(run, lang).startswith(PNG_MAGIC)
    assert funnel_figure(run).startswith(PNG_MAGIC)


def test_characters_are_html_before_extraction_and_text_after():
    from refinedweb.pipeline.extract import Extractor

    assert EXTRACT_STAGE == Extractor.name
    stages = [{"name": n, "chars_in": i, "chars_out": o} for n, i, o in
              [("read", 1000, 1000), ("url_filter", 1000, 900), (EXTRACT_STAGE, 900, 90), ("language", 90, 60), ("minhash", 60, 30)]]  # fmt: skip
    assert char_bases(stages) == [1000, 1000, 90, 90, 90]
    assert char_bases([s for s in stages if s["name"] != EXTRACT_STAGE]) == [1000] * 4
