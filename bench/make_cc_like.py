"""A Common-Crawl-like benchmark WARC from the real pages in ../shared/data: half English, CC-sized records.

pages-A is about three quarters non-English, which flatters the language screen (most of its pages
skip trafilatura); on Common Crawl about half the documents are English (RefinedWeb Fig. 2) and the
records are smaller. This script resamples the real pages, byte for byte, into a WARC shaped like
Common Crawl on the two axes that set the refinery's cost:

- **language**: each page is labelled by lid.176 on its extracted text (the language stage's own
  label: trafilatura with the pipeline's options, then fastText); ``--english`` of the records
  (default 0.5) are drawn from the English pages, the rest from the others (pages with no text
  included: Common Crawl has them too), so English pages are repeated and others dropped as needed;
- **record size**: each record's target size (its WARC Content-Length) is drawn from a log-normal
  fitted to the genuine Common Crawl ``response`` records in ``../shared/data/dev/warc`` (the
  CC-MAIN-2020-34 and CC-MAIN-2024-22 excerpts: mean and standard deviation of log size), capped
  at 1 MiB like Common Crawl's own payload truncation; the page used is one of the ``--nearest``
  (3) pages of that language group closest in log size, picked at random.

The pool is pages-A plus the modern crawls of dev/warc (the two Common Crawl excerpts and the 2024
wget crawl); the 2008 ClueWeb and Internet Archive excerpts are left out (one host each, a web of
another era). A page used more than once gets a fresh WARC-Record-ID and ``?cc-like-copy=K``
(``&`` when the URL has a query) on its URL, so ids and URLs stay distinct; every other header,
WARC-Identified-Payload-Type included, and the record body are the original's.

    .venv/bin/python bench/make_cc_like.py --output /tmp/cc-like.warc.gz [--records 1200] [--english 0.5]

prints the fitted distribution and what the file holds (records, English share, median size).
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import math
import random
import statistics
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CC_EXCERPTS = ("resiliparse__CC-MAIN-*.warc.gz", "whirlwind__CC-MAIN-*.excerpt.warc.gz")
POOL = ("pages/pages-A.warc.gz", *(f"dev/warc/{g}" for g in CC_EXCERPTS), "dev/warc/dolma__*.warc.gz")
MAX_RECORD_BYTES = 1 << 20  # Common Crawl truncates payloads at 1 MiB (WARC-Truncated: length)
MIN_TEXT_CHARS = 1  # a page with no extracted text has no language label


@dataclass
class Page:
    """One real response record: its WARC headers (name, value), its block, and its language label."""

    headers: list[tuple[str, str]]
    block: bytes
    html: str
    language: str | None = None

    @property
    def size(self) -> int:
        return len(self.block)



def fit_cc_sizes(data: Path) -> tuple[float, float, int]:
    """(mean, standard deviation, count) of log Content-Length over the genuine CC response records."""
    logs = []
    for pattern in CC_EXCERPTS:
        for path in sorted((data / "dev" / "warc").glob(pattern)):
            with open(path, "rb") as f:
                logs += [math.log(int(r.rec_headers.get_header("Content-Length"))) for r in ArchiveIterator(f)
                         if r.rec_type == "response"]
    if len(logs) < 2:
        raise SystemExit(f"{data}/dev/warc: no Common Crawl excerpts to fit record sizes on")
    return statistics.fmean(logs), statistics.stdev(logs), len(logs)


def read_pool(paths: list[Path]) -> list[Page]:
    """Every HTML response of ``paths`` that the refinery's reader keeps, with its original bytes."""
    from refinedweb.pipeline.warc import FileStats, ReaderConfig, read_file

    pages = []
    for path in paths:
        kept = {}
        for table in read_file(str(path), ReaderConfig(), FileStats(path=str(path))):
            for row in table.select(["id", "html", "drop_reason"]).to_pylist():
                if row["drop_reason"] is None and row["html"] is not None:
                    kept[row["id"]] = row["html"]
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, no_record_parse=True):
                record_id = record.rec_headers.get_header("WARC-Record-ID")
                if record.rec_type == "response" and record_id in kept:
                    block = record.raw_stream.read()
                    pages.append(Page(list(record.rec_headers.headers), block, kept[record_id]))
    return pages


def label_languages(pages: list[Page]) -> None:
    """Set each page's lid.176 label of its extracted text, as the language stage would see it."""
    from refinedweb.filters.language import LanguageConfig, LanguageFilter
    from refinedweb.pipeline.extract import ExtractConfig, ExtractionWorker, clean_text

    cfg = ExtractConfig()
    worker = ExtractionWorker(cfg.trafilatura_options())
    model = LanguageFilter(LanguageConfig()).model.model
    try:
        for page in pages:
            worker.submit(page.html)
        results = worker.collect(cfg.timeout_s)
    finally:
        worker.close()
    for page, (status, text) in zip(pages, results):
        text = clean_text(text or "") if status == "ok" else ""
        if len(text) >= MIN_TEXT_CHARS:
            labels, _ = model.predict(text.replace("\n", " "), k=1)
            page.language = labels[0].removeprefix("__label__")


def choose(pages: list[Page], records: int, english: float, mu: float, sigma: float, nearest: int,
           rng: random.Random) -> list[Page]:
    """``records`` pages: ``english`` of them English, sizes drawn log-normal(mu, sigma) within each group."""
    groups = {True: sorted((p for p in pages if p.language == "en"), key=lambda p: p.size),
              False: sorted((p for p in pages if p.language != "en"), key=lambda p: p.size)}
    for is_en, group in groups.items():
        if not group:
            raise SystemExit(f"the pool has no {'English' if is_en else 'non-English'} page")
    n_en = round(records * english)
    slots = [True] * n_en + [False] * (records - n_en)
    rng.shuffle(slots)
    logs = {k: [math.log(p.size) for p in g] for k, g in groups.items()}
    chosen = []
    for is_en in slots:
        target = min(rng.lognormvariate(mu, sigma), MAX_RECORD_BYTES)
        at = bisect.bisect_left(logs[is_en], math.log(target))
        lo, hi = max(0, at - nearest), min(len(logs[is_en]), at + nearest)
        near = sorted(range(lo, hi), key=lambda i: abs(logs[is_en][i] - math.log(target)))[:nearest]
        chosen.append(groups[is_en][rng.choice(near)])
    return chosen


def write_warc(chosen: list[Page], output: Path, seed: int) -> None:
    """The chosen pages as per-record gzip members, copies with fresh ids and distinct URLs."""
    uses: dict[int, int] = {}
    with open(output, "wb") as out:
        for page in chosen:
            copy = uses.get(id(page), 0)
            uses[id(page)] = copy + 1
            headers = []
            for name, value in page.headers:
                if copy and name.lower() == "warc-record-id":
                    value = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cc-like|{seed}|{value}|{copy}')}>"
                elif name.lower() == "warc-target-uri":
                    value = value[1:-1] if value.startswith("<") and value.endswith(">") else value
                    if copy:
                        value += ("&" if "?" in value else "?") + f"cc-like-copy={copy}"
                headers.append((name, value))
            head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
            out.write(gzip.compress(head.encode("utf-8") + page.block + b"\r\n\r\n", compresslevel=6, mtime=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="the WARC to write (.warc.gz); `make bench` puts it under the ignored bench-out/")
    parser.add_argument("--records", type=int, default=1200, help="records in the file (default 1200)")
    parser.add_argument("--english", type=float, default=0.5, help="share of English records (default 0.5)")
    parser.add_argument("--nearest", type=int, default=3, help="pages closest in size to pick from (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--pool", nargs="*", help="WARC files to draw pages from (default: pages-A and dev/warc's modern crawls)")
    args = parser.parse_args()
    if not 0 <= args.english <= 1 or args.records < 1 or args.nearest < 1:
        raise SystemExit("--english must be in [0, 1], --records and --nearest >= 1")
    sys.path.insert(0, str(REPO))
    mu, sigma, n = fit_cc_sizes(args.data)
    paths = [Path(p) for p in args.pool] if args.pool else [p for g in POOL for p in sorted(args.data.glob(g))]
    pages = read_pool(paths)
    label_languages(pages)
    chosen = choose(pages, args.records, args.english, mu, sigma, args.nearest, random.Random(args.seed))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_warc(chosen, args.output, args.seed)
    en = sum(p.language == "en" for p in chosen) / len(chosen)
    print(f"record sizes fitted on {n} Common Crawl responses: log-normal median {math.exp(mu) / 1e3:.1f} KB, sigma {sigma:.2f}")
    print(f"pool: {len(pages)} pages ({sum(p.language == 'en' for p in pages)} English) from {len(paths)} files")
    print(f"{args.output}: {len(chosen)} records from {len({id(p) for p in chosen})} distinct pages, "
          f"{en:.1%} English, median record {statistics.median(p.size for p in chosen) / 1e3:.1f} KB")


if __name__ == "__main__":
    main()
