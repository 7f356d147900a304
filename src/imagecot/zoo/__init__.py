"""Small trained checkpoints shipped inside the package (rebuild them with `make zoo`)."""

from __future__ import annotations

import json
from pathlib import Path

ZOO_DIR = Path(__file__).parent


def zoo_path(name: str) -> Path:
    path = ZOO_DIR / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the zoo has no {name!r} checkpoint at {path}; rebuild the zoo with `make zoo` "
            f"or pass a checkpoint folder explicitly")
    return path


def load_tokenizer(path: str | Path | None = None, device: str = "cpu"):
    from ..tokenizers.vq import VQModel
    return VQModel.from_pretrained(path or zoo_path("tokenizer"), device=device)


def load_ar(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    """The AR generator (ARGenerator) with its tokenizer; defaults to the shipped pair."""
    from ..generators.ar import ARGenerator, ARTransformer
    model = ARTransformer.from_pretrained(path or zoo_path("ar"), device=device)
    return ARGenerator(model, load_tokenizer(tokenizer_path, device))


def default_sampling(path: str | Path | None = None):
    """The sampling settings stored beside a generator (sampling.json), else plain sampling."""
    from ..generators.sampling import SamplingConfig
    f = Path(path or ZOO_DIR / "ar") / "sampling.json"
    return SamplingConfig(**json.loads(f.read_text())) if f.is_file() else SamplingConfig()
