"""Single-scale VQ-VAE tokenizer (VQGAN-style conv encoder/decoder, no GAN).

The codebook is looked up in a low-dimensional, L2-normalised space (as in
ViT-VQGAN and LlamaGen), which keeps code usage high; codes that go unused are
restarted from encoder outputs of the current batch (dead-code restarts).
Downsampling is 2**len(channels): the default (64, 128) maps 32x32 -> 8x8 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import PretrainedMixin


@dataclass
class VQConfig:
    resolution: int = 32
    channels: tuple[int, ...] = (64, 128)   # one stage per entry, each stage halves the size
    num_res_blocks: int = 1
    codebook_size: int = 512
    codebook_dim: int = 8
    beta: float = 0.25                      # commitment weight
    usage_decay: float = 0.99               # EMA of per-code usage, for dead-code restarts
    dead_threshold: float = 0.03            # restart a code whose usage EMA falls below this (codes/batch)
    data: str = "shapes"                    # what it was trained on

    @classmethod
    def shapes64(cls) -> "VQConfig":
        """The 64x64 shapes world: a 16x16 token grid (256 tokens, as many AR steps)."""
        return cls(resolution=64)

    @property
    def downsample(self) -> int:
        return 2 ** len(self.channels)

    @property
    def grid(self) -> int:
        return self.resolution // self.downsample


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, c // 4), c)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.block = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
                                   _norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        return self.skip(x) + self.block(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, padding=1)]
        c = ch[0]
        for c_next in ch:
            layers += [ResBlock(c, c_next) for _ in range(1)] + [
                ResBlock(c_next, c_next) for _ in range(cfg.num_res_blocks - 1)]
            layers.append(nn.Conv2d(c_next, c_next, 4, stride=2, padding=1))
            c = c_next
        layers += [ResBlock(c, c), _norm(c), nn.SiLU(), nn.Conv2d(c, cfg.codebook_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, img_B3HW):
        return self.net(img_B3HW)


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        ch = cfg.channels[::-1]
        c = ch[0]
        layers: list[nn.Module] = [nn.Conv2d(cfg.codebook_dim, c, 3, padding=1), ResBlock(c, c)]
        for c_next in ch:
            layers += [ResBlock(c, c_next)] + [ResBlock(c_next, c_next) for _ in range(cfg.num_res_blocks - 1)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_next, c_next, 3, padding=1)]
            c = c_next
        layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z_BChw):
        return self.net(z_BChw)


class VectorQuantizer(nn.Module):
    """Nearest-code lookup on the unit sphere, straight-through gradients, usage tracking."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.codebook = nn.Embedding(cfg.codebook_size, cfg.codebook_dim)
        nn.init.normal_(self.codebook.weight)
        self.register_buffer("usage_ema", torch.ones(cfg.codebook_size))

    def codes(self) -> torch.Tensor:
        return F.normalize(self.codebook.weight, dim=-1)

    def lookup(self, idx_Bhw: torch.Tensor) -> torch.Tensor:
        """Code vectors for indices, as a (B, C, h, w) map."""
        return self.codes()[idx_Bhw].permute(0, 3, 1, 2)

    def forward(self, z_BChw: torch.Tensor):
        """Always in float32 (autocast off): nearest-code choices must not depend on the precision."""
        with torch.autocast(z_BChw.device.type, enabled=False):
            return self._forward(z_BChw.float())

    def _forward(self, z_BChw: torch.Tensor):
        B, C, h, w = z_BChw.shape
        z_NC = F.normalize(z_BChw.permute(0, 2, 3, 1).reshape(-1, C), dim=-1)
        codes_VC = self.codes()
        idx_N = (z_NC @ codes_VC.T).argmax(dim=-1)  # max cosine = min L2 on the sphere
        q_NC = codes_VC[idx_N]
        loss = F.mse_loss(q_NC, z_NC.detach()) + self.cfg.beta * F.mse_loss(z_NC, q_NC.detach())
        q_NC = z_NC + (q_NC - z_NC).detach()
        if self.training:
            self._track_and_restart(idx_N, z_NC.detach())
        q_BChw = q_NC.view(B, h, w, C).permute(0, 3, 1, 2)
        return q_BChw, idx_N.view(B, h, w), loss

    @torch.no_grad()
    def _track_and_restart(self, idx_N: torch.Tensor, z_NC: torch.Tensor) -> None:
        counts_V = torch.bincount(idx_N, minlength=self.cfg.codebook_size).float()
        self.usage_ema.mul_(self.cfg.usage_decay).add_(counts_V, alpha=1 - self.cfg.usage_decay)
        dead = (self.usage_ema < self.cfg.dead_threshold).nonzero().squeeze(1)
        if dead.numel():
            pick = torch.randint(0, z_NC.shape[0], (dead.numel(),), device=z_NC.device)
            noise = 0.01 * torch.randn_like(z_NC[pick])
            self.codebook.weight.data[dead] = z_NC[pick] + noise
            self.usage_ema[dead] = 1.0


class VQModel(nn.Module, PretrainedMixin):
    """Image (B,3,H,W) in [-1,1] <-> token grid (B,h,w) of codebook indices."""

    config_class = VQConfig
    model_type = "vq"

    def __init__(self, config: VQConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.quantizer = VectorQuantizer(config)
        self.decoder = Decoder(config)

    @property
    def vocab_size(self) -> int:
        return self.config.codebook_size

    def forward(self, img_B3HW: torch.Tensor):
        q_BChw, idx_Bhw, vq_loss = self.quantizer(self.encoder(img_B3HW))
        return self.decoder(q_BChw), idx_Bhw, vq_loss

    @torch.no_grad()
    def encode(self, img_B3HW: torch.Tensor) -> torch.Tensor:
        """Token indices (B, h, w)."""
        _, idx_Bhw, _ = self.quantizer(self.encoder(img_B3HW))
        return idx_Bhw

    @torch.no_grad()
    def decode(self, idx_Bhw: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] from token indices."""
        return self.decoder(self.quantizer.lookup(idx_Bhw)).clamp(-1, 1)
