"""Raster-order autoregressive generator over a VQ token grid (LlamaGen style).

The prompt is a prefix of word tokens; condition dropout during training gives
a null condition for classifier-free guidance. Sampling runs batched with a KV
cache (or without, for checking), as a `Session` of steps: by default one step
is one row of the token grid, and the preview decodes the rows so far over the
token grid of a blank image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import PretrainedMixin
from .base import Compute, GenerationOutput, Session, run_to_end
from .grid import GridGenerator
from .sampling import SamplingConfig, draw_uniforms, filter_logits, sample_from_uniform
from .transformer import Block, KVCache


@dataclass
class ARConfig:
    image_vocab: int = 512
    grid: int = 8
    cond_len: int = 12
    text_vocab: int = 40
    d_model: int = 256
    n_layer: int = 8
    n_head: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    cond_dropout: float = 0.1
    class_names: tuple[str, ...] = ()   # set: class-conditional (one condition token, cond_len 1)
    data: str = "shapes"                # what it was trained on (its blank canvas for previews)
    seq_len: int = 0                    # image tokens when they are not a grid x grid raster (0: grid * grid):
    #                                     VAR's raster draft reads its coarse scales as one sequence

    def __post_init__(self):
        if self.class_names and self.cond_len != 1:
            raise ValueError(f"a class-conditional model reads one condition token; cond_len is {self.cond_len}")

    @property
    def num_image_tokens(self) -> int:
        return self.seq_len or self.grid * self.grid


class ARTransformer(nn.Module, PretrainedMixin):
    """Decoder-only transformer over [prompt tokens (cond_len), image tokens (grid*grid)]."""

    config_class = ARConfig
    model_type = "ar"

    def __init__(self, config: ARConfig):
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.text_vocab + c.image_vocab, c.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(1, c.cond_len + c.num_image_tokens, c.d_model))
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.mlp_ratio, c.dropout) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.image_vocab, bias=False)
        self.apply(self._init)
        nn.init.normal_(self.pos_emb, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / (2 * c.n_layer) ** 0.5)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids_BL: torch.Tensor, cache: KVCache | None = None, pos: int = 0) -> torch.Tensor:
        """Logits over image codes (B, L, image_vocab) for input ids at positions [pos, pos+L).

        ids are in the joint vocabulary: prompt words in [0, text_vocab), image
        code c as text_vocab + c.
        """
        L = ids_BL.shape[1]
        x_BLC = self.tok_emb(ids_BL) + self.pos_emb[:, pos:pos + L]
        for i, blk in enumerate(self.blocks):
            x_BLC = blk(x_BLC, cache, i, pos)
        return self.head(self.ln_f(x_BLC))

    def sequence_logits(self, img_BN: torch.Tensor, cond_BLc: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, N, V) predicting every image token from the prompt and the tokens before."""
        ids = torch.cat([cond_BLc, img_BN[:, :-1] + self.config.text_vocab], dim=1)
        return self(ids)[:, self.config.cond_len - 1:]

    def sequence_log_prob(self, img_BN: torch.Tensor, cond_BLc: torch.Tensor) -> torch.Tensor:
        """Sum of log p(token_i | condition, tokens_<i) per sample (B,), differentiable (DPO's log-likelihood)."""
        logp_BNV = F.log_softmax(self.sequence_logits(img_BN, cond_BLc).float(), dim=-1)
        return logp_BNV.gather(-1, img_BN.unsqueeze(-1)).squeeze(-1).sum(-1)

    def make_cache(self, batch: int, device, dtype=torch.float32) -> KVCache:
        c = self.config
        return KVCache(c.n_layer, batch, c.n_head, c.cond_len + c.num_image_tokens,
                       c.d_model // c.n_head, device, dtype)

    # the raster session's hooks (ARSession drives any causal token model that has these three)
    @property
    def prefix_len(self) -> int:
        return self.config.cond_len

    def prefill(self, cond_RLc: torch.Tensor, tokens_Rn: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """Logits (R, V) of the next image token after the condition and the given image tokens (one forward)."""
        return self(torch.cat([cond_RLc, tokens_Rn + self.config.text_vocab], dim=1), cache, 0)[:, -1]

    def next_logits(self, last_R: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
        """Logits (R, V) of the token after `last_R` (R,), at sequence position `pos`, through the KV cache."""
        return self(last_R[:, None] + self.config.text_vocab, cache, pos)[:, -1]


class ARGenerator(GridGenerator):
    """An ARTransformer with its VQ tokenizer and conditioner: prompts in, images out."""

    def start(self, prompts: list[str], sampling: SamplingConfig | None = None, seed: int | list[int] = 0,
              use_cache: bool = True, tokens_per_step: int | None = None,
              prefix_tokens: torch.Tensor | None = None) -> "ARSession":
        """A session; with `prefix_tokens` (B, n0), n0 a multiple of tokens_per_step, the first n0 tokens are
        given (teacher-forced in one forward) and generation continues from there: regenerating an image from
        a row on, keeping the rows above (PARM++'s correction for a generator that cannot inpaint)."""
        return ARSession(self, list(prompts), sampling or SamplingConfig(), seed, use_cache,
                         tokens_per_step or self.model.config.grid, prefix_tokens)

    @torch.no_grad()
    def preview_of(self, tokens_BN: torch.Tensor, t: int, tokens_per_step: int | None = None) -> torch.Tensor:
        """The preview a session showed after step t of these finished samples: their first t steps' tokens
        over a blank image, decoded (B, 3, H, W). A raster preview depends on the final tokens alone, so a
        recorded pool can be scored by other verifiers without sampling again (`replay.rescore_records`)."""
        n = min(t * (tokens_per_step or self.model.config.grid), tokens_BN.shape[1])
        fill = self.blank_tokens_N[n:].to(tokens_BN.device).expand(tokens_BN.shape[0], -1)
        return self.decode(torch.cat([tokens_BN[:, :n], fill], dim=1))

    def regenerate(self, tokens_BN: torch.Tensor, cells_BN: torch.Tensor, missing_B: torch.Tensor, prompts,
                   sampling, seeds: list[int]) -> GenerationOutput:
        """Keep the rows above the first blamed cell and sample the rest again (a raster model cannot inpaint
        below a fixed row); nothing blamed: the whole image. One session per kept-prefix length."""
        self.check_cells(cells_BN, tokens_BN)
        g = self.model.config.grid
        first_row = [int(c.nonzero()[0]) // g if c.any() else 0 for c in cells_BN]
        images, tokens, compute = [None] * len(prompts), tokens_BN.clone(), Compute()
        for r in sorted(set(first_row)):
            rows = [b for b, fr in enumerate(first_row) if fr == r]
            out = run_to_end(self.start([prompts[b] for b in rows], sampling, seed=[seeds[b] for b in rows],
                                        prefix_tokens=tokens_BN[rows, :r * g]))
            compute += out.compute
            for i, b in enumerate(rows):
                images[b], tokens[b] = out.images[i], out.tokens[i]
        return GenerationOutput(torch.stack(images), tokens, list(prompts), compute)


class ARSession(Session):
    """One batched raster-order generation; a step emits `tokens_per_step` tokens per live candidate."""

    def __init__(self, gen: ARGenerator, prompts: list[str], sampling: SamplingConfig, seed: int | list[int],
                 use_cache: bool, tokens_per_step: int, prefix_tokens: torch.Tensor | None = None):
        N = gen.model.config.num_image_tokens
        super().__init__(gen, prompts, sampling, -(-N // tokens_per_step))
        self.use_cache, self.N, self.Lc, self.tokens_per_step = use_cache, N, gen.model.prefix_len, tokens_per_step
        dev, B = gen.device, len(prompts)
        self.u_BN = draw_uniforms(seed, B, self.N).to(dev)  # all randomness, one row per candidate
        self.prefix_RLc = self.condition_rows()
        self.tokens_Bn = torch.zeros(B, 0, dtype=torch.long, device=dev)
        if prefix_tokens is not None:
            n0 = prefix_tokens.shape[1]
            if prefix_tokens.shape[0] != B or not 0 <= n0 < self.N or n0 % tokens_per_step:
                raise ValueError(f"prefix_tokens must be ({B}, n0) with 0 <= n0 < {self.N} and n0 a multiple of "
                                 f"{tokens_per_step}, got {tuple(prefix_tokens.shape)}")
            self.tokens_Bn = prefix_tokens.to(dev).long()
            self.t = n0 // tokens_per_step
        self.cache = gen.model.make_cache(self.rows, dev) if use_cache else None
        self.next_logits_BV = self._forward_prefix()

    @property
    def rows(self) -> int:
        return self.prefix_RLc.shape[0]

    @torch.no_grad()
    def _forward_prefix(self) -> torch.Tensor:
        """The condition and any given image tokens in one forward; the logits of the next token."""
        tok_R = self.tokens_Bn.repeat(2, 1) if self.guided else self.tokens_Bn
        logits = self.gen.model.prefill(self.prefix_RLc, tok_R, self.cache)
        self.compute.add(self.rows, self.Lc + tok_R.shape[1])
        return self.guided_logits(logits)

    @torch.no_grad()
    def _forward_last(self) -> torch.Tensor:
        tok_R = self.tokens_Bn.repeat(2, 1) if self.guided else self.tokens_Bn
        n = self.tokens_Bn.shape[1]
        if self.use_cache:
            logits = self.gen.model.next_logits(tok_R[:, -1], self.cache, self.Lc + n - 1)
            self.compute.add(self.rows, 1)
        else:
            logits = self.gen.model.prefill(self.prefix_RLc, tok_R, None)
            self.compute.add(self.rows, self.Lc + n)
        return self.guided_logits(logits)

    def _step(self) -> None:
        for _ in range(self.tokens_per_step):
            n = self.tokens_Bn.shape[1]
            if n == self.N or self.n_alive == 0:
                break
            logits_BV = filter_logits(self.next_logits_BV, self.sampling)
            tok_B = sample_from_uniform(logits_BV, self.u_BN[self.ids, n])
            self.log_prob_B += logits_BV.log_softmax(-1).gather(-1, tok_B[:, None]).squeeze(1).double()
            self.tokens_Bn = torch.cat([self.tokens_Bn, tok_B[:, None]], dim=1)
            if n + 1 < self.N:
                self.next_logits_BV = self._forward_last()

    def _select(self, idx: torch.Tensor, rows: torch.Tensor) -> None:
        self.tokens_Bn, self.next_logits_BV = self.tokens_Bn[idx], self.next_logits_BV[idx]
        self.prefix_RLc = self.prefix_RLc[rows]
        if self.cache is not None:
            self.cache.select_rows(rows)

    def preview_tokens(self) -> torch.Tensor:
        """The rows generated so far over a blank image's tokens: (B_alive, N)."""
        n = self.tokens_Bn.shape[1]
        fill = self.gen.blank_tokens_N[n:].to(self.tokens_Bn.device).expand(self.n_alive, -1)
        return torch.cat([self.tokens_Bn, fill], dim=1)

    def _tokens(self) -> torch.Tensor:
        return self.tokens_Bn
