"""LlamaGen's VQ tokenizer (VQ-16: 256 px -> 16x16 codes of a 16384 x 8 codebook), loaded unchanged.

Parameter names and shapes are LlamaGen's `tokenizer/tokenizer_image/vq_model.py`
(`encoder.conv_blocks.{i}.res/attn/downsample`, `decoder.conv_blocks.{j}...`,
`quantize.embedding`, the usage buffer `quantize.codebook_used`, `quant_conv`,
`post_quant_conv`), so its vq_ds16_c2i.pt loads with strict=True. Codes and
latents are L2-normalised before the nearest-code search, and decoding reads
the L2-normalised codebook, as LlamaGen does. Images are RGB in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .vae_blocks import Downsample2x, Normalize, ResnetBlock, Upsample2x


@dataclass
class LlamaGenVQConfig:
    codebook_size: int = 16384
    codebook_embed_dim: int = 8
    z_channels: int = 256
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)   # VQ-16; VQ-8 is (1, 2, 2, 4)
    num_res_blocks: int = 2
    resolution: int = 256

    @property
    def grid(self) -> int:
        return self.resolution // 2 ** (len(self.ch_mult) - 1)


class QKVAttnBlock(nn.Module):
    """Single-head spatial self-attention with separate 1x1 q, k, v convs (LlamaGen's AttnBlock)."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = Normalize(c)
        self.q, self.k, self.v = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x_BCHW.shape
        h = self.norm(x_BCHW)
        q, k, v = (m(h).reshape(B, C, H * W).transpose(1, 2)[:, None] for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)[:, 0].transpose(1, 2).reshape(B, C, H, W)
        return x_BCHW + self.proj_out(out)


class _Level(nn.Module):
    def __init__(self, c_in: int, c_out: int, n_res: int, attn: bool, resample: nn.Module | None, name: str):
        super().__init__()
        self.res = nn.ModuleList(ResnetBlock(c_in if i == 0 else c_out, c_out) for i in range(n_res))
        self.attn = nn.ModuleList(QKVAttnBlock(c_out) for _ in range(n_res)) if attn else nn.ModuleList()
        if resample is not None:
            self.add_module(name, resample)
        self.resample_name = name if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.res):
            x = block(x)
            if len(self.attn):
                x = self.attn[i](x)
        return getattr(self, self.resample_name)(x) if self.resample_name else x


def _mid(c: int) -> nn.ModuleList:
    return nn.ModuleList([ResnetBlock(c, c), QKVAttnBlock(c), ResnetBlock(c, c)])


class _Encoder(nn.Module):
    def __init__(self, c: LlamaGenVQConfig):
        super().__init__()
        self.conv_in = nn.Conv2d(3, c.ch, 3, padding=1)
        widths, levels, c_in = [c.ch * m for m in c.ch_mult], [], c.ch
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            levels.append(_Level(c_in, w, c.num_res_blocks, last, None if last else Downsample2x(w), "downsample"))
            c_in = w
        self.conv_blocks = nn.ModuleList(levels)
        self.mid = _mid(c_in)
        self.norm_out = Normalize(c_in)
        self.conv_out = nn.Conv2d(c_in, c.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for level in self.conv_blocks:
            x = level(x)
        for m in self.mid:
            x = m(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class _Decoder(nn.Module):
    def __init__(self, c: LlamaGenVQConfig):
        super().__init__()
        widths = [c.ch * m for m in reversed(c.ch_mult)]
        self.conv_in = nn.Conv2d(c.z_channels, widths[0], 3, padding=1)
        self.mid = _mid(widths[0])
        levels, c_in = [], widths[0]
        for j, w in enumerate(widths):
            last = j == len(widths) - 1
            levels.append(_Level(c_in, w, c.num_res_blocks + 1, j == 0, None if last else Upsample2x(w), "upsample"))
            c_in = w
        self.conv_blocks = nn.ModuleList(levels)
        self.norm_out = Normalize(c_in)
        self.conv_out = nn.Conv2d(c_in, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(z)
        for m in self.mid:
            x = m(x)
        for level in self.conv_blocks:
            x = level(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class _Quantizer(nn.Module):
    def __init__(self, c: LlamaGenVQConfig):
        super().__init__()
        self.embedding = nn.Embedding(c.codebook_size, c.codebook_embed_dim)
        self.register_buffer("codebook_used", torch.zeros(65536))   # LlamaGen's training-time usage ring buffer

    def codes(self) -> torch.Tensor:
        return F.normalize(self.embedding.weight, dim=-1)


class LlamaGenVQ(nn.Module):
    """encode: images (B, 3, H, W) in [-1, 1] -> codes (B, g, g); decode: codes -> images."""

    def __init__(self, config: LlamaGenVQConfig):
        super().__init__()
        self.config = c = config
        self.encoder, self.decoder, self.quantize = _Encoder(c), _Decoder(c), _Quantizer(c)
        self.quant_conv = nn.Conv2d(c.z_channels, c.codebook_embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(c.codebook_embed_dim, c.z_channels, 1)

    @property
    def vocab_size(self) -> int:
        return self.config.codebook_size

    @property
    def grid(self) -> int:
        return self.config.grid

    @torch.no_grad()
    def encode(self, images_B3HW: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.quant_conv(self.encoder(images_B3HW)).permute(0, 2, 3, 1), dim=-1)   # (B, g, g, e)
        return torch.cdist(z.flatten(0, 2), self.quantize.codes()).argmin(-1).view(z.shape[:3])

    @torch.no_grad()
    def decode(self, codes_Bgg: torch.Tensor) -> torch.Tensor:
        g = self.config.grid
        z = self.quantize.codes()[codes_Bgg.reshape(-1, g, g)].permute(0, 3, 1, 2)
        return self.decoder(self.post_quant_conv(z))


def config_from_state(state: dict, resolution: int = 256) -> LlamaGenVQConfig:
    """The VQ's config from its weights: base width, per-level widths, blocks per level, codebook, latent channels."""
    ch = state["encoder.conv_in.weight"].shape[0]
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith("encoder.conv_blocks.")})
    ch_mult = tuple(state[f"encoder.conv_blocks.{i}.res.0.conv1.weight"].shape[0] // ch for i in levels)
    n_res = len({k.split(".")[4] for k in state if k.startswith("encoder.conv_blocks.0.res.")})
    n, e = state["quantize.embedding.weight"].shape
    return LlamaGenVQConfig(codebook_size=n, codebook_embed_dim=e, z_channels=state["encoder.conv_out.weight"].shape[0],
                            ch=ch, ch_mult=ch_mult, num_res_blocks=n_res, resolution=resolution)


def load_official_vq(path: str | Path, resolution: int = 256) -> LlamaGenVQ:
    """LlamaGen's released VQ file (vq_ds16_c2i.pt: {"model": ..., ...}), strict; read as plain tensors. Its config
    follows from the weights; `resolution` sets the image size (hence the code grid) it is used at."""
    from ..generators.llamagen import official_state_dict
    from ..hub import load_state_strict
    state, _ = official_state_dict(path)
    if "quantize.embedding.weight" not in state:
        raise ValueError(f"{path} has no quantize.embedding.weight: not a LlamaGen VQ checkpoint")
    model = LlamaGenVQ(config_from_state(state, resolution))
    load_state_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path)
    return model.eval()
