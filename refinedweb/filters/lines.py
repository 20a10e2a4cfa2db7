"""RefinedWeb line-wise corrections: strip boilerplate lines that text extraction let through.

RefinedWeb App. G.2: even after trafilatura, lines from navigation menus, calls to action and social
media counters seep into the text. Each line is checked in turn and is

* removed when it is mainly upper case, only numerical, a counter ("3 likes") or a single word;
* edited when it is short (<= 10 words) and matches a pattern at its start ("sign-in"), at its end
  ("Read more...") or anywhere ("items in cart"): the matched part is removed, and the whole line
  when nothing but punctuation is left.

When the removed and edited ("flagged") lines held more than 5% of the document's words, the
document is dropped; otherwise its text is replaced by the corrected one. The paper gives the rules
and one example per pattern kind, not its lists: the default patterns below are our own curated set
(English, as the paper notes these rules need adapting per language), every one overridable in YAML.

Every rule runs in time linear in the line (issue 18: a backtracking pattern on a 200k-character
line took minutes, and WET text reaches this stage without trafilatura's timeout): the numeric rule
is a character-set test, the counter and edit patterns are written without overlapping repeats, and
lines longer than ``max_pattern_line_chars`` are checked by the upper-case, numeric and single-word
rules only, so a user's own patterns cannot stall a worker on them either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import check
from refinedweb.core.histogram import FRACTION
from refinedweb.core.stage import DocumentFilter, Rule

COUNTER_WORDS = (
    "likes?", "comments?", "shares?", "views?", "repl(?:y|ies)", "retweets?", "reposts?", "followers?",
    "following", "votes?", "upvotes?", "downvotes?", "downloads?", "favou?rites?", "reactions?",
    "bookmarks?", "points?", "reads?", "plays?", "pins?", "tweets?", "subscribers?", "answers?", "responses?",
)  # fmt: skip

PREFIX_PATTERNS = (
    r"sign[ -]?(?:in|up|out)",
    r"log[ -]?(?:in|out)",
    r"register(?: now)?",
    r"create (?:an |your )?account",
    r"subscribe(?: now| today| to (?:our|the) newsletter)?",
    r"share (?:this|on)(?: (?:article|post|page|story|facebook|twitter|linkedin|pinterest|email))?",
    r"follow us(?: on (?:facebook|twitter|instagram|linkedin))?",
    r"skip to (?:the )?(?:main )?(?:content|navigation|search)",
    r"jump to (?:the )?(?:main )?(?:content|navigation|search)",
    r"back to top",
    r"you are here",
    r"advertisement",
    r"(?:copyright\s*)?(?:©|\(c\)).*",  # a short line opening with a copyright notice is a footer:
    r"copyright\s+(?:\d{4}|by)\b.*",  # all of it goes ("Copyright law is ..." stays)
    r"powered by\b.*",
)

SUFFIX_PATTERNS = (
    r"read more",
    r"read the full (?:article|story|post)",
    r"continue reading",
    r"click here(?: to (?:read|see|view|learn) more)?",
    r"(?:learn|see|show|view|load) more",
    r"more info(?:rmation)?",
)

ANYWHERE_PATTERNS = (
    r"items? in (?:your )?(?:cart|basket|bag)",
    r"add to (?:cart|basket|bag|wishlist|wish list)",
    r"all rights reserved",
    r"cookie (?:policy|settings|preferences)",
    r"(?:we|this (?:site|website)) uses? cookies[^.!]*[.!]?",  # the whole cookie-banner sentence
    r"accept (?:all )?cookies",
    r"privacy policy",
    r"terms (?:of (?:use|service)|and conditions|& conditions)",
    r"leave a (?:comment|reply)",
    r"no comments yet",
)

# Separators left dangling once a pattern is cut from a line ("Sign in | Register", "News » Read more").
_SEPARATORS = " \t|/·•»«›‹>~:–—-"
_LEAD_CHARS = r"\s|·•»›>–—(\[-"
_LEAD = rf"[{_LEAD_CHARS}]*"
_TRAILING = r"(?:\s*(?:\.\.\.|…|\.|!|»|›|>|\)|\]))*"
# (?<!\s): a match never starts inside a run of spaces (the leftmost match starts where the run does),
# so the run is scanned once, not once per space
_SEPARATOR_RUN = re.compile(r"(?<!\s)\s*([|·•»›/])(?:\s*[|·•»›/])+\s*")
_NUMERIC_CHARS = re.compile(r"[\d\s.,:;/%+\-−()#$€£¥]*")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class LinesConfig:
    """RefinedWeb's line-wise corrections (App. G.2); the patterns are ours, the rules and 5% the paper's."""

    enabled: bool = True
    """Run the line-wise corrections at all."""
    max_uppercase_frac: float = 0.5
    """A line whose non-space characters are more than this share upper case is removed ("mainly upper case", App. G.2)."""
    remove_numeric: bool = True
    """Remove lines made only of digits and numeric punctuation (App. G.2)."""
    remove_counters: bool = True
    """Remove social-media counter lines such as "3 likes" or "Share 5" (App. G.2)."""
    remove_single_word: bool = True
    """Remove lines holding a single word (App. G.2)."""
    counter_words: tuple[str, ...] = COUNTER_WORDS
    """Regexes of the nouns that make a number a counter ("likes?", "comments?", ...); our list."""
    max_edit_words: int = 10
    """Only lines with at most this many words are edited by the patterns (App. G.2: 10)."""
    prefix_patterns: tuple[str, ...] = PREFIX_PATTERNS
    """Case-insensitive regexes cut from the start of short lines (App. G.2 example: "sign-in")."""
    suffix_patterns: tuple[str, ...] = SUFFIX_PATTERNS
    """Case-insensitive regexes cut from the end of short lines (App. G.2 example: "Read more...")."""
    anywhere_patterns: tuple[str, ...] = ANYWHERE_PATTERNS
    """Case-insensitive regexes cut from anywhere in short lines (App. G.2 example: "items in cart")."""
    max_removed_word_frac: float = 0.05
    """Drop the document when flagged lines held more than this share of its words (App. G.2: 5%)."""
    max_pattern_line_chars: int = 2_000
    """Longer lines skip the counter rule and the edit patterns (a counter or a boilerplate line is far
    shorter): bounds a document's time whatever the patterns (ours; issue 18)."""

    def __post_init__(self) -> None:
        check(0.0 < self.max_uppercase_frac <= 1.0, "max_uppercase_frac", f"must be in (0, 1], got {self.max_uppercase_frac}")
        check(self.max_edit_words >= 0, "max_edit_words", f"must be >= 0, got {self.max_edit_words}")
        check(0.0 <= self.max_removed_word_frac <= 1.0, "max_removed_word_frac", f"must be in [0, 1], got {self.max_removed_word_frac}")
        check(self.max_pattern_line_chars >= 0, "max_pattern_line_chars", f"must be >= 0, got {self.max_pattern_line_chars}")
        for name in ("counter_words", "prefix_patterns", "suffix_patterns", "anywhere_patterns"):
            for pattern in getattr(self, name):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    check(False, name, f"invalid regex {pattern!r}: {exc}")


def _alternation(patterns: tuple[str, ...]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


def is_numeric(line: str) -> bool:
    """Only digits and numeric punctuation, at least one digit (a set test: linear in the line)."""
    return _NUMERIC_CHARS.fullmatch(line) is not None and _DIGIT.search(line) is not None


class LineRules:
    """The compiled rules of ``LinesConfig``: ``correct(line)`` returns the kept line, edited, or None."""

    def __init__(self, cfg: LinesConfig) -> None:
        self.cfg = cfg
        # "3 likes", "Comments: 12", "1.2k views" -- no two repeats overlap (\s*[kmb]?\s* did: cubic time)
        number = r"\d[\d.,]*(?:\s*[kmb])?"
        nouns = _alternation(cfg.counter_words) or r"(?!)"
        self.counter = re.compile(rf"^\W*(?:{number}\s*(?:{nouns})|(?:{nouns})\s*(?:[:(\[]\s*)?{number})\W*$", re.I)
        # a call to action takes its connective along: "Sign up for alerts" -> "alerts"
        self.prefix = self._compile(cfg.prefix_patterns, r"^[\W_]*(?:{})(?!\w)(?:\s+(?:to|for|with|via|on)(?!\w))?[\W_]*")
        # a match starts where a run of lead characters does, and its tail is taken greedily once (atomic)
        self.suffix = self._compile(cfg.suffix_patterns, rf"(?<![{_LEAD_CHARS}]){_LEAD}(?<!\w)(?:{{}})(?!\w)(?>{_TRAILING}{_LEAD})$")
        self.anywhere = self._compile(cfg.anywhere_patterns, r"(?<!\w)(?:{})(?!\w)\.?")

    @staticmethod
    def _compile(patterns: tuple[str, ...], template: str) -> re.Pattern[str] | None:
        return re.compile(template.format(_alternation(patterns)), re.I) if patterns else None

    def is_uppercase(self, line: str) -> bool:
        chars = "".join(line.split())
        return bool(chars) and sum(map(str.isupper, chars)) > self.cfg.max_uppercase_frac * len(chars)

    def remove(self, line: str, n_words: int) -> bool:
        """True when the whole line goes: upper case, numeric, a counter or a single word."""
        if self.is_uppercase(line):
            return True
        if self.cfg.remove_numeric and is_numeric(line):
            return True
        if self.cfg.remove_counters and len(line) <= self.cfg.max_pattern_line_chars and self.counter.match(line):
            return True
        return self.cfg.remove_single_word and n_words == 1

    def edit(self, line: str) -> str:
        """``line`` with the boilerplate patterns cut out (it may come back unchanged or empty)."""
        out = line
        if self.prefix is not None:
            for _ in range(4):  # "Sign in | Register | Log out": each pass cuts one leading pattern
                cut = self.prefix.sub("", out, count=1)
                if cut == out:
                    break
                out = cut
        if self.suffix is not None:
            out = self.suffix.sub("", out, count=1)
        if self.anywhere is not None:
            out = self.anywhere.sub("", out)
        if out == line:
            return line
        out = _SEPARATOR_RUN.sub(r" \1 ", out)
        out = re.sub(r"\s{2,}", " ", out).strip(_SEPARATORS)
        return out if any(c.isalnum() for c in out) else ""

    def correct(self, line: str) -> str | None:
        """The corrected line: ``line`` itself when untouched, an edited version, or None when removed."""
        stripped = line.strip()
        if not stripped:
            return line
        n_words = len(stripped.split())
        if self.remove(stripped, n_words):
            return None
        if n_words <= self.cfg.max_edit_words and len(stripped) <= self.cfg.max_pattern_line_chars:
            edited = self.edit(stripped)
            if edited != stripped:
                # what is left is a line like any other: "Privacy Policy | Home" leaves "Home", a single word
                return edited if edited and not self.remove(edited, len(edited.split())) else None
        return line


@dataclass
class Correction:
    """The outcome of the line-wise corrections on one document."""

    text: str
    lines_flagged: int
    flagged_word_frac: float


def correct_text(text: str, rules: LineRules) -> Correction:
    """Apply the rules to every line; count flagged lines and the share of words they held."""
    lines = text.split("\n")
    out: list[str] = []
    flagged = flagged_words = total_words = 0
    for line in lines:
        n_words = len(line.split())
        total_words += n_words
        corrected = rules.correct(line)
        if corrected is line:
            out.append(line)
            continue
        flagged += 1
        flagged_words += n_words
        if corrected is not None:
            out.append(corrected)
    if not flagged:
        return Correction(text, 0, 0.0)
    new_text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return Correction(new_text, flagged, flagged_words / total_words if total_words else 0.0)


RULES = (Rule(schema.LINES_REMOVED_WORD_FRAC, "max_removed_word_frac", ">", schema.LINES_TOO_MUCH_REMOVED, FRACTION),)


class LineFilter(DocumentFilter):
    """Rewrites the text of kept documents line by line; drops those where too much was flagged."""

    name = "lines"
    rules = RULES
    signal_types = {schema.TEXT: pa.string(), schema.LINES_REMOVED: pa.int64(), schema.LINES_REMOVED_WORD_FRAC: pa.float32()}

    def __init__(self, config: LinesConfig) -> None:
        super().__init__(config)
        self.line_rules = LineRules(config)

    def documents(self, batch: pa.Table) -> tuple[pa.Table, list[str | None]]:
        """The texts as they are: a null text passes through null."""
        return batch, batch.column(schema.TEXT).to_pylist()

    def judge(self, text: str | None) -> tuple[str | None, dict]:
        c = correct_text(text or "", self.line_rules)
        signals = {schema.LINES_REMOVED: c.lines_flagged, schema.LINES_REMOVED_WORD_FRAC: c.flagged_word_frac}
        reason = self.checks.first_failing(signals)
        return reason, {schema.TEXT: text if reason or c.lines_flagged == 0 else c.text, **signals}
