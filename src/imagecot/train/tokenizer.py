"""Train a VQ or multi-scale VQ tokenizer on its dataset, the shapes stream by default (L1 + MSE + VQ losses)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import distributed
from ..data.images import to_tensor
from ..data.streams import make_stream
from ..tokenizers.vq import VQConfig, VQModel
from .loop import TrainConfig, train


def _freeze_codes(model) -> None:
    """Freeze encoder and codebook: token ids stay exactly what they were, only the decoder learns."""
    frozen = [model.encoder, model.quantizer] if isinstance(model, VQModel) else [
        model.encoder, model.quant_conv, model.quantize]
    for p in (p for m in frozen for p in m.parameters()):
        p.requires_grad_(False)


def _model_class(model_cfg):
    from ..tokenizers.msvq import MSVQConfig, MSVQModel
    if isinstance(model_cfg, MSVQConfig):
        return MSVQModel
    if isinstance(model_cfg, VQConfig):
        return VQModel
    raise TypeError(f"expected a VQConfig or MSVQConfig, got {type(model_cfg).__name__}")


def train_tokenizer(run_dir: str | Path, model_cfg, cfg: TrainConfig,
                    init: str | Path | None = None, finetune_decoder: bool = False,
                    data_root: str | Path | None = None):
    """Train a VQ (VQConfig) or multi-scale VQ (MSVQConfig) tokenizer from scratch or from `init`;
    with `finetune_decoder`, only its decoder.

    Decoder fine-tuning keeps every image's tokens unchanged, so generators
    trained on the tokenizer's codes stay valid while their decoded images improve.
    """
    if finetune_decoder and init is None:
        raise ValueError("finetune_decoder needs init: the tokenizer whose decoder to fine-tune")
    torch.manual_seed(cfg.seed)
    cls = _model_class(model_cfg)
    model = cls.from_pretrained(init) if init is not None else cls(model_cfg)
    stream = make_stream(model.config.data, cfg.seed, model.config.resolution, data_root)

    def loss_fn(model, step: int) -> dict:
        if finetune_decoder:
            (model.quantizer if isinstance(model, VQModel) else model.quantize).eval()  # codebook fixed
        x = to_tensor(stream.batch(step, cfg.batch_size).images_BHW3[distributed.local_rows(cfg.batch_size)])
        x = x.to(next(model.parameters()).device)
        recon, idx, vq_loss = model(x)
        l1 = (recon - x).abs().mean()
        mse = F.mse_loss(recon, x)
        used = (torch.cat([t.flatten() for t in idx]) if isinstance(idx, list) else idx).unique().numel()
        return {"loss": l1 + mse + vq_loss, "l1": l1.detach(), "vq": vq_loss.detach(),
                "psnr": 10 * torch.log10(4.0 / mse.detach()), "codes_in_batch": used}

    return train(model, loss_fn, run_dir, cfg, model_cls=cls, prepare=_freeze_codes if finetune_decoder else None)
