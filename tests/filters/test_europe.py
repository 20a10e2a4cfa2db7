"""RefinedWeb-Europe: Gopher's rules per language (stop words, thresholds) and per-language LID thresholds."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict
from refinedweb.filters.language import LanguageConfig
from refinedweb.filters.quality import QualityConfig, QualityFilter
from refinedweb.filters.stopwords import GOPHER_STOP_WORDS, stop_words_for

EUROPE = ("en", "de", "es", "fr", "it", "pt", "pl", "nl", "ro", "cs", "sv")


@pytest.fixture(scope="module")
def tatoeba(shared_data) -> dict[str, str]:
    """Six long real sentences per language (dev/lid/tatoeba_long.txt), joined into one text each."""
    texts: dict[str, list[str]] = {}
    with open(shared_data / "dev" / "lid" / "tatoeba_long.txt", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            texts.setdefault(row["CLD2-code"], []).append(row["text"])
    return {lang: " ".join(texts[lang]) for lang in EUROPE}


def _stop_words(text: str, language: str | None, languages=EUROPE) -> int:
    batch = pa.table({schema.TEXT: [text]})
    if language is not None:
        batch = batch.append_column(schema.LANGUAGE, pa.array([language]))
    return QualityFilter(QualityConfig(), languages)(batch).column(schema.STOP_WORD_COUNT)[0].as_py()


@pytest.mark.parametrize("language", EUROPE)
def test_real_text_of_each_language_meets_its_own_stop_word_rule(tatoeba, language):
    text = tatoeba[language]
    own = _stop_words(text, language)
    assert own >= QualityConfig().min_stop_words, f"{language}: {own} stop words by its own list"
    english = _stop_words(text, None)  # no language column: English (Gopher's) rules, as before
    if language == "en":
        assert english == own  # English keeps Gopher's eight words exactly
    else:
        assert own > english, f"{language}: its own list ({own}) should find more than Gopher's English ({english})"


def test_english_keeps_gophers_list_and_others_come_from_the_package():
    assert stop_words_for("en") == GOPHER_STOP_WORDS
    assert "und" in stop_words_for("de") and "och" in stop_words_for("sv") and "sunt" in stop_words_for("ro")
    assert QualityConfig().for_language("en").stop_words == GOPHER_STOP_WORDS


def test_per_language_thresholds_override_and_name_the_bad_field():
    cfg = from_dict(QualityConfig, {"per_language": {"de": {"min_mean_word_length": 3.5, "min_stop_words": 3}}})
    de = cfg.for_language("de")
    assert (de.min_mean_word_length, de.min_stop_words, de.min_words) == (3.5, 3, 50)
    assert de.stop_words == stop_words_for("de")
    with pytest.raises(ConfigError, match=r"per_language\.de\.min_words: must be >= 0"):
        from_dict(QualityConfig, {"per_language": {"de": {"min_words": -1}}})
    with pytest.raises(ConfigError, match=r"per_language\.de\.stop_wordz: unknown config key"):
        from_dict(QualityConfig, {"per_language": {"de": {"stop_wordz": ["x"]}}})


def test_a_target_language_without_a_stop_word_list_fails_when_the_filter_is_built():
    with pytest.raises(ConfigError, match="per_language.xx.stop_words: no stop-word list for language .xx."):
        QualityFilter(QualityConfig(), ("en", "xx"))
    QualityFilter(from_dict(QualityConfig, {"per_language": {"xx": {"stop_words": ["xa", "xb"]}}}), ("en", "xx"))


def test_per_language_lid_threshold_is_validated_by_field():
    cfg = from_dict(LanguageConfig, {"languages": ["en", "de"], "min_score_by_language": {"de": 0.8}})
    assert cfg.min_score_by_language == {"de": 0.8}
    with pytest.raises(ConfigError, match="min_score_by_language.de: must be in"):
        from_dict(LanguageConfig, {"languages": ["en", "de"], "min_score_by_language": {"de": 1.5}})
    with pytest.raises(ConfigError, match="'fr' is not one of languages"):
        from_dict(LanguageConfig, {"languages": ["en", "de"], "min_score_by_language": {"fr": 0.5}})


@pytest.fixture(scope="module")
def europe_run(pages_a, tmp_path_factory):
    """pages-A refined with configs/refinedweb-europe.yaml: (output dir, stats)."""
    from refinedweb.pipeline.config import load_config
    from refinedweb.pipeline.runner import run
    from tests.conftest import REPO

    out = tmp_path_factory.mktemp("europe")
    return out, run(load_config(str(REPO / "configs" / "refinedweb-europe.yaml")), [str(pages_a)], out, workers=2)


def test_europe_run_writes_data_per_language_and_a_funnel_per_language(europe_run):
    from refinedweb.report.funnel import language_rows

    out, stats = europe_run
    folders = sorted(p.name for p in (out / "data").iterdir() if p.is_dir())
    assert {"de", "en"} <= set(folders) <= set(EUROPE)
    assert not list((out / "data").glob("*.parquet"))  # nothing outside the language folders
    for lang in folders:
        for path in (out / "data" / lang).glob("*.parquet"):
            assert set(pq.read_table(path).column(schema.LANGUAGE).to_pylist()) == {lang}
    names, rows = language_rows(stats)
    assert names[0] == "language" and names[-1] == "url_dedup"
    written = {r["language"]: r["docs_written"] for r in rows}
    on_disk = {lang: sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "data" / lang).glob("*.parquet")) for lang in folders}
    assert {k: v for k, v in written.items() if v} == on_disk
    assert sum(on_disk.values()) == stats["docs_written"]
    assert "pii_emails" in next(st for st in stats["stages"] if st["name"] == "pii")["extra"]


def test_kept_documents_agree_with_an_independent_detector(europe_run):
    """lingua (restricted to the eleven languages) agrees with lid.176 on >= 97% per language with >= 20 documents."""
    lingua = pytest.importorskip("lingua")
    out, _ = europe_run
    detector = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(
        *[getattr(lingua.IsoCode639_1, lang.upper()) for lang in EUROPE]).build()
    checked = {}
    for folder in sorted(p for p in (out / "data").iterdir() if p.is_dir()):
        texts = [t for p in folder.glob("*.parquet") for t in pq.read_table(p).column(schema.TEXT).to_pylist()]
        if len(texts) < 20:
            continue
        found = [detector.detect_language_of(t[:5000]) for t in texts]
        checked[folder.name] = sum(f is not None and f.iso_code_639_1.name.lower() == folder.name for f in found) / len(texts)
    print(f"lingua agreement per language (>= 20 documents): {checked}")
    assert {"de", "en"} <= set(checked)
    assert all(share >= 0.97 for share in checked.values()), checked
