"""Load FoundationVision/VAR's released checkpoints (`vae_ch160v4096z32.pth`, `var_d{16,20,24,30}.pth`).

The files are plain state dicts; they are read with `torch.load(weights_only=True)`
(no code runs) and loaded with strict=True into our classes, whose parameter
names and shapes are VAR's. Sample with `var_recipe()` (VAR's cfg 1.5, top-k 900,
top-p 0.96; cfg 1.5 in VAR's convention is cfg_scale 2.5 here).

Sampling draws tokens by inverse-CDF from per-candidate uniforms (so a candidate
does not depend on its batch), not with `torch.multinomial`: images match VAR's
in distribution, not bit for bit for the same `g_seed`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..hub import load_state_strict, read_plain_checkpoint
from ..tokenizers.msvq import MSVQConfig, MSVQModel
from .sampling import SamplingConfig
from .var import VARConfig, VARGenerator, VARTransformer


def _state_dict(path: str | Path) -> dict:
    state = read_plain_checkpoint(path, "a plain state dict of tensors, as VAR's released files are")
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path} is not a plain state dict of tensors (as VAR's released files are)")
    return state


def load_official_vae(path: str | Path, config: MSVQConfig | None = None) -> MSVQModel:
    model = MSVQModel(config or MSVQConfig.var_official())
    load_state_strict(model, _state_dict(path), path)
    return model.eval()


def load_official_var(path: str | Path, config: VARConfig | None = None, depth: int | None = None) -> VARTransformer:
    """VAR transformer from a released file; the depth is read from the file when not given."""
    state = _state_dict(path)
    if config is None:
        depth = depth or len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        config = VARConfig.var_official(depth)
    model = VARTransformer(config)
    load_state_strict(model, state, path)
    return model.eval()


def load_official_generator(var_path: str | Path, vae_path: str | Path, device: str = "cpu") -> VARGenerator:
    return VARGenerator(load_official_var(var_path).to(device), load_official_vae(vae_path).to(device))


def var_recipe() -> SamplingConfig:
    """VAR's published sampling: cfg 1.5 (their convention) = cfg_scale 2.5 here, top-k 900, top-p 0.96."""
    return SamplingConfig(cfg_scale=2.5, top_k=900, top_p=0.96)
