"""LlamaGen (FoundationVision/LlamaGen): class-conditional raster AR over a VQ-16 grid, loaded unchanged.

The transformer has LlamaGen's parameter names and shapes (`strict=True` loads
of its released c2i_{B,L,XL,XXL,3B}_{256,384}.pt): a class token
(`cls_embedding.embedding_table`, row `num_classes` = the null class), image
token embeddings, pre-norm blocks of RMSNorm, attention with one fused
`wqkv` and 2D rotary position embeddings (rows on the first half of each
head's rotary pairs, columns on the second; adjacent elements paired), a
SwiGLU feed-forward (w2(silu(w1 x) * w3 x)), a final RMSNorm and an untied
`output` head. As in LlamaGen, the class token's rotary entries are zeros, so
its query and key are zero (every image token gives it score 0 and reads its
value). Sampling runs through `ARSession` (KV cache, CFG on every token,
temperature then top-k then top-p), one image row per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import load_state_strict, read_plain_checkpoint
from .ar import ARGenerator
from .condition import ClassIndex
from .transformer import KVCache

GPT_SIZES = {"B": (12, 12, 768), "L": (24, 16, 1024), "XL": (36, 20, 1280), "XXL": (48, 24, 1536),
             "3B": (24, 32, 3200)}   # name: (n_layer, n_head, dim), LlamaGen's GPT_models (3B = its GPT-3B)
# FID settings of LlamaGen's GETTING_STARTED (top-k off, temperature 1): cfg by model size
FID_CFG = {"B": 2.0, "L": 2.0, "XL": 1.75, "XXL": 1.75, "3B": 1.65}


@dataclass
class LlamaGenConfig:
    dim: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int = 0               # 0: n_head (no released model uses grouped-query attention)
    multiple_of: int = 256
    ffn_dim_multiplier: float = 0.0  # 0: none
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    num_classes: int = 1000
    class_dropout_prob: float = 0.1  # > 0: the class table has a null row (index num_classes)
    vocab_size: int = 16384
    cls_token_num: int = 1
    block_size: int = 256            # image tokens: (image_size // 16) ** 2
    class_names: tuple[str, ...] = ()
    ffn_hidden_size: int = 0         # 0: LlamaGen's rule (below); else as read from a checkpoint's weights

    @classmethod
    def gpt(cls, size: str = "B", image_size: int = 256, **kw) -> "LlamaGenConfig":
        """LlamaGen's class-conditional GPT-{B,L,XL,XXL,3B} at 256 or 384 px (VQ-16: image_size // 16 per side)."""
        if size not in GPT_SIZES:
            raise ValueError(f"unknown LlamaGen size {size!r}; expected one of {', '.join(GPT_SIZES)}")
        n_layer, n_head, dim = GPT_SIZES[size]
        return cls(dim=dim, n_layer=n_layer, n_head=n_head, block_size=(image_size // 16) ** 2, **kw)

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def grid(self) -> int:
        return round(self.block_size ** 0.5)

    @property
    def num_image_tokens(self) -> int:
        return self.block_size

    @property
    def image_vocab(self) -> int:
        return self.vocab_size

    @property
    def ffn_hidden(self) -> int:
        if self.ffn_hidden_size:
            return self.ffn_hidden_size
        hidden = int(2 * 4 * self.dim / 3)
        if self.ffn_dim_multiplier:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return -(-hidden // self.multiple_of) * self.multiple_of


def rope_2d(grid: int, head_dim: int, base: float, cls_tokens: int) -> torch.Tensor:
    """(cls_tokens + grid^2, head_dim // 2, 2) cos/sin per rotary pair: the first half of the pairs turn with the
    token's row, the second half with its column; the class tokens' entries are zero (LlamaGen's)."""
    half = head_dim // 2
    freqs = 1.0 / (base ** (torch.arange(0, half, 2)[: half // 2].float() / half))
    angles = torch.outer(torch.arange(grid).float(), freqs)                      # (G, half // 2)
    grid_angles = torch.cat([angles[:, None, :].expand(-1, grid, -1), angles[None, :, :].expand(grid, -1, -1)], -1)
    cache = torch.stack([torch.cos(grid_angles), torch.sin(grid_angles)], -1).flatten(0, 1)
    return torch.cat([torch.zeros(cls_tokens, half, 2), cache])


def apply_rope(x_BSHD: torch.Tensor, rope_SD2: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (x[2j], x[2j+1]) of every head, in float32."""
    x = x_BSHD.float().reshape(*x_BSHD.shape[:-1], -1, 2)
    r = rope_SD2.view(1, x.shape[1], 1, x.shape[3], 2)
    even, odd, cos, sin = x[..., 0], x[..., 1], r[..., 0], r[..., 1]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], -1).flatten(3).type_as(x_BSHD)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class Attention(nn.Module):
    def __init__(self, c: LlamaGenConfig):
        super().__init__()
        self.n_head, self.kv_heads, self.head_dim = c.n_head, c.kv_heads, c.dim // c.n_head
        self.wqkv = nn.Linear(c.dim, (c.n_head + 2 * c.kv_heads) * self.head_dim, bias=False)
        self.wo = nn.Linear(c.dim, c.dim, bias=False)

    def forward(self, x_BSC: torch.Tensor, rope_SD2: torch.Tensor, cache: KVCache | None, layer: int,
                pos: int) -> torch.Tensor:
        B, S, C = x_BSC.shape
        kv = self.kv_heads * self.head_dim
        q, k, v = self.wqkv(x_BSC).split([C, kv, kv], -1)
        q = apply_rope(q.view(B, S, self.n_head, self.head_dim), rope_SD2).transpose(1, 2)
        k = apply_rope(k.view(B, S, self.kv_heads, self.head_dim), rope_SD2).transpose(1, 2)
        v = v.view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)
        if cache is not None:
            cache.k[layer][:, :, pos:pos + S], cache.v[layer][:, :, pos:pos + S] = k, v
            k, v = cache.k[layer][:, :, :pos + S], cache.v[layer][:, :, :pos + S]
        if self.kv_heads != self.n_head:
            k = k.repeat_interleave(self.n_head // self.kv_heads, 1)
            v = v.repeat_interleave(self.n_head // self.kv_heads, 1)
        mask = torch.ones(S, pos + S, dtype=torch.bool, device=x_BSC.device).tril(pos) if S > 1 else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(B, S, C))


class FeedForward(nn.Module):
    def __init__(self, c: LlamaGenConfig):
        super().__init__()
        self.w1 = nn.Linear(c.dim, c.ffn_hidden, bias=False)
        self.w3 = nn.Linear(c.dim, c.ffn_hidden, bias=False)
        self.w2 = nn.Linear(c.ffn_hidden, c.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, c: LlamaGenConfig):
        super().__init__()
        self.attention, self.feed_forward = Attention(c), FeedForward(c)
        self.attention_norm, self.ffn_norm = RMSNorm(c.dim, c.norm_eps), RMSNorm(c.dim, c.norm_eps)

    def forward(self, x, rope, cache, layer, pos):
        h = x + self.attention(self.attention_norm(x), rope, cache, layer, pos)
        return h + self.feed_forward(self.ffn_norm(h))


class LabelEmbedder(nn.Module):
    def __init__(self, c: LlamaGenConfig):
        super().__init__()
        self.embedding_table = nn.Embedding(c.num_classes + int(c.class_dropout_prob > 0), c.dim)


class LlamaGenTransformer(nn.Module):
    """LlamaGen's c2i GPT: [class token(s), image tokens (raster)] -> next image token logits."""

    def __init__(self, config: LlamaGenConfig):
        super().__init__()
        self.config = c = config
        self.tok_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.cls_embedding = LabelEmbedder(c)
        self.layers = nn.ModuleList(TransformerBlock(c) for _ in range(c.n_layer))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.output = nn.Linear(c.dim, c.vocab_size, bias=False)
        # recomputed from the config, never stored (LlamaGen does not store it either)
        self.register_buffer("freqs_cis", rope_2d(c.grid, c.dim // c.n_head, c.rope_base, c.cls_token_num),
                             persistent=False)

    @property
    def prefix_len(self) -> int:
        return self.config.cls_token_num

    def _run(self, x_BSC: torch.Tensor, cache: KVCache | None, pos: int) -> torch.Tensor:
        rope = self.freqs_cis[pos:pos + x_BSC.shape[1]].to(x_BSC.device)
        for i, layer in enumerate(self.layers):
            x_BSC = layer(x_BSC, rope, cache, i, pos)
        return self.output(self.norm(x_BSC)).float()

    def _embed(self, cond_B: torch.Tensor, tokens_Bn: torch.Tensor) -> torch.Tensor:
        cls = self.cls_embedding.embedding_table(cond_B).unsqueeze(1).expand(-1, self.config.cls_token_num, -1)
        return torch.cat([cls, self.tok_embeddings(tokens_Bn)], 1)

    def forward(self, cond_B: torch.Tensor, tokens_Bn: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, cls + n, V): position p (0 = the class token) predicts image token p."""
        return self._run(self._embed(cond_B, tokens_Bn), None, 0)

    def sequence_log_prob(self, img_BN: torch.Tensor, cond_B: torch.Tensor) -> torch.Tensor:
        """Sum of log p(token_i | class, tokens_<i) per sample (B,), differentiable."""
        logits = self(cond_B, img_BN[:, :-1])[:, self.config.cls_token_num - 1:]
        return F.log_softmax(logits, -1).gather(-1, img_BN.unsqueeze(-1)).squeeze(-1).sum(-1)

    def make_cache(self, batch: int, device, dtype=torch.float32) -> KVCache:
        c = self.config
        return KVCache(c.n_layer, batch, c.kv_heads, c.cls_token_num + c.block_size, c.dim // c.n_head, device,
                       dtype)

    def prefill(self, cond_R: torch.Tensor, tokens_Rn: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        return self._run(self._embed(cond_R, tokens_Rn), cache, 0)[:, -1]

    def next_logits(self, last_R: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
        return self._run(self.tok_embeddings(last_R[:, None]), cache, pos)[:, -1]


# ----------------------------------------------------------------------------- loading released files

IGNORED = {"freqs_cis": "rotary table recomputed from the config (older LlamaGen code stored it)",
           "causal_mask": "attention mask built at sampling time",
           "k_cache": "a KV cache saved after sampling, not a weight", "v_cache": "a KV cache saved after sampling"}
PREFIXES = ("module.", "_orig_mod.", "_fsdp_wrapped_module.")   # DDP, torch.compile and FSDP wrappers


def official_state_dict(path: str | Path) -> tuple[dict, list[str]]:
    """The weights of a released LlamaGen file, read with torch.load(weights_only=True): a training dictionary
    ({"model", "optimizer", "steps", "args", "ema"}: its "model", else "module" or "state_dict") or a raw (FSDP)
    state dict. The `args` Namespace of a training dictionary is allow-listed (its fields are plain values, so
    rebuilding it runs no code); anything else a file holds is refused. Wrapper prefixes are stripped and the keys
    in IGNORED dropped. -> (state dict, one line per key ignored and why)."""
    import argparse
    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = read_plain_checkpoint(path, "a LlamaGen checkpoint (a state dict, or a dict with 'model')")
    def why(key: str) -> str:
        return IGNORED.get(key.split(".")[-1]) or (
            "the optimizer state, not weights" if key.startswith("optim") else
            "an exponential moving average LlamaGen's samplers do not use" if key == "ema" else
            "training metadata, not weights")
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}; expected LlamaGen's weights (a dict)")
    ignored = []
    for key in ("model", "module", "state_dict"):
        if isinstance(obj.get(key), dict):
            ignored = [f"{k}: {why(k)}" for k in obj if k != key]
            obj = obj[key]
            break
    state = {}
    for k, v in obj.items():
        name = re.sub(f"^({'|'.join(re.escape(p) for p in PREFIXES)})+", "", k)
        if name.split(".")[-1] in IGNORED:
            ignored.append(f"{k}: {why(name)}")
        elif torch.is_tensor(v):
            state[name] = v
        else:
            raise ValueError(f"{path}: {k} is a {type(v).__name__}, not a tensor; expected LlamaGen's weights")
    return state, ignored


def config_from_state(state: dict, block_size: int) -> LlamaGenConfig:
    """The GPT's config from its weights (width, depth, feed-forward width, vocabulary, classes; heads: LlamaGen's
    for its sizes, else 64 per head) and the token count (`block_size`: the weights do not say it)."""
    dim, vocab = state["tok_embeddings.weight"].shape[1], state["tok_embeddings.weight"].shape[0]
    n_layer = len({k.split(".")[1] for k in state if k.startswith("layers.")})
    n_head = next((h for nl, h, d in GPT_SIZES.values() if (nl, d) == (n_layer, dim)), max(1, dim // 64))
    rows = state["cls_embedding.embedding_table.weight"].shape[0]
    return LlamaGenConfig(dim=dim, n_layer=n_layer, n_head=n_head, vocab_size=vocab, num_classes=rows - 1,
                          block_size=block_size, ffn_hidden_size=state["layers.0.feed_forward.w1.weight"].shape[0])


def image_size_of(path: str | Path) -> int | None:
    """The image size a file's name ends with (c2i_B_256.pt: 256, c2i_XL_384.pt: 384), else None."""
    m = re.search(r"_(\d+)\.pth?$", Path(path).name)
    return int(m.group(1)) if m else None


def load_official_gpt(path: str | Path, block_size: int) -> LlamaGenTransformer:
    """A released GPT file, strict: every name and shape must be LlamaGen's (float16/bfloat16 weights are cast to
    float32). `block_size`: image tokens (the 256 and 384 px files have the same shapes; only the rotary grid
    differs). The keys it ignored, and why, are in `model.ignored_keys`."""
    state, ignored = official_state_dict(path)
    if "tok_embeddings.weight" not in state:
        raise ValueError(f"{path} has no tok_embeddings.weight: not a LlamaGen GPT checkpoint")
    model = LlamaGenTransformer(config_from_state(state, block_size))
    load_state_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path)
    model.ignored_keys = ignored
    return model.eval()


def load_official_generator(gpt_path: str | Path, vq_path: str | Path, device: str = "cpu") -> "LlamaGenGenerator":
    """LlamaGen's GPT and VQ files; the image size (hence the token grid) from the GPT file's name, else 256."""
    from ..tokenizers.llamagen_vq import load_official_vq
    vq = load_official_vq(vq_path, image_size_of(gpt_path) or 256)
    gpt = load_official_gpt(gpt_path, vq.grid ** 2)
    return LlamaGenGenerator(gpt.to(device), vq.to(device))


def llamagen_recipe(path: str | Path | None = None):
    """LlamaGen's FID sampling (GETTING_STARTED): top-k off, temperature 1, cfg 2.0 for B and L, 1.75 for XL and
    XXL, 1.65 for 3B (the size from the file name; 2.0 otherwise). Its cfg is ours: uncond + s * (cond - uncond)."""
    from .sampling import SamplingConfig
    m = re.search(r"c2i_(B|L|XL|XXL|3B)_", Path(path).name) if path else None
    return SamplingConfig(cfg_scale=FID_CFG[m.group(1)] if m else 2.0)


class LlamaGenGenerator(ARGenerator):
    """A LlamaGen GPT with its VQ-16: class ids (or names) in, images out, one token row per step; CFG's
    unconditional branch is the null class."""

    def __init__(self, model: LlamaGenTransformer, vq, conditioner=None):
        c = model.config
        super().__init__(model, vq, conditioner or ClassIndex(c.num_classes, c.class_names))
