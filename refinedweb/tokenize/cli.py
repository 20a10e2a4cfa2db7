"""The ``tokenizer train`` and ``tokenize`` commands, registered on the main ``refinedweb`` parser."""

from __future__ import annotations

import argparse
import dataclasses
import json

from refinedweb.config import ConfigError, UserError
from refinedweb.core.cluster import shutdown_ray
from refinedweb.core.command import ray_console


def _config(cls, **flags):
    """``cls`` defaults with the flags given; a bad value names its flag (``--vocab-size: ...``)."""
    try:
        return dataclasses.replace(cls(), **{k: v for k, v in flags.items() if v is not None})
    except ConfigError as exc:
        field, _, message = str(exc).partition(":")
        raise UserError(f"--{field.replace('_', '-')}:{message}") from None


def _cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from refinedweb.tokenize.bpe import TokenizerTrainConfig, train_tokenizer

    config = _config(TokenizerTrainConfig, vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                     limit_docs=args.limit_docs)
    tok = train_tokenizer(args.input, args.output, config, show_progress=args.progress)
    print(f"wrote a {tok.get_vocab_size()}-entry byte-level BPE to {args.output} "
          f"(end of text {config.eot_token!r} = id {tok.token_to_id(config.eot_token)})")
    return 0


def _cmd_tokenize(args: argparse.Namespace) -> int:
    from refinedweb.tokenize.shards import TokenizeConfig, tokenize

    config = _config(TokenizeConfig, val_fraction=args.val_fraction, docs_per_shard=args.docs_per_shard,
                     workers=args.workers)
    with ray_console(args.output, args.quiet):
        summary = tokenize(args.input, args.tokenizer, args.output, config, address=args.address)
        shutdown_ray()  # inside the console: Ray's goodbye lines go to its log too
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    docs, tokens = summary["documents"], summary["tokens"]
    print(f"tokenized {sum(docs.values())} documents into {sum(tokens.values())} {summary['dtype']} tokens "
          f"(train {docs['train']} docs / {tokens['train']} tokens, val {docs['val']} / {tokens['val']}), "
          f"{summary['shards']} shards ({summary['skipped']} already done) in {args.output}, "
          f"{summary['seconds']:.1f} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``tokenizer train`` and ``tokenize`` to the main parser's subcommands."""
    p = subparsers.add_parser("tokenizer", help="train a Falcon-style byte-level BPE tokenizer",
                              description="Tokenizer commands.")
    sub = p.add_subparsers(dest="tokenizer_command", required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train a byte-level BPE on refined Parquet (streamed)",
                       description="Train a byte-level BPE with Falcon's pre-tokenizer and special tokens on the "
                                   "text column of refined Parquet files; writes tokenizer.json, "
                                   "tokenizer_config.json and special_tokens_map.json (transformers loads the folder).")
    t.add_argument("--input", nargs="+", required=True, metavar="PATH", help="folders, globs or Parquet files")
    t.add_argument("--vocab-size", type=int, default=None, help="entries incl. special tokens (default 65024, Falcon's)")
    t.add_argument("--output", required=True, help="tokenizer folder to write")
    t.add_argument("--min-frequency", type=int, default=None, help="merge pairs seen at least this often (default 2)")
    t.add_argument("--limit-docs", type=int, default=None, help="train on the first N documents only")
    t.add_argument("--progress", action="store_true", help="show the trainer's progress bar")
    t.set_defaults(func=_cmd_tokenizer_train)

    p = subparsers.add_parser(
        "tokenize", help="refined Parquet -> token shards + manifest for the trainer (Ray)",
        description="Tokenize the text column of refined Parquet files into train/val token shards and "
                    "manifest.json on Ray. Re-running skips finished shards.")
    p.add_argument("--input", nargs="+", required=True, metavar="PATH", help="folders, globs or Parquet files")
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or tokenizer.json (e.g. Falcon's own)")
    p.add_argument("--output", required=True, help="token folder to write (train/, val/, state/, tokenizer/, manifest.json)")
    p.add_argument("--workers", type=int, default=None, help="tasks at once, one core each (default: all CPUs)")
    p.add_argument("--val-fraction", type=float, default=None, help="share of documents held out (default 0.005)")
    p.add_argument("--docs-per-shard", type=int, default=None, help="documents per unit of work and shard (default 20000)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster at HOST:PORT instead of starting one")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines: only errors and the final summary")
    p.set_defaults(func=_cmd_tokenize)

