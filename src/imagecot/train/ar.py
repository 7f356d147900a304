"""Train the AR generator on VQ tokens of the shapes stream (cross-entropy, condition dropout)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import distributed
from ..data.streams import make_stream
from ..generators.ar import ARConfig, ARTransformer
from ..generators.condition import ClassTokenizer, PromptTokenizer, conditioner_for
from .kinds import GENERATOR_DERIVED
from .loop import TrainConfig, inherit_sampling, start_model, train
from .token_batches import token_batch


def ar_loss_fn(vq, stream, batch_size: int, prompts: PromptTokenizer | ClassTokenizer | None = None):
    """`loss_fn(model, step)` for the training loop: the batch of `step` encoded by the frozen `vq`."""

    def loss_fn(model: ARTransformer, step: int) -> dict:
        pt = prompts or conditioner_for(model.config)
        img_BN, cond_BL = token_batch(vq, stream, step, batch_size, pt, model.config.cond_dropout)
        logits_BNV = model.sequence_logits(img_BN, cond_BL)
        loss = F.cross_entropy(logits_BNV.float().reshape(-1, logits_BNV.shape[-1]), img_BN.reshape(-1))
        return {"loss": loss, "acc": (logits_BNV.argmax(-1) == img_BN).float().mean().detach()}

    return loss_fn


def train_ar(run_dir: str | Path, vq, model_cfg: ARConfig, cfg: TrainConfig,
             data_root: str | Path | None = None, init: str | Path | None = None) -> ARTransformer:
    vq.eval().to(distributed.local_device(cfg.device))
    if model_cfg.image_vocab != vq.vocab_size:
        raise ValueError(f"ARConfig.image_vocab={model_cfg.image_vocab} but the tokenizer has {vq.vocab_size} codes")
    if model_cfg.grid != vq.config.grid:
        g = vq.config.grid
        raise ValueError(f"ARConfig.grid={model_cfg.grid} but the tokenizer makes {g}x{g} grids")
    stream = make_stream(model_cfg.data, cfg.seed, vq.config.resolution, data_root)
    torch.manual_seed(cfg.seed)
    model = start_model(ARTransformer, model_cfg, init, GENERATOR_DERIVED, run_dir)
    model = train(model, ar_loss_fn(vq, stream, cfg.batch_size), run_dir, cfg)
    inherit_sampling(run_dir, init)
    return model
