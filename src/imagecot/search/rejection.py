"""Classifier rejection sampling: a pretrained classifier filters class-conditional samples.

VAR reports FIDs "with rejection sampling" next to the plain ones: candidates
the classifier does not recognise as their class are thrown away. That lowers
FID without a better model, at a compute cost, and usually at the price of
diversity (recall) — so both numbers belong side by side.

Acceptance rules (p = the classifier's probability of the target class):
- "threshold": accept when p >= threshold;
- "top_fraction": draw n / fraction candidates per class, keep the n with the highest p;
- "tilted": accept with probability p ** alpha (a seeded coin per candidate),
  which tilts the sampled distribution from q(x | y) towards q(x | y) p(y | x)^alpha.

Every candidate has its own seed (class, draw index), so what is drawn does not
depend on batching, and compute is counted over all drawn candidates.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.images import to_uint8
from ..generators.base import Compute
from ..generators.condition import class_space
from ..seeds import image_seed

RULES = ("threshold", "top_fraction", "tilted")


@dataclass
class AcceptanceRule:
    kind: str = "threshold"
    threshold: float = 0.5     # "threshold"
    fraction: float = 0.5      # "top_fraction"
    alpha: float = 1.0         # "tilted"

    def __post_init__(self):
        if self.kind not in RULES:
            raise ValueError(f"unknown acceptance rule {self.kind!r}; expected one of {', '.join(RULES)}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")


class ClassifierFilter:
    """Any torch.nn.Module classifier as p(class | image); `preprocess` maps generator images ((B, 3, H, W) in
    [-1, 1]) to the classifier's input (resize, normalisation)."""

    def __init__(self, classifier: torch.nn.Module, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 batch_size: int = 256, num_classes: int | None = None, class_names: tuple[str, ...] = ()):
        self.classifier = classifier.eval()
        self.preprocess = preprocess or (lambda x: x)
        self.batch_size = batch_size
        config = getattr(classifier, "config", None)
        self.class_names = tuple(class_names or getattr(config, "class_names", ()) or ())
        heads = [m.out_features for m in classifier.modules() if isinstance(m, torch.nn.Linear)]
        self.num_classes = num_classes or getattr(config, "num_classes", None) or (heads[-1] if heads else None)

    def check_covers(self, names: tuple[str, ...], n: int) -> None:
        """Refuse a classifier whose classes are not the generator's (`names`, `n`): each sample would be scored
        against another class, and rejection would keep noise (e.g. ImageNet's 1000 classes on Fashion-MNIST)."""
        if self.num_classes is not None and self.num_classes != n:
            raise ValueError(f"the classifier has {self.num_classes} classes, the generator {n}: rejection would "
                             "score every sample against another class; pass a classifier trained on the "
                             "generator's classes (imagecot train classifier --data ...)")
        if names and self.class_names and tuple(n.lower() for n in names) != tuple(
                c.lower() for c in self.class_names):
            raise ValueError(f"the classifier's classes {list(self.class_names)[:4]}... are not the generator's "
                             f"{list(names)[:4]}...; pass a classifier trained on the generator's classes")

    @torch.no_grad()
    def probs(self, images_B3HW: torch.Tensor) -> torch.Tensor:
        dev = next(self.classifier.parameters()).device
        out = [self.classifier(self.preprocess(images_B3HW[i:i + self.batch_size].to(dev))).float().softmax(-1).cpu()
               for i in range(0, images_B3HW.shape[0], self.batch_size)]
        return torch.cat(out)

    def target_probs(self, images_B3HW: torch.Tensor, class_ids: list[int]) -> torch.Tensor:
        p = self.probs(images_B3HW)
        return p[torch.arange(len(class_ids)), torch.as_tensor(class_ids)]


@dataclass
class RejectionResult:
    images: np.ndarray                 # uint8 (N, H, W, 3), grouped by class in the order asked
    class_ids: np.ndarray              # (N,)
    target_probs: np.ndarray           # (N,) p(target | image) of the kept images
    drawn: dict[int, int]              # candidates drawn per class
    accepted: dict[int, int]           # candidates that passed the rule per class (before any fill-up)
    filled: dict[int, int]             # per class: rejected candidates kept because max draws ran out
    compute: Compute = field(default_factory=Compute)
    needed: dict[int, int] = field(default_factory=dict)  # per class: draws up to its last kept one

    @property
    def acceptance_rate(self) -> float:
        return sum(self.accepted.values()) / max(1, sum(self.drawn.values()))

    @property
    def compute_multiplier(self) -> float:
        """Generator compute per kept image, relative to plain sampling: drawn / kept, every draw counted (the
        batched rounds over-draw a little). The classifier's own compute is not included."""
        return sum(self.drawn.values()) / max(1, len(self.class_ids))

    @property
    def sequential_multiplier(self) -> float:
        """The same for a sampler that draws one candidate at a time and stops at the last one it keeps."""
        return sum(self.needed.values()) / max(1, len(self.class_ids))

    def summary(self) -> dict:
        return {"images": len(self.class_ids), "drawn": int(sum(self.drawn.values())),
                "acceptance_rate": self.acceptance_rate, "compute_multiplier": self.compute_multiplier,
                "sequential_multiplier": self.sequential_multiplier,
                "filled_without_acceptance": int(sum(self.filled.values())),
                "mean_target_prob": float(self.target_probs.mean()) if len(self.target_probs) else None,
                "compute": self.compute.to_dict(),
                "per_class": {k: {"drawn": self.drawn[k], "accepted": self.accepted[k], "filled": self.filled[k]}
                              for k in self.drawn}}


def _draw(generator, classes: list[int], draw_idx: list[int], seed: int, sampling, batch_size: int,
          filt: ClassifierFilter, compute: Compute):
    imgs, probs = [], []
    for i in range(0, len(classes), batch_size):
        cls = classes[i:i + batch_size]
        seeds = [image_seed(seed, k, j) for k, j in zip(cls, draw_idx[i:i + batch_size])]
        out = generator.generate(cls, sampling, seed=seeds)
        compute += out.compute
        probs.append(filt.target_probs(out.images, cls))
        imgs.append(to_uint8(out.images))
    return np.concatenate(imgs), torch.cat(probs).numpy()


def rejection_sample(generator, class_ids: list[int], n_per_class: int, filt: ClassifierFilter,
                     rule: AcceptanceRule, sampling=None, seed: int = 0, batch_size: int = 64,
                     max_draws_per_class: int | None = None, progress: Callable[[int, int], None] | None = None
                     ) -> RejectionResult:
    """`n_per_class` kept images for each class, drawn from `generator` and filtered by `rule`.

    Threshold and tilted rules draw in rounds until every class has its images
    or has drawn `max_draws_per_class` (default 20 x n); a class that runs out
    is filled up with its most probable rejected candidates and reported in
    `filled`, never silently short.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    config = getattr(getattr(generator, "model", None), "config", None)
    if config is not None:
        filt.check_covers(*class_space(config))
    max_draws = max_draws_per_class or 20 * n_per_class
    compute = Compute()
    drawn = {k: 0 for k in class_ids}
    kept: dict[int, list[tuple[float, np.ndarray]]] = {k: [] for k in class_ids}
    rejected: dict[int, list[tuple[float, np.ndarray]]] = {k: [] for k in class_ids}
    passed = {k: 0 for k in class_ids}
    needed = dict(drawn)
    if rule.kind == "top_fraction":
        n_draw = math.ceil(n_per_class / rule.fraction)
        classes = [k for k in class_ids for _ in range(n_draw)]
        imgs, p = _draw(generator, classes, [j for _ in class_ids for j in range(n_draw)], seed, sampling,
                        batch_size, filt, compute)
        for i, k in enumerate(classes):
            kept[k].append((float(p[i]), imgs[i]))
        for k in class_ids:
            drawn[k] = needed[k] = n_draw
            passed[k] = n_per_class
            kept[k] = sorted(kept[k], key=lambda t: -t[0])[:n_per_class]
    else:
        rate = {k: 1.0 for k in class_ids}
        while True:
            need = {k: n_per_class - len(kept[k]) for k in class_ids
                    if len(kept[k]) < n_per_class and drawn[k] < max_draws}
            if not need:
                break
            classes, idx = [], []
            for k, m in need.items():
                ask = min(max_draws - drawn[k], max(m, math.ceil(1.1 * m / max(rate[k], 0.02))))
                classes += [k] * ask
                idx += list(range(drawn[k], drawn[k] + ask))
            imgs, p = _draw(generator, classes, idx, seed, sampling, batch_size, filt, compute)
            for i, (k, j) in enumerate(zip(classes, idx)):
                if rule.kind == "threshold":
                    ok = p[i] >= rule.threshold
                else:
                    coin = np.random.default_rng([seed, k, j, 7]).random()
                    ok = coin < float(p[i]) ** rule.alpha
                passed[k] += int(ok)
                if ok and len(kept[k]) < n_per_class:
                    kept[k].append((float(p[i]), imgs[i]))
                    needed[k] = j + 1
                else:
                    rejected[k].append((float(p[i]), imgs[i]))
            for k, m in Counter(classes).items():
                drawn[k] += m
                rate[k] = max(passed[k], 1) / drawn[k]
            if progress:
                progress(sum(len(v) for v in kept.values()), n_per_class * len(class_ids))
    filled = {k: 0 for k in class_ids}
    for k in class_ids:
        short = n_per_class - len(kept[k])
        if short > 0:
            best = sorted(rejected[k], key=lambda t: -t[0])[:short]
            kept[k] += best
            filled[k] = len(best)
            needed[k] = drawn[k] if best else needed[k]
    rows = [(k, p, img) for k in class_ids for p, img in kept[k]]
    return RejectionResult(np.stack([r[2] for r in rows]), np.array([r[0] for r in rows]),
                           np.array([r[1] for r in rows]), drawn, passed, filled, compute, needed)
