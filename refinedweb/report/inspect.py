"""Sampled documents behind the numbers: rejected ones per drop reason, kept ones from the corpus.

Rejected documents come from the run's bounded sample (``OUT/rejected/``, a uniform bottom-k per
reason by a hash of the id, core/executor.py). Kept documents are sampled the same way from the
written shards, reading only the ``id`` column of at most ``MAX_KEPT_SHARDS`` shards, so inspecting a
billion-document corpus reads a few files.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.config import UserError
from refinedweb.core.io import read_table
from refinedweb.core.storage import StoragePath, location
from refinedweb.core.executor import sample_key
from refinedweb.core.output import DATA_DIR, read_rejected
from refinedweb.report.funnel import Run

MAX_KEPT_SHARDS = 16
TEXT_PREVIEW_CHARS = 600
_KEPT_NOT_SIGNALS = {schema.ID, schema.URL, schema.DATE, schema.SOURCE, schema.TEXT}
# Terminal control sequences (ECMA-48): strings (OSC, DCS, SOS, PM, APC) up to BEL or ST, CSI with its
# parameters, other two-byte escapes, both in 7-bit (ESC x) and 8-bit (C1) form; then any C0/C1
# control character left, except newline and tab.
_CONTROL = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def rejected_docs(out: str | StoragePath, reason: str, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` sampled rejected documents of ``reason`` (the same ones every time).

    An unknown reason is a ``UserError`` listing the run's reasons with their counts.
    """
    run = Run.load(out)
    sample = read_rejected(out)
    known = run.reasons()
    for r in sample.column(schema.DROP_REASON).to_pylist():
        known.setdefault(r, 0)
    if reason not in known:
        listed = ", ".join(f"{r} ({c})" for r, c in known.items()) or "none: nothing was dropped"
        raise UserError(f"unknown drop reason {reason!r} in {out}; known: {listed}")
    rows = sample.filter(pc.equal(sample.column(schema.DROP_REASON), reason)).sort_by("key").slice(0, n)
    if len(rows) == 0:
        raise UserError(f"{reason}: no sampled documents in {out}/rejected (was output.rejected_per_reason 0?)")
    return [{**r, "signals": json.loads(r["signals"] or "{}")} for r in rows.drop_columns(["key"]).to_pylist()]


def _kept_shards(out: StoragePath) -> list[StoragePath]:
    """The corpus shards to sample from: all of them, or a fixed pseudo-random ``MAX_KEPT_SHARDS``."""
    shards = sorted((out / DATA_DIR).glob("*.parquet"))
    return sorted(shards, key=lambda p: sample_key(p.name))[:MAX_KEPT_SHARDS]


def kept_docs(out: str | StoragePath, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` kept documents: the smallest id hashes over (a bounded set of) the written shards."""
    root = location(out)
    shards = _kept_shards(root)
    if not shards:
        raise UserError(f"{root / DATA_DIR}: no Parquet shards (is {out} a refinedweb run's output?)")
    keyed = []
    for path in shards:
        for doc_id in read_table(path, columns=[schema.ID]).column(schema.ID).to_pylist():
            keyed.append((sample_key(doc_id or ""), doc_id, path))
    keyed.sort(key=lambda t: t[0])
    chosen = keyed[:n]
    docs = []
    for path in dict.fromkeys(p for _, _, p in chosen):
        ids = [i for _, i, p in chosen if p == path]
        table = read_table(path, filters=pc.field(schema.ID).isin(pa.array(ids, pa.string())))
        docs.extend(table.to_pylist())
    order = {doc_id: k for k, doc_id, _ in chosen}
    docs.sort(key=lambda d: order[d[schema.ID]])
    return [
        {
            **{k: d.get(k) for k in (schema.ID, schema.URL, schema.SOURCE, schema.TEXT)},
            "signals": {k: v for k, v in d.items() if k not in _KEPT_NOT_SIGNALS},
        }
        for d in docs
    ]


def format_signals(signals: dict[str, Any]) -> str:
    """``name=value`` pairs, floats to 3 decimals, nulls left out."""
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in signals.items() if v is not None)


def printable(text: str) -> str:
    """``text`` without terminal control sequences or control characters (newline and tab kept).

    Web text is raw bytes from anyone: an ANSI/OSC escape in a page would otherwise clear the
    reader's screen, retitle the terminal or hide lines when ``inspect`` prints it.
    """
    return _CONTROL.sub("", text)


def text_preview(text: str | None, chars: int = TEXT_PREVIEW_CHARS) -> str:
    """The start of a document's text, made printable; a placeholder where it was dropped before extraction."""
    if text is None:
        return "(no text: dropped before extraction)"
    if not text.strip():
        return "(empty text)"
    return printable(text[:chars]) + (" [...]" if len(text) > chars else "")


def format_docs(docs: list[dict[str, Any]], title: str) -> str:
    """Documents for the terminal: id, url, stage and reason, signals, the start of the text."""
    blocks = []
    for i, d in enumerate(docs, 1):
        head = [f"[{i}/{len(docs)}] {title}"]
        head.append(f"id:      {d[schema.ID]}")
        head.append(f"url:     {d[schema.URL]}")
        if d.get("stage"):
            head.append(f"stage:   {d['stage']}   reason: {d[schema.DROP_REASON]}")
        head.append(f"signals: {format_signals(d['signals'])}")
        body = "\n".join("    " + line for line in text_preview(d.get(schema.TEXT)).splitlines())
        blocks.append(printable("\n".join(head)) + "\ntext:\n" + body)
    return "\n\n".join(blocks)
