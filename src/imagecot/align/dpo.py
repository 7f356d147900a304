"""DPO (Rafailov et al. 2023) on verifier- or evaluator-ranked pairs of a generator's own samples, and iterative DPO.

loss = -log sigmoid(beta * [(log pi(w) - log ref(w)) - (log pi(l) - log ref(l))])

over pairs (winner w, loser l | prompt), pi the policy, ref a frozen copy of
the policy at the start of the round. Log-probabilities are the bare model's
(`TokenGenerator.log_prob`, no guidance, conditioned on the prompt: "no CFG in
training", as the Image-Generation-CoT recipe):
- AR (and LlamaGen): exact sums over the raster sequence;
- VAR: sums over all scales;
- MaskGIT: Show-o's masked-token estimate, with the same masks for the policy
  and the reference (seeded by the step).
Defaults are the reference recipe: beta 0.1, lr 1e-5, one epoch over the pairs.
`sft_weight` > 0 adds the winners' mean per-token negative log-likelihood
(RPO, Pang et al. 2024): plain DPO can lower both likelihoods while it widens
their gap ("likelihood displacement") and drift to images it never drew; the
NLL term holds the winners' likelihood up. 0 (the default) is plain DPO.
Iterative DPO (`rounds` > 1, `iterative_dpo`): each round samples new
candidates with the current policy (new training seeds), judges them, drops
the prompts whose verdicts all agree, and trains again. **The reference moves**:
each round's reference is the policy it starts from (as in iterative/online DPO;
the paper's second round trains from the first round's model).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..generators.registry import keep_sampling
from ..io_utils import atomic_write_json
from ..train.loop import TrainConfig, train


@dataclass
class DPOConfig:
    beta: float = field(default=0.1, metadata={"help": "DPO's inverse temperature"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the pairs: the step budget"})
    pairs_per_prompt: int = field(default=1, metadata={"help": "pairs (a 'yes' with a 'no') per prompt"})
    rounds: int = field(default=1, metadata={"help": "iterative DPO: sample, judge, pair and train this many times"})
    prompts: int = field(default=10000, metadata={"help": "training prompts sampled per round"})
    sft_weight: float = field(default=0.0, metadata={
        "help": "weight of the winners' per-token NLL beside the DPO loss (RPO; 0: plain DPO)"})
    per_prompt: int = field(default=8, metadata={"help": "candidates per prompt, judged to make pairs"})

    def __post_init__(self):
        if not (self.beta > 0 and self.epochs > 0 and self.pairs_per_prompt >= 1 and self.rounds >= 1
                and self.prompts >= 1 and self.per_prompt >= 2 and self.sft_weight >= 0):
            raise ValueError(f"need beta > 0, epochs > 0, pairs_per_prompt >= 1, rounds >= 1, prompts >= 1, "
                             f"per_prompt >= 2 and sft_weight >= 0, got {self}")


def dpo_loss(pi_w: torch.Tensor, pi_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float, sft_weight: float = 0.0, tokens: int = 1) -> dict:
    """The DPO loss of B pairs' sequence log-probabilities (+ `sft_weight` x the winners' NLL per token, of
    `tokens` tokens a sequence), and what to log: the implicit rewards' margin, how often the winner's beats the
    loser's, and how far each side's log-likelihood moved from the reference's (per token)."""
    margin = (pi_w - ref_w) - (pi_l - ref_l)
    loss = -F.logsigmoid(beta * margin).mean()
    if sft_weight:
        loss = loss - sft_weight * pi_w.mean() / tokens
    return {"loss": loss, "reward_margin": (beta * margin).mean().detach(),
            "reward_accuracy": (margin > 0).float().mean().detach(),
            "winner_shift": ((pi_w - ref_w).mean() / tokens).detach(),
            "loser_shift": ((pi_l - ref_l).mean() / tokens).detach()}


def train_dpo(run_dir: str | Path, generator, pairs: dict, cfg: TrainConfig, dpo: DPOConfig | None = None,
              sampling=None):
    """DPO of `generator.model` against a frozen copy of itself on `pairs` (`preferences.build_pairs`); a
    `train.loop` run (resume, checkpoints) whose final/ is a generator checkpoint like any other. Its step budget
    is `dpo.epochs` passes over the pairs in batches of `cfg.batch_size` (`cfg.steps` is not read)."""
    dpo = dpo or DPOConfig()
    P = len(pairs["prompt"])
    if P == 0:
        raise ValueError("no preference pairs: every prompt's candidates got the same verdict")
    cfg = TrainConfig(**{**asdict(cfg), "steps": max(1, math.ceil(dpo.epochs * P / cfg.batch_size))})
    reference = copy.deepcopy(generator.model).eval().requires_grad_(False).to(distributed.local_device(cfg.device))
    winner, loser = torch.from_numpy(pairs["winner"]).long(), torch.from_numpy(pairs["loser"]).long()
    order = np.random.default_rng([cfg.seed, 5]).permutation(P)

    def loss_fn(model, step: int) -> dict:
        start = (step * cfg.batch_size) % P
        idx = np.resize(np.roll(order, -start), cfg.batch_size) if P < cfg.batch_size else \
            np.take(order, range(start, start + cfg.batch_size), mode="wrap")
        idx = idx[distributed.local_rows(cfg.batch_size)]   # under torchrun: this rank's rows of the global batch
        prompts = [str(pairs["prompt"][i]) for i in idx]
        dev = next(model.parameters()).device
        w, lo = winner[idx].to(dev), loser[idx].to(dev)
        pi_w, pi_l = (generator.log_prob(t, prompts, model=model, seed=step) for t in (w, lo))
        with torch.no_grad():
            ref_w, ref_l = (generator.log_prob(t, prompts, model=reference, seed=step) for t in (w, lo))
        return dpo_loss(pi_w, pi_l, ref_w, ref_l, dpo.beta, dpo.sft_weight, w.shape[1])

    torch.manual_seed(cfg.seed)
    policy = train(generator.model, loss_fn, run_dir, cfg)
    generator.model = policy.eval()
    if sampling is not None:   # the policy samples as its starting checkpoint did: keep its sampling.json
        keep_sampling(Path(run_dir) / "final", sampling)
    return generator


def iterative_dpo(out: str | Path, generator, specs_for_round, judge, judge_name: str, sampling, cfg: TrainConfig,
                  dpo: DPOConfig, seed: int = 0, batch_size: int = 64, progress=None) -> dict:
    """`dpo.rounds` rounds under `out/round-<r>/`: preferences (the current policy's K candidates per prompt of
    `specs_for_round(r)`, judged; training seeds base seed + r) and a DPO run from the current policy against a
    reference frozen at the round's start. Each round resumes on its own. -> a summary of every round (pairs,
    dropped prompts, the judge's yes-rate, seconds), also written to `out/rounds.json`."""
    import time

    from .preferences import build_pairs, load_preferences, write_preferences
    out, summary = Path(out), []
    for r in range(dpo.rounds):
        t0 = time.time()
        round_dir = out / f"round-{r}"
        prefs = write_preferences(generator, specs_for_round(r), round_dir / "preferences", dpo.per_prompt, judge,
                                  judge_name, sampling, seed + r, batch_size, progress=progress)
        data = load_preferences(prefs)
        pairs = build_pairs(data, dpo.pairs_per_prompt, seed + r)
        generator = train_dpo(round_dir / "run", generator, pairs, cfg, dpo, sampling)
        summary.append({"round": r, "pairs": int(len(pairs["prompt"])), "unanimous_prompts_dropped": pairs["dropped"],
                        "yes_rate": float(data["verdict"].mean()), "seconds": round(time.time() - t0, 1),
                        "checkpoint": str(round_dir / "run" / "final")})
        atomic_write_json(out / "rounds.json", {"dpo": asdict(dpo), "judge": judge_name, "rounds": summary})
    return {"rounds": summary, "final": summary[-1]["checkpoint"]}

