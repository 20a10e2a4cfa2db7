"""Language screening before extraction: skip trafilatura for pages clearly not in the target languages.

Most pages of a crawl are not in the target language (RefinedWeb §3.1 keeps English, about half of
Common Crawl) and trafilatura, which costs ~20 ms per page, would extract them only for language ID to
throw the text away. The screen reads the page's visible text with a cheap pass (selectolax's
lexbor HTML5 parser in C; head, scripts and styles left out; the first ``max_chars`` characters)
and asks the same fastText lid.176 model. A page is screened out only when the target languages together get a probability
below ``max_target_prob`` on at least ``min_chars`` characters: boilerplate in another language
lowers the target's probability but, on pages-A, no page kept by language ID after extraction scores
below 0.5 on its HTML text, so the default margin (0.02) leaves a wide gap. Screened pages are
dropped by the language stage under their own reason (``language_screened_out``), so its funnel
stays comparable with the screen on or off. The screen is ours, not the paper's: a speed-up that
must not change which documents are kept (tests/filters/test_screen.py checks it on pages-A).

The text pass was an lxml parser target (issue 17 replaced it): on pages-A, the dev/warc crawls and
the CC-like bench input (bench/make_cc_like.py) both give the same screening decision for every page
and, but for a trailing space or a parser quirk on 13 of 606 pages, the same text, in 0.61 of lxml's
CPU time on pages-A with the dev/warc crawls (606 pages) and 0.47 on the CC-like input.

Most pages that pass are passed by a probe first (``probe_chars``): fastText on 150 characters from
the middle of the text and its last 150, and a page the probe finds in a target language (0.5 or
more) is extracted without the full check. A probe can only let a page through, never rule one
out, so it costs at worst one extraction more. The middle and the end, not the start: the first
characters are often navigation, and an English menu above a Japanese article passed 6 such pages
of pages-A that the full check screens out; from the middle and the end, none of the 1837 pages of
pages-A, the CC-like input and dev/warc changes its decision, and the screen's CPU time fell from
1.02 to 0.74 s on the CC-like input and from 0.80 to 0.73 s on pages-A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from selectolax.lexbor import LexborHTMLParser

from refinedweb.config import check

_SKIPPED = ["head", "title", "script", "style", "noscript", "template", "svg"]


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
    probe_chars: int = 300
    """Characters of a first, cheaper check (half from the middle of the text, half from its end) that
    passes a page without the full one; 0 turns it off. Only pages with twice as much text are probed."""
    probe_pass_prob: float = 0.5
    """A page passes on the probe alone when the target languages together score at least this on it."""

    def __post_init__(self) -> None:
        check(0.0 <= self.max_target_prob <= 1.0, "max_target_prob", f"must be in [0, 1], got {self.max_target_prob}")
        check(self.max_chars >= 1, "max_chars", f"must be >= 1, got {self.max_chars}")
        check(self.min_chars >= 0, "min_chars", f"must be >= 0, got {self.min_chars}")
        check(self.probe_chars >= 0, "probe_chars", f"must be >= 0, got {self.probe_chars}")
        check(0.0 < self.probe_pass_prob <= 1.0, "probe_pass_prob", f"must be in (0, 1], got {self.probe_pass_prob}")


def visible_text(html: bytes, max_chars: int) -> str:
    """Up to ``max_chars`` of the page's visible text (head, scripts, styles left out), spaces collapsed.

    ``html`` is UTF-8 bytes (the reader has decoded the page already; a ``<meta charset>`` is ignored).
    Words are split at every tag and joined by one space; comments are no boundary.
    """
    tree = LexborHTMLParser(html)  # bytes are read as UTF-8 (no charset sniffing), faster than a str
    tree.strip_tags(_SKIPPED)
    root = tree.root
    if root is None:
        return ""
    comments = [node for node in root.traverse(include_text=True) if node.is_comment_node]
    if comments:
        for node in comments:
            node.decompose()
        root.merge_text_nodes()
    return " ".join(root.text(deep=True, separator=" ").split())[:max_chars]


class LanguageScreen:
    """Decides from the HTML alone which pages are clearly not in the target languages."""

    def __init__(self, config: ScreenConfig, model, languages: Sequence[str]) -> None:
        self.config = config
        self.model = model  # filters.language.LanguageModel, shared with the language stage
        self.labels = frozenset(f"__label__{lang}" for lang in languages)

    def screen(self, html: bytes) -> tuple[str, float] | None:
        """(top label, its probability) when the page is clearly not in a target language, else None."""
        cfg = self.config
        text = visible_text(html, cfg.max_chars)
        if len(text) < cfg.min_chars:
            return None
        if cfg.probe_chars and len(text) >= 2 * cfg.probe_chars:
            half, middle = cfg.probe_chars // 2, len(text) // 2
            if self._target_prob(text[middle : middle + half] + " " + text[-half:])[0] >= cfg.probe_pass_prob:
                return None
        target, label, prob = self._target_prob(text)
        if target >= cfg.max_target_prob:
            return None
        return label.removeprefix("__label__"), float(min(prob, 1.0))

    def _target_prob(self, text: str) -> tuple[float, str, float]:
        """(the target languages' summed probability, the top label, its probability) of ``text``."""
        labels, probs = self.model.model.predict(text, k=-1, threshold=0.0)
        return sum(float(p) for label, p in zip(labels, probs) if label in self.labels), labels[0], probs[0]
