"""VAR's raster draft: the coarse scales drawn token by token by a small AR, the fine scales by VAR in parallel.

VAR samples every token of a scale at once, each independent of the others given the coarser scales, so two
cells of one object can pick codes that do not agree (the preview strips show colours mixing inside one object).
The remedy of "an AR draft refined in parallel": a raster AR over the first D scales' tokens (scale after scale,
raster order within each) draws the layout with every token seeing the ones before it; VAR then continues from
that draft with its own next-scale steps. Given the draft's tokens, the fine scales are plain VAR's: the same
network, the same inputs, the same log-probs.

The draft is an `ARTransformer` whose `seq_len` is the number of tokens of the first D scales; it lives in the
`draft/` folder of a VAR checkpoint (`imagecot train var-draft` writes one).

Letters: B live candidates, R = B or 2B rows (classifier-free guidance), n draft tokens, V codes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .sampling import filter_logits, guide, sample_from_uniform

DRAFT_FOLDER = "draft"


def draft_scales(patch_nums, seq_len: int) -> int:
    """D such that the first D scales hold exactly `seq_len` tokens (a ValueError otherwise)."""
    total = 0
    for d, pn in enumerate(patch_nums, start=1):
        total += pn * pn
        if total == seq_len:
            return d
    sums = [sum(p * p for p in patch_nums[:d]) for d in range(1, len(patch_nums) + 1)]
    raise ValueError(f"a draft of {seq_len} tokens does not end at a scale of {tuple(patch_nums)}; "
                     f"the first scales hold {sums} tokens")


class CoarseScales(nn.Module):
    """A multi-scale tokenizer seen as the draft's tokenizer: `encode` gives the first D scales' codes as one
    sequence (B, n), in the order the draft writes them."""

    def __init__(self, msvq, scales: int):
        super().__init__()
        if not 1 <= scales < len(msvq.config.patch_nums):
            raise ValueError(f"a draft covers 1 to {len(msvq.config.patch_nums) - 1} of the tokenizer's "
                             f"{len(msvq.config.patch_nums)} scales, not {scales}")
        self.msvq, self.scales = msvq, scales
        self.vocab_size = msvq.vocab_size
        self.seq_len = sum(pn * pn for pn in msvq.config.patch_nums[:scales])

    def encode(self, images) -> torch.Tensor:
        return torch.cat(self.msvq.encode(images)[:self.scales], 1)


def load_draft(var_folder: str | Path | None, device: str = "cpu"):
    """The draft stored beside a VAR checkpoint (`<folder>/draft/`), or None."""
    if var_folder is None or not (Path(var_folder) / DRAFT_FOLDER / "config.json").is_file():
        return None
    from .ar import ARTransformer
    return ARTransformer.from_pretrained(Path(var_folder) / DRAFT_FOLDER, device=device)


@torch.no_grad()
def sample_draft(draft, cond_RLc: torch.Tensor, u_Bn: torch.Tensor, sampling, cfg_n: list[float],
                 compute) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, n), their log-probs (B, n) under the filtered, guided distribution they were drawn from): the
    draft's raster pass with a KV cache. `cond_RLc` holds the conditions, then (guided: R = 2B) the null ones;
    token i uses the uniform `u_Bn[:, i]` and the guidance scale `cfg_n[i]`; `compute` counts token-forwards."""
    R, B, n = cond_RLc.shape[0], u_Bn.shape[0], u_Bn.shape[1]
    guided = R != B
    cache = draft.make_cache(R, cond_RLc.device)
    logits_RV = draft.prefill(cond_RLc, cond_RLc.new_zeros(R, 0), cache)
    compute.add(R, cond_RLc.shape[1])
    u_nB = u_Bn.t().contiguous()
    tokens_Bn = torch.zeros(B, n, dtype=torch.long, device=u_Bn.device)
    logp_Bn = torch.zeros(B, n, dtype=torch.float64, device=u_Bn.device)
    for i in range(n):
        logits_BV = guide(logits_RV[:B], logits_RV[B:], cfg_n[i]) if guided else logits_RV
        logits_BV = filter_logits(logits_BV, sampling)
        tokens_Bn[:, i] = sample_from_uniform(logits_BV, u_nB[i])
        logp_Bn[:, i] = logits_BV.log_softmax(-1).gather(-1, tokens_Bn[:, i:i + 1]).squeeze(1).double()
        if i + 1 < n:
            last_R = tokens_Bn[:, i].repeat(2) if guided else tokens_Bn[:, i]
            logits_RV = draft.next_logits(last_R, cache, cond_RLc.shape[1] + i)
            compute.add(R, 1)
    return tokens_Bn, logp_Bn
