"""Train the VQ tokenizer on the shapes stream (L1 + MSE reconstruction + VQ losses)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.images import to_tensor
from ..data.shapes import ShapesStream
from ..tokenizers.vq import VQConfig, VQModel
from .loop import TrainConfig, train


def _freeze_codes(model: VQModel) -> None:
    """Freeze encoder and codebook: token ids stay exactly what they were, only the decoder learns."""
    for p in list(model.encoder.parameters()) + list(model.quantizer.parameters()):
        p.requires_grad_(False)


def train_tokenizer(run_dir: str | Path, model_cfg: VQConfig, cfg: TrainConfig,
                    init: str | Path | None = None, finetune_decoder: bool = False) -> VQModel:
    """Train a VQ tokenizer from scratch, or from `init`; with `finetune_decoder`, only its decoder.

    Decoder fine-tuning keeps every image's tokens unchanged, so generators
    trained on the tokenizer's codes stay valid while their decoded images improve.
    """
    if finetune_decoder and init is None:
        raise ValueError("finetune_decoder needs init: the tokenizer whose decoder to fine-tune")
    torch.manual_seed(cfg.seed)
    model = VQModel.from_pretrained(init) if init is not None else VQModel(model_cfg)
    stream = ShapesStream(seed=cfg.seed, resolution=model.config.resolution)

    def loss_fn(model: VQModel, step: int) -> dict:
        if finetune_decoder:
            model.quantizer.eval()  # no dead-code restarts: the codebook is fixed
        x = to_tensor(stream.batch(step, cfg.batch_size).images_BHW3)
        recon, idx, vq_loss = model(x)
        l1 = (recon - x).abs().mean()
        mse = F.mse_loss(recon, x)
        used = idx.unique().numel()
        return {"loss": l1 + mse + vq_loss, "l1": l1.detach(), "vq": vq_loss.detach(),
                "psnr": 10 * torch.log10(4.0 / mse.detach()), "codes_in_batch": used}

    return train(model, loss_fn, run_dir, cfg, prepare=_freeze_codes if finetune_decoder else None)
