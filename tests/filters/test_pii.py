"""PII anonymisation: exact replacements and traps, then precision and recall on real pages with planted PII."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError
from refinedweb.filters.pii import PiiAnonymizer, PiiConfig, anonymize

ON = PiiConfig(enabled=True)


@pytest.mark.parametrize("text, expected", [
    ("Write to john.doe@example.com today.", "Write to <EMAIL_ADDRESS> today."),
    ("mailto:info@firma.de", "mailto:<EMAIL_ADDRESS>"),
    ("Kontakt: max.mustermann@t-online.de, danke", "Kontakt: <EMAIL_ADDRESS>, danke"),
    ("servers 8.8.8.8 and 93.184.216.34.", "servers <IP_ADDRESS> and <IP_ADDRESS>."),
    ("host 2a00:1450:4001:82a::200e up", "host <IP_ADDRESS> up"),
])
def test_addresses_are_replaced_by_placeholders(text, expected):
    assert anonymize(text, ON).text == expected


@pytest.mark.parametrize("trap", [
    "192.168.0.1", "10.0.0.2", "127.0.0.1", "172.16.4.1",  # private and reserved IPv4
    "fe80::1", "2001:db8::1", "::1",  # link-local, documentation, loopback IPv6
    "version 1.2.3.4", "Version 8.8.8.8", "v1.2.3.4", "section 1.2.3.4.5", "300.1.1.1",  # versions, not IPs
    "at 12:30:45", "std::vector<int>",
    "logo@2x.png", "icon@3x.webp",  # image names
    "https://user@example.com/path", "git@github.com:org/repo.git",  # URLs
    "@property", "obj@foo.bar()",  # code
])
def test_traps_are_left_alone(trap):
    result = anonymize(f"see {trap} here", ON)
    assert result.text == f"see {trap} here"
    assert (result.emails, result.ips, result.phones) == (0, 0, 0)


def test_phone_numbers_only_when_asked():
    text = "Tel. +49 30 1234567 oder"
    assert anonymize(text, ON).text == text
    assert anonymize(text, PiiConfig(enabled=True, phone=True)).text == "Tel. <PHONE_NUMBER> oder"


def test_placeholder_that_looks_like_pii_is_refused():
    with pytest.raises(ConfigError, match="email_placeholder"):
        PiiConfig(email_placeholder="x@y.com")


def test_stage_never_drops_and_writes_counts():
    batch = pa.table({schema.TEXT: ["a@b.de and c@d.fr on 8.8.4.4", "nothing", None]})
    out = PiiAnonymizer(ON)(batch)
    assert out.column(schema.DROP_REASON).null_count == 3
    assert out.column(schema.PII_EMAILS).to_pylist() == [2, 0, 0]
    assert out.column(schema.PII_IPS).to_pylist() == [1, 0, 0]
    assert out.column(schema.TEXT).to_pylist()[0] == "<EMAIL_ADDRESS> and <EMAIL_ADDRESS> on <IP_ADDRESS>"


# --- a labelled set from real pages ------------------------------------------------------------

FIRST = ["anna", "jan", "marie", "li", "omar", "sofia", "lukas", "emma", "noah", "ines"]
DOMAINS = ["gmail.com", "t-online.de", "web.de", "uni-heidelberg.de", "example.org", "mail.co.uk", "orange.fr"]
TRAPS = ["192.168.1.20", "10.1.2.3", "version 2.4.1.7", "logo@2x.png", "https://bob@site.com/a", "fe80::1:2",
         "obj@self.run()", "@media", "section 1.2.3.4.5", "2001:db8::7"]


WRAPS = ["{}", "({})", "{},", "{}.", "<{}>", '"{}"', "{}:", "[{}]", "{};"]


def _public_ipv4(rng: random.Random) -> str:
    while True:  # first octets of public unicast space; the anonymiser itself decides publicness with ipaddress
        first = rng.choice([8, 23, 31, 46, 52, 62, 77, 81, 93, 104, 141, 151, 185, 194, 212, 217])
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _planted(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return f"{rng.choice(FIRST)}.{rng.choice(FIRST)}{rng.randrange(100)}@{rng.choice(DOMAINS)}"
    if kind == 1:
        return _public_ipv4(rng)
    return f"2a0{rng.randrange(10)}:{rng.randrange(16**4):x}:{rng.randrange(16**4):x}::{rng.randrange(1, 16**4):x}"


def measure(texts: list[str], seed: int = 0) -> dict[str, float]:
    """Plant PII and traps at word boundaries of real texts; precision and recall of the replacements."""
    rng = random.Random(seed)
    tp = fp = fn = traps_hit = 0
    for text in texts:
        base = anonymize(text, ON)  # PII the page really holds is not part of the labelled set
        words = base.text.split(" ")
        planted = [_planted(rng) for _ in range(3)]
        traps = rng.sample(TRAPS, 2)
        for item in planted + traps:  # as written in prose: bare, in brackets or quotes, before punctuation
            words.insert(rng.randrange(len(words) + 1), rng.choice(WRAPS).format(item))
        out = anonymize(" ".join(words), ON)
        found = out.emails + out.ips
        hits = sum(item not in out.text for item in planted)
        traps_hit += sum(trap not in out.text for trap in traps)
        tp += hits
        fn += len(planted) - hits
        fp += found - hits
    return {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "planted": tp + fn,
            "false_positives": fp, "traps_replaced": traps_hit}


def test_precision_and_recall_on_real_pages_with_planted_pii(pages_a_run):
    out, _, _ = pages_a_run
    texts = [t for p in sorted((out / "data").glob("*.parquet")) for t in pq.read_table(p).column(schema.TEXT).to_pylist()]
    assert len(texts) >= 100
    figures = measure(texts)
    print(f"PII on {len(texts)} real pages of pages-A: {figures}")
    assert figures["planted"] == 3 * len(texts)
    assert figures["traps_replaced"] == 0
    assert figures["recall"] >= 0.99
    assert figures["precision"] >= 0.99
