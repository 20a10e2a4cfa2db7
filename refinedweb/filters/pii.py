"""PII anonymisation: e-mail addresses and public IP addresses replaced by fixed placeholders.

The RefinedWeb pipeline removes personal information with simple rules before deduplication (so
that two pages differing only in an address still deduplicate). This stage never drops a document:
it rewrites ``text`` and writes per-document counts as signal columns, summed into the funnel.

What is replaced, and what deliberately is not:

* e-mail addresses ``local@domain.tld``; not ``@`` in code (``@property``, ``obj@x.y(``), not
  image names (``logo@2x.png``: the "TLD" is a file extension), and not the ``user@host`` part of
  a URL (``https://user@example.com/``, ``git@github.com:org/repo``);
* IPv4 and IPv6 addresses that are public (``ipaddress``'s ``is_global``; IPv6 only in 2000::/3,
  the global unicast space), so private and reserved ones (``192.168.0.1``, ``127.0.0.1``,
  ``fe80::1``) stay; not version strings (``version 1.2.3.4``, ``v1.2.3.4``) nor dotted runs
  longer than four numbers (``1.2.3.4.5``, a section or OID);
* phone numbers only when ``phone`` is on (off by default: their patterns catch dates, prices and
  product codes far more often than numbers).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import check
from refinedweb.core.stage import DocumentFilter

# local part, @, then labels and a TLD of letters; bounded repetitions keep matching linear
_EMAIL = re.compile(
    r"(?<![\w.%+\-/@])([A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24}))(?![\w@\-]|\.[A-Za-z0-9])"
)
_IPV4 = re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3})(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])((?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4}))(?!\w|[:.][0-9A-Za-z])")
_PHONE = re.compile(r"(?<![\w+])(\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4})(?![\w])")
_VERSION_BEFORE = re.compile(r"(?:version|versión|vers\.|ver\.|release|build|firmware|v)\s*$", re.I)
_FILE_EXTENSIONS = frozenset("png jpg jpeg gif svg webp bmp ico tif tiff avif css js mjs json xml pdf zip gz".split())
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


@dataclass(frozen=True)
class PiiConfig:
    """PII anonymisation before deduplication; replaces, never drops."""

    enabled: bool = False
    """Run the PII stage; off by default so an English RefinedWeb run keeps its exact output (on in refinedweb-europe.yaml)."""
    email: bool = True
    """Replace e-mail addresses."""
    ip: bool = True
    """Replace public IPv4 and IPv6 addresses (private and reserved ones stay)."""
    phone: bool = False
    """Replace international phone numbers (``+49 30 1234567``); off: the pattern's false positives outweigh it."""
    email_placeholder: str = "<EMAIL_ADDRESS>"
    """What an e-mail address becomes."""
    ip_placeholder: str = "<IP_ADDRESS>"
    """What a public IP address becomes."""
    phone_placeholder: str = "<PHONE_NUMBER>"
    """What a phone number becomes."""
    max_chars: int = 2_000_000
    """Longer texts are scanned in their first ``max_chars`` only: bounds the stage's time per document."""

    def __post_init__(self) -> None:
        for name in ("email_placeholder", "ip_placeholder", "phone_placeholder"):
            value = getattr(self, name)
            check("@" not in value and not _IPV4.search(value), name, f"must not itself look like PII, got {value!r}")
        check(1 <= self.max_chars <= 100_000_000, "max_chars", f"must be in [1, 100000000], got {self.max_chars}")


def _in_url(text: str, start: int) -> bool:
    """Whether position ``start`` sits inside a URL-like token (``scheme://`` or ``host:path`` before it)."""
    token_start = max(text.rfind(c, 0, start) for c in " \t\n\"'<>()[]") + 1
    token = text[token_start:start]
    return "://" in token or token.startswith("www.")


def _email_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _EMAIL.finditer(text):
        end = m.end()
        if m.group(3).lower() in _FILE_EXTENSIONS or _in_url(text, m.start()):
            continue
        if text.startswith("(", end) or text.startswith(":", end) and not text.startswith(": ", end):
            continue  # a method call in code, or scp-style ``git@host:path``
        spans.append((m.start(), end))
    return spans


def _is_public_ipv4(candidate: str) -> bool:
    try:
        return ipaddress.IPv4Address(candidate).is_global
    except ValueError:
        return False  # an octet above 255


def _ip_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _IPV4.finditer(text):
        if _is_public_ipv4(m.group(1)) and not _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            spans.append(m.span(1))
    for m in _IPV6.finditer(text):
        try:
            address = ipaddress.IPv6Address(m.group(1))
        except ValueError:
            continue
        if address in _GLOBAL_UNICAST and address.is_global:
            spans.append(m.span(1))
    return spans


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    out.append(text[last:])
    return "".join(out)


@dataclass
class Anonymized:
    """One document after anonymisation: the text and how many of each kind were replaced."""

    text: str
    emails: int
    ips: int
    phones: int


def anonymize(text: str, cfg: PiiConfig) -> Anonymized:
    """Replace e-mail addresses, then IPs, then (if on) phone numbers; counts per kind."""
    head, tail = text[: cfg.max_chars], text[cfg.max_chars :]
    counts = {}
    for kind, on, find, placeholder in (
        ("emails", cfg.email, _email_spans, cfg.email_placeholder),
        ("ips", cfg.ip, _ip_spans, cfg.ip_placeholder),
        ("phones", cfg.phone, lambda t: [m.span(1) for m in _PHONE.finditer(t)], cfg.phone_placeholder),
    ):
        spans = find(head) if on else []
        counts[kind] = len(spans)
        if spans:
            head = _replace(head, spans, placeholder)
    return Anonymized(head + tail, **counts)


class PiiAnonymizer(DocumentFilter):
    """Rewrites ``text`` with PII replaced; writes the counts per kind; never drops a document."""

    name = "pii"
    signal_types = {schema.TEXT: pa.string(), schema.PII_EMAILS: pa.int32(), schema.PII_IPS: pa.int32(), schema.PII_PHONES: pa.int32()}
    totals = (schema.PII_EMAILS, schema.PII_IPS, schema.PII_PHONES)
    """Signal columns the executor sums into the stage's ``extra`` counters (the funnel's totals)."""

    def judge(self, doc: str) -> tuple[None, dict[str, object]]:
        r = anonymize(doc, self.config)
        return None, {schema.TEXT: r.text, schema.PII_EMAILS: r.emails, schema.PII_IPS: r.ips, schema.PII_PHONES: r.phones}
