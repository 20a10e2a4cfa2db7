"""Language screening before extraction: skip trafilatura for pages clearly not in the target languages.

Most pages of a crawl are not in the target language (RefinedWeb §3.1 keeps English, about half of
Common Crawl) and trafilatura, which costs ~20 ms per page, would extract them only for language ID to
throw the text away. The screen reads the page's visible text with a cheap lxml pass (a parser
target, no tree; head, scripts and styles left out; parsing stops after a bounded number of
characters) and asks the same fastText
lid.176 model. A page is screened out only when the target languages together get a probability
below ``max_target_prob`` on at least ``min_chars`` characters: boilerplate in another language
lowers the target's probability but, on pages-A, no page kept by language ID after extraction scores
below 0.5 on its HTML text, so the default margin (0.02) leaves a wide gap. Screened pages are
dropped by the language stage under their own reason (``language_screened_out``), so its funnel
stays comparable with the screen on or off. The screen is ours, not the paper's: a speed-up that
must not change which documents are kept (tests/filters/test_screen.py checks it on pages-A).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lxml import etree

from refinedweb.config import check

_SKIPPED = frozenset({"head", "title", "script", "style", "noscript", "template", "svg"})
_FEED_BYTES = 1 << 15


@dataclass(frozen=True)
class ScreenConfig:
    """Language screening of the HTML before extraction (ours, for speed; see filters/screen.py)."""

    enabled: bool = True
    """Screen pages before trafilatura; only pages clearly not in the target languages skip it."""
    max_target_prob: float = 0.02
    """A page is screened out when the target languages together score below this on its HTML text."""
    max_chars: int = 5_000
    """Characters of body text given to fastText (the first ones, in document order)."""
    min_chars: int = 200
    """Pages with less visible text than this are never screened out (too little to be sure)."""

    def __post_init__(self) -> None:
        check(0.0 <= self.max_target_prob <= 1.0, "max_target_prob", f"must be in [0, 1], got {self.max_target_prob}")
        check(self.max_chars >= 1, "max_chars", f"must be >= 1, got {self.max_chars}")
        check(self.min_chars >= 0, "min_chars", f"must be >= 0, got {self.min_chars}")


class _TextCollector:
    """lxml parser target: the text outside skipped elements, one piece per run between tags.

    A target builds no tree, and the caller stops feeding the page once ``max_chars`` are collected,
    so a long page costs no more than its first screenful of text.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.size = 0
        self.skipping = 0
        self.pending: list[str] = []

    def _flush(self) -> None:
        if self.pending:
            words = "".join(self.pending).split()
            self.pending = []
            if words:
                self.parts.append(" ".join(words))
                self.size += len(self.parts[-1]) + 1

    def start(self, tag, attrib) -> None:
        self._flush()
        self.skipping += tag in _SKIPPED

    def end(self, tag) -> None:
        self._flush()
        self.skipping -= tag in _SKIPPED

    def data(self, text: str) -> None:
        if not self.skipping and self.size < self.max_chars:
            self.pending.append(text)

    def close(self) -> str:
        self._flush()
        return " ".join(self.parts)[: self.max_chars]


def visible_text(html: bytes, max_chars: int) -> str:
    """Up to ``max_chars`` of the page's visible text (head, scripts, styles left out), spaces collapsed.

    ``html`` is UTF-8 bytes (the reader has decoded the page already; a ``<meta charset>`` is ignored).
    """
    collector = _TextCollector(max_chars)
    parser = etree.HTMLParser(target=collector, encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
    try:
        for start in range(0, len(html), _FEED_BYTES):
            parser.feed(html[start : start + _FEED_BYTES])
            if collector.size >= max_chars:
                break
        parser.close()
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        pass  # what was collected so far is the text (an empty page has none)
    return collector.close()


class LanguageScreen:
    """Decides from the HTML alone which pages are clearly not in the target languages."""

    def __init__(self, config: ScreenConfig, model, languages: Sequence[str]) -> None:
        self.config = config
        self.model = model  # filters.language.LanguageModel, shared with the language stage
        self.labels = frozenset(f"__label__{lang}" for lang in languages)

    def screen(self, html: bytes) -> tuple[str, float] | None:
        """(top label, its probability) when the page is clearly not in a target language, else None."""
        text = visible_text(html, self.config.max_chars)
        if len(text) < self.config.min_chars:
            return None
        labels, probs = self.model.model.predict(text, k=-1, threshold=0.0)
        target = sum(float(p) for label, p in zip(labels, probs) if label in self.labels)
        if target >= self.config.max_target_prob:
            return None
        return labels[0].removeprefix("__label__"), float(min(probs[0], 1.0))
