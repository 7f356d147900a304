"""Shapes-stream batches as (image tokens, prompt tokens) for the token-grid generators."""

from __future__ import annotations

import torch

from .. import distributed
from ..data.images import to_tensor
from ..data.shapes import ShapesStream
from ..generators.condition import Conditioner


def vq_device(vq) -> torch.device:
    return next(vq.parameters()).device


def image_tokens(vq, images_BHW3) -> torch.Tensor:
    """(B, N) codes of uint8 images by the frozen `vq`, on its device, exactly as fp32 encodes them: a grid's in
    raster order, or a multi-scale tokenizer's scales one after another (VAR's sequence)."""
    with torch.no_grad(), torch.autocast(vq_device(vq).type, enabled=False):
        codes = vq.encode(to_tensor(images_BHW3).to(vq_device(vq)))
    return torch.cat(codes, 1) if isinstance(codes, (list, tuple)) else codes.flatten(1)


def token_batch(vq, stream: ShapesStream, step: int, batch_size: int, conditioner: Conditioner,
                cond_dropout: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(img_BN codes from the frozen `vq`, cond_BL condition ids with `cond_dropout` of rows set to null): this
    rank's rows of the step's global batch (under torchrun; all of them in one process). The dropout is drawn over
    the global batch, so K ranks drop the rows one process drops."""
    batch = stream.batch(step, batch_size)
    rows = distributed.local_rows(batch_size)
    cond_BL = conditioner.drop(conditioner.encode([s["prompt"] for s in batch.specs]), cond_dropout)[rows]
    img_BN = image_tokens(vq, batch.images_BHW3[rows])
    return img_BN, cond_BL.to(img_BN.device)
