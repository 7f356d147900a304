"""save_pretrained / from_pretrained: a model is a folder with config.json + model.safetensors (or, for a
fine-tuned model, delta.safetensors against a base folder: see weight_delta.py).

Nothing is ever unpickled: weights are safetensors, the config is JSON.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .io_utils import atomic_write_json, brief, make_temp_dir, normal_file_mode, read_json, recover_dir, replace_dir

ZOO_DIR = Path(__file__).parent / "zoo"   # the checkpoints the package ships; `zoo:<name>` names one
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


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


def load_safetensors(path: str | Path, expected: str = "weights written by save_pretrained") -> dict:
    """The tensors of a safetensors file; a truncated or corrupt file is a ValueError that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; expected {expected}")
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error kinds for short or malformed files
        raise ValueError(f"{path} is not a readable safetensors file ({brief(e)}); expected {expected}. "
                         "Was it truncated by a copy or a full disk?") from None


def load_state_strict(model: torch.nn.Module, state: dict, source: str | Path) -> None:
    """load_state_dict(strict=True) whose mismatch error is one line naming `source` and what differs."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(set(own) & set(state))
              if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {'; '.join(shapes[:2])}, file vs model)" if shapes else ""]
        raise ValueError(f"{source} does not fit {type(model).__name__}: "
                         f"{', '.join(x for x in parts if x)} parameter(s)")
    model.load_state_dict(state, strict=True)


def read_plain_checkpoint(path: str | Path, expected: str):
    """What a released .pt/.pth holds, read with torch.load(weights_only=True): tensors and plain containers (and
    whatever the caller allow-lists with torch.serialization.safe_globals). A file that holds other Python objects
    is refused: building them means running code from the file, which imagecot never does."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f"a Python object ({found.group(1)})" if found else "Python objects"
        raise ValueError(f"{path} holds {what} beside its tensors; loading it would mean unpickling, which can run "
                         f"arbitrary code, so imagecot refuses. Expected {expected}") from None
    except Exception as e:  # a truncated zip, not a torch file at all, ...
        raise ValueError(f"{path} is not a readable torch checkpoint ({brief(e)}); expected {expected}") from None


def read_weights(path: Path, who: str, _seen: tuple = ()) -> dict:
    """A model folder's tensors: model.safetensors, or its base's weights plus delta.safetensors."""
    from . import weight_delta
    w_file, d_file = path / WEIGHTS_NAME, path / weight_delta.DELTA_NAME
    if w_file.is_file() or not d_file.is_file():
        return load_safetensors(w_file, f"the weights of {who}")
    from safetensors import safe_open
    try:
        with safe_open(str(d_file), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error kinds for short or malformed files
        raise ValueError(f"{d_file} is not a readable safetensors file ({brief(e)}); expected the int8 delta of "
                         f"{who}. Was it truncated by a copy or a full disk?") from None
    if meta.get("format") != weight_delta.FORMAT or "base" not in meta:
        raise ValueError(f"{d_file} is not a {weight_delta.FORMAT} delta (its metadata names no format and base)")
    base = (path / meta["base"]).resolve()
    if not (base / WEIGHTS_NAME).is_file() and not (base / weight_delta.DELTA_NAME).is_file():
        raise FileNotFoundError(f"{d_file} is a delta against {meta['base']!r} ({base}), which holds no weights; "
                                "keep a delta folder beside its base (copy both)")
    if base in _seen:
        raise ValueError(f"{d_file}: its chain of bases loops back to {base}")
    base_state = read_weights(base, who, _seen + (base,))
    if meta.get("base_sha256") != weight_delta.fingerprint(base_state):
        raise ValueError(f"{d_file} was made against other weights than {base} holds now (the base was rebuilt "
                         "since); rebuild the delta from its float32 run (python -m imagecot.zoo.build --aligned ...)")
    return weight_delta.decode(load_safetensors(d_file, f"the int8 delta of {who}"), base_state, str(d_file))


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

    def save_pretrained_delta(self, path: str | Path, base: str | Path) -> Path:
        """Write config.json + delta.safetensors (int8, against the model folder `base`) into `path` atomically;
        `base` is recorded relative to `path`, so the two folders move together."""
        from . import weight_delta
        path, base = Path(path), resolve(base)
        base_state = read_weights(base, f"the base {base}")
        tensors = weight_delta.encode(self.state_dict(), base_state)
        tmp = make_temp_dir(path)
        rel = os.path.relpath(base.resolve(), path.resolve())
        save_file(tensors, str(tmp / weight_delta.DELTA_NAME),
                  metadata={"model_type": self.model_type, "format": weight_delta.FORMAT, "base": rel,
                            "base_sha256": weight_delta.fingerprint(base_state)})
        normal_file_mode(tmp / weight_delta.DELTA_NAME)
        atomic_write_json(tmp / CONFIG_NAME, {"model_type": self.model_type, **_config_to_dict(self.config)})
        replace_dir(tmp, path)
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu"):
        """`path`: a folder, or `zoo:<name>` for a checkpoint the package ships (e.g. zoo:fmnist-ar)."""
        path = resolve(path)
        recover_dir(path)
        from .weight_delta import DELTA_NAME
        cfg_file, w_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not w_file.is_file() and (path / DELTA_NAME).is_file():
            w_file = path / DELTA_NAME
        for f in (cfg_file, w_file):
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found: a pretrained {cls.__name__} is a folder with "
                                        f"{CONFIG_NAME} and {WEIGHTS_NAME} (or {DELTA_NAME})")
        d = read_json(cfg_file, f"the config of {cls.__name__}")
        if not isinstance(d, dict):
            raise ValueError(f"{cfg_file} holds a JSON {type(d).__name__}; expected an object of config fields")
        model_type = d.pop("model_type", None)
        if model_type != cls.model_type:
            raise ValueError(f"{path} holds a {model_type!r} model, not a {cls.model_type!r} "
                             f"({cls.__name__})")
        try:
            model = cls(_config_from_dict(cls.config_class, d))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{cfg_file}: not a valid {cls.config_class.__name__} ({e})") from None
        state = read_weights(path, cls.__name__)
        own = model.state_dict()
        state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
        load_state_strict(model, state, w_file)
        return model.to(device).eval()
