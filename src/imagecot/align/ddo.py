"""DDO (Direct Discriminative Optimization, Zheng et al. 2025): the model's own likelihood ratio as a GAN discriminator.

d(x) = beta * (log p_theta(x | c) - log p_ref(x | c)), against a frozen
reference (the model at the start of the round), and

loss = -E_real[log sigmoid(d(x))] - alpha * E_{x ~ p_ref}[log(1 - sigmoid(d(x)))]

pushes the likelihood ratio up on real training images and down on the
reference's own samples: the model moves towards the data where the reference
over- or under-covers it. Rounds of self-play move the reference to the
latest model and draw new fake samples from it. It is the rival of classifier
rejection sampling: rejection filters a model's samples, DDO improves the model.
Log-probabilities are the bare model's (`TokenGenerator.log_prob`, no guidance).
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
from ..seeds import training_seed
from ..train.loop import TrainConfig, train


@dataclass
class DDOConfig:
    beta: float = field(default=0.1, metadata={"help": "scale of the log-likelihood ratio (the discriminator's)"})
    alpha: float = field(default=1.0, metadata={"help": "weight of the fake (reference samples) term"})
    rounds: int = field(default=1, metadata={"help": "self-play rounds: the reference moves to the latest model"})
    fake_per_class: int = field(default=1000, metadata={"help": "reference samples per class drawn each round"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the fake samples per round: the step budget"})

    def __post_init__(self):
        if not (self.beta > 0 and self.alpha >= 0 and self.rounds >= 1 and self.fake_per_class >= 1
                and self.epochs > 0):
            raise ValueError(f"need beta > 0, alpha >= 0, rounds >= 1, fake_per_class >= 1, epochs > 0; got {self}")


def ddo_loss(pi_real: torch.Tensor, ref_real: torch.Tensor, pi_fake: torch.Tensor, ref_fake: torch.Tensor,
             beta: float, alpha: float) -> dict:
    """DDO's loss of a batch of real and fake log-probabilities under the policy and the reference, and what to
    log: the discriminator's mean output on each side."""
    d_real, d_fake = beta * (pi_real - ref_real), beta * (pi_fake - ref_fake)
    loss = -F.logsigmoid(d_real).mean() - alpha * F.logsigmoid(-d_fake).mean()
    return {"loss": loss, "d_real": torch.sigmoid(d_real).mean().detach(),
            "d_fake": torch.sigmoid(d_fake).mean().detach()}


def reference_samples(generator, classes: list[int], per_class: int, sampling=None, seed: int = 0,
                      batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(tokens (C * per_class, L), their classes): the fake side, seeded with training seeds."""
    jobs = [(k, j) for k in classes for j in range(per_class)]
    tokens = []
    for s in range(0, len(jobs), batch_size):
        chunk = jobs[s:s + batch_size]
        out = generator.generate([k for k, _ in chunk], sampling, seed=[training_seed(seed, k, j) for k, j in chunk])
        tokens.append(out.tokens.cpu().numpy())
    return np.concatenate(tokens), np.array([k for k, _ in jobs])


def train_ddo(out: str | Path, generator, real_tokens: np.ndarray, real_classes: np.ndarray, cfg: TrainConfig,
              ddo: DDOConfig | None = None, sampling=None, seed: int = 0) -> tuple[object, list[dict]]:
    """`ddo.rounds` rounds under `out/round-<r>/`, each a `train.loop` run (resumable) against a reference frozen at
    the round's start, on real (tokens, classes) and the reference's samples (plain sampling, no guidance unless
    `sampling` asks for it). -> (the generator with the final model, a summary per round)."""
    import time
    ddo = ddo or DDOConfig()
    out, summary = Path(out), []
    classes = sorted(set(real_classes.tolist()))
    real_t = torch.from_numpy(real_tokens).long()
    for r in range(ddo.rounds):
        t0 = time.time()
        reference = copy.deepcopy(generator.model).eval().requires_grad_(False).to(distributed.local_device(cfg.device))
        fake_tokens, fake_classes = reference_samples(generator, classes, ddo.fake_per_class, sampling, seed + r)
        fake_t = torch.from_numpy(fake_tokens).long()
        steps = max(1, math.ceil(ddo.epochs * len(fake_t) / cfg.batch_size))
        run_cfg = TrainConfig(**{**asdict(cfg), "steps": steps})

        def loss_fn(model, step: int, fake_t=fake_t, fake_classes=fake_classes, reference=reference) -> dict:
            rng = np.random.default_rng([cfg.seed, r, step])
            ri, fi = rng.integers(0, len(real_t), cfg.batch_size), rng.integers(0, len(fake_t), cfg.batch_size)
            rows = distributed.local_rows(cfg.batch_size)   # under torchrun: this rank's rows of the global batch
            ri, fi = ri[rows], fi[rows]
            dev = next(model.parameters()).device
            real_c = [int(k) for k in real_classes[ri]]
            fake_c = [int(k) for k in fake_classes[fi]]
            xr, xf = real_t[ri].to(dev), fake_t[fi].to(dev)
            pi_r, pi_f = generator.log_prob(xr, real_c, model=model), generator.log_prob(xf, fake_c, model=model)
            with torch.no_grad():
                ref_r = generator.log_prob(xr, real_c, model=reference)
                ref_f = generator.log_prob(xf, fake_c, model=reference)
            return ddo_loss(pi_r, ref_r, pi_f, ref_f, ddo.beta, ddo.alpha)

        torch.manual_seed(cfg.seed + r)
        generator.model = train(generator.model, loss_fn, out / f"round-{r}", run_cfg).eval()
        if sampling is not None:   # each round samples as the starting checkpoint did
            keep_sampling(out / f"round-{r}" / "final", sampling)
        summary.append({"round": r, "steps": steps, "fake_samples": int(len(fake_t)),
                        "seconds": round(time.time() - t0, 1), "checkpoint": str(out / f"round-{r}" / "final")})
        atomic_write_json(out / "rounds.json", {"ddo": asdict(ddo), "rounds": summary})
    return generator, summary
