"""What every generator over a single-scale VQ grid shares: prompts, the blank grid, decoding."""

from __future__ import annotations

import numpy as np
import torch

from ..data.streams import background_of
from .condition import ClassTokenizer, PromptTokenizer, condition_tokenizer


class GridGenerator:
    """A token-grid transformer (config with image_vocab, grid, cond_len, text_vocab, class_names, data) and its
    VQ tokenizer; conditions are prompts, or class names / ids for a class-conditional model."""

    def __init__(self, model, vq, prompt_tokenizer: PromptTokenizer | ClassTokenizer | None = None):
        self.model = model.eval()
        self.vq = vq.eval()
        self.prompt_tokenizer = prompt_tokenizer or condition_tokenizer(model.config)
        if self.prompt_tokenizer.vocab_size > model.config.text_vocab:
            raise ValueError(f"prompt vocabulary ({self.prompt_tokenizer.vocab_size}) exceeds the model's "
                             f"text_vocab ({model.config.text_vocab})")
        if vq.vocab_size != model.config.image_vocab:
            raise ValueError(f"tokenizer codebook {vq.vocab_size} != model image_vocab {model.config.image_vocab}")
        if vq.config.grid != model.config.grid:
            raise ValueError(f"tokenizer grid {vq.config.grid} != model grid {model.config.grid}")
        g, res = model.config.grid, vq.config.resolution
        rgb = torch.tensor(np.array(background_of(model.config.data)), dtype=torch.float32)
        blank = rgb.view(1, 3, 1, 1) / 127.5 - 1
        dev = next(vq.parameters()).device
        self.blank_tokens_N = vq.encode(blank.expand(1, 3, res, res).contiguous().to(dev)).view(g * g)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def decode(self, tokens_BN: torch.Tensor) -> torch.Tensor:
        g = self.model.config.grid
        return self.vq.decode(tokens_BN.view(-1, g, g))
