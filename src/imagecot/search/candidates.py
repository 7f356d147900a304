"""N candidates per prompt in one batched session, and what every strategy returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..generators.base import Compute, GenerationOutput
from ..seeds import image_seed


@dataclass
class SearchOutput:
    images: torch.Tensor          # (P, 3, H, W): the chosen image of each prompt
    tokens: torch.Tensor          # (P, L)
    prompts: list[str]
    chosen: list[int]             # candidate seed index within its prompt: first + c (refills after first + n)
    compute: Compute              # generator token-forwards over every candidate, dropped ones included
    verifier_images: int = 0      # images and previews the verifiers looked at
    trace: list[dict] = field(default_factory=list)  # per prompt: scores and decisions, for audit


def start_candidates(generator, prompts: list[str], counts: int | list[int], sampling=None, seed: int = 0,
                     first: int | list[int] = 0, prompt_ids: list[int] | None = None):
    """A session over `counts` candidates per prompt (an int, or one count per prompt).

    Candidate j of prompt i has seed image_seed(seed, prompt_ids[i], j) (prompt_ids:
    the prompts' indices in the whole job, default 0..P-1), the seed the plain pipeline
    gives image j, so N=1 search reproduces plain sampling whatever the batching;
    `first` shifts j (the next output image's candidates, refills). Returns (session,
    keys, conds): row r of the session is candidate keys[r] = (prompt index in `prompts`,
    candidate index) with prompt conds[r].
    """
    counts = [counts] * len(prompts) if isinstance(counts, int) else list(counts)
    firsts = [first] * len(prompts) if isinstance(first, int) else list(first)
    if len(counts) != len(prompts) or min(counts, default=0) < 0 or sum(counts) == 0:
        raise ValueError(f"need a candidate count >= 0 per prompt (and at least one in all), got {counts}")
    keys = [(i, firsts[i] + j) for i, c in enumerate(counts) for j in range(c)]
    conds = [prompts[i] for i, _ in keys]
    pids = list(range(len(prompts))) if prompt_ids is None else list(prompt_ids)
    seeds = [image_seed(seed, pids[i], j) for i, j in keys]
    return generator.start(conds, sampling, seed=seeds), keys, conds


def pick_per_prompt(out: GenerationOutput, keys: list[tuple[int, int]], n_prompts: int,
                    score_B: torch.Tensor) -> tuple[list[int], list[int]]:
    """For each prompt, the row of `out` with the highest score -> (rows of out, candidate indices)."""
    rows, chosen = [], []
    row_keys = [keys[i] for i in out.ids.tolist()]
    for g in range(n_prompts):
        r = [k for k, key in enumerate(row_keys) if key[0] == g]
        if not r:
            raise RuntimeError(f"prompt {g} has no finished candidate")
        best = max(r, key=lambda k: float(score_B[k]))
        rows.append(best)
        chosen.append(row_keys[best][1])
    return rows, chosen
