"""Stop words per language for Gopher's stop-word rule, from the ``stop-words`` package (shipped, never downloaded).

Gopher (Rae et al. 2021, App. A) asks for two of eight English function words (the, be, to, of,
and, that, have, with); judged by that list a German page fails. RefinedWeb-Europe needs the rule
per language, as FineWeb-2 does: English keeps Gopher's eight, every other language takes the
list of the `stop-words` package (Alireza Savand's lists, e.g. 263 German words), which ships its
files inside the wheel. Lists are lower-cased and stripped of the punctuation the filter strips.
"""

from __future__ import annotations

import functools

from refinedweb.config import ConfigError

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


@functools.lru_cache(maxsize=None)
def stop_words_for(language: str) -> tuple[str, ...]:
    """The stop words of ``language`` (an ISO 639-1 code, lid.176's label): Gopher's for English."""
    if language == "en":
        return GOPHER_STOP_WORDS
    import stop_words

    try:
        words = stop_words.get_stop_words(language)
    except stop_words.StopWordError:
        raise ConfigError(f"quality.per_language.{language}.stop_words: no stop-word list for language {language!r} in the stop-words package; give one") from None
    return tuple(sorted({w.strip().lower() for w in words if w.strip()}))
