"""The ``train``, ``export`` and ``generate`` commands, registered on the main ``refinedweb`` parser.

Importing this module is cheap (no torch): the refinery's commands start fast; the trainer's
modules load when one of these commands runs.

Multi-GPU: ``torchrun --nproc_per_node 8 -m refinedweb.cli train CONFIG --data tokens/ --out runs/x``.
"""

from __future__ import annotations

import argparse
import os
import sys

from refinedweb.config import UserError
from refinedweb.core.command import dispatch


def _cmd_train(args: argparse.Namespace) -> int:
    from refinedweb.trainer.train import train

    last = train(args.config, args.out, data=args.data, tokenizer=args.tokenizer, max_steps=args.max_steps,
                 resume=args.resume, init_from=args.init_from)
    if last and os.environ.get("RANK", "0") == "0":
        summary = f"step {last['step']}: loss {last['loss']:.4f}"
        if "val_loss" in last:
            summary += f", val_loss {last['val_loss']:.4f} (ppl {last['val_ppl']:.1f})"
        print(summary)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from refinedweb.trainer.hf import export_run

    out = export_run(args.run_dir, args.hf_dir, step=args.step, dtype=args.dtype)
    print(f"wrote a Hugging Face Falcon model to {out}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from refinedweb.trainer.generate import generate_text

    if args.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens: must be >= 1, got {args.max_new_tokens}")
    print(generate_text(args.run_dir, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        top_k=args.top_k or None, seed=args.seed, step=args.step, device=args.device))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``export`` and ``generate`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "train", help="train a Falcon on token shards (torchrun for several GPUs)",
        description="Train a Falcon model on the token shards of `refinedweb tokenize`. Checkpoints, "
                    "metrics.jsonl and TensorBoard events go to --out; --resume continues exactly where a run stopped.")
    p.add_argument("config", help="training YAML, e.g. configs/train/tiny.yaml")
    p.add_argument("--data", help="token folder with manifest.json, trained on as a one-source mixture "
                                  "(default: data.path or data.sources of the config)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics and the tokenizer copy")
    p.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--tokenizer", default=None, help="folder with the tokenizer.json the shards were made with "
                                                     "(default: data.tokenizer, else the path the manifest records)")
    p.add_argument("--init-from", default=None, metavar="HF_DIR",
                   help="start from the weights of a Hugging Face Falcon folder of the same shape")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser(
        "export", help="write a run's checkpoint as a Hugging Face Falcon folder",
        description="Write config.json, model.safetensors and the tokenizer files so that "
                    "transformers' FalconForCausalLM and AutoTokenizer load HF_DIR as is.")
    p.add_argument("run_dir", help="a training run folder")
    p.add_argument("hf_dir", help="output folder")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="weight dtype")
    p.set_defaults(func=_cmd_export)

    p = subparsers.add_parser(
        "generate", help="sample text from a run (or a Hugging Face Falcon folder)",
        description="Continue a prompt with the newest checkpoint of a run, by temperature / top-k sampling.")
    p.add_argument("run_dir", help="a training run folder, or a Hugging Face Falcon folder")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=100, help="tokens to add at most (default 100)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=50, help="sample among the k likeliest tokens; 0 = all (default 50)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(func=_cmd_generate)


def main(argv: list[str] | None = None) -> int:
    """Run the trainer's commands alone: ``python -m refinedweb.trainer.cli train ...``."""
    parser = argparse.ArgumentParser(prog="refinedweb", description="Falcon trainer commands")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return dispatch(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
