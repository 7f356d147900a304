"""Preference data from a generator's own samples: K candidates per training prompt, judged, paired yes with no.

`write_preferences` samples K candidates for each training prompt (the
verifier papers' prompt rule, `verifiers.prompts`; every image seeded with
`seeds.training_seed`, never a benchmark seed), scores them with a judge and
writes resumable shards (`writer.write_shards`) holding, per prompt:
`prompt`, `prompt_index`, `tokens` (K, L), `score` (K,) in [0, 1] and
`verdict` (K,) = score >= 0.5. settings.json records the generator's and the
judge's identity, the sampling and the seed. Judges (`judge_for`):
- `evaluator`: the benchmark's evaluator on the training prompts. Reward from
  the evaluator is a known recipe (Flow-GRPO trains on GenEval's detector);
  anything aligned with it is labelled "evaluator-judged";
- `verifier`: the zoo's learned verifier of this generator (its ORM head), or
  any verifier folder.
`build_pairs` pairs one "yes" with one "no" per prompt (the paper's rule; more
with `per_prompt`), dropping the prompts whose candidates all agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..seeds import training_seed

JUDGES = ("evaluator", "verifier")


def judge_for(name: str | Path, generator_kind: str = "ar", device: str = "cpu"):
    """(judge(images, prompts) -> scores in [0, 1], its name): the evaluator, the zoo's verifier, or a folder."""
    if str(name) == "evaluator":
        from ..verifiers.oracle import OracleVerifier
        return OracleVerifier(), "evaluator (the benchmark's detector and rules, on training prompts)"
    from ..zoo import load_verifier
    path = None if str(name) == "verifier" else name
    v = load_verifier("orm", path, device, generator_kind)
    return v, f"learned verifier ({'zoo verifier-' + generator_kind if path is None else path}, ORM head)"


def collect_preferences(generator, specs: list[dict], k: int, judge, sampling=None, seed: int = 0,
                        batch_size: int = 64, first_prompt: int = 0) -> dict:
    """K candidates per spec (candidate j of spec i: training_seed(seed, first_prompt + i, j)), scored by `judge`.
    -> {prompt (P,), prompt_index (P,), tokens (P, K, L), score (P, K), verdict (P, K)}."""
    if k < 2:
        raise ValueError(f"a preference needs at least 2 candidates per prompt, got {k}")
    per_batch = max(1, batch_size // k)
    tokens, scores = [], []
    for start in range(0, len(specs), per_batch):
        chunk = list(range(start, min(start + per_batch, len(specs))))
        prompts = [specs[i]["prompt"] for i in chunk for _ in range(k)]
        out = generator.generate(prompts, sampling, seed=[training_seed(seed, first_prompt + i, j)
                                                          for i in chunk for j in range(k)])
        s = judge(out.images, prompts).float().cpu().numpy()
        tokens.append(out.tokens.cpu().numpy().reshape(len(chunk), k, -1))
        scores.append(s.reshape(len(chunk), k))
    score = np.concatenate(scores)
    return {"prompt": np.array([s["prompt"] for s in specs]), "prompt_index": np.arange(len(specs)) + first_prompt,
            "tokens": np.concatenate(tokens).astype(np.int32), "score": score.astype(np.float32),
            "verdict": score >= 0.5}


def write_preferences(generator, specs: list[dict], out_dir, k: int, judge, judge_name: str, sampling=None,
                      seed: int = 0, batch_size: int = 64, shard_prompts: int = 256, progress=None) -> Path:
    """`collect_preferences` over every spec into resumable shards (see the module doc)."""
    from ..writer import identity, write_shards
    settings = {"generator": identity(generator), "judge": judge_name, "judge_identity": identity(judge),
                "sampling": vars(sampling) if sampling is not None else None, "seed": seed, "k": k,
                "shard_prompts": shard_prompts, "prompts": [s["prompt"] for s in specs]}
    return write_shards(out_dir, settings, len(specs), shard_prompts,
                        lambda a, b: collect_preferences(generator, specs[a:b], k, judge, sampling, seed, batch_size,
                                                         first_prompt=a), progress)


def load_preferences(path, limit: int | None = None) -> dict:
    from ..writer import read_shards
    data = read_shards(path, limit, "preference data `imagecot preferences` wrote")
    missing = {"prompt", "tokens", "verdict"} - set(data)
    if missing:
        raise ValueError(f"{path} is not preference data: it lacks {sorted(missing)}")
    return data


def build_pairs(data: dict, per_prompt: int = 1, seed: int = 0) -> dict:
    """(winner, loser) token pairs: per prompt with both verdicts, `per_prompt` pairs of a random "yes" and a random
    "no" (seeded); prompts whose candidates all agree are dropped. -> {winner (P, L), loser (P, L), prompt (P,),
    prompt_index (P,), dropped (int: unanimous prompts)}."""
    rng = np.random.default_rng([seed, 91])
    winner, loser, prompt, index = [], [], [], []
    verdict = data["verdict"]
    mixed = verdict.any(1) & ~verdict.all(1)
    for p in np.nonzero(mixed)[0]:
        yes, no = np.nonzero(verdict[p])[0], np.nonzero(~verdict[p])[0]
        for _ in range(per_prompt):
            winner.append(data["tokens"][p, rng.choice(yes)])
            loser.append(data["tokens"][p, rng.choice(no)])
            prompt.append(str(data["prompt"][p]))
            index.append(int(data["prompt_index"][p]))
    L = data["tokens"].shape[-1]
    return {"winner": np.array(winner, np.int64).reshape(-1, L), "loser": np.array(loser, np.int64).reshape(-1, L),
            "prompt": np.array(prompt), "prompt_index": np.array(index, np.int64), "dropped": int((~mixed).sum())}

