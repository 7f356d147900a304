"""MaskGIT: parallel mask-predict over a VQ token grid (non-autoregressive).

A bidirectional transformer reads [prompt tokens, image tokens with some
replaced by MASK] and predicts every masked token. Sampling starts from an
all-masked grid; at step t of T it samples every masked position, keeps the
most confident ones so that N * cos(pi/2 * (t+1)/T) stay masked, and re-masks
the rest. Confidence is the sampled token's log-probability plus Gumbel noise
whose temperature anneals linearly to zero over the steps (MaskGIT's
"choice temperature"), so early steps explore and the last steps are greedy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import PretrainedMixin
from .ar import ARConfig
from .base import GenerationOutput, Session, run_to_end
from .grid import GridGenerator
from .sampling import SamplingConfig, draw_uniforms, filter_logits, sample_from_uniform
from .transformer import Block


@dataclass
class MaskGITConfig(ARConfig):
    """ARConfig's sizes plus the mask-predict sampling defaults."""

    sample_steps: int = 8             # default number of sampling steps
    choice_temperature: float = 4.5   # Gumbel noise scale on confidences at step 0 (annealed to 0)

    @property
    def mask_id(self) -> int:
        return self.image_vocab  # one extra input id; never predicted


def cosine_schedule(r: torch.Tensor | float):
    """Fraction of tokens still masked at progress r in [0, 1]: cos(pi/2 * r)."""
    return torch.cos(math.pi / 2 * r) if torch.is_tensor(r) else math.cos(math.pi / 2 * r)


def mask_schedule(total_steps: int, n_tokens: int) -> list[int]:
    """Tokens left masked after each step: floor(N * cos(pi/2 * (t+1)/T)), 0 after the last step.

    As in MaskGIT, every step but the last reveals at least one token and leaves
    at least one masked, so no step spends a forward pass revealing nothing.
    """
    if n_tokens == 0:
        return [0] * total_steps
    out, unknown = [], n_tokens
    for t in range(total_steps):
        n = 0 if t == total_steps - 1 else max(1, min(unknown - 1, math.floor(n_tokens * cosine_schedule((t + 1) / total_steps))))
        out.append(n)
        unknown = n
    return out


class MaskGITTransformer(nn.Module, PretrainedMixin):
    config_class = MaskGITConfig
    model_type = "maskgit"

    def __init__(self, config: MaskGITConfig):
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.text_vocab + c.image_vocab + 1, c.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(1, c.cond_len + c.num_image_tokens, c.d_model))
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.mlp_ratio, c.dropout, causal=False)
                                    for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.image_vocab, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos_emb, std=0.02)

    def forward(self, img_BN: torch.Tensor, cond_BLc: torch.Tensor) -> torch.Tensor:
        """Logits (B, N, V) for every image position; img_BN holds code ids or `mask_id`."""
        c = self.config
        ids = torch.cat([cond_BLc, img_BN + c.text_vocab], dim=1)
        x = self.tok_emb(ids) + self.pos_emb
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x[:, c.cond_len:]))

    def random_mask(self, B: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, N) bool: per row a cosine-distributed fraction of positions (at least one) masked."""
        N = self.config.num_image_tokens
        r_B = torch.rand(B, generator=generator).to(device)
        n_B = (cosine_schedule(r_B) * N).ceil().clamp(1, N)
        scores = torch.rand(B, N, generator=generator).to(device)
        ranks = scores.argsort(1).argsort(1)
        return ranks < n_B[:, None]

    def sequence_log_prob(self, img_BN: torch.Tensor, cond_BLc: torch.Tensor,
                          reveal_step_BN: torch.Tensor | None = None, n_masks: int = 1, seed: int = 0) -> torch.Tensor:
        """Log-likelihood of a grid per sample (B,), differentiable. MaskGIT has no exact one:
        - with `reveal_step_BN` (the step at which the sampler fixed each position, -1 = given), the sampler's own
          order: sum over steps s of log p(tokens fixed at s | the tokens fixed before s, condition), which is the
          sampler's log-probability of its sample (at cfg 1, temperature 1, no top-k/p);
        - without, the estimate mask-predict models use for preference training (Show-o's DPO): mask a
          cosine-distributed random fraction of positions (seeded: `n_masks` draws from `seed`, so policy and
          reference see the same masks), sum log p(true token | visible ones) over the masked positions and
          rescale by N / |masked|: a Monte-Carlo estimate of the pseudo-log-likelihood.
        """
        if reveal_step_BN is not None:
            total = torch.zeros(img_BN.shape[0], device=img_BN.device)
            for s in range(int(reveal_step_BN.max()) + 1):
                hidden_BN = reveal_step_BN >= s
                logits = self(img_BN.masked_fill(hidden_BN, self.config.mask_id), cond_BLc)
                lp_BN = F.log_softmax(logits.float(), -1).gather(-1, img_BN[..., None]).squeeze(-1)
                total = total + (lp_BN * (reveal_step_BN == s)).sum(1)
            return total
        N = self.config.num_image_tokens
        g = torch.Generator().manual_seed(seed)
        total = 0.0
        for _ in range(n_masks):
            mask_BN = self.random_mask(img_BN.shape[0], img_BN.device, g)
            logits = self(img_BN.masked_fill(mask_BN, self.config.mask_id), cond_BLc)
            lp_BN = F.log_softmax(logits.float(), -1).gather(-1, img_BN[..., None]).squeeze(-1)
            total = total + (lp_BN * mask_BN).sum(1) * N / mask_BN.sum(1)
        return total / n_masks


class MaskGITGenerator(GridGenerator):
    """A MaskGITTransformer with its VQ tokenizer and conditioner: prompts in, images out."""

    def start(self, prompts: list[str], sampling: SamplingConfig | None = None, seed: int | list[int] = 0,
              steps: int | None = None, init_tokens: torch.Tensor | None = None,
              remask: torch.Tensor | None = None) -> "MaskGITSession":
        """A session from an all-masked grid, or, with `init_tokens` (B, N) and `remask` (B, N) bool, from those
        tokens with the `remask` positions masked: inpainting, the rest of the grid held fixed."""
        return MaskGITSession(self, list(prompts), sampling or SamplingConfig(), seed,
                              steps or self.model.config.sample_steps, init_tokens, remask)

    def inpaint(self, tokens_BN: torch.Tensor, remask_BN: torch.Tensor, prompts: list[str],
                sampling: SamplingConfig | None = None, seed: int | list[int] = 0,
                steps: int | None = None) -> GenerationOutput:
        """Resample the `remask_BN` positions of `tokens_BN` given the others and the prompt."""
        return run_to_end(self.start(prompts, sampling, seed, steps, tokens_BN, remask_BN))

    def regenerate(self, tokens_BN: torch.Tensor, cells_BN: torch.Tensor, missing_B: torch.Tensor, prompts,
                   sampling, seeds: list[int]) -> GenerationOutput:
        """Inpaint the blamed cells (and the background, where an object is missing: it has to go somewhere);
        what is right stays. Nothing blamed: everything is redone."""
        self.check_cells(cells_BN, tokens_BN)
        background_BN = tokens_BN == self.blank_tokens_N.to(tokens_BN.device)
        remask = cells_BN | (missing_B[:, None] & background_BN)
        remask[~remask.any(1)] = True
        return self.inpaint(tokens_BN, remask, prompts, sampling, seed=seeds)

    def log_prob(self, tokens_BN: torch.Tensor, prompts: list[str], model=None, seed: int = 0, n_masks: int = 1,
                 reveal_step_BN: torch.Tensor | None = None) -> torch.Tensor:
        """`MaskGITTransformer.sequence_log_prob` of these tokens under the prompts (see there)."""
        cond = self.conditioner.encode(prompts).to(tokens_BN.device)
        return (model or self.model).sequence_log_prob(tokens_BN, cond, reveal_step_BN, n_masks, seed)


class MaskGITSession(Session):
    """One batched mask-predict generation: T steps, each a full forward over the live candidates.
    `reveal_step_BN` records at which step each position was fixed (-1: given), the order
    `MaskGITTransformer.sequence_log_prob` follows to give the sampler's own log-probability."""

    def __init__(self, gen: MaskGITGenerator, prompts: list[str], sampling: SamplingConfig, seed, steps: int,
                 init_tokens: torch.Tensor | None = None, remask: torch.Tensor | None = None):
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        super().__init__(gen, prompts, sampling, steps)
        c = gen.model.config
        self.N, self.Lc = c.num_image_tokens, c.cond_len
        B, dev = len(prompts), gen.device
        # per candidate and step: N uniforms to sample tokens, N Gumbel draws for the confidences
        u = draw_uniforms(seed, B, 2 * steps * self.N).to(dev).view(B, steps, 2, self.N)
        self.u_sample_BTN, self.u_gumbel_BTN = u[:, :, 0], u[:, :, 1]
        self.cond_RLc = self.condition_rows()
        self.tokens_BN = torch.full((B, self.N), c.mask_id, dtype=torch.long, device=dev)
        if (init_tokens is None) != (remask is None):
            raise ValueError("inpainting needs both init_tokens and remask")
        if init_tokens is not None:
            if init_tokens.shape != (B, self.N) or remask.shape != (B, self.N) or remask.dtype != torch.bool:
                raise ValueError(f"init_tokens and remask must be ({B}, {self.N}) (remask bool), got "
                                 f"{tuple(init_tokens.shape)} and {tuple(remask.shape)} {remask.dtype}")
            self.tokens_BN = torch.where(remask.to(dev), c.mask_id, init_tokens.to(dev).long())
        # per candidate: tokens left masked after each step (the cosine schedule over its own masked count)
        n_masked_B = (self.tokens_BN == c.mask_id).sum(1).tolist()
        self.schedule_BT = torch.tensor([mask_schedule(steps, m) for m in n_masked_B], device=dev).view(B, steps)
        self.pred_BN = self.tokens_BN.clone()
        self.reveal_step_BN = torch.full((B, self.N), -1, dtype=torch.long, device=dev)

    def _step(self) -> None:
        c, B, N = self.gen.model.config, self.n_alive, self.N
        masked_BN = self.tokens_BN == c.mask_id
        inp = self.tokens_BN.repeat(2, 1) if self.guided else self.tokens_BN
        logits_RNV = self.gen.model(inp, self.cond_RLc)
        self.compute.add(inp.shape[0], self.Lc + N)
        logits_BNV = self.guided_logits(logits_RNV)
        V = logits_BNV.shape[-1]
        flat = filter_logits(logits_BNV.reshape(B * N, V), self.sampling)
        sampled_BN = sample_from_uniform(flat, self.u_sample_BTN[self.ids, self.t].reshape(-1)).view(B, N)
        logp_BN = flat.log_softmax(-1).gather(-1, sampled_BN.view(-1, 1)).view(B, N)
        sampled_BN = torch.where(masked_BN, sampled_BN, self.tokens_BN)
        self.pred_BN = sampled_BN
        keep_masked_B = self.schedule_BT[self.ids, self.t]
        temp = c.choice_temperature * (1 - (self.t + 1) / self.num_steps)
        u = self.u_gumbel_BTN[self.ids, self.t].clamp(1e-12, 1 - 1e-12)
        conf_BN = logp_BN + temp * -torch.log(-torch.log(u))
        conf_BN = conf_BN.masked_fill(~masked_BN, float("inf"))  # revealed tokens stay
        rank_BN = conf_BN.argsort(1).argsort(1)  # 0 = least confident
        self.tokens_BN = sampled_BN.masked_fill(rank_BN < keep_masked_B[:, None], c.mask_id)
        revealed_BN = masked_BN & (self.tokens_BN != c.mask_id)
        self.reveal_step_BN[revealed_BN] = self.t
        self.log_prob_B += (logp_BN * revealed_BN).sum(1).double()

    def _select(self, idx: torch.Tensor, rows: torch.Tensor) -> None:
        self.tokens_BN, self.pred_BN = self.tokens_BN[idx], self.pred_BN[idx]
        self.reveal_step_BN = self.reveal_step_BN[idx]
        self.cond_RLc = self.cond_RLc[rows]

    def preview_tokens(self) -> torch.Tensor:
        """The current full prediction: revealed tokens + this step's samples at masked places (B_alive, N)."""
        if self.t == 0:  # nothing predicted yet: the given tokens over a blank image
            blank = self.gen.blank_tokens_N.to(self.ids.device).expand(self.n_alive, -1)
            return torch.where(self.tokens_BN == self.gen.model.config.mask_id, blank, self.tokens_BN)
        return self.pred_BN

    def _tokens(self) -> torch.Tensor:
        return self.tokens_BN
