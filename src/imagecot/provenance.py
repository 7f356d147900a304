"""What made a folder of outputs, so that a resumed run never mixes two models in one folder.

A generator (or verifier) is identified by its class and a content fingerprint
of every network it holds (sha256 over each tensor's name, dtype, shape and
bytes): the same weights from the zoo, a copied folder or memory give the same
identity, and one changed weight gives another. Paths are kept beside it for
people to read, but never compared.
"""

from __future__ import annotations

import hashlib

import torch

ROLE_OF = {"model": "weights", "vq": "tokenizer", "net": "weights", "classifier": "weights"}


def fingerprint(module: torch.nn.Module) -> str:
    """16 hex digits of sha256 over the state dict (sorted names, dtypes, shapes, raw bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()[:16]


def identity(obj) -> dict | None:
    """{"class": ..., "networks": {attribute: fingerprint}} of a generator, verifier or classifier; None for None."""
    if obj is None:
        return None
    if isinstance(obj, torch.nn.Module):
        return {"class": type(obj).__name__, "networks": {"weights": fingerprint(obj)}}
    nets = {name: fingerprint(m) for name, m in sorted(vars(obj).items()) if isinstance(m, torch.nn.Module)}
    return {"class": type(obj).__name__, "networks": nets}


def _flatten(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out or {prefix: {}}


def _label(key: str) -> str:
    parts = key.split(".")
    if len(parts) == 3 and parts[1] == "networks":
        return f"{parts[0]} {ROLE_OF.get(parts[2], parts[2])} ({parts[2]})"
    return key


def differences(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """'key: old -> new' for every leaf that differs between two settings dicts (dotted keys)."""
    a, b = _flatten(old), _flatten(new)
    keys = sorted(k for k in set(a) | set(b) if k.split(".")[0] not in ignore and a.get(k) != b.get(k))
    return [f"{_label(k)}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys]


def refusal(folder, what: str, diff: list[str], source: dict | None) -> ValueError:
    """The error for a folder whose `what` (images, samples) another model or setting made."""
    made_by = ", ".join(f"{k} {v}" for k, v in (source or {}).items())
    return ValueError(f"{folder} holds {what} made with other settings ({'; '.join(diff)})"
                      f"{f'; they came from {made_by}' if made_by else ''}; write into another folder or delete it")
