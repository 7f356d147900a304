"""PARM: clarity judgment, potential assessment at the first clear step, best-of-N' among high-potential paths.

Per candidate, at every step until its preview is judged clear (clarity >= the
verifier's `parm_clarity`: the paper's 0.5 unless chosen on validation), the
verifier's clarity head looks at the preview; at the first clear step its
potential head says yes (potential >= threshold: the verifier's `parm_threshold`,
0.5 unless chosen on validation) or no. A candidate never
judged clear is assessed on its final image. The choice per prompt:
- the reference (Image-Generation-CoT): every candidate runs to the end; among
  the "yes" ones, the best final potential (the outcome judgment at t = T);
  if none said yes, the one with the lowest P(no) at its assessment;
- `early_stop=True` (ours): a "no" stops at once and costs nothing more,
  except the prompt's best "no" so far while it has no "yes" (the reference's
  fallback pick), so early stopping chooses exactly what the reference
  chooses, for less compute; `refill_rounds` > 0 then starts fresh
  candidates for the stopped ones, up to that many rounds, so the budget goes
  to paths that still look promising;
- `max_yes=M` with early stopping (ours): a prompt keeps at most M "yes"
  candidates running, those with the highest potential at their judgment
  (ties: the first in key order); the others stop too. When most candidates
  are good, stopping only the "no"s saves little; this keeps the choice among
  the best-judged paths at a fraction of the compute (not always the
  reference's choice: the final potential of a stopped "yes" is never seen).
- `wave=W, stop_at=S` (ours): a prompt's candidates run W at a time (0..W-1,
  then W..2W-1, ..., the same seeds as all N at once), and a prompt starts no
  further wave once one of its finished candidates has a final potential
  >= S: a confident "yes" ends the search, as a sequential rejection sampler
  would. With `stop_yeses=K` it takes K confident "yes"es (in any waves): an
  easy prompt still stops after one wave of K, while on a hard one a single
  confident mistake no longer ends the search (on AR's validation rollouts,
  pools of 8, waves of 2 lost 2 to 4 prompts' picks with one "yes" and none
  with two). The choice is the reference's rule among the finished candidates.
  When the generator is usually right and the verifier calibrated, one wave
  is often enough; W and S are chosen on validation prompts, never on the
  benchmark (benchmarks/choose_parm_waves.py).
"""

from __future__ import annotations

import torch

from ..generators.base import Compute
from ..seeds import REFILL_OFFSET
from .candidates import SearchOutput, start_candidates


def gate(verifier) -> float:
    """The potential at or above which PARM's assessment says "yes": the verifier's own `parm_threshold` (a learned
    verifier's, chosen on validation), else the paper's 0.5."""
    return float(getattr(verifier, "parm_threshold", 0.5))


def clarity_gate(verifier) -> float:
    """The clarity at or above which PARM judges a preview clear and assesses its potential: the verifier's own
    `parm_clarity` (a learned verifier's, chosen on validation), else the paper's 0.5."""
    return float(getattr(verifier, "parm_clarity", 0.5))


def no_to_stop(verdicts_g: dict, alive: list, max_yes: int = 0) -> set:
    """Which of one prompt's `alive` candidates early stopping ends, from its verdicts so far ({key: {"potential",
    "yes"}}, every round's): each "no", but while the prompt has no "yes" its best "no" (the first of the highest
    potential in key order) runs on, since the reference would pick it; with `max_yes`, also every alive "yes"
    past the `max_yes` with the highest potential."""
    nos = sorted(k for k, v in verdicts_g.items() if not v["yes"])
    has_yes = any(v["yes"] for v in verdicts_g.values())
    spare = None if has_yes or not nos else max(nos, key=lambda k: verdicts_g[k]["potential"])
    stop = {k for k in alive if k in verdicts_g and not verdicts_g[k]["yes"] and k != spare}
    if max_yes:
        yes = sorted((k for k in alive if k in verdicts_g and verdicts_g[k]["yes"]),
                     key=lambda k: (-verdicts_g[k]["potential"], k))
        stop |= set(yes[max_yes:])
    return stop


def _run_round(generator, prompts, counts, firsts, verifier, sampling, seed, early_stop, threshold, clarity,
               verdicts, prompt_ids, max_yes=0):
    """One PARM pass over counts[i] candidates of prompt i; fills `verdicts` {(prompt, candidate): dict}
    and returns (finished output, keys of its rows, compute, images the verifier saw); (None, [], ...) when
    early stopping ends every candidate of the round."""
    session, keys, conds_all = start_candidates(generator, prompts, counts, sampling, seed, firsts, prompt_ids)
    T, seen = session.num_steps, 0
    while session.t < T:
        session.step()
        if session.t == T:
            break
        ids = session.ids.tolist()
        todo = [r for r, i in enumerate(ids) if keys[i] not in verdicts]
        if todo:
            previews = session.preview()
            clear = verifier.clarity(previews[todo], [conds_all[ids[r]] for r in todo], session.t, T)
            seen += len(todo)
            rows = [r for r, c in zip(todo, (clear.float().cpu() >= clarity).tolist()) if c]
            if rows:
                pot = verifier.potential(previews[rows], [conds_all[ids[r]] for r in rows], session.t, T)
                seen += len(rows)
                for r, p in zip(rows, pot.float().cpu().tolist()):
                    verdicts[keys[ids[r]]] = {"step": session.t, "potential": p, "yes": p >= threshold}
        if early_stop:
            alive = [keys[i] for i in ids]
            stop = set()
            for g in {k[0] for k in alive}:
                stop |= no_to_stop({k: v for k, v in verdicts.items() if k[0] == g}, [k for k in alive if k[0] == g],
                                   max_yes)
            keep = torch.tensor([k not in stop for k in alive], dtype=torch.bool)
            if not keep.any():  # a refill round whose every candidate fell short of a finished one
                return None, [], session.compute, seen
            if not keep.all():
                session.keep(keep)
    out = session.finish()
    out_keys = [keys[i] for i in out.ids.tolist()]
    final = verifier.potential(out.images, out.prompts, T, T).float().cpu().tolist()
    seen += len(out_keys)
    for k, p in zip(out_keys, final):
        verdicts.setdefault(k, {"step": T, "potential": p, "yes": p >= threshold})["final"] = p
    return out, out_keys, session.compute, seen


def parm(generator, prompts: list[str], n: int, verifier, sampling=None, seed: int = 0, early_stop: bool = False,
         refill_rounds: int = 0, threshold: float | None = None, first: int = 0,
         prompt_ids: list[int] | None = None, max_yes: int = 0, wave: int = 0, stop_at: float = 1.0,
         stop_yeses: int = 1, clarity: float | None = None) -> SearchOutput:
    if (refill_rounds or max_yes) and not early_stop:
        raise ValueError("refill_rounds and max_yes stop or replace candidates: they need early_stop=True")
    if refill_rounds and max_yes:
        raise ValueError("refill_rounds would replace the 'yes' candidates max_yes stops: use one of them")
    if wave and refill_rounds:
        raise ValueError("wave runs the N candidates in turns and refill_rounds adds others: use one of them")
    if wave < 0:
        raise ValueError(f"wave must be 0 (all N at once) or a count of candidates per turn, got {wave}")
    if stop_yeses < 1:
        raise ValueError(f"stop_yeses must be >= 1 (confident 'yes'es that end a prompt's waves), got {stop_yeses}")
    threshold = gate(verifier) if threshold is None else threshold
    clarity = clarity_gate(verifier) if clarity is None else clarity
    verdicts: dict[tuple[int, int], dict] = {}
    compute, seen, finished = Compute(), 0, []
    if wave:
        yeses = [0] * len(prompts)
        for w0 in range(0, n, wave):
            counts = [0 if yeses[g] >= stop_yeses else min(wave, n - w0) for g in range(len(prompts))]
            if not any(counts):
                break
            out, keys, c, s = _run_round(generator, prompts, counts, [first + w0] * len(prompts), verifier,
                                         sampling, seed, early_stop, threshold, clarity, verdicts, prompt_ids, max_yes)
            compute += c
            seen += s
            finished += [(k, out.images[i], out.tokens[i]) for i, k in enumerate(keys)]
            for k in keys:
                yeses[k[0]] += verdicts[k]["final"] >= stop_at
        return _choose(prompts, finished, verdicts, compute, seen)
    counts, firsts = [n] * len(prompts), [first] * len(prompts)
    for r in range(1 + refill_rounds):
        out, keys, c, s = _run_round(generator, prompts, counts, firsts, verifier, sampling, seed, early_stop,
                                     threshold, clarity, verdicts, prompt_ids, max_yes)
        compute += c
        seen += s
        finished += [(k, out.images[i], out.tokens[i]) for i, k in enumerate(keys)]
        done = set(keys)
        stopped = [sum(1 for k in verdicts if k[0] == g and firsts[g] <= k[1] < firsts[g] + counts[g]
                       and k not in done) for g in range(len(prompts))]
        if not any(stopped):
            break
        firsts = [(r + 1) * REFILL_OFFSET + first] * len(prompts)   # outputs' firsts are >= n apart
        counts = stopped  # a fresh candidate for every stopped one
    return _choose(prompts, finished, verdicts, compute, seen)


def _choose(prompts, finished, verdicts, compute, seen) -> SearchOutput:
    """The reference's pick per prompt among its finished candidates: the best final potential among the "yes"
    ones, else the best potential at assessment."""
    images, tokens, chosen, trace = [], [], [], []
    for g in range(len(prompts)):
        mine = [(k, im, tok) for k, im, tok in finished if k[0] == g]
        yes = [m for m in mine if verdicts[m[0]]["yes"]]
        pool, score = (yes, "final") if yes else (mine, "potential")
        k, im, tok = max(pool, key=lambda m: verdicts[m[0]][score])
        images.append(im)
        tokens.append(tok)
        chosen.append(k[1])
        trace.append({"verdicts": {c: v for (gg, c), v in sorted(verdicts.items()) if gg == g},
                      "n_yes": len(yes), "finished": len(mine)})
    return SearchOutput(torch.stack(images), torch.stack(tokens), list(prompts), chosen, compute,
                        verifier_images=seen, trace=trace)
