"""The learned verifier network: (image or preview, prompt, progress t/T) -> judgments.

Image cells (a small CNN to an 8x8 grid), the prompt's words and one progress
token go through a bidirectional transformer; a learned summary token feeds
the heads:
- `potential`: P(the final image satisfies the prompt) — the ORM's score on
  final images (progress 1), the PRM's and PARM's on previews;
- `clarity`: P(this preview is clear enough to judge), PARM's first head;
- `flaws`: P(each flaw kind: missing, extra, wrong colour, wrong position) and,
  per image cell, P(the cell must be redone) — the reflection of PARM++.
ORM, PRM and PARM are this architecture trained on different data (final
images; every step; clear steps plus clarity), see `train/verifier.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation.diagnose import KINDS
from ..hub import PretrainedMixin

PROGRESS_BINS = 16


@dataclass
class VerifierConfig:
    resolution: int = 32
    d_model: int = 128
    n_layer: int = 3
    n_head: int = 4
    text_len: int = 12
    text_vocab: int = 40
    dropout: float = 0.1
    role: str = "parm"       # "orm", "prm" or "parm": what it was trained as (all heads exist in each)

    @property
    def grid(self) -> int:
        return self.resolution // 4


class VerifierNet(nn.Module, PretrainedMixin):
    config_class = VerifierConfig
    model_type = "verifier"

    def __init__(self, config: VerifierConfig):
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1), nn.GELU(),
            nn.Conv2d(64, 96, 3, 2, 1), nn.GELU(),
            nn.Conv2d(96, d, 3, 2, 1), nn.GELU(),
            nn.Conv2d(d, d, 3, 1, 1))
        self.cell_pos = nn.Parameter(torch.zeros(1, c.grid * c.grid, d))
        self.word_emb = nn.Embedding(c.text_vocab, d)
        self.word_pos = nn.Parameter(torch.zeros(1, c.text_len, d))
        self.progress_emb = nn.Embedding(PROGRESS_BINS + 1, d)
        self.summary = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(d, c.n_head, 4 * d, c.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 2 + len(KINDS))   # potential, clarity, flaw kinds
        self.region = nn.Linear(d, 1)
        for p in (self.cell_pos, self.word_pos, self.summary):
            nn.init.normal_(p, std=0.02)

    def forward(self, images_B3HW: torch.Tensor, text_BL: torch.Tensor, progress_B: torch.Tensor) -> dict:
        """Logits: potential (B,), clarity (B,), flaws (B, 4), region (B, grid*grid)."""
        B, r = images_B3HW.shape[0], self.config.resolution
        if tuple(images_B3HW.shape[1:]) != (3, r, r):
            raise ValueError(f"this verifier judges (B, 3, {r}, {r}) images, got {tuple(images_B3HW.shape)}: "
                             "use a verifier trained on this generator's frames")
        cells_BNd = self.stem(images_B3HW).flatten(2).transpose(1, 2) + self.cell_pos
        words_BLd = self.word_emb(text_BL) + self.word_pos
        bins = (progress_B.clamp(0, 1) * PROGRESS_BINS).round().long()
        x = torch.cat([self.summary.expand(B, -1, -1), self.progress_emb(bins)[:, None], words_BLd, cells_BNd], 1)
        pad = torch.cat([torch.zeros(B, 2, dtype=torch.bool, device=x.device), text_BL == 0,
                         torch.zeros(B, cells_BNd.shape[1], dtype=torch.bool, device=x.device)], 1)
        h = self.norm(self.encoder(x, src_key_padding_mask=pad))
        out = self.head(h[:, 0])
        return {"potential": out[:, 0], "clarity": out[:, 1], "flaws": out[:, 2:],
                "region": self.region(h[:, -cells_BNd.shape[1]:]).squeeze(-1)}


HEADS = ("potential", "clarity", "flaws", "region")


def verifier_loss(out: dict, batch: dict) -> dict:
    """Binary cross-entropies on the labels a batch carries; `<head>_mask` (B,) bool selects the rows
    that have that label (e.g. flaws only on final images)."""
    losses = {}
    for key in HEADS:
        if key not in batch:
            continue
        m = batch.get(f"{key}_mask")
        logits, target = (out[key], batch[key]) if m is None else (out[key][m], batch[key][m])
        if target.numel():
            losses[key] = F.binary_cross_entropy_with_logits(logits, target.float())
    if not losses:
        raise ValueError(f"the batch carries none of the labels {HEADS}")
    losses["loss"] = sum(losses.values())
    return losses


class LearnedVerifier:
    """A trained VerifierNet behind the interfaces search strategies call (probabilities, batched).

    `verifier(images, prompts)` is the ORM score (progress 1); `verifier(previews, prompts, t, T)` the PRM's;
    `clarity` and `potential` are PARM's heads; `reflect` gives PARM++ the flaws it believes in.
    """

    is_oracle = False

    def __init__(self, net: VerifierNet, prompt_tokenizer=None, batch_size: int = 256):
        from ..generators.condition import PromptTokenizer
        self.net = net.eval()
        self.prompt_tokenizer = prompt_tokenizer or PromptTokenizer(net.config.text_len)
        self.batch_size = batch_size
        self.name = f"learned {net.config.role}"

    @torch.no_grad()
    def heads(self, images_B3HW: torch.Tensor, prompts: list[str], t: int | None = None,
              T: int | None = None) -> dict:
        dev = next(self.net.parameters()).device
        progress = 1.0 if t is None else t / T
        outs = []
        for i in range(0, len(prompts), self.batch_size):
            x = images_B3HW[i:i + self.batch_size].to(dev).float()
            text = self.prompt_tokenizer.encode(prompts[i:i + self.batch_size]).to(dev)
            outs.append(self.net(x, text, torch.full((x.shape[0],), progress, device=dev)))
        return {k: torch.cat([o[k] for o in outs]).float().sigmoid().cpu() for k in outs[0]}

    def __call__(self, images_B3HW, prompts, t=None, T=None) -> torch.Tensor:
        return self.heads(images_B3HW, prompts, t, T)["potential"]

    def clarity(self, previews_B3HW, prompts, t, T) -> torch.Tensor:
        return self.heads(previews_B3HW, prompts, t, T)["clarity"]

    def potential(self, previews_B3HW, prompts, t, T) -> torch.Tensor:
        return self.heads(previews_B3HW, prompts, t, T)["potential"]

    def reflect(self, images_B3HW, prompts, threshold: float = 0.5) -> list[dict]:
        """Per image: the flaw kinds it believes (P > threshold), the cells to redo (grid*grid bool), a sentence."""
        h = self.heads(images_B3HW, prompts)
        out = []
        for b in range(len(prompts)):
            kinds = [k for k, p in zip(KINDS, h["flaws"][b].tolist()) if p > threshold]
            cells = h["region"][b] > threshold
            where = ""
            if cells.any():
                g = self.net.config.grid
                ys, xs = torch.nonzero(cells.view(g, g), as_tuple=True)
                where = f" around rows {ys.min().item()}-{ys.max().item()}, columns {xs.min().item()}-{xs.max().item()}"
            text = (", ".join(k.replace("_", " ") for k in kinds) + where) if kinds else "nothing wrong"
            out.append({"kinds": kinds, "cells": cells, "p_aligned": float(h["potential"][b]), "sentence": text})
        return out
