"""The ``ablate`` subcommand's parser; the command itself (``refinedweb/ablate.py``) loads only when it runs."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from refinedweb.config import ConfigError, UserError


def _cmd_ablate(args: argparse.Namespace) -> int:
    from refinedweb.ablate import AblateConfig, ablate, table_markdown

    flags = {"train_config": args.train_config, "max_steps": args.max_steps, "vocab_size": args.vocab_size,
             "eval_every": args.eval_every, "seq_len": args.seq_len}
    try:
        cfg = dataclasses.replace(AblateConfig(), **{k: v for k, v in flags.items() if v is not None})
    except ConfigError as exc:
        field, _, message = str(exc).partition(":")
        raise UserError(f"--{field.replace('_', '-')}:{message}") from None
    if (args.raw is None) != (args.refined is None):
        raise UserError("--raw and --refined go together")
    corpora = {"raw": args.raw, "refined": args.refined} if args.raw else None
    result = ablate(args.inputs, args.eval, args.out, cfg, refinery_config=args.config, corpora=corpora,
                    workers=args.workers)
    print(table_markdown(result), end="")
    total = result["seconds"]["total"]
    print(f"wrote {args.out}/ablation.html, curves.png, ablation.md, ablation.json in {total:.0f} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ablate`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "ablate", help="train one model on the raw and one on the refined corpus; compare on held-out text",
        description="Refine INPUTS twice (extraction + language only, and the full refinery), train one tokenizer "
                    "on both corpora and the same model with the same token budget on each, and evaluate both on "
                    "--eval text held out (by id and URL) from both. Writes a table and loss curves to --out.")
    p.add_argument("inputs", nargs="*", help="WARC/ARC/WET files for the refinery (or give --raw and --refined)")
    p.add_argument("--eval", nargs="+", required=True, metavar="FILE",
                   help="curated text: Parquet (text, id, url), .jsonl (text / articleBody / with) or plain text")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "refinedweb.yaml"), help="refinery YAML")
    p.add_argument("--raw", default=None, help="Parquet folder to use as corpus A instead of refining")
    p.add_argument("--refined", default=None, help="Parquet folder to use as corpus B instead of refining")
    p.add_argument("--train-config", default=None, help="training YAML for the model (default configs/train/tiny.yaml)")
    p.add_argument("--max-steps", type=int, default=None, help="steps per model (default: AblateConfig.max_steps in refinedweb/ablate.py)")
    p.add_argument("--eval-every", type=int, default=None,
                   help="steps between evaluations (default: AblateConfig.eval_every in refinedweb/ablate.py)")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the train config's)")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="tokenizer entries (default: AblateConfig.vocab_size in refinedweb/ablate.py)")
    p.add_argument("--workers", type=int, default=2, help="refinery and tokenizer workers (default 2)")
    p.set_defaults(func=_cmd_ablate)
