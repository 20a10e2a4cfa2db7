"""Charsets: HTML sniffing and decoding an HTML payload to UTF-8 as browsers would.

Charset: BOM, then (for ASCII-compatible declarations) strict UTF-8, since valid UTF-8 with
non-ASCII bytes is UTF-8 whatever the label says; then the HTTP ``charset``, then ``<meta charset>``
/ ``http-equiv`` / ``<?xml encoding>`` in the first bytes (which also overrides an HTTP
ISO-8859-1, the servers' default; labels mapped as browsers do, WHATWG Encoding Standard); then
detection with charset_normalizer (windows-1252, the browsers' default, where a page has too few
non-ASCII bytes to detect anything); then UTF-8 with replacement. Valid UTF-8 is never copied
through ``str``: the bytes go straight into the Arrow string column.
"""

from __future__ import annotations

import codecs
import re

CHARSET_SCAN_BYTES = 8192  # bytes searched for <meta charset> (WHATWG prescans 1024; long heads need more)
DETECT_BYTES = 65536  # bytes given to charset_normalizer when nothing declares the charset


# --- HTML sniffing -----------------------------------------------------------------------------

_HTML_TAGS = (
    b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font",
    b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--", b"<meta",
)  # WHATWG MIME Sniffing §7.1 "text/html" patterns, plus <meta>
_TAG_END = frozenset(b" >\t\n\r\f/")


def sniff_html(head: bytes) -> bool:
    """True when the first bytes look like HTML (WHATWG MIME Sniffing's text/html patterns).

    ``<?xml`` counts only when an ``<html`` element follows (XHTML), not for feeds or sitemaps.
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\n\r\f").lower()
    if text.startswith(b"<?xml"):
        return b"<html" in text
    for tag in _HTML_TAGS:
        if text.startswith(tag):
            if tag == b"<!--":
                return True
            return len(text) > len(tag) and text[len(tag)] in _TAG_END
    return False


# --- charset -----------------------------------------------------------------------------------

# Labels browsers decode differently from Python's codec of the same name (WHATWG Encoding §4.2),
# and labels Python does not know. Everything else goes through codecs.lookup.
_WHATWG_LABELS = {
    **dict.fromkeys(("ascii", "us-ascii", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1",
                     "l1", "cp819", "ibm819", "windows-1252", "x-cp1252", "cp1252"), "cp1252"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j",
                     "x-ms-cp932", "ms932", "cp932"), "cp932"),
    **dict.fromkeys(("euc-jp", "x-euc-jp", "eucjp", "cseucpkdfmtjapanese"), "euc_jp"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "gb_2312-80", "gb_2312", "chinese", "csgb2312",
                     "iso-ir-58", "cp936", "gb18030"), "gb18030"),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "x-x-big5", "csbig5"), "big5hkscs"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "korean",
                     "windows-949", "cseuckr", "csksc56011987", "iso-ir-149"), "cp949"),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "latin5", "l5", "windows-1254"), "cp1254"),
    **dict.fromkeys(("tis-620", "iso-8859-11", "iso8859-11", "windows-874", "dos-874"), "cp874"),
    **dict.fromkeys(("utf-16", "utf-16le", "utf-16be", "utf-32", "unicode", "ucs-2"), "utf-8"),
    "x-mac-roman": "mac_roman", "x-mac-cyrillic": "mac_cyrillic", "x-cp1250": "cp1250",
    "x-cp1251": "cp1251", "iso-8859-8-i": "iso8859_8", "x-user-defined": "cp1252",
}
_SEVEN_BIT = frozenset({"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
                        "iso2022_jp_ext", "iso2022_kr", "utf-7", "hz"})  # look like ASCII, are not
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([a-z0-9._:+-]{2,40})""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([a-z0-9._:+-]{2,40})""", re.I)
_ASCII = bytes(range(128))
MIN_DETECT_BYTES = 32  # non-ASCII bytes below which detection is a coin toss (WHATWG falls back to windows-1252)
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:+-]+)""", re.I)


def codec_for(label: str | None) -> str | None:
    """Python codec name for a charset label as a browser reads it; None when unknown or not a text codec."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    name = _WHATWG_LABELS.get(label, label)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # base64, rot13, zlib ... are codecs too
    return info.name


def meta_charset(head: bytes) -> str | None:
    """The charset label declared in the HTML itself (``<meta charset>``, ``http-equiv``, ``<?xml>``)."""
    match = _XML_DECL.match(head) or _META.search(head)
    return match.group(1).decode("ascii") if match else None


def html_to_utf8(
    body: bytes, http_charset: str | None = None, scan_bytes: int = CHARSET_SCAN_BYTES, detect_bytes: int = DETECT_BYTES
) -> bytes:
    """An HTML payload as UTF-8 bytes, the charset chosen as the module docstring says.

    Valid UTF-8 (the large majority of the web) is returned as is, without a round trip through
    ``str``: Arrow takes the bytes straight into a string column. ``scan_bytes`` are searched for
    ``<meta charset>``, ``detect_bytes`` given to detection (``ReaderConfig`` sets both).
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, "replace").encode("utf-8")
    declared = codec_for(http_charset)
    if declared in (None, "cp1252"):  # servers default to ISO-8859-1; a page's own <meta> knows better
        declared = codec_for(meta_charset(body[:scan_bytes])) or declared
    if declared not in _SEVEN_BIT and is_utf8(body):
        return body
    if declared is not None:
        text = body.decode(declared, "replace")
        if text.count("\ufffd") <= max(8, len(text) // 1000):
            return text.encode("utf-8")  # the declared charset, maybe with a few bad bytes: trust the page
    sample = body[:detect_bytes]
    if len(sample) - len(sample.translate(None, _ASCII)) < MIN_DETECT_BYTES:
        return body.decode("cp1252", "replace").encode("utf-8")  # too little evidence: the web's default
    guess = detect_charset(sample)
    return body.decode(guess or "utf-8", "replace").encode("utf-8")


def is_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8 (checked in C by the codec)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def detect_charset(sample: bytes) -> str | None:
    """charset_normalizer's best guess for bytes that declare nothing usable."""
    import charset_normalizer

    best = charset_normalizer.from_bytes(sample).best()
    return codec_for(best.encoding) if best is not None else None


def content_type_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP Content-Type, if any."""
    match = _HTTP_CHARSET.search(content_type or "")
    return match.group(1) if match else None
