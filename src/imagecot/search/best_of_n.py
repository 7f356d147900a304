"""Best-of-N with an outcome verifier (ORM): generate N, keep the image the verifier likes best.

With `OracleVerifier` this is the oracle upper bound (label it so)."""

from __future__ import annotations

from ..generators.base import run_to_end
from .candidates import SearchOutput, pick_per_prompt, start_candidates


def best_of_n(generator, prompts: list[str], n: int, verifier, sampling=None, seed: int = 0, first: int = 0,
              prompt_ids: list[int] | None = None) -> SearchOutput:
    session, keys, _ = start_candidates(generator, prompts, n, sampling, seed, first, prompt_ids)
    out = run_to_end(session)
    score_B = verifier(out.images, out.prompts).float().cpu()
    rows, chosen = pick_per_prompt(out, keys, len(prompts), score_B)
    trace = [{"scores": [float(score_B[r]) for r, i in enumerate(out.ids.tolist()) if keys[i][0] == g]}
             for g in range(len(prompts))]
    return SearchOutput(out.images[rows], out.tokens[rows], list(prompts), chosen, out.compute,
                        verifier_images=len(score_B), trace=trace)
