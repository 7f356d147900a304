"""The generator families: one entry per family, read by the CLI, the zoo and the benchmarks.

A family is one file (its model, session and generator, on `generators.base`)
plus an entry here: how to load it from a checkpoint folder (or the zoo's
default, or an official release), and its default sampling. Adding a family
(LlamaGen) is a new file and one `Family(...)` line.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..hub import ZOO_DIR, resolve, zoo_path


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    load: Callable   # (checkpoint or None, tokenizer or None, device) -> TokenGenerator
    recipe: Callable | None = None   # (checkpoint) -> the official release's SamplingConfig, or None


def load_tokenizer(path: str | Path | None = None, device: str = "cpu"):
    """A single-scale VQ tokenizer; defaults to the zoo's."""
    from ..tokenizers.vq import VQModel
    return VQModel.from_pretrained(path or zoo_path("tokenizer"), device=device)


def _load_ar(path=None, tokenizer_path=None, device: str = "cpu"):
    from .ar import ARGenerator, ARTransformer
    model = ARTransformer.from_pretrained(path or zoo_path("ar"), device=device)
    return ARGenerator(model, load_tokenizer(tokenizer_path, device))


def _is_pth(path) -> bool:
    return path is not None and str(path).endswith(".pth")


def _load_var(path=None, tokenizer_path=None, device: str = "cpu"):
    from ..tokenizers.msvq import MSVQModel
    from .var import VARGenerator, VARTransformer
    if _is_pth(path):
        if not _is_pth(tokenizer_path):
            raise ValueError("an official var_d*.pth needs --tokenizer vae_ch160v4096z32.pth")
        from .var_official import load_official_generator
        return load_official_generator(path, tokenizer_path, device)
    from .var_draft import load_draft
    folder = resolve(path) if path is not None else zoo_path("var")
    model = VARTransformer.from_pretrained(folder, device=device)
    return VARGenerator(model, MSVQModel.from_pretrained(tokenizer_path or zoo_path("msvq"), device=device),
                        draft=load_draft(folder, device))


def _var_recipe(path):
    from .var_official import var_recipe
    return var_recipe() if _is_pth(path) else None


def _load_llamagen(path=None, tokenizer_path=None, device: str = "cpu"):
    if path is None or tokenizer_path is None:
        raise ValueError("--generator llamagen needs LlamaGen's released files: --checkpoint c2i_B_256.pt "
                         "--tokenizer vq_ds16_c2i.pt (the zoo ships none)")
    import sys

    from .llamagen import load_official_generator
    gen = load_official_generator(path, tokenizer_path, device)
    for line in gen.model.ignored_keys:
        print(f"imagecot: {path}: ignored {line}", file=sys.stderr)
    return gen


def _llamagen_recipe(path):
    from .llamagen import llamagen_recipe
    return llamagen_recipe(path)


def _load_maskgit(path=None, tokenizer_path=None, device: str = "cpu"):
    from .maskgit import MaskGITGenerator, MaskGITTransformer
    model = MaskGITTransformer.from_pretrained(path or zoo_path("maskgit"), device=device)
    return MaskGITGenerator(model, load_tokenizer(tokenizer_path, device))


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("ar", "raster next-token over a VQ grid (KV cache)", _load_ar),
    Family("var", "next-scale prediction over a multi-scale residual VQ (FoundationVision/VAR's .pth load "
                  "unchanged)", _load_var, _var_recipe),
    Family("maskgit", "parallel mask-predict with a cosine schedule", _load_maskgit),
    Family("llamagen", "FoundationVision/LlamaGen's class-conditional GPT-B..3B with its VQ-16, loaded unchanged",
           _load_llamagen, _llamagen_recipe),
)}


def family(kind: str) -> Family:
    if kind not in FAMILIES:
        raise ValueError(f"unknown generator {kind!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[kind]


def load_generator(kind: str, path=None, tokenizer_path=None, device: str = "cpu"):
    """A generator of family `kind` from a checkpoint folder (default: the zoo's) and its tokenizer."""
    return family(kind).load(path, tokenizer_path, device)


def default_sampling(path: str | Path | None = None, kind: str = "ar"):
    """The sampling settings stored beside a generator (sampling.json), an official release's recipe, or plain
    sampling."""
    from .sampling import SamplingConfig
    path = None if path is None else resolve(path)
    f = family(kind)
    official = f.recipe(path) if f.recipe is not None and path is not None else None
    if official is not None:
        return official
    sampling_file = Path(path or ZOO_DIR / kind) / "sampling.json"
    if sampling_file.is_file():
        return SamplingConfig(**json.loads(sampling_file.read_text()))
    if path is not None and (path / "config.json").is_file():
        # a trained generator without its settings samples plainly: say so (a DPO round started from such a folder
        # once drew its preference data at CFG 1 instead of its base's 2.0, unnoticed)
        warnings.warn(f"{path} has no sampling.json: it samples plainly (CFG 1, temperature 1); pass --cfg etc. or "
                      "put its base's sampling.json beside it", stacklevel=2)
    return SamplingConfig()


def keep_sampling(folder: str | Path, sampling) -> None:
    """Write `sampling` as `folder`/sampling.json (what `default_sampling` reads), from the main rank only: a
    fine-tuned generator (DPO, DDO) samples as the checkpoint it started from did."""
    from dataclasses import asdict

    from .. import distributed
    from ..io_utils import atomic_write_json
    distributed.on_main(lambda: atomic_write_json(Path(folder) / "sampling.json", asdict(sampling)))
