"""Training state (model + optimizer + step) as safetensors + JSON; no pickles anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..io_utils import atomic_write_json, make_temp_dir, normal_file_mode, replace_dir


def save_training_state(path: Path, model, optimizer: torch.optim.Optimizer, step: int, extra: dict) -> None:
    """Write `path/` = model (save_pretrained layout) + optimizer.safetensors + state.json, atomically."""
    path = Path(path)
    tmp = make_temp_dir(path)
    model.save_pretrained(tmp / "model")
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in opt["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{name}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{name}"] = v
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    normal_file_mode(tmp / "optimizer.safetensors")
    atomic_write_json(tmp / "state.json", {"step": step, "param_groups": opt["param_groups"],
                                           "optimizer_scalars": scalars, **extra})
    replace_dir(tmp, path)


def load_training_state(path: Path, model_cls, optimizer_fn) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict]:
    """Inverse of `save_training_state`; `optimizer_fn(model)` builds a fresh optimizer to fill."""
    path = Path(path)
    model = model_cls.from_pretrained(path / "model")
    model.train()
    optimizer = optimizer_fn(model)
    meta = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    for key, v in meta["optimizer_scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return model, optimizer, meta
