"""Sampling knobs and the one function that turns logits into tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_CFG = 100.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3


@dataclass
class SamplingConfig:
    cfg_scale: float = 1.0       # classifier-free guidance; 1.0 = conditional only
    temperature: float = 1.0
    top_k: int = 0               # 0 = off
    top_p: float = 1.0           # 1.0 = off

    def __post_init__(self):
        # bounds that keep logits finite in float32: a scale of 1e30 or a temperature of 1e-30 turns them into
        # inf - inf = NaN, and sampling from NaN makes garbage without an error
        if not MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must be in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 <= self.cfg_scale <= MAX_CFG:
            raise ValueError(f"cfg_scale must be in [0, {MAX_CFG}] (the field uses 1-10), got {self.cfg_scale}")


def guide(logits_cond_BV: torch.Tensor, logits_uncond_BV: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond)."""
    return logits_uncond_BV + scale * (logits_cond_BV - logits_uncond_BV)


def filter_logits(logits_BV: torch.Tensor, s: SamplingConfig) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus); filtered entries become -inf."""
    logits_BV = logits_BV.float() / s.temperature
    V = logits_BV.shape[-1]
    if 0 < s.top_k < V:
        kth = logits_BV.topk(s.top_k, dim=-1).values[..., -1:]
        logits_BV = logits_BV.masked_fill(logits_BV < kth, float("-inf"))
    if s.top_p < 1.0:
        sorted_BV, order_BV = logits_BV.sort(dim=-1, descending=True)
        cum_BV = sorted_BV.softmax(-1).cumsum(-1)
        drop_sorted = cum_BV - sorted_BV.softmax(-1) > s.top_p  # keep the smallest set reaching top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order_BV, drop_sorted)
        logits_BV = logits_BV.masked_fill(drop, float("-inf"))
    return logits_BV


def sample_from_uniform(logits_BV: torch.Tensor, u_B: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling with pre-drawn uniforms u_B in [0, 1).

    Drawing the uniforms outside (one per original candidate and step) makes a
    candidate's tokens independent of which other candidates are still alive,
    and cached/uncached runs consume identical randomness.
    """
    cdf_BV = logits_BV.softmax(-1).double().cumsum(-1)
    cdf_BV = cdf_BV / cdf_BV[:, -1:]
    idx_B = torch.searchsorted(cdf_BV, u_B.double().unsqueeze(1)).squeeze(1)
    return idx_B.clamp_max(logits_BV.shape[-1] - 1)


def draw_uniforms(seed: int | list[int], batch: int, n: int) -> torch.Tensor:
    """(batch, n) float64 uniforms: from one seed, or one seed per candidate.

    Per-candidate seeds make an image independent of how candidates are batched
    (a resumed benchmark run regenerates exactly the images it would have).
    """
    if isinstance(seed, int):
        return torch.rand(batch, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if len(seed) != batch:
        raise ValueError(f"got {len(seed)} seeds for {batch} candidates")
    return torch.stack([torch.rand(n, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
                        for s in seed])
