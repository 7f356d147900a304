"""Conv VAE building blocks with the parameter names of VAR's VQVAE (taming-style layout).

Encoder: conv_in, down.{i}.block.{j} / .attn.{j} / .downsample, mid.{block_1, attn_1, block_2},
norm_out, conv_out. Decoder mirrors it; its `up.{i}` are stored in level order and run from
the deepest level up. Names matter: official checkpoints load into these modules unchanged.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


def Normalize(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(32, c), num_channels=c, eps=1e-6, affine=True)


class Upsample2x(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Downsample2x(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class ResnetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = Normalize(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = Normalize(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 1e-6 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with one fused 1x1 qkv conv."""

    def __init__(self, c: int):
        super().__init__()
        self.C = c
        self.norm = Normalize(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x_BCHW):
        B, C, H, W = x_BCHW.shape
        q, k, v = self.qkv(self.norm(x_BCHW)).reshape(B, 3, C, H * W).unbind(1)  # each (B, C, HW)
        attn = F.scaled_dot_product_attention(q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None],
                                              v.transpose(1, 2)[:, None])  # (B, 1, HW, C)
        return x_BCHW + self.proj_out(attn[:, 0].transpose(1, 2).reshape(B, C, H, W))


class _Level(nn.Module):
    pass


class _Mid(nn.Module):
    def __init__(self, c: int, dropout: float, using_sa: bool):
        super().__init__()
        self.block_1 = ResnetBlock(c, c, dropout)
        self.attn_1 = AttnBlock(c) if using_sa else nn.Identity()
        self.block_2 = ResnetBlock(c, c, dropout)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, z_channels: int,
                 dropout: float = 0.0, using_sa: bool = True, using_mid_sa: bool = True, in_channels: int = 3):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        c_out = ch
        for i, mult in enumerate(ch_mult):
            level = _Level()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            c_in, c_out = ch * in_mult[i], ch * mult
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(c_in, c_out, dropout))
                c_in = c_out
                if i == len(ch_mult) - 1 and using_sa:
                    level.attn.append(AttnBlock(c_in))
            if i != len(ch_mult) - 1:
                level.downsample = Downsample2x(c_in)
            self.down.append(level)
        self.mid = _Mid(c_out, dropout, using_mid_sa)
        self.norm_out = Normalize(c_out)
        self.conv_out = nn.Conv2d(c_out, z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, level in enumerate(self.down):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, z_channels: int,
                 dropout: float = 0.0, using_sa: bool = True, using_mid_sa: bool = True, out_channels: int = 3):
        super().__init__()
        n = len(ch_mult)
        c_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c_in, 3, padding=1)
        self.mid = _Mid(c_in, dropout, using_mid_sa)
        levels: list[nn.Module] = []
        for i in reversed(range(n)):
            level = _Level()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            c_out = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(c_in, c_out, dropout))
                c_in = c_out
                if i == n - 1 and using_sa:
                    level.attn.append(AttnBlock(c_in))
            if i != 0:
                level.upsample = Upsample2x(c_in)
            levels.insert(0, level)  # stored in level order, run deepest first
        self.up = nn.ModuleList(levels)
        self.norm_out = Normalize(c_in)
        self.conv_out = nn.Conv2d(c_in, out_channels, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
