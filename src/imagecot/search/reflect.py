"""PARM++: reflect on PARM's choice, say what is wrong and where, let the generator correct it, re-verify.

Each round, for every prompt whose current image the verifier still finds
flawed (`verifier.reflect`: flaw kinds, the token cells to redo, a sentence),
the generator corrects it (`regenerate`: MaskGIT inpaints the blamed cells,
plus the background when an object is missing; AR keeps the rows above the
first blamed cell and samples the rest; a family that can do neither, VAR,
samples anew). The correction replaces the image only if the verifier's
outcome score goes up. At most `rounds` rounds; their compute is added to PARM's.
"""

from __future__ import annotations

import torch

from ..generators.base import Compute
from ..seeds import CORRECTION_OFFSET, image_seed
from .candidates import SearchOutput
from .parm import parm


def reflect_and_correct(generator, images: torch.Tensor, tokens: torch.Tensor, prompts: list[str],
                        prompt_ids: list[int], firsts: list[int], verifier, sampling=None, seed: int = 0,
                        rounds: int = 3, chunk: int = 64) -> dict:
    """Up to `rounds` rounds over B chosen images: reflect, correct the flawed ones (seeds
    image_seed(seed, prompt id, CORRECTION_OFFSET + first * rounds + k), `first`: the image's first candidate
    seed), keep a correction only if the outcome score rises. An image whose reflection finds nothing is done
    (it cannot change). Corrections run `chunk` images at a time; each image is charged its chunk's share.
    -> {images, tokens, compute (total), compute_B, seen_B (verifier images per image), history}."""
    images, tokens = images.clone(), tokens.clone()
    B = len(prompts)
    score = verifier(images, prompts).float().cpu()
    compute, compute_B, seen_B = Compute(), [0.0] * B, [1] * B
    history: list[list[dict]] = [[] for _ in prompts]
    active = list(range(B))
    for k in range(rounds):
        if not active:
            break
        notes = dict(zip(active, verifier.reflect(images[active], [prompts[b] for b in active])))
        for b in active:
            seen_B[b] += 1
        active = [b for b in active if notes[b]["kinds"]]
        for s in range(0, len(active), chunk):
            part = active[s:s + chunk]
            cells = torch.stack([notes[b]["cells"] for b in part]).to(tokens.device)
            missing = torch.tensor(["missing" in notes[b]["kinds"] for b in part], device=tokens.device)
            seeds = [image_seed(seed, prompt_ids[b], CORRECTION_OFFSET + firsts[b] * rounds + k) for b in part]
            out = generator.regenerate(tokens[part], cells, missing, [prompts[b] for b in part], sampling, seeds)
            new_images, new_tokens, c = out.images, out.tokens, out.compute
            compute += c
            new_score = verifier(new_images, [prompts[b] for b in part]).float().cpu()
            for q, b in enumerate(part):
                compute_B[b] += c.token_forwards / len(part)
                seen_B[b] += 1
                better = bool(new_score[q] > score[b])
                history[b].append({"round": k, "reflection": notes[b]["sentence"], "p_before": float(score[b]),
                                   "p_after": float(new_score[q]), "accepted": better})
                if better:
                    images[b], tokens[b], score[b] = new_images[q], new_tokens[q], new_score[q]
    return {"images": images, "tokens": tokens, "compute": compute, "compute_B": compute_B, "seen_B": seen_B,
            "history": history}


def parm_plus_plus(generator, prompts: list[str], n: int, verifier, sampling=None, seed: int = 0,
                   rounds: int = 3, early_stop: bool = True, threshold: float | None = None, first: int = 0,
                   prompt_ids: list[int] | None = None, refill_rounds: int = 0) -> SearchOutput:
    """PARM (with early stopping by default, and `refill_rounds` as in `parm`), then up to `rounds` of
    reflection and self-correction (`reflect_and_correct`)."""
    base = parm(generator, prompts, n, verifier, sampling, seed, early_stop=early_stop, threshold=threshold,
                first=first, prompt_ids=prompt_ids, refill_rounds=refill_rounds)
    pids = list(range(len(prompts))) if prompt_ids is None else list(prompt_ids)
    r = reflect_and_correct(generator, base.images, base.tokens, list(prompts), pids, [first] * len(prompts),
                            verifier, sampling, seed, rounds, chunk=max(1, len(prompts)))
    compute = Compute()
    compute += base.compute
    compute += r["compute"]
    trace = [{**t, "corrections": h} for t, h in zip(base.trace, r["history"])]
    return SearchOutput(r["images"], r["tokens"], list(prompts), base.chosen, compute,
                        verifier_images=base.verifier_images + sum(r["seen_B"]), trace=trace)
