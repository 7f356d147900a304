"""Prompts as prefix tokens: canonical text, a closed word vocabulary, a null condition."""

from __future__ import annotations

import torch

from ..world import parse_prompt, spec_to_text
from ..world.vocab import vocabulary

PAD, NULL = 0, 1


class PromptTokenizer:
    """Word-level tokenizer over the shapes world's vocabulary, fixed length `length`.

    Prompts are parsed and re-written canonically first ("a photo of a circle"
    and "a circle" give the same tokens); the null condition used for
    condition dropout and CFG is [NULL, PAD, ...].
    """

    def __init__(self, length: int = 12):
        self.length = length
        self.words = vocabulary()
        self.word_to_id = {w: i + 2 for i, w in enumerate(self.words)}

    @property
    def vocab_size(self) -> int:
        return len(self.words) + 2

    def canonical(self, prompt: str) -> str:
        return spec_to_text(parse_prompt(prompt))

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """(B, length) long tensor."""
        out = torch.full((len(prompts), self.length), PAD, dtype=torch.long)
        for i, p in enumerate(prompts):
            words = self.canonical(p).split()
            if len(words) > self.length:
                raise ValueError(f"prompt {p!r} has {len(words)} words; this model reads at most {self.length}")
            out[i, : len(words)] = torch.tensor([self.word_to_id[w] for w in words])
        return out

    def null(self, batch: int) -> torch.Tensor:
        out = torch.full((batch, self.length), PAD, dtype=torch.long)
        out[:, 0] = NULL
        return out
