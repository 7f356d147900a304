"""The step protocol that joins generation and verification, and the one core every generator is built on.

A generation runs as a `Session` of steps. After every step the caller can
look at a preview of each live candidate, and keep only some of them; the
dropped ones cost nothing from then on. Compute is counted in one unit for
every generator: token-forwards = sum over forward passes of (rows in the
batch x tokens processed), so a CFG pass counts its conditional and
unconditional halves, and a KV-cached step counts one token per row.

`TokenGenerator` (a token model, its image tokenizer, its conditioner) and
`Session` (live candidates, steps, compute, classifier-free guidance rows,
keep/finish) hold what every family shares; a family writes only its hooks:
`Session._step`, `_select`, `preview`, `_tokens`, and the generator's
`decode` (plus, where it can do better than sampling anew, `regenerate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .sampling import guide


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
    log_prob: torch.Tensor | None = None  # (B,) sum of log p(token) under the distribution each was sampled from


class Session:
    """One batched generation in progress: the mechanics every family shares.

    B = live candidates (`ids`: their original indices); with classifier-free
    guidance the network runs R = 2B rows, [conditional (B), unconditional (B)].
    A family implements `_step()` (advance one step: sample, update its state,
    add to `compute` and `log_prob_B`), `_select(idx, rows)` (keep live
    candidates `idx`, CFG rows `rows`, of every per-candidate tensor it holds),
    `preview()` and `_tokens()` (the finished token sequences)."""

    def __init__(self, gen: "TokenGenerator", conditions: list, sampling, num_steps: int):
        if not conditions:
            raise ValueError("need at least one condition (prompt or class)")
        self.gen, self.sampling = gen, sampling
        self.conditions_all = list(conditions)
        self.num_steps, self.t, self.compute = num_steps, 0, Compute()
        self.ids = torch.arange(len(conditions), device=gen.device)
        self.guided = sampling.cfg_scale != 1.0
        self.log_prob_B = torch.zeros(len(conditions), dtype=torch.float64, device=gen.device)

    @property
    def n_alive(self) -> int:
        return self.ids.numel()

    def guided_logits(self, logits_R: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        """Rows [cond, uncond] -> uncond + s * (cond - uncond) (s: the sampling's cfg_scale); unguided: as is."""
        if not self.guided:
            return logits_R
        B = self.n_alive
        return guide(logits_R[:B], logits_R[B:], self.sampling.cfg_scale if scale is None else scale)

    def condition_rows(self, conditioner=None) -> torch.Tensor:
        """The encoded conditions of the live candidates, then (guided) as many null conditions: (R, ...); by the
        generator's conditioner, or another network's (VAR's raster draft)."""
        conditioner = conditioner or self.gen.conditioner
        cond = conditioner.encode([self.conditions_all[i] for i in self.ids.tolist()]).to(self.gen.device)
        return torch.cat([cond, conditioner.null(len(cond)).to(cond.device)]) if self.guided else cond

    @torch.no_grad()
    def step(self) -> None:
        if self.t >= self.num_steps:
            raise RuntimeError("generation is already complete")
        self._step()
        self.t += 1

    def keep(self, keep_B: torch.Tensor) -> None:
        """Keep only these live candidates (bool mask or indices); the rest stop costing compute."""
        idx = keep_index(keep_B, self.n_alive).to(self.ids.device)
        rows = cfg_rows(idx, self.n_alive, self.guided)
        self.ids, self.log_prob_B = self.ids[idx], self.log_prob_B[idx]
        self._select(idx, rows)

    @torch.no_grad()
    def finish(self) -> GenerationOutput:
        if self.t < self.num_steps:
            raise RuntimeError(f"generation stopped at step {self.t}/{self.num_steps}; step it to the end")
        tokens = self._tokens()
        return GenerationOutput(self._images(tokens), tokens.clone(),
                                [str(self.conditions_all[i]) for i in self.ids.tolist()], self.compute,
                                self.ids.clone(), self.log_prob_B.clone())

    def _images(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.gen.decode(tokens)

    def _step(self) -> None:
        raise NotImplementedError

    def _select(self, idx: torch.Tensor, rows: torch.Tensor) -> None:
        raise NotImplementedError

    def preview_tokens(self) -> torch.Tensor | None:
        """(B_alive, L): the token map that `preview()` decodes, where a preview is one (raster AR: the rows so far
        over a blank image; MaskGIT: this step's full prediction); None where it is not (VAR's previews are partial
        sums over scales). A recorded pool keeps them, so that other verifiers can score it without sampling
        again (`search.replay.rescore_records`)."""
        return None

    @torch.no_grad()
    def preview(self) -> torch.Tensor:
        """(B_alive, 3, H, W) in [-1, 1]: what the image would look like now."""
        tokens = self.preview_tokens()
        if tokens is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither preview() nor preview_tokens()")
        return self.gen.decode(tokens)

    def _tokens(self) -> torch.Tensor:
        raise NotImplementedError


class TokenGenerator:
    """A token model, its image tokenizer (`vq`) and its conditioner (`conditioner.encode/null`): conditions in,
    images out, as a `session_class` of steps. Families set `session_class` and implement `decode`; `cell_grid`
    (the side of the token grid a reflection blames cells on, None: none) and `regenerate` say how PARM++ can
    correct an image."""

    session_class: type = Session
    cell_grid: int | None = None

    def __init__(self, model, vq, conditioner):
        self.model, self.vq, self.conditioner = model.eval(), vq.eval(), conditioner

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def start(self, conditions, sampling=None, seed: int | list[int] = 0, **options) -> Session:
        from .sampling import SamplingConfig
        return self.session_class(self, list(conditions), sampling or SamplingConfig(), seed, **options)

    def generate(self, conditions, sampling=None, seed: int | list[int] = 0, **options) -> GenerationOutput:
        return run_to_end(self.start(conditions, sampling, seed, **options))

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def regenerate(self, tokens_BL: torch.Tensor, cells_BN: torch.Tensor, missing_B: torch.Tensor, conditions,
                   sampling, seeds: list[int]) -> GenerationOutput:
        """A corrected sample of each image given the cells a reflection blames (`cells_BN`, over `cell_grid`)
        and whether an object is missing; by default (a family that can neither inpaint nor keep a prefix) a
        fresh sample with these seeds."""
        return self.generate(conditions, sampling, seed=seeds)

    def log_prob(self, tokens: torch.Tensor, conditions, model=None, seed: int = 0) -> torch.Tensor:
        """Sum of log p(tokens | condition) per sample (B,) under the bare model (no guidance), differentiable;
        `model`: another network of this family (a DPO policy or its reference), default this generator's. `seed`
        seeds whatever a family's estimate draws (MaskGIT's masks): the same seed gives the same draws to both."""
        cond = self.conditioner.encode(list(conditions)).to(tokens.device)
        return (model or self.model).sequence_log_prob(tokens, cond)


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
