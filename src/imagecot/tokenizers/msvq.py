"""VAR's multi-scale residual VQ tokenizer (own implementation, VAR's parameter names).

Per scale k with side pn_k: area-downsample the residual to pn_k x pn_k, take
the nearest code (L2), bicubic-upsample the code map back to the latent size
(not at the last scale), refine it with a Φ conv ``h*(1-r) + conv(h)*r``
(r = 0.5; `share_quant_resi` Φ convs shared by scale position), add it to the
cumulative ``f_hat`` and subtract it from the residual. Decoding the first k
scales' ``f_hat`` gives the coarse-to-fine preview VAR's step protocol shows.
`MSVQConfig.var_official()` is the configuration of VAR's released
`vae_ch160v4096z32.pth`, which loads into `MSVQModel` with strict=True.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hub import PretrainedMixin
from .vae_blocks import Decoder, Encoder


@dataclass
class MSVQConfig:
    resolution: int = 32
    vocab_size: int = 512
    z_channels: int = 8                      # Cvae
    ch: int = 32
    ch_mult: tuple[int, ...] = (1, 2, 2)     # len-1 downsamples: 32 -> 8
    num_res_blocks: int = 1
    using_sa: bool = False
    using_mid_sa: bool = True
    dropout: float = 0.0
    patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8)
    share_quant_resi: int = 4
    quant_resi: float = 0.5
    beta: float = 0.25
    dead_threshold: float = 0.0              # restart codes whose usage EMA drops below this (0 = off)
    usage_decay: float = 0.99
    data: str = "shapes"                     # what it was trained on

    @classmethod
    def var_official(cls) -> "MSVQConfig":
        """FoundationVision/VAR's VQVAE (vocab 4096, Cvae 32, ch 160) at 256 px, 10 scales."""
        return cls(resolution=256, vocab_size=4096, z_channels=32, ch=160, ch_mult=(1, 1, 2, 2, 4),
                   num_res_blocks=2, using_sa=True, using_mid_sa=True,
                   patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), share_quant_resi=4)

    @classmethod
    def shapes64(cls) -> "MSVQConfig":
        """The 64x64 shapes world: a 16x16 latent grid in 9 scales (AR needs 256 steps, VAR 9)."""
        return cls(resolution=64, patch_nums=(1, 2, 3, 4, 6, 8, 10, 13, 16))

    @property
    def grid(self) -> int:
        return self.resolution // 2 ** (len(self.ch_mult) - 1)

    def __post_init__(self):
        if self.patch_nums[-1] != self.grid:
            raise ValueError(f"the last scale ({self.patch_nums[-1]}) must equal the latent grid "
                             f"({self.grid} = {self.resolution} / 2**{len(self.ch_mult) - 1})")
        if list(self.patch_nums) != sorted(set(self.patch_nums)):
            raise ValueError(f"patch_nums must increase strictly, got {self.patch_nums}")


class Phi(nn.Conv2d):
    """h -> h*(1-r) + conv(h)*r: the per-scale refinement of an upsampled code map."""

    def __init__(self, c: int, resi_ratio: float):
        super().__init__(c, c, kernel_size=3, stride=1, padding=1)
        self.resi_ratio = abs(resi_ratio)

    def forward(self, h_BChw):
        return h_BChw.mul(1 - self.resi_ratio) + super().forward(h_BChw).mul_(self.resi_ratio)


class PhiShared(nn.Module):
    """K Φ convs for SN scales: scale si uses the Φ whose tick is nearest si/(SN-1)."""

    def __init__(self, c: int, resi_ratio: float, k: int):
        super().__init__()
        self.qresi_ls = nn.ModuleList(Phi(c, resi_ratio) for _ in range(k))
        self.ticks = np.linspace(1 / 3 / k, 1 - 1 / 3 / k, k) if k == 4 else np.linspace(1 / 2 / k, 1 - 1 / 2 / k, k)

    def index(self, si: int, n_scales: int) -> int:
        ratio = si / max(1, n_scales - 1)
        return int(np.argmin(np.abs(self.ticks - ratio)))

    def forward_scale(self, h, si: int, n_scales: int):
        return self.qresi_ls[self.index(si, n_scales)](h)


class MultiScaleQuantizer(nn.Module):
    def __init__(self, cfg: MSVQConfig):
        super().__init__()
        if cfg.share_quant_resi < 2:
            raise ValueError("share_quant_resi must be >= 2 (the Φ layout of VAR's released tokenizer)")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.z_channels)
        nn.init.uniform_(self.embedding.weight, -1 / cfg.vocab_size, 1 / cfg.vocab_size)
        self.quant_resi = PhiShared(cfg.z_channels, cfg.quant_resi, cfg.share_quant_resi)
        self.register_buffer("ema_vocab_hit_SV", torch.full((len(cfg.patch_nums), cfg.vocab_size), 0.0))

    @property
    def patch_nums(self) -> tuple[int, ...]:
        return self.cfg.patch_nums

    def _nearest(self, z_NC: torch.Tensor) -> torch.Tensor:
        e_VC = self.embedding.weight
        d_NV = (z_NC.square().sum(1, keepdim=True) + e_VC.square().sum(1)[None]).addmm_(z_NC, e_VC.T, alpha=-2)
        return d_NV.argmin(1)

    def _up(self, h_BCpp: torch.Tensor, si: int) -> torch.Tensor:
        H = self.patch_nums[-1]
        h = h_BCpp if si == len(self.patch_nums) - 1 else F.interpolate(h_BCpp, size=(H, H), mode="bicubic")
        return self.quant_resi.forward_scale(h, si, len(self.patch_nums))

    def forward(self, f_BChw: torch.Tensor):
        """Quantize a latent: (f_hat with straight-through gradient, per-scale indices, vq loss).

        Always in float32 (autocast off): nearest-code choices must not depend on the precision.
        """
        with torch.autocast(f_BChw.device.type, enabled=False):
            return self._forward(f_BChw.float())

    def _forward(self, f_BChw: torch.Tensor):
        f_no_grad = f_BChw.detach()
        f_rest, f_hat = f_no_grad.clone(), torch.zeros_like(f_no_grad)
        SN, loss, idx_list = len(self.patch_nums), 0.0, []
        for si, pn in enumerate(self.patch_nums):
            z = f_rest if si == SN - 1 else F.interpolate(f_rest, size=(pn, pn), mode="area")
            idx_Bl = self._nearest(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])).view(z.shape[0], pn * pn)
            idx_list.append(idx_Bl)
            h = self._up(self.embedding(idx_Bl).transpose(1, 2).reshape(z.shape[0], -1, pn, pn), si)
            f_hat = f_hat + h
            f_rest = f_rest - h.detach()
            loss = loss + F.mse_loss(f_hat.detach(), f_BChw) * self.cfg.beta + F.mse_loss(f_hat, f_no_grad)
            if self.training:
                self._track(si, idx_Bl)
        if self.training and self.cfg.dead_threshold > 0:
            self._restart(f_no_grad)
        f_hat_st = (f_hat.detach() - f_no_grad) + f_BChw
        return f_hat_st, idx_list, loss / SN

    @torch.no_grad()
    def _track(self, si: int, idx_Bl: torch.Tensor) -> None:
        hits = torch.bincount(idx_Bl.flatten(), minlength=self.cfg.vocab_size).float()
        hits = hits / max(1, idx_Bl.numel()) * self.cfg.vocab_size  # 1.0 = uniform usage
        self.ema_vocab_hit_SV[si].mul_(self.cfg.usage_decay).add_(hits, alpha=1 - self.cfg.usage_decay)

    @torch.no_grad()
    def _restart(self, f_BChw: torch.Tensor) -> None:
        usage_V = self.ema_vocab_hit_SV.mean(0)
        dead = (usage_V < self.cfg.dead_threshold).nonzero().squeeze(1)
        if dead.numel():
            z_NC = f_BChw.permute(0, 2, 3, 1).reshape(-1, f_BChw.shape[1])
            pick = torch.randint(0, z_NC.shape[0], (dead.numel(),), device=z_NC.device)
            self.embedding.weight.data[dead] = z_NC[pick]
            self.ema_vocab_hit_SV[:, dead] = 1.0

    @torch.no_grad()
    def idx_to_fhat(self, idx_list: list[torch.Tensor], upto: int | None = None) -> torch.Tensor:
        """Cumulative f_hat (B, C, H, W) from the first `upto` scales' indices (all by default)."""
        upto = len(idx_list) if upto is None else upto
        B, H = idx_list[0].shape[0], self.patch_nums[-1]
        f_hat = self.embedding.weight.new_zeros(B, self.cfg.z_channels, H, H)
        for si in range(upto):
            pn = self.patch_nums[si]
            f_hat += self._up(self.embedding(idx_list[si]).transpose(1, 2).reshape(B, -1, pn, pn), si)
        return f_hat

    def next_input(self, si: int, f_hat: torch.Tensor, h_BCpp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add scale si's codes to f_hat; return (f_hat, the next scale's input = area-downsampled f_hat)."""
        f_hat = f_hat + self._up(h_BCpp, si)
        if si == len(self.patch_nums) - 1:
            return f_hat, f_hat
        pn = self.patch_nums[si + 1]
        return f_hat, F.interpolate(f_hat, size=(pn, pn), mode="area")

    def teacher_forcing_input(self, idx_list: list[torch.Tensor]) -> torch.Tensor:
        """(B, L - first_l, C): for scales 1.., the area-downsampled cumulative f_hat of the scales before."""
        B, H = idx_list[0].shape[0], self.patch_nums[-1]
        f_hat = self.embedding.weight.new_zeros(B, self.cfg.z_channels, H, H)
        out = []
        for si in range(len(self.patch_nums) - 1):
            pn = self.patch_nums[si]
            h = self.embedding(idx_list[si]).transpose(1, 2).reshape(B, -1, pn, pn)
            f_hat, nxt = self.next_input(si, f_hat, h)
            out.append(nxt.flatten(2).transpose(1, 2))
        return torch.cat(out, dim=1)


class MSVQModel(nn.Module, PretrainedMixin):
    """Image (B,3,H,W) in [-1,1] <-> per-scale token maps [(B, pn*pn) for pn in patch_nums]."""

    config_class = MSVQConfig
    model_type = "msvq"

    def __init__(self, config: MSVQConfig):
        super().__init__()
        self.config = c = config
        kw = dict(ch=c.ch, ch_mult=c.ch_mult, num_res_blocks=c.num_res_blocks, z_channels=c.z_channels,
                  dropout=c.dropout, using_sa=c.using_sa, using_mid_sa=c.using_mid_sa)
        self.encoder = Encoder(**kw)
        self.decoder = Decoder(**kw)
        self.quantize = MultiScaleQuantizer(c)
        self.quant_conv = nn.Conv2d(c.z_channels, c.z_channels, 3, padding=1)
        self.post_quant_conv = nn.Conv2d(c.z_channels, c.z_channels, 3, padding=1)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def forward(self, img_B3HW: torch.Tensor):
        f_hat, idx_list, vq_loss = self.quantize(self.quant_conv(self.encoder(img_B3HW)))
        return self.decoder(self.post_quant_conv(f_hat)), idx_list, vq_loss

    @torch.no_grad()
    def encode(self, img_B3HW: torch.Tensor) -> list[torch.Tensor]:
        _, idx_list, _ = self.quantize(self.quant_conv(self.encoder(img_B3HW)))
        return idx_list

    @torch.no_grad()
    def fhat_to_img(self, f_hat: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(f_hat)).clamp(-1, 1)

    @torch.no_grad()
    def decode(self, idx_list: list[torch.Tensor], upto: int | None = None) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] from all scales, or a preview from the first `upto`."""
        return self.fhat_to_img(self.quantize.idx_to_fhat(idx_list, upto))
