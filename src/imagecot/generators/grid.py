"""What every generator over a single-scale VQ grid shares: the conditioner, the blank grid, decoding, cells."""

from __future__ import annotations

import numpy as np
import torch

from ..data.streams import background_of
from .base import TokenGenerator
from .condition import Conditioner, conditioner_for


class GridGenerator(TokenGenerator):
    """A token-grid transformer (config with image_vocab, grid, cond_len, text_vocab, class_names, data) and its
    VQ tokenizer; conditions are prompts, or class names / ids for a class-conditional model. A reflection's cells
    are the token grid's."""

    def __init__(self, model, vq, conditioner: Conditioner | None = None):
        super().__init__(model, vq, conditioner or conditioner_for(model.config))
        vocab = getattr(self.conditioner, "vocab_size", None)
        if vocab is not None and vocab > model.config.text_vocab:
            raise ValueError(f"condition vocabulary ({vocab}) exceeds the model's text_vocab "
                             f"({model.config.text_vocab})")
        if vq.vocab_size != model.config.image_vocab:
            raise ValueError(f"tokenizer codebook {vq.vocab_size} != model image_vocab {model.config.image_vocab}")
        if vq.config.grid != model.config.grid:
            raise ValueError(f"tokenizer grid {vq.config.grid} != model grid {model.config.grid}")
        g, res = model.config.grid, vq.config.resolution
        rgb = torch.tensor(np.array(background_of(getattr(model.config, "data", "imagenet"))), dtype=torch.float32)
        blank = rgb.view(1, 3, 1, 1) / 127.5 - 1
        dev = next(vq.parameters()).device
        self.blank_tokens_N = vq.encode(blank.expand(1, 3, res, res).contiguous().to(dev)).view(g * g)

    @property
    def cell_grid(self) -> int:
        return self.model.config.grid

    def check_cells(self, cells_BN: torch.Tensor, tokens_BN: torch.Tensor) -> None:
        if cells_BN.shape != tokens_BN.shape:
            raise ValueError(f"the reflection's cells {tuple(cells_BN.shape)} do not match the token grid "
                             f"{tuple(tokens_BN.shape)}")

    @torch.no_grad()
    def decode(self, tokens_BN: torch.Tensor) -> torch.Tensor:
        g = self.model.config.grid
        return self.vq.decode(tokens_BN.view(-1, g, g))
