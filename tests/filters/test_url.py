"""URL filter: every reason on real blocklists and word lists, UT1 layouts, negative controls, bad URLs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest
from warcio.archiveiterator import ArchiveIterator

from refinedweb import schema
from refinedweb.config import ConfigError, from_dict, to_dict
from refinedweb.filters.url import Blocklist, UrlFilter, UrlFilterConfig, domain_suffixes, parse_url


def _batch(urls):
    return pa.table({schema.ID: [str(i) for i in range(len(urls))], schema.URL: pa.array(urls, pa.string())})


def _run(flt, urls):
    out = flt(_batch(urls))
    return out.column(schema.DROP_REASON).to_pylist(), out


@pytest.fixture(scope="module")
def lists(shared_data: Path) -> Path:
    return shared_data / "dev" / "blocklist"


@pytest.fixture(scope="module")
def full(lists: Path) -> UrlFilter:
    """The real lists: pi-hole porn domains, the UT1 adult URL prefixes, datatrove's word lists."""
    return UrlFilter(
        UrlFilterConfig(
            blocklist_paths=(str(lists / "pi_blocklist_porn_top1m.list"), str(lists)),
            banned_subwords_path=str(lists / "banned_subwords.txt"),
            banned_words_path=str(lists / "banned_words.txt"),
            soft_banned_words_path=str(lists / "soft_banned_words.txt"),
        )
    )


def test_blocklisted_domain_matches_host_and_parent_domains(full):
    reasons, out = _run(full, ["https://www.pornhub.com/view_video", "http://fr.xhamster.com/", "https://pornhub.com.example.org/"])
    assert reasons[:2] == [schema.URL_BLOCKLISTED_DOMAIN] * 2
    assert out.column(schema.URL_MATCH).to_pylist()[:2] == ["pornhub.com", "xhamster.com"]
    assert reasons[2] != schema.URL_BLOCKLISTED_DOMAIN  # a listed name inside another domain is not that domain


def test_blocklisted_url_prefix_from_ut1_urls(full):
    reasons, out = _run(
        full,
        [
            "https://adultcontent.quora.com/How-do-couples-clean-up-semen-after-sex",
            "http://www.020sextoy.com/sk/",
            "http://020sextoy.com/skirts",  # same characters, but past a path boundary
            "https://www.quora.com/How-do-I-learn-Python",
        ],
    )
    assert reasons[:2] == [schema.URL_BLOCKLISTED_URL] * 2
    assert out.column(schema.URL_MATCH).to_pylist()[1] == "020sextoy.com/sk"
    assert reasons[2:] == [None, None]


def test_url_words_strict_hard_and_soft(full):
    reasons, out = _run(
        full,
        [
            "http://example.com/videos/2-girls-1-cup",  # strict sub-word, across separators
            "http://example.com/best-cialis-prices",  # hard word
            "http://example.com/sexy-lingerie-shop",  # two soft words
            "http://example.com/lingerie-shop",  # one soft word: kept, counted
        ],
    )
    assert reasons == [schema.URL_BANNED_SUBWORD, schema.URL_BANNED_WORD, schema.URL_SOFT_BANNED_WORDS, None]
    assert out.column(schema.URL_SOFT_WORDS).to_pylist()[2:] == [2, 1]
    assert out.column(schema.URL_MATCH).to_pylist() == ["2girls1cup", "cialis", "lingerie,sexy", None]


def test_hard_words_are_whole_words_only(full):
    reasons, _ = _run(full, ["http://example.com/specialist-doctors", "http://example.com/cialis/"])
    assert reasons == [None, schema.URL_BANNED_WORD]


def test_soft_threshold_is_configurable(lists):
    flt = UrlFilter(UrlFilterConfig(soft_banned_words_path=str(lists / "soft_banned_words.txt"), soft_word_threshold=1))
    assert _run(flt, ["http://example.com/lingerie-shop"])[0] == [schema.URL_SOFT_BANNED_WORDS]


def test_curated_sources_are_excluded():
    flt = UrlFilter(UrlFilterConfig())
    urls = ["https://en.wikipedia.org/wiki/Falcon", "https://arxiv.org/abs/2306.01116", "https://github.com/huggingface/datatrove", "https://notwikipedia.org/"]
    assert _run(flt, urls)[0] == [schema.URL_CURATED_SOURCE] * 3 + [None]
    keep = UrlFilter(UrlFilterConfig(exclude_curated=False))
    assert _run(keep, urls)[0] == [None] * 4


def test_sexual_education_domains_are_not_blocked(full, lists):
    domains = [d for d in (lists / "sexual_education__domains").read_text().split() if d]
    assert len(domains) == 15
    reasons, _ = _run(full, [f"https://{d}/" for d in domains] + [f"http://www.{d}/index.html" for d in domains])
    assert reasons == [None] * (2 * len(domains))


def test_ut1_categories_are_selected(lists):
    """The flat UT1 export holds adult__urls and sexual_education__domains: only the chosen category loads."""
    adult = Blocklist([str(lists)], ["adult"])
    assert len(adult.domains) == 0 and sum(map(len, adult.url_prefixes.values())) == 1090
    sex_ed = Blocklist([str(lists)], ["sexual_education"])
    assert sex_ed.match_domain("www.doctissimo.fr") == "doctissimo.fr"
    with pytest.raises(ConfigError, match="gambling"):
        Blocklist([str(lists)], ["gambling"])


def test_ut1_folder_layouts(tmp_path):
    root = tmp_path / "blacklists"
    (root / "adult").mkdir(parents=True)
    (root / "sexual_education").mkdir()
    (root / "adult" / "domains.0").write_text("# UT1 adult, part 0\nbad-one.example\n")
    with gzip.open(root / "adult" / "domains.1.gz", "wt") as f:
        f.write("bad-two.example\n")
    (root / "adult" / "urls").write_text("host.example/adult-section\n")
    (root / "sexual_education" / "domains").write_text("health.example\n")
    flt = UrlFilter(UrlFilterConfig(blocklist_paths=(str(root),)))
    urls = ["http://a.bad-one.example/", "https://bad-two.example/x", "http://host.example/adult-section/1", "http://health.example/"]
    reasons, _ = _run(flt, urls)
    assert reasons == [schema.URL_BLOCKLISTED_DOMAIN, schema.URL_BLOCKLISTED_DOMAIN, schema.URL_BLOCKLISTED_URL, None]
    direct = UrlFilter(UrlFilterConfig(blocklist_paths=(str(root / "sexual_education"),)))  # a category folder itself
    assert _run(direct, ["http://health.example/"])[0] == [schema.URL_BLOCKLISTED_DOMAIN]


def test_plain_lists_accept_comments_and_hosts_file_lines(tmp_path):
    path = tmp_path / "hosts.txt"
    path.write_text("# comment\n0.0.0.0 tracker.example # inline\n127.0.0.1\twww.other.example\nplain.example\n\n")
    bl = Blocklist([str(path)], ["adult"])
    assert bl.domains == {"tracker.example", "other.example", "plain.example"}


def test_unparseable_urls_do_not_crash_and_are_still_scored(pages_a, full):
    urls = []
    with open(pages_a, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "response":
                urls.append(record.rec_headers.get_header("WARC-Target-URI"))
    odd = [u for u in urls if u.startswith("hard::")]
    assert len(odd) >= 10
    reasons, _ = _run(full, urls + ["hard::cheap-cialis-deals.html", "http://[::1", "", None])
    assert reasons[-4:] == [schema.URL_BANNED_WORD, None, None, None]
    assert all(reasons[urls.index(u)] in (None, schema.URL_CURATED_SOURCE) for u in odd)
    assert parse_url("hard::blog.python.org.html") == (None, "")


def test_parse_url_and_suffixes():
    assert parse_url("HTTPS://User@WWW.Example.COM:8080/A/b?Q=1#frag") == ("www.example.com", "/a/b?q=1")
    assert list(domain_suffixes("a.b.example.com")) == ["a.b.example.com", "b.example.com", "example.com", "com"]
    assert list(domain_suffixes("192.168.0.1")) == ["192.168.0.1"]


def test_missing_lists_name_the_path(tmp_path):
    missing = str(tmp_path / "nope.list")
    with pytest.raises(ConfigError, match="nope.list"):
        UrlFilterConfig(blocklist_paths=(missing,))
    with pytest.raises(ConfigError, match="banned_words_path.*nope.list"):
        UrlFilterConfig(banned_words_path=missing)
    with pytest.raises(ConfigError, match="soft_word_threshold"):
        UrlFilterConfig(soft_word_threshold=0)
    with pytest.raises(ConfigError, match="nope"):
        from_dict(UrlFilterConfig, {"nope": 1})
    cfg = from_dict(UrlFilterConfig, {"blocklist_categories": ["adult", "gambling"], "exclude_curated": False})
    assert cfg.blocklist_categories == ("adult", "gambling") and not cfg.exclude_curated


def test_default_lists_and_output_columns():
    flt = UrlFilter(UrlFilterConfig())
    reasons, out = _run(flt, ["https://example.com/news/2024/budget", "https://example.com/xxx/gallery", "http://hot-babes.example.com/"])
    assert reasons == [None, schema.URL_BANNED_WORD, schema.URL_SOFT_BANNED_WORDS]
    assert out.column(schema.ID).to_pylist() == ["0", "1", "2"]
    assert out.schema.field(schema.URL_SOFT_WORDS).type == pa.int32()


def test_scheme_and_www_are_not_scored(tmp_path):
    subwords = tmp_path / "subwords.txt"
    subwords.write_text("sexam\nwwwporn\n")
    flt = UrlFilter(UrlFilterConfig(banned_subwords_path=str(subwords)))
    reasons, _ = _run(flt, ["https://exam.example.com/", "http://www.pornography-research.example/", "http://sexam.example/"])
    assert reasons == [None, None, schema.URL_BANNED_SUBWORD]


def test_config_round_trips_through_a_mapping():
    assert from_dict(UrlFilterConfig, to_dict(UrlFilterConfig())) == UrlFilterConfig()
