"""``OUT/report.html``: one self-contained page (PNGs as data URIs, inline CSS, no script, no network).

What a user deciding thresholds needs on one page: the funnel chart (RefinedWeb Fig. 2's picture for
this run) and its numbers, the drop reasons of each stage, the histogram of every threshold signal
with the threshold drawn, and for every reason a few sampled rejected documents to judge the rule by.
Also writes ``OUT/funnel.png``. Everything comes from stats.json, config.json and the rejected sample.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.core.storage import Remote, StoragePath, location
from refinedweb.core.output import read_rejected
from refinedweb.report import charts
from refinedweb.report.funnel import Run, funnel_rows, language_rows
from refinedweb.report.inspect import format_signals, text_preview

REPORT_FILE, FUNNEL_PNG = "report.html", "funnel.png"
DOCS_PER_REASON = 3
PREVIEW_CHARS = 500

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1300px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { border-bottom: 2px solid #1f5f8b; padding-bottom: 4px; margin-top: 36px; }
h3 { margin: 22px 0 6px; } .meta { color: #555; font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; } th { background: #eef3f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
.doc { border: 1px solid #ddd; border-left: 4px solid #f2a65a; padding: 6px 10px; margin: 8px 0; background: #fcfcfc; }
.doc .url { font-family: monospace; font-size: 12px; word-break: break-all; }
.doc .signals { color: #666; font-size: 11px; font-family: monospace; word-break: break-all; margin: 4px 0; }
.doc pre { white-space: pre-wrap; word-break: break-word; font-size: 12px; margin: 4px 0; max-height: 14em; overflow: hidden; }
.note { color: #666; font-size: 13px; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{html.escape(alt)}">'


def _funnel_table(run: Run) -> str:
    """The numeric funnel: every counter of stats.json per stage, and the shares derived from them."""
    head = ("stage", "docs in", "docs out", "dropped", "kept of stage", "kept of input", "chars in", "chars out", "chars kept", "seconds")
    out = ['<table id="funnel"><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in funnel_rows(run.stats):
        cells = [f"{r['docs_in']:,}", f"{r['docs_out']:,}", f"{r['docs_dropped']:,}", f"{r['kept_of_stage']:.1%}",
                 f"{r['kept_of_input']:.1%}", f"{r['chars_in']:,}", f"{r['chars_out']:,}", f"{r['chars_kept_of_stage']:.1%}",
                 f"{r['seconds']:.1f}"]  # fmt: skip
        out.append(f"<tr><td>{html.escape(r['name'])}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _languages_section(run: Run) -> str:
    """RefinedWeb-Europe: documents out of each stage per language, beside the total (empty for one language)."""
    names, rows = language_rows(run.stats)
    if not rows:
        return ""
    head = ["language", *names, "kept of language ID", "chars written"]
    out = ['<h2 id="languages">Funnel per language</h2>',
           '<table id="languages-table"><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    totals = [st["docs_out"] for st in run.stats["stages"] if st.get("languages")]
    for r in rows + [{"language": "total", "docs_out": totals, "kept": totals[-1] / (totals[0] or 1),
                      "chars_written": run.stats["stages"][-1]["chars_out"]}]:
        cells = [f"{n:,}" for n in r["docs_out"]] + [f"{r['kept']:.1%}", f"{r['chars_written']:,}"]
        out.append(f"<tr><td>{html.escape(r['language'])}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _reasons_table(run: Run) -> str:
    out = ['<table id="reasons"><tr><th>stage</th><th>drop reason</th><th>documents</th><th>of the stage</th><th>of the input</th></tr>']
    total = run.stats["records_read"]
    for st in run.stages:
        for reason, n in st["dropped"].items():
            out.append(
                f"<tr><td>{html.escape(st['name'])}</td><td>{html.escape(reason)}</td><td class=\"num\">{n:,}</td>"
                f'<td class="num">{n / st["docs_in"]:.1%}</td><td class="num">{n / total:.1%}</td></tr>'
            )
    out.append("</table>")
    return "\n".join(out)


def _doc_html(row: dict[str, Any]) -> str:
    signals = format_signals(json.loads(row["signals"] or "{}"))
    return (
        f'<div class="doc"><div class="url">{html.escape(str(row[schema.URL]))}</div>'
        f'<div class="signals">id {html.escape(str(row[schema.ID]))} · {html.escape(signals)}</div>'
        f"<pre>{html.escape(text_preview(row[schema.TEXT], PREVIEW_CHARS))}</pre></div>"
    )


def _samples_section(run: Run) -> str:
    """For every drop reason, the first ``DOCS_PER_REASON`` documents of the run's uniform sample."""
    sample = read_rejected(run.path)
    parts = ["<h2 id=\"samples\">Sampled rejected documents</h2>",
             f'<p class="note">{DOCS_PER_REASON} per reason from the run\'s uniform sample (the same documents in every run '
             "over the same input); <code>refinedweb inspect OUT --reason R --n N</code> prints more.</p>"]  # fmt: skip
    for st in run.stages:
        for reason, n in st["dropped"].items():
            rows = sample.filter(pc.equal(sample.column(schema.DROP_REASON), reason)).sort_by("key").slice(0, DOCS_PER_REASON)
            parts.append(f'<h3 id="reason-{html.escape(reason)}">{html.escape(st["name"])} · {html.escape(reason)} ({n:,} dropped)</h3>')
            if len(rows) == 0:
                parts.append('<p class="note">no sampled documents (output.rejected_per_reason was 0)</p>')
            parts.extend(_doc_html(r) for r in rows.to_pylist())
    return "\n".join(parts)


def _stage_sections(run: Run) -> str:
    """Per stage: its drop-reason chart and its signal histograms with the thresholds."""
    parts = []
    for st in run.stages:
        if not st["dropped"] and not st.get("histograms"):
            continue
        parts.append(f'<h3 id="stage-{html.escape(st["name"])}">{html.escape(st["name"])}</h3>')
        if st["dropped"]:
            parts.append(_img(charts.reasons_figure(st), f"drop reasons of {st['name']}"))
        if st.get("histograms"):
            note = "" if run.config else " (no config.json in this run: thresholds not drawn)"
            parts.append(f'<p class="note">Signals over the {st["docs_in"]:,} documents entering {html.escape(st["name"])}, '
                         f"kept and dropped, on a log count axis; dashed red: the run's threshold, shaded: the side it "
                         f"drops{note}. Values beyond an axis are counted in its end bin.</p>")  # fmt: skip
            parts.append(_img(charts.histograms_figure(run, st), f"signal histograms of {st['name']}"))
    return "\n".join(parts)


def render(run: Run, funnel_png: bytes) -> str:
    """The whole page as a string."""
    s = run.stats
    wall = f", {s['wall_seconds']:.1f} s" if "wall_seconds" in s else ""
    stage_names = " → ".join(html.escape(st["name"]) for st in run.stages)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>refinedweb report</title>',
            f"<style>{CSS}</style></head><body>",
            f"<h1>refinedweb run: {html.escape(str(run.path))}</h1>",
            f'<p class="meta">{s["records_read"]:,} records read, {s["docs_written"]:,} documents written '
            f'({s["docs_written"] / (s["records_read"] or 1):.1%}) from {len(s.get("files", []))} input file(s){wall}. '
            f"Stages: {stage_names}.</p>",
            '<h2 id="funnel-chart">Funnel</h2>',
            _img(funnel_png, "funnel: share of documents and characters kept after each stage"),
            _funnel_table(run),
            _languages_section(run),
            '<h2 id="reasons-chart">Drop reasons and signals per stage</h2>',
            _reasons_table(run),
            _stage_sections(run),
            _samples_section(run),
            "</body></html>",
        ]
    )


def write_report(out: str | StoragePath) -> StoragePath:
    """Write ``OUT/report.html`` and ``OUT/funnel.png`` from the run in ``out``; return the report's path."""
    run = Run.load(out)
    funnel = charts.funnel_figure(run)
    root = location(out)
    for name, data in ((FUNNEL_PNG, funnel), (REPORT_FILE, render(run, funnel).encode("utf-8"))):
        if isinstance(root, Remote):  # one upload: the key is whole or absent
            (root / name).write_bytes(data)
            continue
        tmp = root / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(root / name)
    return root / REPORT_FILE
