"""Training state (model + optimizer + step) as safetensors + JSON; no pickles anywhere."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from ..hub import load_safetensors
from ..io_utils import atomic_write_json, make_temp_dir, normal_file_mode, read_json, replace_dir


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
    meta = read_json(path / "state.json", "the training state (step, optimizer param groups) save_training_state wrote")
    if not isinstance(meta, dict) or not {"step", "param_groups", "optimizer_scalars"} <= set(meta):
        raise ValueError(f"{path / 'state.json'} lacks step, param_groups or optimizer_scalars; "
                         "expected the training state save_training_state wrote")
    tensors = load_safetensors(path / "optimizer.safetensors", "the optimizer state save_training_state wrote")
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    for key, v in meta["optimizer_scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path / 'optimizer.safetensors'} does not fit the model in {path / 'model'} ({e})") from None
    return model, optimizer, meta
