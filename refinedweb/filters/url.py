"""RefinedWeb URL filtering: drop adult and curated-source pages before any text is extracted.

RefinedWeb App. G.1 filters on the URL alone, so it runs first and is cheap:

1. a domain blocklist (UT1's adult category, 4.6M domains): a URL is blocked when its host or any
   parent domain is listed; UT1 ``urls`` entries (``host/path`` prefixes) block the URLs under them;
2. a URL score from three word lists: *strict* sub-words banned anywhere in the URL, *hard* words
   banned as whole words, and *soft* words of which two distinct ones are needed;
3. the curated high-quality sources of the paper's Table 14 (Wikipedia, arXiv, GitHub, ...) are
   excluded, RefinedWeb being meant to be mixed with those curated corpora without overlap.

Blocklist files are UT1 folders (``<root>/<category>/domains``, ``.../urls``, optionally gzipped or
split as ``domains.0``), UT1 ``domains``/``urls`` files given directly, or plain one-domain-per-line
lists (``#`` comments, hosts-file lines ``0.0.0.0 example.com`` accepted). Any entry holding a ``/``
is a URL prefix, any other a domain. Everything is loaded once, into sets, in ``__init__``.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from refinedweb import schema
from refinedweb.config import ConfigError, check
from refinedweb.core.histogram import linear_edges
from refinedweb.core.stage import DocumentFilter, Rule

# RefinedWeb Table 14: high-quality sources excluded from RefinedWeb so that it does not overlap
# with the curated corpora (The Pile's) it may be mixed with. The paper's full text could not be
# fetched here; this list is the table as transcribed in DCLM's RefinedWeb reproduction
# (mlfoundations/dclm, baselines/baselines_configs/refinedweb.yaml), one domain per Pile source.
CURATED_DOMAINS = (
    "wikipedia.org",
    "arxiv.org",
    "github.com",
    "stackoverflow.com",
    "stackexchange.com",
    "stackapps.com",
    "mathoverflow.net",
    "askubuntu.com",
    "ncbi.nlm.nih.gov",
    "exporter.nih.gov",
    "uspto.gov",
    "courtlistener.com",
    "reddit.com",
    "news.ycombinator.com",
    "irclogs.ubuntu.com",
    "statmt.org",
)

ASSETS = Path(__file__).resolve().parent / "assets"
_NON_ALNUM = re.compile(r"[\W_]+")
_SCHEME_WWW = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\d{0,3}\.)?")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_HOSTS_FILE_IPS = {"0.0.0.0", "127.0.0.1", "::", "::1"}


@dataclass(frozen=True)
class UrlFilterConfig:
    """URL filtering (RefinedWeb App. G.1): blocklists, URL word scores, curated-source exclusion."""

    enabled: bool = True
    """Run the URL filter at all."""
    blocklist_paths: tuple[str, ...] = ()
    """UT1 folders or files and plain domain lists (App. G.1 uses UT1's 4.6M adult domains); none by default."""
    blocklist_categories: tuple[str, ...] = ("adult",)
    """UT1 categories loaded from a UT1 folder (App. G.1: adult); others, e.g. sexual_education, are ignored."""
    banned_subwords_path: str | None = None
    """Strict sub-words, banned anywhere in the URL (App. G.1); None: our short list in filters/assets/."""
    banned_words_path: str | None = None
    """Hard words, banned as whole URL words (App. G.1); None: our short list in filters/assets/."""
    soft_banned_words_path: str | None = None
    """Soft words, banned in numbers (App. G.1); None: our short list in filters/assets/."""
    soft_word_threshold: int = 2
    """Distinct soft words that get a URL dropped (App. G.1: more than one)."""
    exclude_curated: bool = True
    """Drop pages of the curated sources below, left to the curated corpora (RefinedWeb Table 14)."""
    curated_domains: tuple[str, ...] = CURATED_DOMAINS
    """Curated high-quality domains, subdomains included (RefinedWeb Table 14)."""

    def __post_init__(self) -> None:
        for path in self.blocklist_paths:
            check(Path(path).exists(), "blocklist_paths", f"not found: {path}")
        check(all(c and "/" not in c for c in self.blocklist_categories), "blocklist_categories", "must be UT1 category names")
        for name in ("banned_subwords_path", "banned_words_path", "soft_banned_words_path"):
            path = getattr(self, name)
            check(path is None or Path(path).is_file(), name, f"file not found: {path}")
        check(self.soft_word_threshold >= 1, "soft_word_threshold", f"must be >= 1, got {self.soft_word_threshold}")
        check(all(d and "/" not in d for d in self.curated_domains), "curated_domains", "must be bare domains")


def read_word_list(path: str | Path, field: str) -> list[str]:
    """One entry per line, blank lines and ``#`` comments skipped; a missing file names ``field``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{field}: file not found: {p}")
    lines = (line.strip() for line in p.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def parse_url(url: str) -> tuple[str | None, str]:
    """(host, path and query) of ``url``, lower case; host None when it is not a URL with a host."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None, ""
    if not host:
        return None, ""
    rest = parts.path or "/"
    if parts.query:
        rest += "?" + parts.query
    return _normalise_host(host), rest.lower()


def domain_suffixes(host: str) -> Iterator[str]:
    """``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``; an IP address only itself."""
    yield host
    if _IPV4.match(host) or ":" in host:
        return
    dot = host.find(".")
    while dot >= 0:
        host = host[dot + 1 :]
        yield host
        dot = host.find(".")


def _open_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        yield from f


def _entries(path: Path) -> Iterator[str]:
    """List entries of one file: comments and hosts-file IPs dropped, lower case, ``www.`` removed."""
    for line in _open_lines(path):
        tokens = line.split("#", 1)[0].split()
        if len(tokens) > 1 and tokens[0] in _HOSTS_FILE_IPS:
            tokens = tokens[1:]
        if tokens:
            entry = tokens[0].lower()
            if "://" in entry:
                entry = entry.split("://", 1)[1]
            yield _strip_www(entry)


def _ut1_files(folder: Path, categories: Iterable[str]) -> list[Path]:
    """The domains/urls files to read from a UT1 category folder, a UT1 root or a flat UT1 export."""
    def lists_in(directory: Path, prefix: str = "") -> list[Path]:
        names = ("domains", "urls")
        return sorted(p for p in directory.iterdir() if p.is_file() and p.name.removeprefix(prefix).split(".")[0] in names)

    direct = lists_in(folder)
    if direct:
        return direct
    files: list[Path] = []
    for category in categories:
        if (folder / category).is_dir():
            found = lists_in(folder / category)
        else:
            found = lists_in(folder, f"{category}__")  # flat exports: adult__domains, adult__urls
        if not found:
            raise ConfigError(f"blocklist_paths: no UT1 category {category!r} (domains/urls files) in {folder}")
        files.extend(found)
    return files


class Blocklist:
    """Blocked domains (a set, matched on every parent domain) and UT1 URL prefixes (by host)."""

    def __init__(self, paths: Iterable[str], categories: Iterable[str]) -> None:
        self.domains: set[str] = set()
        self.url_prefixes: dict[str, list[str]] = {}
        categories = tuple(categories)
        for raw in paths:
            path = Path(raw)
            if not path.exists():
                raise ConfigError(f"blocklist_paths: not found: {path}")
            for file in _ut1_files(path, categories) if path.is_dir() else [path]:
                self._load(file)

    def _load(self, file: Path) -> None:
        for entry in _entries(file):
            host, slash, path = entry.partition("/")
            host = _strip_www(_normalise_host(host))
            if not host:
                continue
            if slash:
                self.url_prefixes.setdefault(host, []).append("/" + path)
            else:
                self.domains.add(host)

    def match_domain(self, host: str) -> str | None:
        """The listed domain ``host`` is, or is under; None when it is not listed."""
        for suffix in domain_suffixes(_strip_www(host)):
            if suffix in self.domains:
                return suffix
        return None

    def match_url(self, host: str, rest: str) -> str | None:
        """The listed ``host/path`` prefix this URL starts with (at a path boundary), else None."""
        host = _strip_www(host)
        for prefix in self.url_prefixes.get(host, ()):
            if rest.startswith(prefix):
                tail = rest[len(prefix) :]
                if not tail or not prefix[-1].isalnum() or not tail[0].isalnum():
                    return host + prefix
        return None


class UrlWords:
    """The three URL word lists of App. G.1, normalised once for matching."""

    def __init__(self, subwords: Iterable[str], hard: Iterable[str], soft: Iterable[str]) -> None:
        self.subwords = tuple(dict.fromkeys(w for s in subwords if (w := _NON_ALNUM.sub("", s.lower()))))
        self.hard, self.hard_phrases = self._split(hard)
        self.soft, self.soft_phrases = self._split(soft)

    @staticmethod
    def _split(words: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
        """Single words (set lookup) and multi-word entries (matched on the joined URL words)."""
        singles, phrases = set(), []
        for word in words:
            tokens = [t for t in _NON_ALNUM.split(word.lower()) if t]
            if len(tokens) == 1:
                singles.add(tokens[0])
            elif tokens:
                phrases.append(" ".join(tokens))
        return frozenset(singles), tuple(dict.fromkeys(phrases))

    def banned_subword(self, squashed: str) -> str | None:
        return next((w for w in self.subwords if w in squashed), None)

    def banned_word(self, tokens: set[str], joined: str) -> str | None:
        hit = min(tokens & self.hard, default=None)
        return hit or next((p for p in self.hard_phrases if f" {p} " in joined), None)

    def soft_words(self, tokens: set[str], joined: str) -> list[str]:
        return sorted(tokens & self.soft) + [p for p in self.soft_phrases if f" {p} " in joined]


RULES = (Rule(schema.URL_SOFT_WORDS, "soft_word_threshold", ">=", schema.URL_SOFT_BANNED_WORDS, linear_edges(0, 10, 10)),)


class UrlFilter(DocumentFilter):
    """Drops URLs on the blocklists, with banned words, or from curated sources; one reason each."""

    name = "url_filter"
    rules = RULES
    reasons = (schema.URL_BLOCKLISTED_DOMAIN, schema.URL_BLOCKLISTED_URL, schema.URL_BANNED_SUBWORD, schema.URL_BANNED_WORD, schema.URL_CURATED_SOURCE)
    signal_types = {schema.URL_SOFT_WORDS: pa.int32(), schema.URL_MATCH: pa.string()}

    def __init__(self, config: UrlFilterConfig) -> None:
        super().__init__(config)
        self.blocklist = Blocklist(config.blocklist_paths, config.blocklist_categories)

        def words(field: str, default: str) -> list[str]:
            return read_word_list(getattr(config, field) or ASSETS / default, field)

        self.words = UrlWords(
            words("banned_subwords_path", "url_banned_subwords.txt"),
            words("banned_words_path", "url_banned_words.txt"),
            words("soft_banned_words_path", "url_soft_banned_words.txt"),
        )
        self.curated = frozenset(_strip_www(_normalise_host(d)) for d in config.curated_domains) if config.exclude_curated else frozenset()

    def check(self, url: str) -> tuple[str | None, str | None, int]:
        """(drop reason, matched entry, soft word count) for one URL, rules in App. G.1's order."""
        host, rest = parse_url(url)
        # the scheme and "www." are no words of the URL: "https://exam.com" must not read "sexam"
        lower = _SCHEME_WWW.sub("", unquote(url, errors="replace").lower().strip())
        tokens = [t for t in _NON_ALNUM.split(lower) if t]
        token_set, joined = set(tokens), f" {' '.join(tokens)} "
        soft = self.words.soft_words(token_set, joined)
        if host is not None:
            if hit := self.blocklist.match_domain(host):
                return schema.URL_BLOCKLISTED_DOMAIN, hit, len(soft)
            if hit := self.blocklist.match_url(host, rest):
                return schema.URL_BLOCKLISTED_URL, hit, len(soft)
        if hit := self.words.banned_subword("".join(tokens)):
            return schema.URL_BANNED_SUBWORD, hit, len(soft)
        if hit := self.words.banned_word(token_set, joined):
            return schema.URL_BANNED_WORD, hit, len(soft)
        if reason := self.checks.first_failing({schema.URL_SOFT_WORDS: len(soft)}):
            return reason, ",".join(soft), len(soft)
        if host is not None and self.curated:
            if hit := next((s for s in domain_suffixes(_strip_www(host)) if s in self.curated), None):
                return schema.URL_CURATED_SOURCE, hit, len(soft)
        return None, None, len(soft)

    def documents(self, batch: pa.Table) -> tuple[pa.Table, list[str]]:
        """The URLs (null becomes the empty string): the URL filter reads nothing else."""
        return batch, [url or "" for url in batch.column(schema.URL).to_pylist()]

    def judge(self, url: str) -> tuple[str | None, dict]:
        reason, match, n_soft = self.check(url)
        return reason, {schema.URL_SOFT_WORDS: n_soft, schema.URL_MATCH: match}
