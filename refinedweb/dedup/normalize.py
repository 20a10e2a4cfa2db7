"""RefinedWeb's normalisation before MinHash (App. G.3.1): lower case, NFD, no accents, no punctuation.

The character classes are shared by ``normalize`` (text, for tests and tools) and the hashing
kernel in dedup/minhash_kernels.py, which reads them from ``char_classes`` without building the
normalised string. A module of its own so that both import it and neither imports the other.
"""

from __future__ import annotations

import functools
import sys
import unicodedata

import numpy as np

KEEP_CHAR, DELETE_CHAR, SPACE_CHAR = 0, 1, 2
_ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@functools.cache
def char_classes() -> np.ndarray:
    """Per code point: delete (Unicode punctuation P*, ASCII punctuation, nonspacing marks Mn), whitespace, keep."""
    classes = np.zeros(sys.maxunicode + 1, np.uint8)
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] == "P" or cat == "Mn":
            classes[cp] = DELETE_CHAR
        elif ch.isspace():
            classes[cp] = SPACE_CHAR
    for ch in _ASCII_PUNCTUATION:
        classes[ord(ch)] = DELETE_CHAR
    return classes


@functools.cache
def _delete_table() -> dict[int, None]:
    return {int(cp): None for cp in np.flatnonzero(char_classes() == DELETE_CHAR)}


def _decomposed(text: str) -> str:
    """Lower case, then NFD (accents become separate combining marks)."""
    return unicodedata.normalize("NFD", text.lower())


def normalize(text: str) -> str:
    """RefinedWeb App. G.3.1 normalisation as text: lower, NFD, no accents, no punctuation, single spaces.

    The hashing kernel reads the same classes from ``char_classes`` without building this string;
    ``shingle_hashes(normalize(t)) == shingle_hashes(t)`` (tested).
    """
    return " ".join(_decomposed(text).translate(_delete_table()).split())


def code_points(text: str) -> np.ndarray:
    """The decomposed, lower-cased text as UTF-32 code points (lone surrogates passed through)."""
    return np.frombuffer(_decomposed(text).encode("utf-32-le", "surrogatepass"), np.uint32)
