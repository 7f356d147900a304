"""Train the MaskGIT generator: cosine-distributed masking, cross-entropy on masked tokens only."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import distributed
from ..data.streams import make_stream
from ..generators.condition import ClassTokenizer, PromptTokenizer, conditioner_for
from ..generators.maskgit import MaskGITConfig, MaskGITTransformer
from .kinds import GENERATOR_DERIVED
from .loop import TrainConfig, inherit_sampling, start_model, train
from .token_batches import token_batch


def maskgit_loss_fn(vq, stream, batch_size: int, prompts: PromptTokenizer | ClassTokenizer | None = None):
    def loss_fn(model: MaskGITTransformer, step: int) -> dict:
        pt = prompts or conditioner_for(model.config)
        img_BN, cond_BL = token_batch(vq, stream, step, batch_size, pt, model.config.cond_dropout)
        mask_BN = model.random_mask(img_BN.shape[0], img_BN.device)
        logits_BNV = model(img_BN.masked_fill(mask_BN, model.config.mask_id), cond_BL)
        loss = F.cross_entropy(logits_BNV[mask_BN].float(), img_BN[mask_BN])
        acc = (logits_BNV.argmax(-1) == img_BN)[mask_BN].float().mean().detach()
        return {"loss": loss, "acc": acc, "mask_ratio": mask_BN.float().mean().detach()}

    return loss_fn


def train_maskgit(run_dir: str | Path, vq, model_cfg: MaskGITConfig, cfg: TrainConfig,
                  data_root: str | Path | None = None, init: str | Path | None = None) -> MaskGITTransformer:
    vq.eval().to(distributed.local_device(cfg.device))
    if model_cfg.image_vocab != vq.vocab_size or model_cfg.grid != vq.config.grid:
        raise ValueError(f"MaskGITConfig (vocab {model_cfg.image_vocab}, grid {model_cfg.grid}) does not match the "
                         f"tokenizer (vocab {vq.vocab_size}, grid {vq.config.grid})")
    stream = make_stream(model_cfg.data, cfg.seed, vq.config.resolution, data_root)
    torch.manual_seed(cfg.seed)
    model = start_model(MaskGITTransformer, model_cfg, init, GENERATOR_DERIVED, run_dir)
    model = train(model, maskgit_loss_fn(vq, stream, cfg.batch_size), run_dir, cfg)
    inherit_sampling(run_dir, init)
    return model
