"""Small trained checkpoints shipped inside the package (rebuild them with `make zoo`)."""

from __future__ import annotations

import json
from pathlib import Path

ZOO_DIR = Path(__file__).parent


def zoo_path(name: str) -> Path:
    path = ZOO_DIR / name
    if not (path / "config.json").is_file():
        shipped = sorted(p.name for p in ZOO_DIR.iterdir() if (p / "config.json").is_file())
        if name.startswith("verifier-"):
            raise FileNotFoundError(f"the zoo ships no {name!r} (it ships {', '.join(shipped)}); train one with "
                                    "`make search` and pass its folder with --verifier-path, e.g. "
                                    "--verifier-path runs/search/verifier-ar")
        recipe = "make fmnist" if name.startswith("fmnist-") else "make zoo"
        raise FileNotFoundError(f"the zoo has no {name!r} checkpoint at {path}; rebuild it with `{recipe}`, "
                                "or pass a checkpoint folder with --checkpoint/--tokenizer")
    return path


def resolve(path: str | Path) -> Path:
    """A checkpoint folder, or `zoo:<name>` for one the package ships (e.g. zoo:fmnist-ar)."""
    return zoo_path(str(path)[4:]) if str(path).startswith("zoo:") else Path(path)


def load_tokenizer(path: str | Path | None = None, device: str = "cpu"):
    from ..tokenizers.vq import VQModel
    return VQModel.from_pretrained(path or zoo_path("tokenizer"), device=device)


def load_ar(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    """The AR generator (ARGenerator) with its tokenizer; defaults to the shipped pair."""
    from ..generators.ar import ARGenerator, ARTransformer
    model = ARTransformer.from_pretrained(path or zoo_path("ar"), device=device)
    return ARGenerator(model, load_tokenizer(tokenizer_path, device))


def load_var(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    """A VAR generator: a zoo/our folder pair, or FoundationVision/VAR's released .pth files."""
    from ..generators.var import VARGenerator, VARTransformer
    from ..tokenizers.msvq import MSVQModel
    if path is not None and str(path).endswith(".pth"):
        if tokenizer_path is None or not str(tokenizer_path).endswith(".pth"):
            raise ValueError("an official var_d*.pth needs --tokenizer vae_ch160v4096z32.pth")
        from ..generators.var_official import load_official_generator
        return load_official_generator(path, tokenizer_path, device)
    model = VARTransformer.from_pretrained(path or zoo_path("var"), device=device)
    return VARGenerator(model, MSVQModel.from_pretrained(tokenizer_path or zoo_path("msvq"), device=device))


def load_maskgit(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    from ..generators.maskgit import MaskGITGenerator, MaskGITTransformer
    model = MaskGITTransformer.from_pretrained(path or zoo_path("maskgit"), device=device)
    return MaskGITGenerator(model, load_tokenizer(tokenizer_path, device))


LOADERS = {"ar": load_ar, "var": load_var, "maskgit": load_maskgit}


def load_verifier(role: str, path: str | Path | None = None, device: str = "cpu", generator: str = "ar"):
    """A learned verifier (LearnedVerifier) as `role` (orm, prm, parm) for `generator`'s samples: from `path` (a
    checkpoint, a training run's folder, or a folder with one subfolder per role), by default the zoo's
    `verifier-<generator>` (one network serving every role)."""
    from ..verifiers.learned import ROLE_HEAD, LearnedVerifier, VerifierNet
    if role not in ROLE_HEAD:
        raise ValueError(f"unknown verifier role {role!r}; expected orm, prm or parm")
    if path is None:
        path = zoo_path(f"verifier-{generator}")
    path = resolve(path)
    for candidate in (path / role, path / role / "final", path / "final"):
        if not (path / "config.json").is_file() and (candidate / "config.json").is_file():
            path = candidate
            break
    return LearnedVerifier(VerifierNet.from_pretrained(path, device=device), role)


def load_generator(kind: str, path=None, tokenizer_path=None, device: str = "cpu"):
    if kind not in LOADERS:
        raise ValueError(f"unknown generator {kind!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[kind](path, tokenizer_path, device)


def default_sampling(path: str | Path | None = None, kind: str = "ar"):
    """The sampling settings stored beside a generator (sampling.json), else plain sampling."""
    from ..generators.sampling import SamplingConfig
    path = None if path is None else resolve(path)
    if path is not None and str(path).endswith(".pth"):
        from ..generators.var_official import var_recipe
        return var_recipe()
    f = Path(path or ZOO_DIR / kind) / "sampling.json"
    return SamplingConfig(**json.loads(f.read_text())) if f.is_file() else SamplingConfig()
