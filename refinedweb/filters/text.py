"""Shared text splitting for the document filters: lines, paragraphs and words, each split once.

Gopher's heuristics (Rae et al. 2021, App. A) are defined on "words", "lines" and "paragraphs"
without naming a tokenizer. We follow Dolma's Gopher tagger and split words on whitespace
(``str.split()``): it is language-agnostic, needs no model, and keeps the statistics comparable
with the paper's thresholds, which were tuned on whitespace-delimited English. Lines are split on
line breaks, paragraphs on two or more line breaks (blank lines between them may hold spaces);
both are stripped and empty ones are not counted.
"""

from __future__ import annotations

import re
import string
from functools import cached_property

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Characters stripped from a word before comparing it with a word list: ASCII and common Unicode
# punctuation, so "The," and "“that" count as stop words.
WORD_PUNCTUATION = string.punctuation + "“”‘’«»‹›„‚…—–·¡¿•"
ALPHA = re.compile(r"[^\W\d_]")  # one alphabetic character, any script


def split_words(text: str) -> list[str]:
    """Whitespace-delimited words (Gopher / Dolma convention)."""
    return text.split()


def split_lines(text: str) -> list[str]:
    """Non-empty lines, stripped of surrounding whitespace."""
    return [s for line in text.splitlines() if (s := line.strip())]


def split_paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs (split on two or more newlines), stripped of surrounding whitespace."""
    return [s for para in _PARAGRAPH_BREAK.split(text) if (s := para.strip())]


class Document:
    """One document's text with its lines, paragraphs and words, each computed once on first use."""

    def __init__(self, text: str | None) -> None:
        self.text = text or ""

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.text)

    @cached_property
    def paragraphs(self) -> list[str]:
        return split_paragraphs(self.text)

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)


def strip_punctuation(word: str) -> str:
    """``word`` with the punctuation around it stripped (case kept)."""
    return word.strip(WORD_PUNCTUATION)

