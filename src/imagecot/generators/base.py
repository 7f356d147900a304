"""The step protocol that joins generation and verification.

A generation runs as a `Session` of steps. After every step the caller can
look at a preview of each live candidate, and keep only some of them; the
dropped ones cost nothing from then on. Compute is counted in one unit for
every generator: token-forwards = sum over forward passes of (rows in the
batch x tokens processed), so a CFG pass counts its conditional and
unconditional halves, and a KV-cached step counts one token per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch


@dataclass
class Compute:
    token_forwards: int = 0
    forward_passes: int = 0

    def add(self, rows: int, tokens: int) -> None:
        self.forward_passes += 1
        self.token_forwards += rows * tokens

    def __iadd__(self, other: "Compute") -> "Compute":
        self.token_forwards += other.token_forwards
        self.forward_passes += other.forward_passes
        return self

    def to_dict(self) -> dict:
        return {"token_forwards": self.token_forwards, "forward_passes": self.forward_passes}


@dataclass
class GenerationOutput:
    images: torch.Tensor          # (B, 3, H, W) in [-1, 1]
    tokens: torch.Tensor          # (B, L) token ids
    prompts: list[str]
    compute: Compute = field(default_factory=Compute)
    ids: torch.Tensor | None = None  # (B,) original candidate index of each output


class Session(Protocol):
    """One batched generation in progress."""

    num_steps: int      # steps a full generation takes
    t: int              # steps taken so far
    ids: torch.Tensor   # (B_alive,) original index of each live candidate
    compute: Compute

    def step(self) -> None: ...
    def preview(self) -> torch.Tensor: ...            # (B_alive, 3, H, W) in [-1, 1]
    def keep(self, keep_B: torch.Tensor) -> None: ...  # bool mask or indices into the live batch
    def finish(self) -> GenerationOutput: ...


class Generator(Protocol):
    def start(self, prompts: list[str], sampling=None, seed: int = 0) -> Session: ...
    def generate(self, prompts: list[str], sampling=None, seed: int = 0) -> GenerationOutput: ...
    def log_prob(self, tokens: torch.Tensor, prompts: list[str]) -> torch.Tensor: ...


def run_to_end(session: Session) -> GenerationOutput:
    while session.t < session.num_steps:
        session.step()
    return session.finish()


def keep_index(keep_B: torch.Tensor, n_alive: int) -> torch.Tensor:
    """A bool mask or integer indices over the live batch -> sorted long indices."""
    keep_B = torch.as_tensor(keep_B)
    if keep_B.dtype == torch.bool:
        if keep_B.shape != (n_alive,):
            raise ValueError(f"keep mask has shape {tuple(keep_B.shape)}, expected ({n_alive},)")
        return keep_B.nonzero().squeeze(1)
    if keep_B.is_floating_point():
        raise ValueError(f"keep takes a bool mask or integer indices, got {keep_B.dtype} (use scores > t)")
    idx = keep_B.long().flatten()
    if idx.numel() and (idx.min() < 0 or idx.max() >= n_alive):
        raise ValueError(f"keep indices must be in [0, {n_alive}), got {idx.tolist()}")
    if idx.unique().numel() != idx.numel():
        raise ValueError(f"keep indices repeat ({idx.tolist()}); pass a bool mask to select by condition")
    return idx.sort().values


def cfg_rows(idx: torch.Tensor, n_alive: int, guided: bool) -> torch.Tensor:
    """Rows of a CFG batch [cond (n_alive), uncond (n_alive)] that belong to candidates `idx`."""
    return torch.cat([idx, idx + n_alive]) if guided else idx
