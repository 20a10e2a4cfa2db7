"""The ``refinedweb`` command: run the refinery, print its funnel, tokenize, train and export a Falcon.

Every user error (missing input, unknown config key, bad threshold) is printed on one line naming
what is wrong, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from refinedweb.ablate_cli import register as register_ablate
from refinedweb.config import UserError
from refinedweb.core.cluster import shutdown_ray
from refinedweb.core.command import dispatch, ray_console
from refinedweb.core.storage import location
from refinedweb.tokenize.cli import register as register_tokenize
from refinedweb.trainer.cli import register as register_trainer


def _cmd_run(args: argparse.Namespace) -> int:
    from refinedweb.pipeline.config import load_config
    from refinedweb.pipeline.runner import run
    from refinedweb.core.inputs import resolve_inputs
    from refinedweb.pipeline.sources import snapshot_inputs
    from refinedweb.core.storage import configure

    config = load_config(args.config)
    configure(config.storage)  # before the inputs are listed: they may be s3:// too
    if bool(args.input) == bool(args.snapshot):
        raise UserError("give either --input PATTERN or --snapshot NAME")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be >= 1, got {args.workers}")
    if args.max_files is not None and args.max_files < 1:
        raise UserError(f"--max-files: must be >= 1, got {args.max_files}")
    if args.snapshot:
        inputs = snapshot_inputs(args.snapshot, config.sources, args.max_files)
    else:
        inputs = resolve_inputs(args.input)
        if args.max_files is not None:
            inputs = inputs[: args.max_files]
    with ray_console(args.output, args.quiet) as log:
        stats = run(config, inputs, args.output, workers=args.workers, address=args.address)
        _print_result(stats, args.output, log)
        if config.output.report:
            from refinedweb.report.html import write_report  # here: matplotlib costs a second to import

            print(f"wrote {write_report(args.output)}")
        shutdown_ray()
    return 0


def _print_result(stats: dict, output: str, log: Path | None = None) -> None:
    """The funnel, then where the documents went, how long each phase took and where Ray's log is."""
    from refinedweb.report.funnel import format_funnel

    print(format_funnel(stats))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in stats.get("phase_seconds", {}).items())
    print(f"wrote {stats['docs_written']} documents to {location(output) / 'data'} in {stats.get('wall_seconds', 0):.1f} s"
          + (f" ({phases})" if phases else ""))
    for key, what in (("quarantined", "failed on every try, skipped by resumes"), ("not_done", "hit a transient error; re-run to retry")):
        for f in stats.get(key, []):
            print(f"{key.replace('_', ' ')}: {f['path']} ({what}): {f['reason']}")
    if log is not None and log.is_file():
        print(f"Ray's output: {log}")


def _cmd_dedup(args: argparse.Namespace) -> int:
    from refinedweb.core.storage import configure
    from refinedweb.dedup.standalone import dedup_folder
    from refinedweb.pipeline.config import PipelineConfig, load_config

    config = load_config(args.config) if args.config else PipelineConfig()
    configure(config.storage)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be >= 1, got {args.workers}")
    if args.kind is not None:
        kinds = [k.strip() for k in args.kind.split(",") if k.strip()]
        config = replace(config, dedup=config.dedup.with_kinds(kinds))
    with ray_console(args.output, args.quiet) as log:
        stats = dedup_folder(config.dedup, config.output, args.input, args.output, args.workers or config.runner.workers,
                             args.address, args.against)
        shutdown_ray()
    _print_result(stats, args.output, log)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from refinedweb.report.funnel import Run, compare_json, format_compare, format_funnel, funnel_json

    if len(args.output) > 2:
        raise UserError(f"stats: give one run, or two to compare (got {len(args.output)})")
    runs = [Run.load(p) for p in args.output]
    if len(runs) == 2:
        print(json.dumps(compare_json(*runs), indent=2) if args.json else format_compare(*runs))
    else:
        print(json.dumps(funnel_json(runs[0]), indent=2) if args.json else format_funnel(runs[0].stats))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from refinedweb.report.html import write_report

    print(f"wrote {write_report(args.output)}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from refinedweb.report.inspect import format_docs, kept_docs, rejected_docs

    if args.n < 1:
        raise UserError(f"--n: must be >= 1, got {args.n}")
    if args.kept == bool(args.reason):
        raise UserError("give either --reason REASON or --kept")
    if args.kept:
        print(format_docs(kept_docs(args.output, args.n), "kept"))
    else:
        print(format_docs(rejected_docs(args.output, args.reason, args.n), args.reason))
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from refinedweb.config import ConfigError
    from refinedweb.plan import COSTS_FILE, PlanConfig, assumptions, count_warc_paths, format_plan, load_costs, make_plan

    if args.warc_files is not None and args.warc_paths:
        raise UserError("give --warc-files N or --warc-paths FILE, not both")
    warc_files = count_warc_paths(args.warc_paths) if args.warc_paths else args.warc_files
    given = {"nodes": args.nodes, "cpus_per_node": args.cpus_per_node, "warc_files": warc_files,
             "pages_per_file": args.pages_per_file}
    try:
        cfg = PlanConfig(**{k: v for k, v in given.items() if v is not None})
    except ConfigError as exc:
        name, _, message = str(exc).partition(":")
        raise UserError(f"--{name.replace('_', '-')}:{message}") from None
    costs = load_costs(args.costs or COSTS_FILE)
    plan = make_plan(cfg, costs)
    if args.json:
        print(json.dumps({"snapshot": args.snapshot, **plan, "assumed": assumptions(cfg, warc_files is not None, costs),
                          "measured": costs.measured}, indent=2))
    else:
        print(format_plan(args.snapshot, cfg, costs, plan, assumptions(cfg, warc_files is not None, costs)))
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
    p.add_argument("--output", required=True, help="output folder (data/, refined/, dedup/, state/, rejected/, stats.json)")
    p.add_argument("--workers", type=int, default=None, help="refining actors (default: runner.workers of the config)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster at HOST:PORT instead of starting one")
    p.add_argument("--quiet", action="store_true", help="no progress lines: only errors and the final summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("dedup", help="deduplicate any folder of Parquet files with a `text` column",
                       description="MinHash, exact-substring and URL dedup over Parquet files (e.g. several runs or snapshots); re-running skips.")
    p.add_argument("--input", required=True, metavar="DIR", help="folder of Parquet files (searched recursively, sorted order = global order)")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder (data/, dedup/, rejected/, stats.json)")
    p.add_argument("--kind", default=None, help="comma-separated kinds to run, of minhash,exact,url (default: those enabled in the config)")
    p.add_argument("--config", default=None, help="pipeline YAML whose dedup: and output: sections apply (default: the paper's)")
    p.add_argument("--workers", type=int, default=None, help="parallel Ray tasks (default: runner.workers of the config)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster at HOST:PORT instead of starting one")
    p.add_argument("--against", default=None, metavar="OLD", help="an earlier dedup output: also remove the documents and spans it holds (OLD is only read)")
    p.add_argument("--quiet", action="store_true", help="no progress lines: only errors and the final summary")
    p.set_defaults(func=_cmd_dedup)

    p = sub.add_parser("stats", help="print the funnel of a run, or two runs side by side",
                       description="Print a run's funnel from OUTPUT/stats.json; with two outputs, both runs and B - A.")
    p.add_argument("output", nargs="+", metavar="OUTPUT", help="a run's output folder (two: compare them)")
    p.add_argument("--json", action="store_true", help="print the funnel (or the comparison) as JSON")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("report", help="write OUTPUT/report.html and OUTPUT/funnel.png",
                       description="Regenerate a run's self-contained HTML report and funnel chart.")
    p.add_argument("output", help="a run's output folder")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("inspect", help="print sampled rejected (or kept) documents of a run",
                       description="Print sampled documents dropped for one reason, or kept ones.")
    p.add_argument("output", help="a run's output folder")
    p.add_argument("--reason", help="a drop reason, e.g. gopher_too_few_stop_words (unknown: the known ones are listed)")
    p.add_argument("--kept", action="store_true", help="sample kept documents instead")
    p.add_argument("--n", type=int, default=5, help="documents to print (default 5)")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("plan", help="what refining a whole snapshot costs on a cluster (core-hours, wall time, storage)",
                       description="Core-hours, wall time, object-store peak and output size of a whole snapshot, "
                                   "from per-unit costs measured by bench/plan_costs.py (refinedweb/plan_costs.json).")
    p.add_argument("--snapshot", required=True, metavar="NAME", help="the snapshot's name, e.g. CC-MAIN-2023-06 (a label)")
    p.add_argument("--nodes", type=int, required=True, help="machines in the Ray cluster")
    p.add_argument("--cpus-per-node", type=int, required=True, help="cores each machine gives Ray")
    p.add_argument("--warc-files", type=int, default=None, help="WARC files in the snapshot (default: 90,000, assumed)")
    p.add_argument("--warc-paths", default=None, metavar="FILE", help="the snapshot's warc.paths.gz: its lines are counted")
    p.add_argument("--pages-per-file", type=int, default=None, help="pages per WARC file (default: 40,000, assumed)")
    p.add_argument("--costs", default=None, metavar="JSON", help="per-unit costs (default: refinedweb/plan_costs.json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=_cmd_plan)

    register_tokenize(sub)

    register_trainer(sub)
    register_ablate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
