"""Step-level selection with a process reward model (PRM): prune weak partial generations at checkpoints.

At each checkpoint step the PRM scores every live candidate's preview and
each prompt keeps its best `keep_fraction` (at least one); dropped candidates
stop costing compute at once. The survivor with the best PRM score on its
final image (t = T) is chosen.
"""

from __future__ import annotations

import math

import torch

from .candidates import SearchOutput, pick_per_prompt, start_candidates


def keep_top_per_group(score_B: torch.Tensor, group_B: torch.Tensor, fraction: float) -> torch.Tensor:
    """Bool mask: within each group, the ceil(fraction * size) highest scores (at least one)."""
    keep = torch.zeros_like(score_B, dtype=torch.bool)
    for g in group_B.unique():
        r = (group_B == g).nonzero().squeeze(1)
        k = max(1, math.ceil(fraction * r.numel()))
        keep[r[score_B[r].topk(k).indices]] = True
    return keep


def default_checkpoints(T: int) -> list[int]:
    """Steps after which to prune: a quarter, half and three quarters of the way."""
    return sorted({max(1, round(T * f)) for f in (0.25, 0.5, 0.75)} - {T})


def step_search(generator, prompts: list[str], n: int, prm, sampling=None, seed: int = 0,
                checkpoints: list[int] | None = None, keep_fraction: float = 0.5, first: int = 0,
                prompt_ids: list[int] | None = None) -> SearchOutput:
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    session, keys, conds_all = start_candidates(generator, prompts, n, sampling, seed, first, prompt_ids)
    T = session.num_steps
    checks = set(default_checkpoints(T) if checkpoints is None else checkpoints)
    seen, trace = 0, [{"alive_after": {}} for _ in prompts]
    while session.t < T:
        session.step()
        if session.t in checks and session.t < T:
            conds = [conds_all[i] for i in session.ids.tolist()]
            score_B = prm(session.preview(), conds, session.t, T).float().cpu()
            seen += len(score_B)
            group_B = torch.tensor([keys[i][0] for i in session.ids.tolist()])
            session.keep(keep_top_per_group(score_B, group_B, keep_fraction))
            alive = [keys[i][0] for i in session.ids.tolist()]
            for g in range(len(prompts)):
                trace[g]["alive_after"][session.t] = alive.count(g)
    out = session.finish()
    final_B = prm(out.images, out.prompts, T, T).float().cpu()
    rows, chosen = pick_per_prompt(out, keys, len(prompts), final_B)
    return SearchOutput(out.images[rows], out.tokens[rows], list(prompts), chosen, out.compute,
                        verifier_images=seen + len(final_B), trace=trace)
