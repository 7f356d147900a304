"""Diversity of a generator per prompt: does alignment (DPO, DDO) collapse what it draws?

For each prompt, k samples (image seeds j < k): the share of distinct token
sequences among them, and the mean pairwise distance of their images (RMS over
pixels in [0, 1]). Both averaged over prompts; compare a model with its aligned
copy on the same prompts, seeds and sampling.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..seeds import image_seed


def diversity(generator, conditions: list, k: int = 8, sampling=None, seed: int = 0, batch_size: int = 64) -> dict:
    if k < 2:
        raise ValueError(f"diversity needs at least 2 samples per condition, got {k}")
    distinct, distance = [], []
    per_batch = max(1, batch_size // k)
    for s in range(0, len(conditions), per_batch):
        chunk = list(range(s, min(s + per_batch, len(conditions))))
        out = generator.generate([conditions[i] for i in chunk for _ in range(k)], sampling,
                                 seed=[image_seed(seed, i, j) for i in chunk for j in range(k)])
        tokens = out.tokens.cpu().numpy().reshape(len(chunk), k, -1)
        images = ((out.images.float().clamp(-1, 1) + 1) / 2).cpu().numpy().reshape(len(chunk), k, -1)
        for t, im in zip(tokens, images):
            distinct.append(len({row.tobytes() for row in t}) / k)
            distance.append(np.mean([np.sqrt(np.mean((im[a] - im[b]) ** 2))
                                     for a, b in itertools.combinations(range(k), 2)]))
    return {"conditions": len(conditions), "samples_per_condition": k,
            "distinct_token_share": float(np.mean(distinct)), "mean_pairwise_rms": float(np.mean(distance))}
