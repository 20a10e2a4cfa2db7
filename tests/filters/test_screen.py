"""Language screening before extraction: the visible-text walk, the decision, and equal results on pages-A."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict
from refinedweb.filters.language import LanguageConfig, LanguageFilter
from refinedweb.filters.screen import ScreenConfig, visible_text
from refinedweb.pipeline.config import PipelineConfig
from refinedweb.pipeline.pipeline import build_stages
from refinedweb.core.executor import refine
from refinedweb.core.stats import merge_stages
from refinedweb.pipeline.warc import FileStats, read_file

ENGLISH = (
    "The committee published its annual report on Tuesday, describing how the city spent its budget on "
    "schools, roads and parks, and what it plans to change in the coming year after hearing residents. "
)
GERMAN = (
    "Der Ausschuss hat am Dienstag seinen Jahresbericht veröffentlicht und beschreibt, wie die Stadt ihr "
    "Geld für Schulen, Straßen und Parks ausgegeben hat und was sie im kommenden Jahr ändern möchte. "
)


def _page(body: str, head: str = "") -> bytes:
    return f"<html><head>{head}</head><body>{body}</body></html>".encode("utf-8")


@pytest.fixture(scope="module")
def language():
    return LanguageFilter(LanguageConfig())


def test_visible_text_skips_scripts_styles_and_head():
    html = _page("<script>var x = 'hidden';</script><p>Hello   <b>big</b>\n world</p><style>p {}</style><p>again</p>",
                 "<title>Title text</title>")
    assert visible_text(html, 1000) == "Hello big world again"
    assert visible_text(html, 5) == "Hello"


def test_visible_text_splits_words_at_tags_not_at_comments():
    html = _page("<p>Hel<!-- a comment -->lo wor<b>ld</b></p><template>no</template><svg><text>no</text></svg>")
    assert visible_text(html, 1000) == "Hello wor ld"


def test_visible_text_reads_utf8_whatever_the_page_declares():
    html = _page("<p>Grüße aus Köln</p>", '<meta charset="iso-8859-1">')
    assert visible_text(html, 1000) == "Grüße aus Köln"
    assert visible_text(b"", 1000) == ""


def test_screen_rules_out_only_clear_non_target_pages(language):
    screen = language.make_screen()
    label, score = screen.screen(_page(f"<p>{GERMAN * 3}</p>"))
    assert label == "de" and score > 0.9
    assert screen.screen(_page(f"<p>{ENGLISH * 3}</p>")) is None
    # German navigation around an English article: not clear enough to skip extraction
    assert screen.screen(_page(f"<nav>Startseite Über uns Kontakt</nav><p>{ENGLISH * 3}</p>")) is None
    assert screen.screen(_page("<p>Guten Tag</p>")) is None  # too little text to be sure


class _Recording:
    """The fastText model, recording the length of every text it is asked about."""

    def __init__(self, model) -> None:
        self.model, self.asked = model, []

    def predict(self, text, **kwargs):
        self.asked.append(len(text))
        return self.model.predict(text, **kwargs)


def test_probe_passes_target_pages_and_leaves_the_rest_to_the_full_check(language):
    screen = language.make_screen()
    screen.model = type("M", (), {"model": _Recording(language.model.model)})()
    asked = screen.model.model.asked
    assert screen.screen(_page(f"<p>{ENGLISH * 6}</p>")) is None
    assert asked == [301]  # 150 characters from the middle, a space, the last 150: no full check
    asked.clear()
    label, _ = screen.screen(_page(f"<p>{GERMAN * 6}</p>"))
    assert label == "de" and asked[0] == 301 and asked[1] > 1000  # the probe cannot rule a page out
    asked.clear()
    assert screen.screen(_page(f"<p>{GERMAN * 2}</p>"))[0] == "de"
    assert asked == [len(visible_text(_page(f"<p>{GERMAN * 2}</p>"), 5000))]  # under 600 characters: no probe
    asked.clear()
    screen.config = replace(screen.config, probe_chars=0)
    assert screen.screen(_page(f"<p>{ENGLISH * 6}</p>")) is None and len(asked) == 1 and asked[0] > 1000


def test_language_stage_drops_screened_pages_under_their_own_reason(language):
    batch = pa.table({
        schema.ID: ["a", "b"],
        schema.TEXT: pa.array([None, ENGLISH], pa.string()),
        schema.LANGUAGE: pa.array(["de", None], pa.string()),
        schema.LANGUAGE_SCORE: pa.array([0.97, None], pa.float32()),
        schema.SCREENED: [True, False],
    })
    out = language(batch)
    assert out.column(schema.DROP_REASON).to_pylist() == [schema.LANGUAGE_SCREENED_OUT, None]
    assert out.column(schema.LANGUAGE).to_pylist() == ["de", "en"]
    assert schema.SCREENED not in out.column_names


def test_screen_config_names_the_field():
    with pytest.raises(ConfigError, match=r"language\.screen\.max_target_prob"):
        from_dict(PipelineConfig, {"language": {"screen": {"max_target_prob": 2.0}}})
    with pytest.raises(ConfigError, match="min_chars"):
        ScreenConfig(min_chars=-1)
    with pytest.raises(ConfigError, match="probe_chars"):
        ScreenConfig(probe_chars=-1)
    with pytest.raises(ConfigError, match="probe_pass_prob"):
        ScreenConfig(probe_pass_prob=0.0)


def _refine_pages(path, cfg: PipelineConfig):
    """pages-A through the fused executor in this process: (kept ids, merged stage counters)."""
    stages = build_stages(cfg)
    kept, stats = [], []
    try:
        for table in read_file(str(path), cfg.reader, FileStats(path=str(path)), cfg.sources):
            for start in range(0, len(table), cfg.runner.batch_size):
                out, st, _ = refine(stages, table.slice(start, cfg.runner.batch_size))
                kept += out.column(schema.ID).to_pylist()
                merge_stages(stats, st)
    finally:
        stages[[s.name for s in stages].index("extract")].worker.close()
    return kept, {s.name: s for s in stats}


@pytest.mark.slow
def test_pages_a_keeps_the_same_documents_with_screening(pages_a):
    on_cfg = PipelineConfig()
    off_cfg = replace(on_cfg, language=replace(on_cfg.language, screen=ScreenConfig(enabled=False)))
    kept_on, on = _refine_pages(pages_a, on_cfg)
    kept_off, off = _refine_pages(pages_a, off_cfg)
    same = len(set(kept_on) & set(kept_off)) / max(len(kept_on), len(kept_off))
    print(f"pages-A kept: {len(kept_on)} with screening, {len(kept_off)} without; identical {same:.2%}")
    assert len(kept_off) > 50
    assert same >= 0.995
    screened = on["language"].dropped.get(schema.LANGUAGE_SCREENED_OUT, 0)
    assert screened >= 300, "most non-English pages of pages-A should skip extraction"
    assert on["extract"].docs_in == off["extract"].docs_in
    # the language stage owns the screen's drops: its total stays comparable with the screen off
    on_total = on["language"].docs_dropped + on["extract"].docs_dropped
    assert on_total == off["language"].docs_dropped + off["extract"].docs_dropped
    assert abs(on["language"].docs_dropped - off["language"].docs_dropped) <= 0.01 * off["language"].docs_in
