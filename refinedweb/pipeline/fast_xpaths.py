"""trafilatura's costliest pruning XPaths as Python matchers that select the same elements, faster.

trafilatura 2.3 prunes boilerplate with XPaths whose ``re:test`` (EXSLT regular expressions) lxml
answers by calling back into Python once per candidate element and test: on Common-Crawl-like
pages those callbacks were half of trafilatura's time (bench/pipeline.py profile, issue 17). Each
matcher here walks the same elements (``.//*`` restricted to the same tag names, in document
order), reads each attribute once, and applies the same tests with the same regular expressions
(Python's ``re``, which is what lxml's ``re:test`` runs), so it returns the same list as the XPath.

The XPath semantics kept exactly:

- an absent attribute is the empty string (``contains(@id, 'x')`` is false, ``re:test(@id, p)`` is
  ``p`` searched in ``''``);
- ``re:test(@id|@class, p)`` tests the first of the two attributes in the element's source order
  (the node-set's first node in document order, which is what lxml converts to a string);
- ``translate(@role, 'N', 'n')`` is ``str.replace``.

A matcher replaces an XPath only when the installed trafilatura's expression is, character for
character up to whitespace, the one it was written for (``EXPECTED``); any other version keeps its
own XPaths. tests/pipeline/test_fast_xpaths.py checks every matcher against its XPath on the
real pages and on edge cases, and the refined output before and after is compared by
bench/compare_outputs.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

_BLOCKS = ("div", "item", "list", "p", "section", "span")


def _first(el: Any, a: str, va: str | None, b: str, vb: str | None) -> str:
    """String value of ``@a|@b`` given both values: the one that comes first in the element's source."""
    if va is None:
        return vb if vb is not None else ""
    if vb is None:
        return va
    for key in el.keys():
        if key == a:
            return va
        if key == b:
            return vb
    return va  # not reached: both are keys


def _patterns(path: str) -> list[re.Pattern]:
    """The regular expressions of an XPath's ``re:test`` calls, in order, compiled as lxml does."""
    found = re.findall(r"re:test\(@[\w|@-]+, '([^']*)'(?:, '([^']*)')?\)", path)
    return [re.compile(p, re.IGNORECASE if "i" in flags else 0) for p, flags in found]


_MAX_SEEN = 50_000  # answers remembered per test; beyond, the memo starts afresh (bounded memory)


class _Search:
    """``re:test(value, pattern)`` with an absent attribute read as '', each distinct value searched once.

    Class and id values repeat within a page and across a site's pages (``class="item"`` on every
    list entry), so most tests are a dict lookup instead of a regular-expression search.
    """

    __slots__ = ("search", "on_empty", "seen")

    def __init__(self, rx: re.Pattern) -> None:
        self.search = rx.search
        self.on_empty = rx.search("") is not None
        self.seen: dict[str, bool] = {}

    def __call__(self, value: str | None) -> bool:
        if not value:
            return self.on_empty
        hit = self.seen.get(value)
        if hit is None:
            if len(self.seen) >= _MAX_SEEN:
                self.seen.clear()
            hit = self.seen[value] = self.search(value) is not None
        return hit


def overall_discard_0(path: str) -> Callable:
    """OVERALL_DISCARD_XPATH[0]: boilerplate blocks named by id, class, role or data-component."""
    cookie, by_id, by_class = map(_Search, _patterns(path))
    bare = cookie.on_empty or by_id.on_empty or by_class.on_empty  # the three tests with no id and no class

    def match(tree: Any) -> list:
        out = []
        for el in tree.iterdescendants(*_BLOCKS):
            get = el.get
            ident, cls, role, comp = get("id"), get("class"), get("role"), get("data-component")
            if (get("data-lp-replacement-content") is not None
                    or (role is not None and "nav" in role.replace("N", "n"))
                    or (comp is not None and "MostPopularStories" in comp)):
                out.append(el)
            elif ident is None and cls is None:  # most blocks: the answer is the same for all of them
                if bare:
                    out.append(el)
            elif cookie(_first(el, "id", ident, "class", cls)) or by_id(ident) or by_class(cls):
                out.append(el)
        return out

    return match


def overall_discard_1(path: str) -> Callable:
    """OVERALL_DISCARD_XPATH[1]: hidden elements and comment/reply chrome, on every element."""
    hidden, by_id, by_class = map(_Search, _patterns(path))
    # Every test needs one of these attributes, so the walk can skip the other elements in C.
    walk = etree.XPath(".//*[@id or @class or @style or @aria-hidden]")
    if hidden.on_empty or by_id.on_empty or by_class.on_empty:
        walk = etree.XPath(".//*")

    def match(tree: Any) -> list:
        out = []
        for el in walk(tree):
            get = el.get
            ident, cls, style = get("id"), get("class"), get("style")
            if (cls == "comments-title"
                    or _first(el, "id", ident, "class", cls).startswith("reply-")
                    or hidden(_first(el, "id", ident, "style", style))
                    or (style is not None and ("display:none" in style or "display: none" in style))
                    or by_id(ident)
                    or by_class(cls)
                    or get("aria-hidden") == "true"):
                out.append(el)
        return out

    return match


def _comments(path: str, tags: tuple[str, ...], lists: bool) -> Callable:
    """REMOVE_COMMENTS_XPATH / REMOVE_COMMENTS_AND_LISTS_XPATH: comment sections (and comment lists)."""
    rx = list(map(_Search, _patterns(path)))
    by_id, by_class = rx[0], rx[1]

    def match(tree: Any) -> list:
        out = []
        for el in tree.iterdescendants(*tags):
            ident, cls = el.get("id"), el.get("class")
            if not (by_id(ident) or by_class(cls)):
                continue
            if lists and el.tag in ("ol", "ul") and not (rx[2](ident) or rx[3](cls)):
                continue
            out.append(el)
        return out

    return match


def remove_comments(path: str) -> Callable:
    """REMOVE_COMMENTS_XPATH[0]."""
    return _comments(path, ("div", "list", "section", "details"), lists=False)


def remove_comments_and_lists(path: str) -> Callable:
    """REMOVE_COMMENTS_AND_LISTS_XPATH[0]: the same, plus ol/ul whose own id/class names comments."""
    return _comments(path, ("div", "list", "section", "details", "ol", "ul"), lists=True)


def raw_tree_prune_0(path: str) -> Callable:
    """RAW_TREE_PRUNE_XPATH[0]: infinite-scroll containers (kept when they hold the page's h1)."""
    any_id, any_class, own_id, own_class = map(_Search, _patterns(path))

    def match(tree: Any) -> list:
        out = []
        for el in tree.iterdescendants("div", "section", "aside"):
            ident, cls = el.get("id"), el.get("class")
            if not (any_id(ident) or any_class(cls)):
                continue
            if next(el.iterdescendants("h1"), None) is None or own_id(ident) or own_class(cls):
                out.append(el)
        return out

    return match


def _contains(tags: tuple[str, ...], tests: tuple[tuple[str, str, str | None], ...]) -> Callable:
    """``.//*[tags][contains(translate(@attr, a, b), literal) or ...]``; ``tests`` holds (attr, literal, a+b)."""

    def match(tree: Any) -> list:
        out = []
        for el in tree.iterdescendants(*tags):
            for attr, literal, swap in tests:
                value = el.get(attr)
                if value is None:
                    continue
                if swap is not None:
                    value = value.replace(swap[0], swap[1])
                if literal in value:
                    out.append(el)
                    break
        return out

    return match


def raw_tree_prune_1(path: str) -> Callable:
    """RAW_TREE_PRUNE_XPATH[1]: Elementor share buttons."""
    return _contains(("div", "section", "aside"), (("class", "elementor-share-buttons", None),))


def precision_discard_1(path: str) -> Callable:
    """PRECISION_DISCARD_XPATH[1]: blocks whose first of id/class names a bottom bar or a link."""
    bottom, link = map(_Search, _patterns(path))

    def match(tree: Any) -> list:
        out = []
        for el in tree.iterdescendants(*_BLOCKS):
            first = _first(el, "id", el.get("id"), "class", el.get("class"))
            style = el.get("style")
            if bottom(first) or link(first) or (style is not None and "border" in style):
                out.append(el)
        return out

    return match


def teaser_discard(path: str) -> Callable:
    """TEASER_DISCARD_XPATH[0]."""
    return _contains(_BLOCKS, (("id", "teaser", "Tt"), ("class", "teaser", "Tt")))


def discard_image_elements(path: str) -> Callable:
    """DISCARD_IMAGE_ELEMENTS[0]: captions."""
    return _contains(_BLOCKS, (("id", "caption", None), ("class", "caption", None)))


def _norm(path: str) -> str:
    return " ".join(path.split())


_BLOCK_TEST = "self::div or self::item or self::list or self::p or self::section or self::span"
_COMMENT_ID = "^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)"
_COMMENT_CLASS = "^[Cc]omment(?!ary)|(?:article|post)-comments"

# (list name in trafilatura.xpaths, index) -> (the XPath it replaces, whitespace-normalised; matcher factory)
EXPECTED: dict[tuple[str, int], tuple[str, Callable[[str], Callable]]] = {
    ("OVERALL_DISCARD_XPATH", 0): (
        f".//*[{_BLOCK_TEST}][ @data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
        "contains(@data-component, 'MostPopularStories') or re:test(@id|@class, 'cookie') or "
        "re:test(@id, '^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
        "^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|premium|^ad-') or "
        "re:test(@class, '^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
        "^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|dfp[Aa]d|outbrain|"
        "taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|sociable|embedded|embed|tag-list|consent|"
        "modal-content|permission|elated|next-|-stories|most-popular|more-on|meta|rating|attachment|timestamp|user-info|"
        "user-profile|-icon|article-infos|message-container|slide|viewport|overlay|options|expand|obfuscated|blurred|"
        "mol-factbox|yin|zlylin|nfoline')]",
        overall_discard_0,
    ),
    ("OVERALL_DISCARD_XPATH", 1): (
        ".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or re:test(@id|@style, 'hidden') or "
        "contains(@style, 'display:none') or contains(@style, 'display: none') or "
        "re:test(@id, 'reader-comments|akismet') or re:test(@class, '^hide-|comments-title|nocomments|-reply-|message|"
        "akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint|notloaded') or @aria-hidden='true']",
        overall_discard_1,
    ),
    ("REMOVE_COMMENTS_XPATH", 0): (
        f".//*[self::div or self::list or self::section or self::details][ re:test(@id, '{_COMMENT_ID}') or "
        f"re:test(@class, '{_COMMENT_CLASS}')]",
        remove_comments,
    ),
    ("REMOVE_COMMENTS_AND_LISTS_XPATH", 0): (
        ".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ "
        f"re:test(@id, '{_COMMENT_ID}') or re:test(@class, '{_COMMENT_CLASS}')][ not(self::ol or self::ul) or "
        f"re:test(@id, '^(?:[Cc]omment(?!ary)|comol)') or re:test(@class, '{_COMMENT_CLASS}')]",
        remove_comments_and_lists,
    ),
    ("RAW_TREE_PRUNE_XPATH", 0): (
        ".//*[self::div or self::section or self::aside][ re:test(@id, 'mvp-post-add-(?:box|wrap)|infinite-?scroll') or "
        "re:test(@class, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')][ not(.//h1) or "
        "re:test(@id, 'mvp-post-add-(?:box|wrap)') or re:test(@class, 'mvp-post-add-(?:box|wrap)')]",
        raw_tree_prune_0,
    ),
    ("RAW_TREE_PRUNE_XPATH", 1): (
        ".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]",
        raw_tree_prune_1,
    ),
    ("PRECISION_DISCARD_XPATH", 1): (
        f".//*[{_BLOCK_TEST}][ re:test(@id|@class, '(^|\\s)bottom|bottom(\\s|$)') or "
        "re:test(@id|@class, '(^|\\s)link(\\s|$)') or contains(@style, 'border')]",
        precision_discard_1,
    ),
    ("TEASER_DISCARD_XPATH", 0): (
        f".//*[{_BLOCK_TEST}][ contains(translate(@id, 'T', 't'), 'teaser') or "
        "contains(translate(@class, 'T', 't'), 'teaser')]",
        teaser_discard,
    ),
    ("DISCARD_IMAGE_ELEMENTS", 0): (
        f".//*[{_BLOCK_TEST}][ contains(@id, 'caption') or contains(@class, 'caption')]",
        discard_image_elements,
    ),
}


class FastXPath:
    """A matcher standing in for one trafilatura XPath; anything but an element goes to the XPath."""

    def __init__(self, xpath: etree.XPath, match: Callable) -> None:
        self.xpath = xpath
        self.path = xpath.path
        self.match = match

    def __call__(self, tree: Any, **variables: Any) -> list:
        if variables or not isinstance(tree, etree._Element):
            return self.xpath(tree, **variables)
        return self.match(tree)


def install() -> list[str]:
    """Swap the matchers into trafilatura's XPath lists in place; the names of those swapped in.

    The lists are mutated rather than rebound because trafilatura's modules import them by name.
    An expression that differs from ``EXPECTED`` (another trafilatura) keeps its XPath."""
    import trafilatura.utils
    import trafilatura.xpaths as xpaths
    from lxml import html

    done = []
    for (name, index), (expected, factory) in EXPECTED.items():
        exprs = getattr(xpaths, name, None)
        if not isinstance(exprs, list) or index >= len(exprs):
            continue
        current = exprs[index]
        if isinstance(current, FastXPath):
            done.append(f"{name}[{index}]")
            continue
        if not isinstance(current, etree.XPath) or _norm(current.path) != expected:
            continue
        exprs[index] = FastXPath(current, factory(current.path))
        done.append(f"{name}[{index}]")
    parser = getattr(trafilatura.utils, "HTML_PARSER", None)
    if isinstance(parser, etree.HTMLParser) and isinstance(parser.makeelement("p"), html.HtmlElement):
        parser.set_element_class_lookup(html_class_lookup())
        done.append("HTML_PARSER class lookup")
    return done


def html_class_lookup() -> etree.ElementNamespaceClassLookup:
    """lxml.html's element classes chosen in C: ``HtmlElementClassLookup`` asks Python per element.

    The classes are the same (HtmlElement; FormElement, InputElement, ... for their tags; the HTML
    comment, PI and entity classes): lxml.html's lookup is a Python method called each time an
    element's proxy is made, a million times on 623 CC-like pages (about a tenth of trafilatura's
    time). The HTML parser lower-cases tag names, which is the case lxml.html's lookup folds to."""
    from lxml import html

    fallback = etree.ElementDefaultClassLookup(element=html.HtmlElement, comment=html.HtmlComment,
                                               pi=html.HtmlProcessingInstruction, entity=html.HtmlEntity)
    lookup = etree.ElementNamespaceClassLookup(fallback)
    tags = lookup.get_namespace(None)
    for name, cls in html.HtmlElementClassLookup._default_element_classes.items():
        tags[name] = cls
    return lookup


def uninstall() -> None:
    """Put trafilatura's own XPaths and lxml.html's class lookup back (tests compare both ways)."""
    import trafilatura.utils
    import trafilatura.xpaths as xpaths
    from lxml import html

    for name, _ in EXPECTED:
        exprs = getattr(xpaths, name)
        exprs[:] = [e.xpath if isinstance(e, FastXPath) else e for e in exprs]
    trafilatura.utils.HTML_PARSER.set_element_class_lookup(html.HtmlElementClassLookup())
