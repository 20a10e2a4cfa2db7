"""The ``refinedweb`` command: run the refinery, print its funnel, tokenize, train and export a Falcon.

Every user error (missing input, unknown config key, bad threshold) is printed on one line naming
what is wrong, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from refinedweb.config import UserError


def _cmd_run(args: argparse.Namespace) -> int:
    from refinedweb.pipeline.pipeline import load_config
    from refinedweb.pipeline.runner import run
    from refinedweb.pipeline.sources import resolve_inputs, snapshot_inputs

    config = load_config(args.config)
    if bool(args.input) == bool(args.snapshot):
        raise UserError("give either --input PATTERN or --snapshot NAME")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be >= 1, got {args.workers}")
    if args.snapshot:
        inputs = snapshot_inputs(args.snapshot, config.sources, args.max_files)
    else:
        inputs = resolve_inputs(args.input)
        if args.max_files:
            inputs = inputs[: args.max_files]
    stats = run(config, inputs, args.output, workers=args.workers, address=args.address, keep_rejected=args.keep_rejected)
    print(format_funnel(stats))
    print(f"wrote {stats['docs_written']} documents to {Path(args.output) / 'data'} in {stats.get('wall_seconds', 0):.1f} s")
    return 0


def format_funnel(stats: dict) -> str:
    """The funnel as a terminal table: per stage, documents and characters in/out and top drop reasons."""
    total = stats["records_read"] or 1
    lines = [f"{'stage':<12} {'docs in':>9} {'docs out':>9} {'kept':>7} {'of input':>8} {'chars in':>13} {'chars out':>13} {'s':>7}  top drop reasons"]
    for st in stats["stages"]:
        kept = st["docs_out"] / st["docs_in"] if st["docs_in"] else 1.0
        reasons = ", ".join(f"{r} {n}" for r, n in list(st["dropped"].items())[:3])
        lines.append(
            f"{st['name']:<12} {st['docs_in']:>9} {st['docs_out']:>9} {kept:>7.1%} {st['docs_out'] / total:>8.1%}"
            f" {st['chars_in']:>13} {st['chars_out']:>13} {st['seconds']:>7.1f}  {reasons}"
        )
    lines.append(f"records read {stats['records_read']}, documents written {stats['docs_written']}")
    return "\n".join(lines)


def _cmd_stats(args: argparse.Namespace) -> int:
    path = Path(args.output) / "stats.json"
    if not path.is_file():
        raise UserError(f"{path}: no stats.json (is {args.output} a refinedweb run's output?)")
    stats = json.loads(path.read_text(encoding="utf-8"))
    print(json.dumps(stats, indent=2) if args.json else format_funnel(stats))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refinedweb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="refine WARC/ARC/WET files into Parquet shards with per-stage statistics",
                       description="Refine Common Crawl files with RefinedWeb's stages on Ray; re-running resumes.")
    p.add_argument("config", help="pipeline YAML, e.g. configs/refinedweb.yaml")
    p.add_argument("--input", nargs="+", metavar="PATTERN", help="local paths, globs or http(s) URLs of WARC/ARC/WET files")
    p.add_argument("--snapshot", metavar="NAME", help="a Common Crawl snapshot, e.g. CC-MAIN-2023-06 (read over HTTP)")
    p.add_argument("--max-files", type=int, default=None, help="process at most this many input files")
    p.add_argument("--output", required=True, help="output folder (data/, state/, rejected/, stats.json)")
    p.add_argument("--workers", type=int, default=None, help="refining actors (default: runner.workers of the config)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster at HOST:PORT instead of starting one")
    p.add_argument("--keep-rejected", action="store_true", help="keep a sample of dropped documents under OUTPUT/rejected/")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("stats", help="print the funnel of a run", description="Print a run's funnel from OUTPUT/stats.json.")
    p.add_argument("output", help="a run's output folder")
    p.add_argument("--json", action="store_true", help="print stats.json as is")
    p.set_defaults(func=_cmd_stats)

    from refinedweb.tokenize.cli import register as register_tokenize

    register_tokenize(sub)
    try:
        from refinedweb.trainer.cli import register as register_trainer
    except ImportError:  # the trainer's dependencies (torch) are optional for the refinery
        register_trainer = None
    if register_trainer is not None:
        register_trainer(sub)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; a ``UserError`` is one line on stderr and exit 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"refinedweb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
