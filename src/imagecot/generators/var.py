"""VAR: next-scale prediction over a multi-scale residual VQ (own implementation of
FoundationVision/VAR's architecture, with its parameter names so that the released
`var_d16.pth` ... `var_d30.pth` load with strict=True).

Sequence: [sos (first_l)] + the teacher-forcing input of scales 1..K-1 (the
area-downsampled cumulative f_hat, through `word_embed`), plus level and
position embeddings; block-causal attention (scale k sees scales <= k); AdaLN
blocks conditioned on the condition embedding; q/k L2-normalised with a learned
per-head scale. The text variant puts the prompt's word tokens before sos (they
see each other; every scale token sees them) and conditions AdaLN on their pooled
embedding. CFG ramps over scales: t = cfg * k / (K-1), logits = (1+t) cond - t uncond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import PretrainedMixin
from .base import Session, TokenGenerator
from .condition import PAD, conditioner_for
from .sampling import SamplingConfig, draw_uniforms, filter_logits, sample_from_uniform
from .var_draft import draft_scales, sample_draft


@dataclass
class VARConfig:
    vocab_size: int = 512
    z_channels: int = 8                       # Cvae of the tokenizer
    patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8)
    depth: int = 6
    embed_dim: int = field(default=0, metadata={"help": "width; 0 = 64 x depth (VAR's rule)"})
    num_heads: int = field(default=0, metadata={"help": "attention heads; 0 = depth (VAR's rule)"})
    mlp_ratio: float = 4.0
    condition: str = "text"                   # "class" (num_classes + a null class) or "text" (prompt prefix)
    num_classes: int = 1000
    text_len: int = 12
    text_vocab: int = 40
    cond_drop: float = 0.1
    attn_l2_norm: bool = True
    norm_eps: float = 1e-6
    drop_path_rate: float = 0.0
    class_names: tuple[str, ...] = ()         # class variant: names accepted as conditions (ids always are)
    data: str = "shapes"                      # what it was trained on

    @classmethod
    def var_official(cls, depth: int = 16) -> "VARConfig":
        """The class-conditional ImageNet-256 VAR-d{depth} of FoundationVision/VAR."""
        return cls(vocab_size=4096, z_channels=32, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), depth=depth,
                   condition="class", num_classes=1000, drop_path_rate=0.1 * depth / 24)

    @property
    def width(self) -> int:
        return self.embed_dim or 64 * self.depth

    @property
    def heads(self) -> int:
        return self.num_heads or self.depth

    @property
    def prefix_len(self) -> int:
        return self.text_len if self.condition == "text" else 0

    @property
    def num_tokens(self) -> int:
        return sum(pn * pn for pn in self.patch_nums)

    def __post_init__(self):
        if self.condition not in ("class", "text"):
            raise ValueError(f"condition must be 'class' or 'text', got {self.condition!r}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by {self.heads} heads")


class FFN(nn.Module):
    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(c, hidden)
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class VARAttention(nn.Module):
    """Fused qkv without k bias; with attn_l2_norm, cosine attention times exp(clamped per-head scale)."""

    def __init__(self, c: int, heads: int, l2_norm: bool):
        super().__init__()
        self.H, self.hd, self.l2_norm = heads, c // heads, l2_norm
        self.mat_qkv = nn.Linear(c, 3 * c, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(c))
        self.v_bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("zero_k_bias", torch.zeros(c))
        if l2_norm:
            self.scale = 1.0
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, heads, 1, 1), 4.0).log())
            self.max_scale_mul = math.log(100)
        else:
            self.scale = 0.25 / math.sqrt(self.hd)
        self.proj = nn.Linear(c, c)

    def forward(self, x_BLC, attn_bias, cache: "LayerCache | None" = None):
        B, L, C = x_BLC.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        q, k, v = F.linear(x_BLC, self.mat_qkv.weight, bias).view(B, L, 3, self.H, self.hd).permute(2, 0, 3, 1, 4)
        if self.l2_norm:
            s = self.scale_mul_1H11.clamp_max(self.max_scale_mul).exp()
            q, k = F.normalize(q, dim=-1).mul(s), F.normalize(k, dim=-1)
        if cache is not None:
            if cache.k is not None:
                k, v = torch.cat((cache.k, k), dim=2), torch.cat((cache.v, v), dim=2)
            cache.k, cache.v = k, v
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))


class LayerCache:
    """Keys/values of one layer for one session (sessions never share a cache)."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def select_rows(self, rows: torch.Tensor) -> None:
        if self.k is not None:
            self.k, self.v = self.k[rows], self.v[rows]


class AdaLNBlock(nn.Module):
    def __init__(self, c: int, heads: int, mlp_ratio: float, l2_norm: bool, eps: float, drop_path: float):
        super().__init__()
        self.ln_wo_grad = nn.LayerNorm(c, eps=eps, elementwise_affine=False)
        self.attn = VARAttention(c, heads, l2_norm)
        self.ffn = FFN(c, round(c * mlp_ratio))
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(c, 6 * c))
        self.drop_path = drop_path

    def _dp(self, x):
        if not self.training or self.drop_path == 0:
            return x
        keep = x.new_empty(x.shape[0], 1, 1).bernoulli_(1 - self.drop_path)
        return x * keep / (1 - self.drop_path)

    def forward(self, x_BLC, cond_BC, attn_bias, cache: LayerCache | None = None):
        g1, g2, s1, s2, b1, b2 = self.ada_lin(cond_BC).view(-1, 1, 6, x_BLC.shape[-1]).unbind(2)
        x_BLC = x_BLC + self._dp(self.attn(self.ln_wo_grad(x_BLC).mul(s1 + 1).add_(b1), attn_bias, cache).mul_(g1))
        return x_BLC + self._dp(self.ffn(self.ln_wo_grad(x_BLC).mul(s2 + 1).add_(b2)).mul(g2))


class AdaLNBeforeHead(nn.Module):
    def __init__(self, c: int, eps: float):
        super().__init__()
        self.ln_wo_grad = nn.LayerNorm(c, eps=eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(c, 2 * c))

    def forward(self, x_BLC, cond_BC):
        scale, shift = self.ada_lin(cond_BC).view(-1, 1, 2, x_BLC.shape[-1]).unbind(2)
        return self.ln_wo_grad(x_BLC).mul(scale + 1).add_(shift)


class VARTransformer(nn.Module, PretrainedMixin):
    config_class = VARConfig
    model_type = "var"

    def __init__(self, config: VARConfig):
        super().__init__()
        self.config = c = config
        C, L = c.width, c.num_tokens
        first_l = c.patch_nums[0] ** 2
        init_std = math.sqrt(1 / C / 3)
        self.word_embed = nn.Linear(c.z_channels, C)
        if c.condition == "class":
            self.class_emb = nn.Embedding(c.num_classes + 1, C)
        else:
            self.text_emb = nn.Embedding(c.text_vocab, C)
            self.text_pos = nn.Parameter(torch.empty(1, c.text_len, C))
            self.text_pool = nn.Sequential(nn.Linear(C, C), nn.SiLU(), nn.Linear(C, C))
            nn.init.trunc_normal_(self.text_pos, std=init_std)
        self.pos_start = nn.Parameter(torch.empty(1, first_l, C))
        self.pos_1LC = nn.Parameter(torch.empty(1, L, C))
        self.lvl_embed = nn.Embedding(len(c.patch_nums), C)
        nn.init.trunc_normal_(self.pos_start, std=init_std)
        nn.init.trunc_normal_(self.pos_1LC, std=init_std)
        dpr = [c.drop_path_rate * i / max(1, c.depth - 1) for i in range(c.depth)]
        self.blocks = nn.ModuleList(AdaLNBlock(C, c.heads, c.mlp_ratio, c.attn_l2_norm, c.norm_eps, dpr[i])
                                    for i in range(c.depth))
        self.head_nm = AdaLNBeforeHead(C, c.norm_eps)
        self.head = nn.Linear(C, c.vocab_size)
        lvl = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(c.patch_nums)]).view(1, L)
        self.register_buffer("lvl_1L", lvl)
        # block-causal over scales: a token sees every token of its own and earlier scales
        allowed = lvl.view(L, 1) >= lvl.view(1, L)
        self.register_buffer("attn_bias_for_masking",
                             torch.zeros(1, 1, L, L).masked_fill(~allowed, float("-inf")))
        self._init_weights(init_std)

    def _init_weights(self, std: float, init_adaln: float = 0.5, init_adaln_gamma: float = 1e-5,
                      init_head: float = 0.02) -> None:
        C, depth = self.config.width, self.config.depth
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.head.weight.mul_(init_head)
            self.head_nm.ada_lin[-1].weight.mul_(init_adaln)
            for blk in self.blocks:
                blk.attn.proj.weight.div_(math.sqrt(2 * depth))
                blk.ffn.fc2.weight.div_(math.sqrt(2 * depth))
                blk.ada_lin[-1].weight[2 * C:].mul_(init_adaln)
                blk.ada_lin[-1].weight[:2 * C].mul_(init_adaln_gamma)

    # ------------------------------------------------------------------ conditioning
    def encode_condition(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(cond_BC for AdaLN and sos, prefix tokens (B, P, C) or None, prefix key mask (B, P) or None)."""
        if self.config.condition == "class":
            return self.class_emb(cond), None, None
        prefix_BPC = self.text_emb(cond) + self.text_pos
        keep_BP = cond != PAD
        pooled = (prefix_BPC * keep_BP[..., None]).sum(1) / keep_BP.sum(1, keepdim=True).clamp_min(1)
        return self.text_pool(pooled), prefix_BPC, keep_BP

    def _full_bias(self, keep_BP: torch.Tensor | None, L: int) -> torch.Tensor:
        """Attention bias over [prefix, scales]: prefix sees prefix, scales see prefix + block-causal scales."""
        bias = self.attn_bias_for_masking[:, :, :L, :L]
        if keep_BP is None:
            return bias
        B, P = keep_BP.shape
        pad_B11P = torch.zeros(B, 1, 1, P, device=bias.device).masked_fill(~keep_BP[:, None, None], float("-inf"))
        top = torch.cat([pad_B11P.expand(B, 1, P, P), torch.full((B, 1, P, L), float("-inf"), device=bias.device)], 3)
        bottom = torch.cat([pad_B11P.expand(B, 1, L, P), bias.expand(B, 1, L, L)], 3)
        return torch.cat([top, bottom], 2)

    # ------------------------------------------------------------------ training
    def forward(self, cond: torch.Tensor, x_BlCv: torch.Tensor, cond_drop: float | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, L, V): cond = class ids (B,) or prompt ids (B, P);
        x_BlCv = the tokenizer's teacher-forcing input (B, L - first_l, Cvae). In training
        mode a `cond_drop` fraction of conditions (default: the config's) becomes null."""
        c = self.config
        p_drop = c.cond_drop if cond_drop is None else cond_drop
        if self.training and p_drop > 0:
            cond = conditioner_for(c).drop(cond, p_drop)
        cond_BC, prefix, keep = self.encode_condition(cond)
        B, first_l = cond_BC.shape[0], c.patch_nums[0] ** 2
        sos = cond_BC[:, None].expand(B, first_l, -1) + self.pos_start
        x = torch.cat([sos, self.word_embed(x_BlCv.float())], 1)
        L = x.shape[1]
        x = x + self.lvl_embed(self.lvl_1L[:, :L]) + self.pos_1LC[:, :L]
        if prefix is not None:
            x = torch.cat([prefix, x], 1)
        bias = self._full_bias(keep, L)
        for blk in self.blocks:
            x = blk(x, cond_BC, bias)
        x = x[:, c.prefix_len:]
        return self.head(self.head_nm(x.float(), cond_BC).float()).float()

    def sequence_log_prob(self, tokens_BL: torch.Tensor, cond: torch.Tensor, x_BlCv: torch.Tensor,
                          start: int = 0) -> torch.Tensor:
        """Sum over all scales (the tokens from `start` on) of log p(token | condition, coarser scales) per sample
        (B,), no guidance and no condition dropout, differentiable; `x_BlCv` is the tokenizer's teacher-forcing
        input of `tokens_BL` (`quantize.teacher_forcing_input`), computed once for the policy and its reference
        alike."""
        logits_BLV = self(cond, x_BlCv, cond_drop=0.0)[:, start:]
        return F.log_softmax(logits_BLV, -1).gather(-1, tokens_BL[:, start:, None]).squeeze(-1).sum(-1)



class VARGenerator(TokenGenerator):
    """A VARTransformer with its multi-scale tokenizer: conditions in, images out, one scale per step.

    Conditions are prompts (text variant) or class ids / names (class variant). `cfg_scale`
    has the same meaning as for every generator here (uncond + s * (cond - uncond)
    at full strength); VAR ramps it over scales, s_k = 1 + (cfg_scale - 1) * k / (K - 1),
    so VAR's published "cfg 1.5" is cfg_scale 2.5 (`var_recipe()`). Every scale covers the
    whole image, so a correction (`regenerate`) is a fresh sample.
    """

    def __init__(self, model: VARTransformer, vq, conditioner=None, draft=None):
        super().__init__(model, vq, conditioner or conditioner_for(model.config))
        c = model.config
        self.draft, self.draft_conditioner, self.draft_scales = None, None, 0
        if draft is not None:
            self.draft_scales = draft_scales(c.patch_nums, draft.config.num_image_tokens)
            if self.draft_scales >= len(c.patch_nums) or draft.config.image_vocab != c.vocab_size:
                raise ValueError(f"the raster draft ({draft.config.num_image_tokens} tokens, vocab "
                                 f"{draft.config.image_vocab}) must cover only coarse scales of {c.patch_nums} "
                                 f"with the model's {c.vocab_size} codes")
            self.draft, self.draft_conditioner = draft.eval(), conditioner_for(draft.config)
        if vq.config.vocab_size != c.vocab_size or vq.config.z_channels != c.z_channels \
                or tuple(vq.config.patch_nums) != tuple(c.patch_nums):
            raise ValueError(f"tokenizer (vocab {vq.config.vocab_size}, Cvae {vq.config.z_channels}, scales "
                             f"{vq.config.patch_nums}) does not match the VAR model (vocab {c.vocab_size}, "
                             f"Cvae {c.z_channels}, scales {c.patch_nums})")
        if c.condition == "text" and self.conditioner.vocab_size > c.text_vocab:
            raise ValueError(f"prompt vocabulary {self.conditioner.vocab_size} exceeds text_vocab {c.text_vocab}")

    def start(self, conditions, sampling=None, seed: int | list[int] = 0, use_cache: bool = True,
              draft: bool = True) -> "VARSession":
        """A session; with a raster draft (`self.draft`) and `draft`, its first `draft_scales` steps take the
        draft's tokens (`var_draft`)."""
        if self.model.config.condition == "text" and not all(isinstance(p, str) for p in conditions):
            raise ValueError("this VAR model is text-conditional: give prompts (strings)")
        return VARSession(self, list(conditions), sampling or SamplingConfig(), seed, use_cache,
                          draft and self.draft is not None)

    def token_maps(self, tokens_BL: torch.Tensor) -> list[torch.Tensor]:
        out, i = [], 0
        for pn in self.model.config.patch_nums:
            out.append(tokens_BL[:, i:i + pn * pn])
            i += pn * pn
        return out

    def log_prob(self, tokens_BL: torch.Tensor, conditions, model=None, seed: int = 0) -> torch.Tensor:
        """`VARTransformer.sequence_log_prob` of these tokens under the conditions; with a raster draft, the draft's
        log-prob of the coarse scales (fixed: it cancels in a DPO ratio) plus the VAR's of the fine ones."""
        cond = self.conditioner.encode(list(conditions)).to(tokens_BL.device)
        with torch.no_grad():
            x = self.vq.quantize.teacher_forcing_input(self.token_maps(tokens_BL))
        if self.draft is None:
            return (model or self.model).sequence_log_prob(tokens_BL, cond, x)
        n = self.draft.config.num_image_tokens
        with torch.no_grad():
            coarse_B = self.draft.sequence_log_prob(
                tokens_BL[:, :n], self.draft_conditioner.encode(list(conditions)).to(tokens_BL.device))
        return coarse_B + (model or self.model).sequence_log_prob(tokens_BL, cond, x, start=n)

    @torch.no_grad()
    def decode(self, tokens_BL: torch.Tensor) -> torch.Tensor:
        return self.vq.decode(self.token_maps(tokens_BL))


class VARSession(Session):
    """One batched coarse-to-fine generation: step k samples scale k; the preview decodes f_hat so far."""

    def __init__(self, gen: VARGenerator, conditions: list, sampling, seed, use_cache: bool, use_draft: bool = False):
        m, c = gen.model, gen.model.config
        super().__init__(gen, conditions, sampling, len(c.patch_nums))
        self.use_cache, self.patch_nums = use_cache, c.patch_nums
        # the raster draft's tokens and log-probs of the coarse scales (B, n), drawn at the first step
        self.draft_D = gen.draft_scales if use_draft else 0
        self.draft_tokens_Bn: torch.Tensor | None = None
        self.draft_logp_Bn: torch.Tensor | None = None
        B, dev = len(conditions), gen.device
        self.u_BL = draw_uniforms(seed, B, c.num_tokens).to(dev)
        with torch.no_grad():
            self.cond_RC, self.prefix_RPC, self.text_valid_RP = m.encode_condition(self.condition_rows())
        first_l = c.patch_nums[0] ** 2
        self.lvl_pos = m.lvl_embed(m.lvl_1L) + m.pos_1LC  # (1, L, C)
        with torch.no_grad():
            self.inputs_RlC = [self.cond_RC[:, None].expand(-1, first_l, -1) + m.pos_start + self.lvl_pos[:, :first_l]]
        H = c.patch_nums[-1]
        self.f_hat = torch.zeros(B, c.z_channels, H, H, device=dev)
        self.idx_list: list[torch.Tensor] = []
        self.cur_L = 0
        self.caches = [LayerCache() for _ in m.blocks] if use_cache else None

    @torch.no_grad()
    def _hidden_last(self, l: int) -> torch.Tensor:
        m = self.gen.model
        P = self.prefix_RPC.shape[1] if self.prefix_RPC is not None else 0
        if self.use_cache:
            x = self.inputs_RlC[-1]
            if self.t == 0:
                if P:
                    x = torch.cat([self.prefix_RPC, x], 1)
                bias = m._full_bias(self.text_valid_RP, l) if P else None
            else:
                bias = None
                if P:
                    R = x.shape[0]
                    bias = torch.zeros(R, 1, l, P + self.cur_L + l, device=x.device)
                    bias[..., :P] = bias[..., :P].masked_fill(~self.text_valid_RP[:, None, None], float("-inf"))
            rows_tokens = x.shape[1]
        else:
            x = torch.cat(self.inputs_RlC, 1)
            if P:
                x = torch.cat([self.prefix_RPC, x], 1)
            bias = m._full_bias(self.text_valid_RP, self.cur_L + l)
            rows_tokens = x.shape[1]
        for i, blk in enumerate(m.blocks):
            x = blk(x, self.cond_RC, bias, self.caches[i] if self.caches else None)
        self.compute.add(x.shape[0], rows_tokens)
        return x[:, -l:]

    def cfg_at(self, si: int) -> float:
        """The guidance scale of scale si: VAR's linear ramp from 1 to the sampling's cfg_scale."""
        return 1.0 + (self.sampling.cfg_scale - 1.0) * si / max(1, self.num_steps - 1)

    def _draw_draft(self) -> None:
        n = sum(pn * pn for pn in self.patch_nums[:self.draft_D])
        cfg_n = [self.cfg_at(si) for si, pn in enumerate(self.patch_nums[:self.draft_D]) for _ in range(pn * pn)]
        self.draft_tokens_Bn, self.draft_logp_Bn = sample_draft(
            self.gen.draft, self.condition_rows(self.gen.draft_conditioner), self.u_BL[self.ids, :n], self.sampling,
            cfg_n, self.compute)

    def _step(self) -> None:
        m, si = self.gen.model, self.t
        pn = self.patch_nums[si]
        l = pn * pn
        h_RlC = self._hidden_last(l)   # a drafted scale still runs: its keys and values serve the finer scales
        B = self.n_alive
        if si < self.draft_D:
            if self.draft_tokens_Bn is None:
                self._draw_draft()
            idx_Bl = self.draft_tokens_Bn[:, self.cur_L:self.cur_L + l]
            self.log_prob_B += self.draft_logp_Bn[:, self.cur_L:self.cur_L + l].sum(1)
        else:
            logits_RlV = m.head(m.head_nm(h_RlC.float(), self.cond_RC).float()).float()
            logits_BlV = self.guided_logits(logits_RlV, self.cfg_at(si))
            V = logits_BlV.shape[-1]
            flat = filter_logits(logits_BlV.reshape(B * l, V), self.sampling)
            u = self.u_BL[self.ids, self.cur_L:self.cur_L + l].reshape(B * l)
            idx_Bl = sample_from_uniform(flat, u).view(B, l)
            self.log_prob_B += flat.log_softmax(-1).gather(-1, idx_Bl.view(-1, 1)).view(B, l).sum(1).double()
        self.idx_list.append(idx_Bl)
        h_BCpp = self.gen.vq.quantize.embedding(idx_Bl).transpose(1, 2).reshape(B, -1, pn, pn)
        self.f_hat, nxt = self.gen.vq.quantize.next_input(si, self.f_hat, h_BCpp)
        self.cur_L += l
        if si < self.num_steps - 1:
            l_next = self.patch_nums[si + 1] ** 2
            x = m.word_embed(nxt.flatten(2).transpose(1, 2)) + self.lvl_pos[:, self.cur_L:self.cur_L + l_next]
            self.inputs_RlC.append(x.repeat(2, 1, 1) if self.guided else x)
        else:
            self.caches = None  # done: free the keys/values

    def _select(self, idx: torch.Tensor, rows: torch.Tensor) -> None:
        self.f_hat = self.f_hat[idx]
        if self.draft_tokens_Bn is not None:
            self.draft_tokens_Bn, self.draft_logp_Bn = self.draft_tokens_Bn[idx], self.draft_logp_Bn[idx]
        self.idx_list = [t[idx] for t in self.idx_list]
        self.inputs_RlC = [t[rows] for t in self.inputs_RlC]
        self.cond_RC = self.cond_RC[rows]
        if self.prefix_RPC is not None:
            self.prefix_RPC, self.text_valid_RP = self.prefix_RPC[rows], self.text_valid_RP[rows]
        for cache in self.caches or []:
            cache.select_rows(rows)

    @torch.no_grad()
    def preview(self) -> torch.Tensor:
        """The cumulative f_hat of the scales so far, decoded: (B_alive, 3, H, W)."""
        return self.gen.vq.fhat_to_img(self.f_hat)

    def _tokens(self) -> torch.Tensor:
        return torch.cat(self.idx_list, 1)

    def _images(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.gen.vq.fhat_to_img(self.f_hat)
