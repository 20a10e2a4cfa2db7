"""pipeline/fast_xpaths.py: each matcher selects exactly what trafilatura's XPath selects."""

from __future__ import annotations

import collections
import re

import pytest
import trafilatura
import trafilatura.utils
import trafilatura.xpaths as xpaths
from lxml import etree, html
from trafilatura.deduplication import LRUCache
from trafilatura.settings import LRU_SIZE

from refinedweb.pipeline import fast_xpaths
from refinedweb.pipeline.extract import ExtractConfig
from refinedweb.pipeline.warc import FileStats, ReaderConfig, read_file

EDGE_CASES = """<html><head><title>t</title></head><body>
<div class="cookie" id="main">class first, cookie in class</div>
<div id="main" class="cookie">id first, cookie in class only</div>
<div id="cookie-bar" class="x">cookie in id</div>
<span role="Navigation">role with N</span><p role="navigation">nav</p><p role="main">main</p>
<section data-component="MostPopularStories">popular</section><div data-lp-replacement-content="">lp</div>
<div id="" class="">empty attributes</div><div class="ad-slot">ad-</div><div class="x ad-slot">ad- second</div>
<div class=" ad ">spaced ad</div><div class="Footer">footer</div><div id="share-box">share</div>
<p class="comments-title">ct</p><a id="reply-1" class="y">reply by id</a><a class="reply-2" id="z">reply by class</a>
<a class="z" id="reply-3">id after class</a><b id="x" style="a hidden b">hidden in id? no, style second</b>
<b style="hidden" id="x">style first</b><i style="display:none">none</i><i style="display: none">none2</i>
<i aria-hidden="true">ah</i><i aria-hidden="false">ah false</i><u class="sr hide-print">hide-print</u>
<div id="comments">c</div><div class="Comment-list">C</div><div class="commentary">not a comment</div>
<ul class="comment-list"><li>l</li></ul><ol id="disqus_thread"><li>d</li></ol><ol id="comment-7"><li>c</li></ol>
<details class="post-comments">pc</details><list id="comol">l</list>
<div id="infinite-scroll"><h1>title</h1></div><div class="infinitescroll">no h1</div>
<aside class="mvp-post-add-box"><h1>kept? no: own class</h1></aside><section id="mvp-post-add-wrap">w</section>
<div class="elementor-share-buttons">esb</div><aside class="x elementor-share-buttons-y">esb2</aside>
<div class="page bottom">bottom</div><div id="bottom-bar" class="link">bottom first</div>
<div class="link" id="bottom-bar">link first</div><div class="permalink">not link</div><p style="border:1px">b</p>
<div id="Teaser">T</div><p class="big-teaser">t</p><span id="fig-caption">cap</span><span class="Caption">no</span>
<div class="x"><div class="navbar"><p class="meta">nested</p></div></div>
<!-- a comment --><?pi x?>
</body></html>"""


def _real_pages(shared_data, limit: int = 80) -> list[str]:
    files = [shared_data / "pages" / "pages-A.warc.gz", *sorted((shared_data / "dev" / "warc").glob("*.warc*"))]
    pages = []
    for path in files:
        if path.exists() and not path.name.endswith((".wat.gz", ".wet.gz")):
            for table in read_file(str(path), ReaderConfig(), FileStats(path=str(path))):
                pages += [h for h in table.column("html").to_pylist() if h]
    return pages[:limit] + pages[-limit:]


@pytest.fixture
def stock():
    """trafilatura as shipped before and after the test, whatever the test installs or swaps."""
    fast_xpaths.uninstall()
    lists = {name: list(getattr(xpaths, name)) for name, _ in fast_xpaths.EXPECTED}
    yield
    for name, exprs in lists.items():
        getattr(xpaths, name)[:] = exprs
    fast_xpaths.uninstall()


def test_every_matcher_is_written_for_the_installed_trafilatura(stock):
    swapped = fast_xpaths.install()
    assert swapped == [f"{name}[{i}]" for name, i in fast_xpaths.EXPECTED] + ["HTML_PARSER class lookup"]
    assert fast_xpaths.install() == swapped  # installing twice changes nothing


def test_a_changed_expression_keeps_trafilaturas_xpath(stock):
    changed = etree.XPath(".//*[self::div][contains(@class, 'caption')]")
    xpaths.DISCARD_IMAGE_ELEMENTS[0] = changed
    assert "DISCARD_IMAGE_ELEMENTS[0]" not in fast_xpaths.install()
    assert xpaths.DISCARD_IMAGE_ELEMENTS[0] is changed


@pytest.mark.parametrize("key", list(fast_xpaths.EXPECTED), ids=lambda k: f"{k[0]}[{k[1]}]")
def test_matcher_selects_what_the_xpath_selects_on_edge_cases(stock, key):
    name, index = key
    xpath = getattr(xpaths, name)[index]
    match = fast_xpaths.EXPECTED[key][1](xpath.path)
    tree = html.fromstring(EDGE_CASES)
    expected = xpath(tree)
    assert [id(e) for e in match(tree)] == [id(e) for e in expected]
    for element in tree.iter(etree.Element):  # each element as a subtree root too
        assert match(element) == xpath(element)


def test_edge_cases_select_something_for_every_matcher(stock):
    """The edge cases exercise every expression (a matcher that selects nothing would pass the test above)."""
    tree = html.fromstring(EDGE_CASES)
    for name, index in fast_xpaths.EXPECTED:
        assert getattr(xpaths, name)[index](tree), f"{name}[{index}] selects nothing on the edge cases"


def test_attribute_source_order_decides_at_id_or_class():
    both = html.fromstring('<div><p class="cookie" id="a">x</p><p id="a" class="cookie">y</p></div>')
    first, second = both
    assert fast_xpaths._first(first, "id", "a", "class", "cookie") == "cookie"
    assert fast_xpaths._first(second, "id", "a", "class", "cookie") == "a"
    assert etree.XPath("string(@id|@class)")(first) == "cookie"
    assert etree.XPath("string(@id|@class)")(second) == "a"


def test_a_search_remembers_answers_and_starts_afresh_when_full(monkeypatch):
    monkeypatch.setattr(fast_xpaths, "_MAX_SEEN", 2)
    search = fast_xpaths._Search(re.compile("nav|menu", re.IGNORECASE))
    values = ["main-nav", "content", "MENU", "content", "footer", "main-nav", None, ""]
    assert [search(v) for v in values] == [True, False, True, False, False, True, False, False]
    assert len(search.seen) <= 2  # bounded: cleared once it held _MAX_SEEN answers
    assert fast_xpaths._Search(re.compile("^$|x"))(None) is True  # an absent attribute is ''


class _Checked:
    """Evaluates trafilatura's XPath and the matcher on the very trees trafilatura passes; counts mismatches."""

    def __init__(self, name: str, xpath: etree.XPath, match, tally: collections.Counter) -> None:
        self.name, self.xpath, self.match, self.tally = name, xpath, match, tally
        self.path = xpath.path

    def __call__(self, tree):
        expected = self.xpath(tree)
        got = self.match(tree)
        self.tally[self.name, "calls"] += 1
        self.tally[self.name, "selected"] += len(expected)
        if len(got) != len(expected) or any(a is not b for a, b in zip(got, expected)):
            self.tally[self.name, "mismatches"] += 1
        return expected


def _extract_all(pages: list[str]) -> list[str | None]:
    options = ExtractConfig().trafilatura_options()
    return [trafilatura.extract(p, **{**options, "deduplicate": LRUCache(maxsize=LRU_SIZE)}) for p in pages]


def test_matchers_agree_on_every_tree_trafilatura_prunes_on_real_pages(stock, shared_data):
    pages = _real_pages(shared_data)
    tally: collections.Counter = collections.Counter()
    for (name, index), (_, factory) in fast_xpaths.EXPECTED.items():
        xpath = getattr(xpaths, name)[index]
        getattr(xpaths, name)[index] = _Checked(f"{name}[{index}]", xpath, factory(xpath.path), tally)
    _extract_all(pages)
    names = [f"{name}[{index}]" for name, index in fast_xpaths.EXPECTED]
    assert {n: tally[n, "mismatches"] for n in names} == dict.fromkeys(names, 0)
    assert all(tally[n, "calls"] > 0 for n in names)
    assert sum(tally[n, "selected"] for n in names) > 1000  # the pages exercise them for real


def test_extracted_text_is_identical_with_the_matchers_installed(stock, shared_data):
    pages = _real_pages(shared_data, limit=40)
    before = _extract_all(pages)
    fast_xpaths.install()
    after = _extract_all(pages)
    assert sum(1 for t in before if t) > 20
    assert after == before


def test_the_c_lookup_gives_lxml_htmls_element_classes(stock):
    doc = '<html><body><form><input name="a"><select></select><textarea></textarea><label>l</label></form><!--c--></body></html>'
    stock_classes = [type(e) for e in trafilatura.utils.load_html(doc).iter()]
    fast_xpaths.install()
    fast_classes = [type(e) for e in trafilatura.utils.load_html(doc).iter()]
    assert fast_classes == stock_classes
    assert html.FormElement in fast_classes and html.InputElement in fast_classes
    assert fast_classes[0] is html.HtmlElement
