"""`refinedweb inspect` on the real pages-A run: the documents printed really carry the reason asked for."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq

from refinedweb import schema
from refinedweb.cli import main
from refinedweb.core.output import read_rejected
from refinedweb.report.inspect import format_docs, text_preview


def _printed_ids(text: str) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("id: ")]


def test_inspect_prints_sampled_documents_of_the_reason(pages_a_run, capsys):
    out, stats, _ = pages_a_run
    sample = read_rejected(out)
    for st in stats["stages"]:
        for reason, n in st["dropped"].items():
            assert main(["inspect", str(out), "--reason", reason, "--n", "3"]) == 0
            printed = capsys.readouterr().out
            ids = _printed_ids(printed)
            carrying = sample.filter(pc.equal(sample[schema.DROP_REASON], reason))
            assert len(ids) == min(3, n) and set(ids) <= set(carrying[schema.ID].to_pylist()), reason
            assert f"stage:   {st['name']}   reason: {reason}" in printed
    assert main(["inspect", str(out), "--reason", schema.LANGUAGE_NOT_TARGET, "--n", "5"]) == 0
    printed = capsys.readouterr().out
    signals = {i: json.loads(s) for i, s in zip(sample[schema.ID].to_pylist(), sample["signals"].to_pylist())}
    langs = [signals[i][schema.LANGUAGE] for i in _printed_ids(printed)]
    assert len(langs) == 5 and "en" not in langs
    assert all(f"language={lang}" in printed for lang in langs)


def test_inspect_kept_prints_documents_of_the_corpus(pages_a_run, capsys):
    out, _, _ = pages_a_run
    assert main(["inspect", str(out), "--kept", "--n", "4"]) == 0
    ids = _printed_ids(capsys.readouterr().out)
    corpus = set(pq.read_table(out / "data", columns=[schema.ID])[schema.ID].to_pylist())
    assert len(ids) == 4 and set(ids) <= corpus
    assert main(["inspect", str(out), "--kept", "--n", "4"]) == 0
    assert _printed_ids(capsys.readouterr().out) == ids  # the same sample every time


def test_unknown_reason_lists_the_known_ones(pages_a_run, capsys):
    out, stats, _ = pages_a_run
    assert main(["inspect", str(out), "--reason", "gopher_too_few_stopwords"]) == 2
    err = capsys.readouterr().err
    assert "gopher_too_few_stopwords" in err and len(err.strip().splitlines()) == 1
    for st in stats["stages"]:
        for reason, n in st["dropped"].items():
            assert f"{reason} ({n})" in err
    assert main(["inspect", str(out)]) == 2  # neither --reason nor --kept


HOSTILE = "Title\x1b[2J\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ bell\x07 back\x08 cr\r nul\x00 c1\x9b2J del\x7f\n\tindented"


def test_text_preview_strips_terminal_control_sequences():
    shown = text_preview(HOSTILE)
    assert shown == "Titlered  link bell back cr nul c1 del\n\tindented"
    assert not any(c in shown for c in "\x1b\x07\x08\r\x00\x9b\x7f")


def test_format_docs_strips_control_sequences_from_every_field():
    doc = {schema.ID: "<urn:x>\x1b[2J", schema.URL: "http://a.example/\x1b]0;t\x07", schema.TEXT: HOSTILE,
           "stage": "gopher\x1b[1m", schema.DROP_REASON: "r\x07", "signals": {"title": "\x1b[5mblink"}}
    printed = format_docs([doc], "hostile\x1b[H")
    assert "\x1b" not in printed and "\x07" not in printed and "\r" not in printed
    assert "url:     http://a.example/\n" in printed and "title=blink" in printed and "\tindented" in printed
