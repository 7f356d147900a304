"""Train the VQ tokenizer on the shapes stream (L1 + MSE reconstruction + VQ losses)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.images import to_tensor
from ..data.shapes import ShapesStream
from ..tokenizers.vq import VQConfig, VQModel
from .loop import TrainConfig, train


def train_tokenizer(run_dir: str | Path, model_cfg: VQConfig, cfg: TrainConfig) -> VQModel:
    stream = ShapesStream(seed=cfg.seed, resolution=model_cfg.resolution)

    def loss_fn(model: VQModel, step: int) -> dict:
        x = to_tensor(stream.batch(step, cfg.batch_size).images_BHW3)
        recon, idx, vq_loss = model(x)
        l1 = (recon - x).abs().mean()
        mse = F.mse_loss(recon, x)
        used = idx.unique().numel()
        return {"loss": l1 + mse + vq_loss, "l1": l1.detach(), "vq": vq_loss.detach(),
                "psnr": 10 * torch.log10(4.0 / mse.detach()), "codes_in_batch": used}

    torch.manual_seed(cfg.seed)
    return train(VQModel(model_cfg), loss_fn, run_dir, cfg)
