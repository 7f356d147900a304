"""save_pretrained / from_pretrained: a model is a folder with config.json + model.safetensors.

Nothing is ever unpickled: weights are safetensors, the config is JSON.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .io_utils import atomic_write_json, make_temp_dir, normal_file_mode, recover_dir, replace_dir

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _config_to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def _config_from_dict(config_cls, d: dict):
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{config_cls.__name__} has no field(s) {unknown}; known fields: {sorted(fields)}")
    kwargs = {}
    for k, v in d.items():
        default = fields[k].default
        kwargs[k] = tuple(v) if isinstance(v, list) and isinstance(default, tuple) else v
    return config_cls(**kwargs)


class PretrainedMixin:
    """Adds save_pretrained/from_pretrained to an nn.Module built from a dataclass `config`.

    Subclasses set `config_class` and take the config as their only constructor argument.
    """

    config_class: type
    model_type: str

    def save_pretrained(self, path: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write config.json + model.safetensors into `path` atomically (a folder swap)."""
        path = Path(path)
        tmp = make_temp_dir(path)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"model_type": self.model_type})
        normal_file_mode(tmp / WEIGHTS_NAME)
        atomic_write_json(tmp / CONFIG_NAME, {"model_type": self.model_type, **_config_to_dict(self.config)})
        replace_dir(tmp, path)
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu"):
        """`path`: a folder, or `zoo:<name>` for a checkpoint the package ships (e.g. zoo:fmnist-ar)."""
        from .zoo import resolve
        path = resolve(path)
        recover_dir(path)
        cfg_file, w_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        for f in (cfg_file, w_file):
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found: a pretrained {cls.__name__} is a folder with "
                                        f"{CONFIG_NAME} and {WEIGHTS_NAME}")
        d = json.loads(cfg_file.read_text())
        model_type = d.pop("model_type", None)
        if model_type != cls.model_type:
            raise ValueError(f"{path} holds a {model_type!r} model, not a {cls.model_type!r} "
                             f"({cls.__name__})")
        model = cls(_config_from_dict(cls.config_class, d))
        state = load_file(str(w_file), device="cpu")
        own = model.state_dict()
        state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
        model.load_state_dict(state, strict=True)
        return model.to(device).eval()
