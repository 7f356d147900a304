"""A fine-tuned model stored as its base plus an int8 difference (delta.safetensors).

A DPO round moves every weight a little (lr 1e-5 for ~40 steps), so the difference to the base is small and
int8 with one scale per output row holds it about 10x more exactly than float16 holds the weights themselves
(root-mean-square error 6e-7 against 7.6e-6 for the zoo's ar-dpo), at half float16's bytes. The base is named
in the file's metadata as a folder relative to the delta's own, so a zoo entry can stand on another.

Layout, for each floating matrix (>= 2 dims) `k` of the model: `k.q` (int8, the tensor's shape) and `k.scale`
(float32, one per row of dim 0); `k.raw` for the rest (norms' and biases' vectors, integer buffers), stored as
they are (the vectors in float32: they are a few KB).
"""

from __future__ import annotations

import hashlib

import torch

DELTA_NAME = "delta.safetensors"
FORMAT = "int8-row-delta-v1"


def _row_scale(d: torch.Tensor) -> torch.Tensor:
    """One scale per row (dim 0) of d (>= 2 dims), broadcastable to d."""
    return (d.abs().flatten(1).amax(1).clamp_min(1e-30) / 127.0).view(-1, *([1] * (d.dim() - 1)))


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state's values (as float32, keys sorted): a delta records its base's, so a rebuilt base is
    caught at load instead of silently giving another model."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def encode(state: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of delta.safetensors for `state` against `base` (same keys and shapes)."""
    if set(state) != set(base):
        diff = sorted(set(state) ^ set(base))
        raise ValueError(f"a delta needs the base's parameters: {len(diff)} differ (e.g. {', '.join(diff[:3])})")
    out = {}
    for k, w in state.items():
        if tuple(w.shape) != tuple(base[k].shape):
            raise ValueError(f"{k}: shape {tuple(w.shape)} vs the base's {tuple(base[k].shape)}")
        if not w.is_floating_point() or w.dim() < 2:
            out[f"{k}.raw"] = (w.detach().float() if w.is_floating_point() else w.detach()).contiguous()
            continue
        delta = w.detach().float() - base[k].float()
        scale = _row_scale(delta)
        out[f"{k}.q"] = torch.round(delta / scale).clamp(-127, 127).to(torch.int8).contiguous()
        out[f"{k}.scale"] = scale.reshape(-1).float().contiguous()
    return out


def decode(tensors: dict[str, torch.Tensor], base: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The model's float32 state: base + dequantized delta (integer tensors as stored)."""
    state = {}
    for k, w in base.items():
        if f"{k}.raw" in tensors:
            state[k] = tensors[f"{k}.raw"]
        elif f"{k}.q" in tensors and f"{k}.scale" in tensors:
            q = tensors[f"{k}.q"].float()
            if tuple(q.shape) != tuple(w.shape):
                raise ValueError(f"{source}: {k} has shape {tuple(q.shape)}, its base's {tuple(w.shape)}; "
                                 "is its base the model it was made from?")
            state[k] = w.float() + q * tensors[f"{k}.scale"].float().view(-1, *([1] * (q.dim() - 1)))
        else:
            raise ValueError(f"{source} has no delta for {k!r}: is its base the model it was made from?")
    extra = {n.rsplit(".", 1)[0] for n in tensors} - set(base)
    if extra:
        raise ValueError(f"{source} holds {len(extra)} tensor(s) its base lacks (e.g. {', '.join(sorted(extra)[:3])})")
    return state
