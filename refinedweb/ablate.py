"""``refinedweb ablate``: the same model, token budget and tokenizer trained on two corpora, evaluated on held-out text.

The RefinedWeb paper's central experiment in miniature (Penedo et al. 2023, Sec. 4): by default
corpus A is the run's text before the filters and deduplication (extraction and language
identification only) and corpus B the refined corpus, both made by the refinery from the same
inputs. One BPE tokenizer is trained on both; each corpus is tokenized; one model per corpus is
trained from the same initialisation for the same number of steps (so the same number of tokens,
whatever the corpus sizes: a smaller corpus is repeated, and its epochs are reported); both are
evaluated during training on curated text (``--eval``) that is removed, by document id and by URL,
from both corpora first, and kept only where it is in the corpora's languages (the refinery's
language stage, applied to the eval text). It writes ``ablation.json``, ``ablation.md`` (the table), ``curves.png``
and ``ablation.html`` (a self-contained page with the table and the curves).

It reports what it measures and asserts nothing about which corpus wins.

An application-level module: it drives the refinery, the tokenizer and the trainer through their
Python APIs, all called from the ``_refine``, ``_train_tokenizer``, ``_tokenize`` and ``_train``
functions below, so an import path that moves is fixed in one place.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from refinedweb import schema
from refinedweb.config import UserError, check

CORPORA = ("raw", "refined")
EVAL_NAME = "eval"
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AblateConfig:
    """The budget of one ablation: small enough for a few minutes on 2 CPU cores by default."""

    train_config: str = str(REPO / "configs" / "train" / "tiny.yaml")
    """Training YAML giving the model shape and optimizer (its data section's paths are replaced)."""
    max_steps: int = 120
    """Optimizer steps per model; x batch_size x seq_len of the train config = the token budget of each."""
    warmup_steps: int = 10
    """Learning-rate warm-up steps (the train config's are for its own, longer, run)."""
    eval_every: int = 20
    """Evaluate on the held-out text every this many steps (and at the end)."""
    eval_batches: int = 16
    """Micro-batches of held-out text per evaluation (fewer if the eval set holds fewer)."""
    vocab_size: int = 4096
    """BPE entries of the shared tokenizer (trained on both corpora together)."""
    seq_len: int | None = None
    """Training sequence length; null = the train config's."""
    seed: int = 1234
    """Seeds the initialisation and data order, the same for both models."""

    def __post_init__(self) -> None:
        check(self.max_steps >= 1, "max_steps", "must be >= 1")
        check(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        check(self.eval_every >= 1, "eval_every", "must be >= 1")
        check(self.eval_batches >= 1, "eval_batches", "must be >= 1")
        check(self.vocab_size >= 512, "vocab_size", "must be >= 512")
        check(self.seq_len is None or self.seq_len >= 8, "seq_len", "must be >= 8 or null")


# --- the held-out text -----------------------------------------------------------------------------

def read_eval_docs(paths: Sequence[str | Path]) -> list[dict[str, str]]:
    """{id, url, text} of the curated evaluation documents.

    Parquet: its ``text`` (and ``id``/``url``) columns. ``.jsonl``: one record per line with ``text``,
    ``articleBody`` or a ``with`` list of snippets (the pages-A ground truth), keyed by ``id``/``url``.
    Other files: plain text, one document per blank-line-separated paragraph.
    """
    docs: list[dict[str, str]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            raise UserError(f"--eval {path}: not found")
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
            rows = [{"id": f"{path.name}#{i}", "text": p} for i, p in enumerate(paragraphs)]
        for i, row in enumerate(rows):
            text = row.get("text") or row.get("articleBody") or "\n".join(row.get("with") or [])
            if text and text.strip():
                docs.append({"id": str(row.get("id") or row.get("url") or f"{path.name}#{i}"),
                             "url": str(row.get("url") or ""), "text": text})
    if not docs:
        raise UserError(f"--eval {', '.join(map(str, paths))}: no text found")
    return docs


def hold_out(src: Path, dest: Path, ids: set[str], urls: set[str]) -> dict[str, int]:
    """Copy the Parquet documents of ``src`` to ``dest/docs.parquet`` without those whose id or URL is held out."""
    files = sorted(src.rglob("*.parquet")) if src.is_dir() else [src]
    if not files:
        raise UserError(f"{src}: no Parquet files")
    table = pa.concat_tables([pq.read_table(f, columns=[schema.ID, schema.URL, schema.TEXT]) for f in files])
    rows = table.to_pylist()
    kept = [r for r in rows if r[schema.ID] not in ids and (r[schema.URL] or "") not in urls and r[schema.TEXT]]
    if not kept:
        raise UserError(f"{src}: no documents left after holding out the eval set")
    dest.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(kept, schema=table.schema), dest / "docs.parquet")
    return {"documents": len(rows), "held_out": len(rows) - len(kept), "kept": len(kept),
            "chars": sum(len(r[schema.TEXT]) for r in kept)}


# --- the phases: the only calls into the refinery, the tokenizer and the trainer ---------------------

def raw_refinery_config(config):
    """The refinery config with only extraction and language identification: filters and dedup off."""
    off = {name: dataclasses.replace(getattr(config, name), enabled=False)
           for name in ("url_filter", "repetition", "quality", "lines", "pii")}
    output = dataclasses.replace(config.output, report=False, rejected_per_reason=0)
    return dataclasses.replace(config, dedup=config.dedup.with_kinds([]), output=output, **off)


def _refine(refinery_yaml: str, inputs: list[str], out: Path, workers: int) -> dict[str, Path]:
    """Run the refinery twice: raw (extraction + language) and refined; their data/ folders."""
    from refinedweb.pipeline.config import load_config
    from refinedweb.pipeline.runner import run

    config = load_config(refinery_yaml)
    config = dataclasses.replace(config, output=dataclasses.replace(config.output, report=False))
    run(raw_refinery_config(config), inputs, out / "refinery-raw", workers=workers)
    run(config, inputs, out / "refinery-refined", workers=workers)
    return {"raw": out / "refinery-raw" / "data", "refined": out / "refinery-refined" / "data"}


def _eval_in_corpus_languages(docs: list[dict[str, str]], refinery_yaml: str) -> list[dict[str, str]]:
    """The eval documents the refinery's language stage would keep (its languages, fastText lid.176, min score).

    Both corpora are in those languages only, so text in others measures the tokenizer's byte
    fallback, not the corpora.
    """
    from refinedweb.filters.language import LanguageModel
    from refinedweb.pipeline.config import load_config

    lang = load_config(refinery_yaml).language
    if not lang.enabled:
        return docs
    model = LanguageModel(lang.model_path)
    kept = []
    for doc in docs:
        label, score = model.predict(doc["text"])
        if label in lang.languages and score >= lang.min_score:
            kept.append(doc)
    return kept


def _train_tokenizer(inputs: list[Path], out: Path, vocab_size: int) -> Path:
    from refinedweb.tokenize.bpe import TokenizerTrainConfig, train_tokenizer

    train_tokenizer([str(p) for p in inputs], out, TokenizerTrainConfig(vocab_size=vocab_size))
    return out


def _tokenize(inputs: Path, tokenizer: Path, out: Path, workers: int, all_val: bool = False) -> Path:
    """Token shards of ``inputs``, all in ``train`` (the trainer validates on the eval set only), or all in
    ``val`` with ``all_val`` (the eval set)."""
    from refinedweb.tokenize import manifest as mf
    from refinedweb.tokenize.shards import TokenizeConfig, tokenize

    tokenize(str(inputs), tokenizer, out, TokenizeConfig(val_fraction=0.0, workers=workers))
    if all_val:
        m = mf.read_manifest(out)
        mf.write_manifest(out, sha256=m.sha256, vocab_size=m.vocab_size, eot_id=m.eot_id, dtype=m.dtype,
                          splits={"val": m.split("train").shards}, tokenizer_path=m.tokenizer_path)
    return out


def _train(cfg: AblateConfig, tokens: Path, eval_tokens: Path, out: Path) -> dict[str, Any]:
    """One model on ``tokens``, validated on ``eval_tokens``; its last metrics."""
    from refinedweb.trainer.data import SourceConfig
    from refinedweb.trainer.train import load_run_config, train

    run = load_run_config(cfg.train_config)
    seq_len = cfg.seq_len or run.data.seq_len
    data = dataclasses.replace(run.data, path=str(tokens), sources=(), seq_len=seq_len,
                               eval_sources=(SourceConfig(str(eval_tokens), name=EVAL_NAME),))
    model = dataclasses.replace(run.model, max_seq_len=max(run.model.max_seq_len, seq_len))
    optim = dataclasses.replace(run.optim, warmup_steps=min(cfg.warmup_steps, cfg.max_steps - 1), decay_steps=None)
    loop = dataclasses.replace(run.train, max_steps=cfg.max_steps, eval_every=cfg.eval_every, seed=cfg.seed,
                               eval_batches=cfg.eval_batches, checkpoint_every=0, keep_checkpoints=1, progress=False)
    return train(dataclasses.replace(run, model=model, data=data, optim=optim, train=loop), out)


# --- results ----------------------------------------------------------------------------------------

def curves(run_dir: Path) -> list[dict[str, float]]:
    """(step, tokens, eval loss, eval perplexity) at each evaluation of a run, from its metrics.jsonl."""
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    tokens = {x["step"]: x["tokens"] for x in lines if "tokens" in x}
    return [{"step": x["step"], "tokens": tokens.get(x["step"]), "eval_loss": x[f"val_loss_{EVAL_NAME}"],
             "eval_ppl": x[f"val_ppl_{EVAL_NAME}"]} for x in lines if f"val_loss_{EVAL_NAME}" in x]


def table_markdown(result: dict[str, Any]) -> str:
    """The ablation table: corpora, then eval loss and perplexity of both models at each evaluation."""
    c = result["corpora"]
    out = ["| corpus | documents | train tokens | epochs trained | final eval loss | final eval ppl |",
           "|---|---:|---:|---:|---:|---:|"]
    for name in CORPORA:
        last = result["curves"][name][-1]
        out.append(f"| {name} | {c[name]['kept']:,} | {c[name]['train_tokens']:,} | {c[name]['epochs']:.2f} | "
                   f"{last['eval_loss']:.4f} | {last['eval_ppl']:.1f} |")
    out += ["", "| step | tokens | raw eval loss | raw eval ppl | refined eval loss | refined eval ppl |",
            "|---:|---:|---:|---:|---:|---:|"]
    for a, b in zip(result["curves"]["raw"], result["curves"]["refined"]):
        out.append(f"| {a['step']} | {a['tokens']:,} | {a['eval_loss']:.4f} | {a['eval_ppl']:.1f} | "
                   f"{b['eval_loss']:.4f} | {b['eval_ppl']:.1f} |")
    return "\n".join(out) + "\n"


def plot_png(result: dict[str, Any]) -> bytes:
    """Eval loss and perplexity of both models over training tokens, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in CORPORA:
        pts = result["curves"][name]
        x = [p["tokens"] for p in pts]
        axes[0].plot(x, [p["eval_loss"] for p in pts], marker="o", label=name)
        axes[1].plot(x, [p["eval_ppl"] for p in pts], marker="o", label=name)
    for ax, label in zip(axes, ("eval loss (nats/token)", "eval perplexity")):
        ax.set_xlabel("training tokens")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_yscale("log")
    fig.suptitle(f"same model, tokenizer and budget; eval on {result['eval']['documents']} held-out documents")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.88, wspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def html_page(result: dict[str, Any], png: bytes, markdown: str) -> str:
    """A self-contained page: the curves (inline PNG), the table and the run's facts."""
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    tables, current = [], []
    for cells in rows:
        if set("".join(cells).strip()) <= set("-: "):
            continue
        if current and len(cells) != len(current[0]):
            tables.append(current)
            current = []
        current.append([html.escape(c.strip()) for c in cells])
    tables.append(current)
    body = "".join("<table><tr>" + "".join(f"<th>{c}</th>" for c in t[0]) + "</tr>"
                   + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in t[1:]) + "</table>"
                   for t in tables)
    facts = html.escape(json.dumps({k: result[k] for k in ("budget", "eval", "seconds")}, indent=2))
    img = base64.b64encode(png).decode()
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>refinedweb ablate</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
            "<h1>Raw against refined: the same model, tokenizer and token budget</h1>"
            f"<img alt='eval loss curves' src='data:image/png;base64,{img}'>{body}<pre>{facts}</pre></body></html>")


# --- the command --------------------------------------------------------------------------------------

def _corpus_tokens(tokens: Path) -> int:
    from refinedweb.tokenize.manifest import read_manifest

    return read_manifest(tokens).split("train").tokens


def ablate(inputs: list[str], eval_paths: list[str], out: str | Path, cfg: AblateConfig = AblateConfig(), *,
           refinery_config: str = str(REPO / "configs" / "refinedweb.yaml"), corpora: dict[str, str] | None = None,
           workers: int = 2) -> dict[str, Any]:
    """Run the ablation into ``out``; ``corpora`` ({raw, refined}: Parquet folders) skips the refinery."""
    out, seconds, t0 = Path(out), {}, time.perf_counter()
    if corpora is None:
        if not inputs:
            raise UserError("ablate: give input WARC files, or both --raw and --refined Parquet folders")
        found = _refine(refinery_config, inputs, out, workers)
        seconds["refinery"] = time.perf_counter() - t0
    else:
        found = {name: Path(corpora[name]) for name in CORPORA}
    candidates = read_eval_docs(eval_paths)  # all of them are held out of the corpora, used or not
    ids, urls = {d["id"] for d in candidates}, {d["url"] for d in candidates if d["url"]}
    eval_docs = _eval_in_corpus_languages(candidates, refinery_config)
    if not eval_docs:
        raise UserError(f"--eval: none of the {len(candidates)} documents is in the corpora's languages")
    (out / "eval").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(eval_docs), out / "eval" / "docs.parquet")
    kept = {name: hold_out(found[name], out / f"corpus-{name}", ids, urls) for name in CORPORA}
    t = time.perf_counter()
    tokenizer = _train_tokenizer([out / f"corpus-{name}" for name in CORPORA], out / "tokenizer", cfg.vocab_size)
    tokens = {name: _tokenize(out / f"corpus-{name}", tokenizer, out / f"tokens-{name}", workers) for name in CORPORA}
    eval_tokens = _tokenize(out / "eval", tokenizer, out / "tokens-eval", workers, all_val=True)
    seconds["tokenizer_and_tokens"] = time.perf_counter() - t
    last = {}
    for name in CORPORA:
        t = time.perf_counter()
        last[name] = _train(cfg, tokens[name], eval_tokens, out / f"model-{name}")
        seconds[f"train_{name}"] = time.perf_counter() - t
        kept[name]["train_tokens"] = _corpus_tokens(tokens[name])
        kept[name]["epochs"] = last[name]["tokens"] / max(1, kept[name]["train_tokens"])
    seconds["total"] = time.perf_counter() - t0
    result = {"corpora": kept, "curves": {name: curves(out / f"model-{name}") for name in CORPORA},
              "eval": {"documents": len(eval_docs), "candidates": len(candidates),
                       "files": [str(p) for p in eval_paths],
                       "tokens": _val_tokens(eval_tokens)},
              "budget": {**dataclasses.asdict(cfg), "tokens_per_model": last["raw"]["tokens"]},
              "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    write_report(result, out)
    return result


def _val_tokens(tokens: Path) -> int:
    from refinedweb.tokenize.manifest import read_manifest

    return read_manifest(tokens).split("val").tokens


def write_report(result: dict[str, Any], out: Path) -> None:
    """ablation.json, ablation.md, curves.png and ablation.html in ``out``."""
    markdown = table_markdown(result)
    png = plot_png(result)
    (out / "ablation.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "ablation.md").write_text(markdown, encoding="utf-8")
    (out / "curves.png").write_bytes(png)
    (out / "ablation.html").write_text(html_page(result, png, markdown), encoding="utf-8")
