"""report.html on the real pages-A run: parses, self-contained, names every stage and reason, numbers = stats.json."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pyarrow.compute as pc
import pytest

from refinedweb import schema
from refinedweb.core.output import read_rejected
from refinedweb.report.funnel import Run
from refinedweb.report.html import DOCS_PER_REASON, FUNNEL_PNG, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Collects what the tests check: image sources, other outside references, tables by id, text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.refs: list[str] = []
        self.tags: set[str] = set()
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a.get("src", ""))
        self.refs += [v for k, v in attrs if k in ("href", "src") and tag != "img"]
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _num(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.fixture(scope="module")
def report(pages_a_run):
    out, stats, _ = pages_a_run
    path = write_report(out)
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return out, stats, page


def test_the_page_is_self_contained(report):
    out, _, page = report
    assert page.images, "no charts"
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert not page.refs and "script" not in page.tags and "link" not in page.tags
    assert (out / FUNNEL_PNG).read_bytes().startswith(PNG_MAGIC)


def test_funnel_table_equals_stats_json(report):
    _, stats, page = report
    head, *rows = page.tables["funnel"]
    col = {h: i for i, h in enumerate(head)}
    assert [r[0] for r in rows] == [s["name"] for s in stats["stages"]]
    for row, st in zip(rows, stats["stages"]):
        for key in ("docs_in", "docs_out", "chars_in", "chars_out"):
            assert _num(row[col[key.replace("_", " ")]]) == st[key], (st["name"], key)
        assert _num(row[col["dropped"]]) == sum(st["dropped"].values())
        assert row[col["kept of input"]] == f"{st['docs_out'] / stats['records_read']:.1%}"


def test_every_reason_is_named_with_its_count(report):
    _, stats, page = report
    _, *rows = page.tables["reasons"]
    expected = [(s["name"], r, n) for s in stats["stages"] for r, n in s["dropped"].items()]
    assert [(r[0], r[1], _num(r[2])) for r in rows] == expected
    assert len(expected) >= 5  # pages-A drops for several reasons in several stages
    text = "".join(page.text)
    for st in stats["stages"]:
        assert st["name"] in text


def test_sampled_documents_shown_per_reason(pages_a_run, report):
    out, stats, page = report
    text = "".join(page.text)
    sample = read_rejected(out)
    k = Run.load(out).setting("output.rejected_per_reason")
    for st in stats["stages"]:
        for reason, n in st["dropped"].items():
            rows = sample.filter(pc.equal(sample[schema.DROP_REASON], reason)).sort_by("key")
            assert len(rows) == min(n, k)  # bottom-k over the whole run
            for url in rows[schema.URL].to_pylist()[:DOCS_PER_REASON]:
                assert url in text
            signals = json.loads(rows["signals"][0].as_py())
            assert signals  # every dropped document carries the signals computed before its drop
