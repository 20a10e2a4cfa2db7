"""Sample text from a run's checkpoint (or an HF Falcon folder): a quick look at what the model learned.

Temperature / top-k sampling with a key/value cache: the prompt is read once, then each step runs
the model on one token (``model.KVCache``; multi-query layouts cache one key/value head per layer).
"""

from __future__ import annotations

from pathlib import Path

import torch

from refinedweb.config import UserError
from refinedweb.core.storage import location
from refinedweb.trainer import checkpoint as ckpt
from refinedweb.trainer.model import Falcon


def _load(source: Path, step: int | None, device: str) -> tuple[Falcon, Path, int]:
    """(model, tokenizer folder, end-of-text id) from a run folder or an HF Falcon folder."""
    if (source / ckpt.CONFIG).is_file():
        info = ckpt.read_run_info(source)["tokenizer"]
        return ckpt.load_run_model(source, step, device), source / ckpt.TOKENIZER, int(info["eot_id"])
    if (source / "config.json").is_file():
        import json

        from refinedweb.trainer.hf import load_hf

        eos = json.loads((source / "config.json").read_text()).get("eos_token_id")
        return load_hf(source, device), source, int(eos if eos is not None else -1)
    raise UserError(f"{source}: neither a training run folder (config.yaml) nor an HF model folder (config.json)")


def _choose(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator) -> int:
    """The next token from the last position's logits (vocab,): argmax at temperature 0, else top-k sampling."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        cutoff = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < cutoff, float("-inf"))
    return int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen))


@torch.no_grad()
def sample(model: Falcon, ids: list[int], *, max_new_tokens: int, temperature: float = 0.8, top_k: int | None = 50,
           eot_id: int | None = None, seed: int = 0, use_cache: bool = True) -> list[int]:
    """Continue ``ids`` by up to ``max_new_tokens`` tokens, stopping at ``eot_id``; returns the new ids.

    With ``use_cache`` the prompt is read once into a ``KVCache`` and each step feeds only the token
    just chosen. When the cache is full (``max_seq_len`` tokens), it is refilled from the last half
    of the text; without the cache every step re-reads the last ``max_seq_len`` tokens.
    """
    if not ids:
        raise UserError("the prompt encodes to no tokens")
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    window = model.cfg.max_seq_len
    context, new, cache = list(ids), [], None

    def run(tokens: list[int]) -> torch.Tensor:
        return model(torch.tensor([tokens], dtype=torch.long, device=device), cache=cache)[0, -1].float()  # (vocab,)

    for _ in range(max_new_tokens):
        if not use_cache:
            logits = run(context[-window:])
        elif cache is None or cache.length >= window:  # prefill: the prompt, or the last half-window when full
            keep = context[-window:] if cache is None else context[-(window // 2):]
            cache = model.new_cache(1, window)
            logits = run(keep)
        else:
            logits = run(context[-1:])  # only the token chosen last step is new to the cache
        token = _choose(logits, temperature, top_k, gen)
        if token == eot_id:
            break
        new.append(token)
        context.append(token)
    return new


def generate_text(source: str | Path, prompt: str, *, max_new_tokens: int = 100, temperature: float = 0.8,
                  top_k: int | None = 50, seed: int = 0, step: int | None = None, device: str = "cpu") -> str:
    """Prompt plus its continuation, decoded; ``source`` is a run folder or an HF Falcon folder."""
    from tokenizers import Tokenizer

    model, tokenizer_dir, eot_id = _load(location(source), step, device)
    tokenizer = Tokenizer.from_str((tokenizer_dir / "tokenizer.json").read_text())
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    new = sample(model, ids, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                 eot_id=eot_id, seed=seed)
    return tokenizer.decode(ids + new)
