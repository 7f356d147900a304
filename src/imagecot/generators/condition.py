"""Conditioners: a model's conditions (prompts, class names or ids) as tensors, its null condition, dropout.

One `Conditioner` per model, from its config (`conditioner_for`): generators
encode with it, trainers drop conditions to null with it (classifier-free
guidance's training), verifiers read prompts with a `PromptTokenizer`.
- `PromptTokenizer`: prompt words as prefix tokens (canonical text, a closed
  vocabulary; null = [NULL, PAD, ...]);
- `ClassTokenizer`: a class as one prefix token (class-conditional AR and MaskGIT);
- `ClassIndex`: a class as an embedding index, null = the extra index
  `num_classes` (VAR's class variant, ImageNet's 1000 + 1).
"""

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


class Conditioner:
    """encode(conditions) -> long tensor (B, ...); null(B) -> the unconditional rows; drop() for training."""

    def encode(self, conditions) -> torch.Tensor:
        raise NotImplementedError

    def null(self, batch: int) -> torch.Tensor:
        raise NotImplementedError

    def drop(self, cond: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each row becomes the null condition with probability p (torch.rand, seeded by `generator` or the global
        seed the training loop sets per step)."""
        drop_B = torch.rand(cond.shape[0], generator=generator) < p
        if not drop_B.any():
            return cond
        null = self.null(cond.shape[0]).to(cond.device)
        return torch.where(drop_B.to(cond.device).view(-1, *([1] * (cond.dim() - 1))), null, cond)


class PromptTokenizer(Conditioner):
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


class ClassTokenizer(Conditioner):
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


class ClassIndex(Conditioner):
    """A class as an index into a class embedding of num_classes + 1 rows; null = num_classes. Conditions are
    ids or, where the model knows them, class names."""

    def __init__(self, num_classes: int, class_names: tuple[str, ...] | list[str] = ()):
        self.num_classes, self.names = num_classes, ClassTokenizer(class_names) if class_names else None

    def encode(self, conditions) -> torch.Tensor:
        """(B,) long tensor."""
        if self.names is not None:
            conditions = [self.names.class_id(c) for c in conditions]
        conditions = [int(c) if isinstance(c, str) and c.isdigit() else c for c in conditions]
        if not all(isinstance(k, int) and 0 <= k < self.num_classes for k in conditions):
            raise ValueError(f"this model is class-conditional: give class ids in [0, {self.num_classes})")
        return torch.tensor(list(conditions), dtype=torch.long)

    def null(self, batch: int) -> torch.Tensor:
        return torch.full((batch,), self.num_classes, dtype=torch.long)


def conditioner_for(config) -> Conditioner:
    """The conditioner a model config asks for: VAR's (`condition` class or text), or a token-grid model's
    (class_names set: one class token; else prompt words)."""
    names = tuple(getattr(config, "class_names", ()) or ())
    if getattr(config, "condition", None) == "class":
        return ClassIndex(config.num_classes, names)
    if getattr(config, "condition", None) == "text":
        return PromptTokenizer(config.text_len)
    return ClassTokenizer(names) if names else PromptTokenizer(config.cond_len)
