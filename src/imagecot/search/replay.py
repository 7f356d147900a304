"""Strategies replayed on recorded candidates: every N and strategy from one set of generations.

Every candidate has its own seed and its own randomness, so dropping one
never changes another: what a strategy would have chosen, and what it would
have spent, follows from each candidate's recorded verifier scores at every
step. So scaling curves over N in {1, ..., 20} and all strategies come from
one pool of 20 candidates per image (candidate c of image j of prompt i has
seed image_seed(seed, i, j * pool + c); the first N form the N-candidate set).
`tests/test_replay.py` checks that replays equal the online strategies,
choices and compute. PARM++ corrects images and is run online.

`Record` holds, for one (prompt, image) and its candidates c < pool, steps t = 1..T:
- `cost_T`: token-forwards one candidate spends in each step (prefix included in step 1),
- `prm_CT`, `clarity_CT`, `potential_CT`: verifier probabilities on the preview after each step
  (the last step's preview is the final image),
- `orm_C`: the outcome verifier's score of the final image, `correct_C`: the evaluator's verdict,
- `preview_tokens_CTL`: the token maps the previews of steps 1..T-1 decode, where the generator's previews are
  token maps (`Session.preview_tokens`): other verifiers then score the pool without sampling it again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.images import to_uint8
from ..evaluation.ranking import auc, expected_calibration_error
from ..io_utils import atomic_write_bytes
from .candidates import start_candidates
from .parm import no_to_stop
from .reflect import reflect_and_correct
from .step_search import default_checkpoints, keep_top_per_group


@dataclass
class Record:
    cost_T: np.ndarray
    prm_CT: np.ndarray
    clarity_CT: np.ndarray
    potential_CT: np.ndarray
    orm_C: np.ndarray
    correct_C: np.ndarray
    images_C: np.ndarray | None = None   # uint8 (C, H, W, 3) final images (PARM++ corrects the chosen one)
    tokens_C: np.ndarray | None = None   # (C, L) their tokens
    preview_tokens_CTL: np.ndarray | None = None   # (C, T - 1, L) the previews' token maps


@dataclass
class Replayed:
    chosen: int         # candidate index
    correct: bool       # the evaluator's verdict on the chosen image
    compute: float      # token-forwards spent on candidates
    verifier_images: int = 0   # images and previews the verifier looked at (the online SearchOutput's count)


def _first_max(scores: np.ndarray, among) -> int:
    among = list(among)
    return among[int(np.argmax(scores[among]))]


def replay_best_of_n(rec: Record, n: int, scores_C: np.ndarray) -> Replayed:
    c = _first_max(scores_C, range(n))
    return Replayed(c, bool(rec.correct_C[c]), n * float(rec.cost_T.sum()), n)


def replay_prm(rec: Record, n: int, checkpoints: list[int] | None = None, keep_fraction: float = 0.5) -> Replayed:
    T = len(rec.cost_T)
    checks = set(default_checkpoints(T) if checkpoints is None else checkpoints)
    alive, spent, seen = list(range(n)), 0.0, 0
    for t in range(1, T + 1):
        spent += len(alive) * float(rec.cost_T[t - 1])
        if t in checks and t < T:
            seen += len(alive)
            keep = keep_top_per_group(torch.tensor(rec.prm_CT[alive, t - 1], dtype=torch.float32),
                                      torch.zeros(len(alive), dtype=torch.long), keep_fraction)
            alive = [c for c, k in zip(alive, keep.tolist()) if k]
    c = _first_max(rec.prm_CT[:, T - 1], alive)
    return Replayed(c, bool(rec.correct_C[c]), spent, seen + len(alive))


def replay_parm(rec: Record, n: int, early_stop: bool = False, threshold: float = 0.5, max_yes: int = 0,
                wave: int = 0, stop_at: float = 1.0, stop_yeses: int = 1, clarity: float = 0.5) -> Replayed:
    T = len(rec.cost_T)
    verdict: dict[int, dict] = {}
    spent, seen, finished = 0.0, 0, []
    for w0 in range(0, n, wave or n):
        alive = list(range(w0, min(n, w0 + (wave or n))))
        for t in range(1, T + 1):
            spent += len(alive) * float(rec.cost_T[t - 1])
            if t == T:
                break
            for c in alive:
                seen += c not in verdict                                           # clarity
                if c not in verdict and rec.clarity_CT[c, t - 1] >= clarity:
                    seen += 1                                                      # potential
                    p = float(rec.potential_CT[c, t - 1])
                    verdict[c] = {"potential": p, "yes": p >= threshold}
            if early_stop:
                stop = no_to_stop(verdict, alive, max_yes)
                alive = [c for c in alive if c not in stop]
        for c in alive:
            p = float(rec.potential_CT[c, T - 1])
            verdict.setdefault(c, {"potential": p, "yes": p >= threshold})
        seen += len(alive)
        finished += alive
        if wave and sum(rec.potential_CT[c, T - 1] >= stop_at for c in finished) >= stop_yeses:
            break
    yes = [c for c in finished if verdict[c]["yes"]]
    if yes:
        c = max(yes, key=lambda c: float(rec.potential_CT[c, T - 1]))
    else:
        c = max(finished, key=lambda c: verdict[c]["potential"])
    return Replayed(c, bool(rec.correct_C[c]), spent, seen)


def replay(rec: Record, strategy: str, n: int, **options) -> Replayed:
    """One strategy at N candidates: base, orm, oracle, prm, parm, parm_es (early stop), parm_es1 (early stop keeping
    one "yes" per prompt: `max_yes=1`), parm_wave (early stop, candidates in waves until `stop_yeses` (default 1)
    confident "yes"es: options `wave`, `stop_at`, `stop_yeses`)."""
    if n > len(rec.correct_C):
        raise ValueError(f"N={n} exceeds the recorded pool of {len(rec.correct_C)} candidates")
    if strategy == "base":
        return Replayed(0, bool(rec.correct_C[0]), float(rec.cost_T.sum()))
    if strategy == "orm":
        return replay_best_of_n(rec, n, rec.orm_C)
    if strategy == "oracle":
        return replay_best_of_n(rec, n, rec.correct_C.astype(float))
    if strategy == "prm":
        return replay_prm(rec, n, **options)
    if strategy in ("parm", "parm_es"):
        return replay_parm(rec, n, early_stop=strategy == "parm_es", **options)
    if strategy == "parm_es1":
        return replay_parm(rec, n, early_stop=True, max_yes=1, **options)
    if strategy == "parm_wave":
        if "wave" not in options or "stop_at" not in options:
            raise ValueError("parm_wave needs its settings: wave=W, stop_at=S (chosen on validation prompts)")
        return replay_parm(rec, n, early_stop=True, **options)
    raise ValueError(f"unknown strategy {strategy!r}; expected base, orm, oracle, prm, parm, parm_es, parm_es1 or "
                     "parm_wave")


def _parm_heads(parm_verifier, previews, conds, t: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PARM's clarity and potential of one step's previews: one network pass where the verifier has `heads`."""
    if hasattr(parm_verifier, "heads"):
        h = parm_verifier.heads(previews, conds, t, T)
        return h["clarity"].float().cpu(), h["potential"].float().cpu()
    return (parm_verifier.clarity(previews, conds, t, T).float().cpu(),
            parm_verifier.potential(previews, conds, t, T).float().cpu())


def _score_steps(previews_T: list[torch.Tensor], final: torch.Tensor, conds: list[str], orm, prm,
                 parm_verifier) -> tuple[np.ndarray, ...]:
    """Verifier scores of each step's previews (steps 1..T-1) and the final image (step T), one row per
    candidate -> (prm_RT, clarity_RT, potential_RT, orm_R)."""
    T = len(previews_T) + 1
    prm_s, clar_s, pot_s = [], [], []
    for t, previews in enumerate(previews_T, 1):
        prm_s.append(prm(previews, conds, t, T).float().cpu())
        clarity, potential = _parm_heads(parm_verifier, previews, conds, t, T)
        clar_s.append(clarity)
        pot_s.append(potential)
    prm_s.append(prm(final, conds, T, T).float().cpu())
    clar_s.append(torch.ones(len(conds)))
    pot_s.append(parm_verifier.potential(final, conds, T, T).float().cpu())
    return (*(torch.stack(x, 1).numpy() for x in (prm_s, clar_s, pot_s)), orm(final, conds).float().cpu().numpy())


@torch.no_grad()
def record_candidates(generator, prompts: list[str], pool: int, orm, prm, parm_verifier, judge, sampling=None,
                      seed: int = 0, output_index: int = 0, prompt_ids: list[int] | None = None) -> list[Record]:
    """Run `pool` candidates per prompt to the end, scoring every step's preview with the PRM and PARM heads
    and the final images with the ORM and `judge` (the evaluator: images, prompts -> 0/1). One Record per prompt."""
    session, keys, conds = start_candidates(generator, prompts, pool, sampling, seed, output_index * pool, prompt_ids)
    T, rows = session.num_steps, len(keys)
    cost, before, previews_T, preview_tokens_T = [], 0, [], []
    while session.t < T:
        session.step()
        cost.append((session.compute.token_forwards - before) / rows)
        before = session.compute.token_forwards
        if session.t < T:
            tokens = session.preview_tokens()
            previews_T.append(session.preview() if tokens is None else generator.decode(tokens))
            if tokens is not None:
                preview_tokens_T.append(tokens.cpu().numpy())
    out = session.finish()
    prm_RT, clar_RT, pot_RT, orm_R = _score_steps(previews_T, out.images, conds, orm, prm, parm_verifier)
    correct = judge(out.images, conds).float().cpu().numpy() > 0.5
    cost_T = np.asarray(cost)
    images_u8 = to_uint8(out.images)
    preview_tokens_RTL = _compact_ids(np.stack(preview_tokens_T, 1)) if preview_tokens_T else None
    recs = []
    for g in range(len(prompts)):
        r = [k for k, key in enumerate(keys) if key[0] == g]
        recs.append(Record(cost_T, prm_RT[r], clar_RT[r], pot_RT[r], orm_R[r], correct[r], images_u8[r],
                           out.tokens[r].cpu().numpy(), None if preview_tokens_RTL is None else preview_tokens_RTL[r]))
    return recs


def _compact_ids(ids: np.ndarray) -> np.ndarray:
    """Token ids in uint16 where they fit (every codebook here), else int64."""
    return ids.astype(np.uint16) if ids.size and 0 <= ids.min() and ids.max() < 2 ** 16 else ids.astype(np.int64)


@torch.no_grad()
def rescore_records(generator, records: list[Record], prompts: list[str], orm, prm, parm_verifier,
                    finals_only: bool = False) -> list[Record]:
    """The same candidates scored by other verifiers, without sampling again: for records that keep their
    previews' token maps (MaskGIT, and AR pools recorded since), or generators whose step-t preview is a function
    of the final tokens (`generator.preview_of`, the raster AR). Costs, images, tokens and the evaluator's
    verdicts are kept; PRM, PARM and ORM scores are recomputed as `record_candidates` computes them.
    `finals_only`: only the final images' scores (the last step's and the ORM's); the previews' are kept, which
    is right only for verifiers that score previews as the recorded ones did (the caller checks)."""
    if len(records) != len(prompts):
        raise ValueError(f"{len(records)} records but {len(prompts)} prompts")
    kept = all(r.preview_tokens_CTL is not None for r in records)
    if finals_only:
        tokens_RL = torch.from_numpy(np.concatenate([r.tokens_C for r in records]).astype(np.int64))
        conds = [p for p, r in zip(prompts, records) for _ in range(len(r.tokens_C))]
        prm_R1, _, pot_R1, orm_R = _score_steps([], generator.decode(tokens_RL.to(generator.device)), conds, orm,
                                                prm, parm_verifier)
        out, start = [], 0
        for r in records:
            s = slice(start, start + len(r.tokens_C))
            prm_CT, pot_CT = r.prm_CT.copy(), r.potential_CT.copy()
            prm_CT[:, -1], pot_CT[:, -1] = prm_R1[s, 0], pot_R1[s, 0]
            out.append(Record(r.cost_T, prm_CT, r.clarity_CT, pot_CT, orm_R[s], r.correct_C, r.images_C,
                              r.tokens_C, r.preview_tokens_CTL))
            start = s.stop
        return out
    if not kept and not hasattr(generator, "preview_of"):
        raise ValueError(f"these records keep no preview tokens and {type(generator).__name__} has no preview_of: "
                         "its previews depend on more than the final tokens; record the pool again instead")
    dev = generator.device
    tokens_RL = torch.from_numpy(np.concatenate([r.tokens_C for r in records]).astype(np.int64)).to(dev)
    conds = [p for p, r in zip(prompts, records) for _ in range(len(r.tokens_C))]
    T = len(records[0].cost_T)
    if kept:
        preview_RTL = torch.from_numpy(np.concatenate([r.preview_tokens_CTL for r in records]).astype(np.int64))
        previews_T = [generator.decode(preview_RTL[:, t - 1].to(dev)) for t in range(1, T)]
    else:
        previews_T = [generator.preview_of(tokens_RL, t) for t in range(1, T)]
    prm_RT, clar_RT, pot_RT, orm_R = _score_steps(previews_T, generator.decode(tokens_RL), conds, orm, prm,
                                                   parm_verifier)
    out, start = [], 0
    for r in records:
        s = slice(start, start + len(r.tokens_C))
        out.append(Record(r.cost_T, prm_RT[s], clar_RT[s], pot_RT[s], orm_R[s], r.correct_C, r.images_C, r.tokens_C,
                          r.preview_tokens_CTL))
        start = s.stop
    return out


# ----------------------------------------------------------------------------- records on disk, PARM++, AUCs

_RECORD_KEYS = ("cost", "prm", "clarity", "potential", "orm", "correct", "images", "tokens", "preview_tokens")


def load_records(path: Path) -> list[Record]:
    with np.load(path) as f:
        return [Record(*(f[f"{k}_{i}"] if f"{k}_{i}" in f.files else None for k in _RECORD_KEYS))
                for i in range(int(f["n"]))]


def load_validation_records(folder: str | Path, p: int, val_seed: int, partial: bool = False) -> tuple[list, list]:
    """(records, task tags) of a `search_scaling.py --validation P --val-seed S` run's records/ folder; the
    prompts are rebuilt from P and S. `partial`: the chunks recorded so far (a run stopped early) instead of
    an error when some are missing."""
    from ..verifiers.prompts import training_specs
    specs = training_specs(int(p), seed=int(val_seed))
    recs, tags = [], []
    for path in sorted(Path(folder).glob("*.npz")):
        start = int(path.stem.split("-")[0])
        for i, r in enumerate(load_records(path)):
            recs.append(r)
            tags.append(specs[start + i]["tag"])
    if len(recs) != int(p) and not partial:
        raise ValueError(f"{folder} holds {len(recs)} prompts' records, not {p}: is the recording finished, and is "
                         "this the P it was recorded with?")
    return recs, tags


def save_records(path: Path, recs: list[Record]) -> None:
    arrays = {"n": np.array(len(recs))}
    for i, r in enumerate(recs):
        for k, v in zip(_RECORD_KEYS, (r.cost_T, r.prm_CT, r.clarity_CT, r.potential_CT, r.orm_C, r.correct_C,
                                       r.images_C, r.tokens_C, r.preview_tokens_CTL)):
            if v is not None:
                arrays[f"{k}_{i}"] = v
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def replay_parm_plus_plus(gen, recs, keys, specs, n, parm_v, judge, sampling, seed, rounds, pool, threshold=0.5,
                          clarity=0.5):
    """PARM-ES choice at N from the records, then reflection rounds online (`reflect_and_correct`, with the seeds
    of `imagecot geneval generate --verifier parm++ --seed-stride <pool>`).
    -> (correct, token-forwards, verifier images) per image, counted as the online `parm_plus_plus` counts."""
    chosen = [replay(r, "parm_es", n, threshold=threshold, clarity=clarity) for r in recs]
    images = torch.stack([torch.from_numpy(r.images_C[c.chosen]).permute(2, 0, 1).float() / 127.5 - 1
                          for r, c in zip(recs, chosen)])
    tokens = torch.stack([torch.from_numpy(r.tokens_C[c.chosen]) for r, c in zip(recs, chosen)])
    prompts = [specs[i]["prompt"] for i, _ in keys]
    out = reflect_and_correct(gen, images, tokens, prompts, [i for i, _ in keys], [j * pool for _, j in keys],
                              parm_v, sampling, seed, rounds)
    ok = [bool(x) for x in judge(out["images"], prompts).tolist()]
    before = [c.correct for c in chosen]
    kept = [any(h["accepted"] for h in hist) for hist in out["history"]]
    audit = {"reflected_on": sum(bool(h) for h in out["history"]), "corrections_kept": sum(kept),
             "kept_wrong_to_right": sum(k and a and not b for k, a, b in zip(kept, ok, before)),
             "kept_right_to_wrong": sum(k and b and not a for k, a, b in zip(kept, ok, before)),
             "kept_unchanged_verdict": sum(k and a == b for k, a, b in zip(kept, ok, before))}
    return (ok, [c.compute + x for c, x in zip(chosen, out["compute_B"])],
            [c.verifier_images + x for c, x in zip(chosen, out["seen_B"])], audit)


def pool_auc(recs, keys, specs, clarity: float = 0.5) -> dict:
    """AUC of each verifier's score against the evaluator on every recorded candidate, per benchmark task:
    ORM on final images, PRM on final images, PARM's potential at the first step of clarity >= `clarity` (the step
    PARM judges).
    The verifiers never trained on these prompts (nor, for four tasks, on their wording): this is the shift.
    Pooled AUC also rewards knowing which prompts are hard; search only needs the ranking within one image's
    pool, so `<role>_within` is the mean AUC over the pools that hold both a correct and a wrong candidate."""
    rows: dict[str, dict[str, list]] = {}
    for (i, _), r in zip(keys, recs):
        first_C = (r.clarity_CT >= clarity).argmax(1)   # the final image (last column) is always clear
        scores = {"orm": r.orm_C, "prm": r.prm_CT[:, -1],
                  "parm": r.potential_CT[np.arange(len(first_C)), first_C], "correct": r.correct_C}
        for task in (specs[i]["tag"], "overall"):
            for k, v in scores.items():
                rows.setdefault(task, {}).setdefault(k, []).append(v)
    out = {}
    for task, d in rows.items():
        y = np.concatenate(d["correct"])
        mixed = [q for q, c in enumerate(d["correct"]) if 0 < c.sum() < len(c)]
        out[task] = {k: auc(np.concatenate(d[k]), y) for k in ("orm", "prm", "parm")} | {
            f"{k}_within": float(np.mean([auc(d[k][q], d["correct"][q]) for q in mixed])) if mixed else None
            for k in ("orm", "prm", "parm")} | {
            "positive_rate": float(y.mean()), "candidates": int(len(y)), "mixed_pools": len(mixed),
            "orm_ece": expected_calibration_error(np.concatenate(d["orm"]), y)}
    return out


def pool_auc_by_step(recs) -> dict:
    """Mean within-pool AUC of the PRM and of PARM's potential on each step's previews (the last: the final image),
    over the pools with both outcomes: where pruning on a step's score can beat a coin flip."""
    mixed = [r for r in recs if 0 < r.correct_C.sum() < len(r.correct_C)]
    return {k: [float(np.mean([auc(getattr(r, k)[:, t], r.correct_C) for r in mixed])) if mixed else None
                for t in range(len(recs[0].cost_T))] for k in ("prm_CT", "potential_CT")}
