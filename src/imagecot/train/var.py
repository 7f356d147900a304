"""Train the VAR transformer on a multi-scale tokenizer's codes (cross-entropy over all scales)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import distributed
from ..data.images import to_tensor
from ..data.streams import make_stream
from ..generators.condition import conditioner_for
from ..generators.var import VARConfig, VARTransformer
from .kinds import GENERATOR_DERIVED
from .loop import TrainConfig, inherit_sampling, start_model, train
from .token_batches import vq_device


def var_loss_fn(msvq, stream, batch_size: int):
    def loss_fn(model: VARTransformer, step: int) -> dict:
        batch = stream.batch(step, batch_size)
        rows, dev = distributed.local_rows(batch_size), vq_device(msvq)
        with torch.no_grad(), torch.autocast(dev.type, enabled=False):
            idx_list = msvq.encode(to_tensor(batch.images_BHW3[rows]).to(dev))
            x_BlC = msvq.quantize.teacher_forcing_input(idx_list)
        target_BL = torch.cat(idx_list, 1)
        conditioner = conditioner_for(model.config)
        key = "prompt" if model.config.condition == "text" else "class_id"
        # condition dropout over the global batch (as the AR's), then this rank's rows
        cond = conditioner.drop(conditioner.encode([s[key] for s in batch.specs]), model.config.cond_drop)[rows]
        logits_BLV = model(cond.to(dev), x_BlC, cond_drop=0.0)
        loss = F.cross_entropy(logits_BLV.reshape(-1, logits_BLV.shape[-1]), target_BL.reshape(-1))
        last = model.config.patch_nums[-1] ** 2
        acc_last = (logits_BLV[:, -last:].argmax(-1) == target_BL[:, -last:]).float().mean()
        return {"loss": loss, "acc_last_scale": acc_last.detach()}

    return loss_fn


def train_var(run_dir: str | Path, msvq, model_cfg: VARConfig, cfg: TrainConfig,
              data_root: str | Path | None = None, init: str | Path | None = None) -> VARTransformer:
    """Text-conditional on the shapes world; class-conditional on a labelled dataset (Fashion-MNIST)."""
    msvq.eval().to(distributed.local_device(cfg.device))
    if (model_cfg.condition == "text") != (model_cfg.data == "shapes"):
        raise ValueError(f"data {model_cfg.data!r} trains the {'text' if model_cfg.data == 'shapes' else 'class'}"
                         f"-conditional VAR, not condition={model_cfg.condition!r}")
    stream = make_stream(model_cfg.data, cfg.seed, msvq.config.resolution, data_root)
    torch.manual_seed(cfg.seed)
    model = start_model(VARTransformer, model_cfg, init, GENERATOR_DERIVED, run_dir)
    model = train(model, var_loss_fn(msvq, stream, cfg.batch_size), run_dir, cfg)
    inherit_sampling(run_dir, init)
    return model
