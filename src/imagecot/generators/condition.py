"""Prompts as prefix tokens: canonical text, a closed word vocabulary, a null condition."""

from __future__ import annotations

import torch

from ..world import parse_prompt, spec_to_text
from ..world.vocab import vocabulary

PAD, NULL = 0, 1


def class_space(model_config) -> tuple[tuple[str, ...], int]:
    """(class names, number of classes) a model is conditioned on; (( ), 0) for a text-conditional model."""
    names = tuple(getattr(model_config, "class_names", ()) or ())
    if names:
        return names, len(names)
    if getattr(model_config, "condition", "class") == "class" and getattr(model_config, "num_classes", 0):
        return (), int(model_config.num_classes)
    return (), 0


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


class ClassTokenizer:
    """A class label as one condition token (class-conditional AR / MaskGIT): ids 2.. for the classes, NULL for none.

    Conditions are class names (case-insensitive) or integer ids, so the same
    generator API serves `generate(["sneaker", 3])`.
    """

    def __init__(self, class_names: tuple[str, ...] | list[str]):
        if not class_names:
            raise ValueError("a class-conditional model needs its class names")
        self.class_names = tuple(class_names)
        self.length = 1
        self.name_to_id = {n.lower(): i for i, n in enumerate(self.class_names)}

    @property
    def vocab_size(self) -> int:
        return len(self.class_names) + 2

    def class_id(self, cond) -> int:
        if isinstance(cond, str) and cond.lower() in self.name_to_id:
            return self.name_to_id[cond.lower()]
        if isinstance(cond, str) and cond.isdigit():
            cond = int(cond)
        if isinstance(cond, int) and 0 <= cond < len(self.class_names):
            return cond
        raise ValueError(f"unknown class {cond!r}; expected an id in [0, {len(self.class_names)}) or one of "
                         f"{', '.join(self.class_names)}")

    def encode(self, conditions) -> torch.Tensor:
        """(B, 1) long tensor."""
        return torch.tensor([[self.class_id(c) + 2] for c in conditions], dtype=torch.long)

    def null(self, batch: int) -> torch.Tensor:
        return torch.full((batch, 1), NULL, dtype=torch.long)


def condition_tokenizer(config) -> PromptTokenizer | ClassTokenizer:
    """The condition tokenizer a token-grid model config asks for (class_names set: class labels)."""
    names = getattr(config, "class_names", ())
    return ClassTokenizer(names) if names else PromptTokenizer(config.cond_len)
