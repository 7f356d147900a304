"""The zoo: small trained checkpoints shipped inside the package (rebuild them with `make zoo`, `make search`,
`make fmnist`), and how to load them. `zoo:<name>` names one wherever a checkpoint path is taken;
`catalogue()` lists what is shipped."""

from __future__ import annotations

from pathlib import Path

from ..generators.registry import FAMILIES, default_sampling, load_generator, load_tokenizer  # noqa: F401
from ..hub import ZOO_DIR, resolve, zoo_path  # noqa: F401
from ..io_utils import read_json


def load_ar(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    """The AR generator (ARGenerator) with its tokenizer; defaults to the shipped pair."""
    return load_generator("ar", path, tokenizer_path, device)


def load_var(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    """A VAR generator: a zoo/our folder pair, or FoundationVision/VAR's released .pth files."""
    return load_generator("var", path, tokenizer_path, device)


def load_maskgit(path: str | Path | None = None, tokenizer_path: str | Path | None = None, device: str = "cpu"):
    return load_generator("maskgit", path, tokenizer_path, device)


def load_verifier(role: str | None, path: str | Path | None = None, device: str = "cpu", generator: str = "ar"):
    """A learned verifier (LearnedVerifier) as `role` (orm, prm, parm; None: the network's own, parm for one that
    serves every role) for `generator`'s samples: from `path` (a checkpoint, a training run's folder, or a folder
    with one subfolder per role), by default the zoo's `verifier-<generator>`. A `<role>/` subfolder is that role's
    network even beside a checkpoint of its own (the zoo's verifier-ar: one network for ORM and PRM, and `parm/`,
    a network trained for PARM alone)."""
    from ..verifiers.learned import ROLE_HEAD, LearnedVerifier, VerifierNet
    if role is not None and role not in ROLE_HEAD:
        raise ValueError(f"unknown verifier role {role!r}; expected orm, prm or parm")
    if path is None:
        path = zoo_path(f"verifier-{generator}")
    path = resolve(path)
    own = (path / "config.json").is_file()
    for candidate in ((path / role, path / role / "final") if role else ()) + (() if own else (path / "final",)):
        if (candidate / "config.json").is_file():
            path = candidate
            break
    return LearnedVerifier(VerifierNet.from_pretrained(path, device=device), role)


def catalogue() -> dict[str, dict]:
    """Every shipped checkpoint: {name: {"model_type", "provenance" (how it was made, where recorded)}}."""
    from .. import hub
    out = {}
    for folder in sorted(p for p in hub.ZOO_DIR.iterdir() if (p / "config.json").is_file()):
        prov = folder / "provenance.json"
        out[folder.name] = {"model_type": read_json(folder / "config.json").get("model_type"),
                            "provenance": read_json(prov) if prov.is_file() else None}
    return out
