"""The learned verifier network: (image or preview, prompt, progress t/T) -> judgments of every role.

The prompt's words go through a small text encoder; its pooled vector
FiLM-modulates every stage of a residual CNN (32x32 -> 16x16 -> 8x8 cells), so
colour and shape are bound to each other from the first layers on ("a red
circle" amplifies red-and-round features, not red ones and round ones apart).
The cells, the words and a progress token then go through a bidirectional
transformer; a summary token feeds the judgment heads, each cell its own:
- `outcome`: P(this image satisfies the prompt) - the ORM (final images);
- `value`: P(the final image will satisfy it | this preview) - the PRM (every step);
- `potential`: the same, judged on clear previews only - the PARM's second head;
- `clarity`: P(this preview already shows what the final image will) - the PARM's first head;
- `flaws` (missing, extra, wrong colour, wrong position) and, per cell,
  `region` (P(the cell must be redone)) - the reflection of PARM++;
- `parse` (per cell: background or which of the 36 coloured shapes covers it)
  and `counts` (per coloured shape: 0, 1, 2, 3, 4+ confident objects): what the
  evaluator's detector sees, learned on final images so that the network has
  to look at the image. For the prompt formats (task tags, or the composed
  colored_counting / colored_position) in `VerifierConfig.count_verdict_tasks`
  (chosen on validation rollouts by `benchmarks/count_verdict_check.py`), the
  verdict on a final image is the one the counts imply (`count_verdict`) in
  place of the outcome head's, and, with `count_verdict_on_previews`, so is the
  potential on previews (PARM reads it only where it judges a preview clear):
  on colour binding it ranks far better. For the tasks in
  `count_verdict_times_head` the verdict multiplies each head's own score
  instead of replacing it. `count_verdict_calibration` maps it
  through Platt scaling fitted on the same validation rollouts, so that its 0.5
  means even odds. Where a position format's verdict reads the parse, the reflection
  names a relation the parse finds unmet as a wrong position too, and blames
  both objects' cells (`misplaced_cells`).
One network serves as ORM, PRM and PARM (`LearnedVerifier(net, role)` picks the
head); it is trained on each role's data in every batch (`train/verifier.py`).
With config `role` orm, prm or parm it is trained for, and serves, that role
alone, as the paper's separately fine-tuned models are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation.diagnose import KINDS
from ..hub import PretrainedMixin
from ..world.spec import PromptParseError, parse_prompt
from ..world.vocab import COLORS, SHAPES
from .calibration import platt_apply
from .count_verdict import MAX_COUNT_CLASS, count_verdict, misplaced_cells
from .prompts import prompt_format

PROGRESS_BINS = 16
N_OBJECT_KINDS = len(SHAPES) * len(COLORS)   # coloured shapes: parse classes 1.. (0 = background), count rows
ROLE_HEAD = {"orm": "outcome", "prm": "value", "parm": "potential"}
SCALAR_HEADS = ("outcome", "value", "potential", "clarity")
# the scalar heads each config role trains (the final-image heads of reflection, parse and counts train in every role)
ROLE_LABELS = {"all": SCALAR_HEADS, "orm": ("outcome",), "prm": ("value",), "parm": ("potential", "clarity")}


@dataclass
class VerifierConfig:
    resolution: int = 32
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 4
    channels: tuple[int, ...] = (32, 64)   # CNN stages before the d_model one; each after the first halves the size
    text_len: int = 12
    text_vocab: int = 40
    dropout: float = 0.1
    role: str = field(default="all", metadata={"help": "the roles this network is trained for and serves: all, or "
                                                       "one of orm (final images only), prm, parm"})
    # prompt formats (`prompts.prompt_format`: a task tag, or colored_counting / colored_position) whose verdict (and
    # preview potential) the counts and parse heads give
    count_verdict_tasks: tuple[str, ...] = ()
    # format -> (a, b): Platt scaling of that format's counts verdict, fitted on validation rollouts (`calibration`)
    count_verdict_calibration: dict = field(default_factory=dict)
    count_verdict_on_previews: bool = True      # PARM's potential on previews from the counts too (else its head)
    count_verdict_times_head: tuple[str, ...] = ()   # of count_verdict_tasks: the verdict times the head's own score
    # PARM's gate: a candidate is "yes" when its potential at the first clear step is >= this (the paper's 0.5;
    # chosen on a validation pool by benchmarks/choose_parm_waves.py --write-into)
    parm_threshold: float = 0.5
    # PARM's clarity judgment: a preview is clear, and its potential judged, when its clarity is >= this (the
    # paper's 0.5; chosen with the gate by choose_parm_waves.py)
    parm_clarity: float = 0.5

    def __post_init__(self):
        if self.role not in ROLE_LABELS:
            raise ValueError(f"role must be all, orm, prm or parm, got {self.role!r}")
        for name in ("parm_threshold", "parm_clarity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        stray = set(self.count_verdict_times_head) - set(self.count_verdict_tasks)
        if stray:
            raise ValueError(f"count_verdict_times_head has {sorted(stray)}, which are not among count_verdict_tasks "
                             f"{list(self.count_verdict_tasks)}")
        for task, ab in self.count_verdict_calibration.items():
            if task not in self.count_verdict_tasks:
                raise ValueError(f"count_verdict_calibration has {task!r}, which is not among count_verdict_tasks "
                                 f"{list(self.count_verdict_tasks)}: only a counts verdict is calibrated")
            if (not isinstance(ab, (list, tuple)) or len(ab) != 2
                    or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in ab) or ab[0] <= 0):
                raise ValueError(f"count_verdict_calibration[{task!r}] must be [a, b], finite, a > 0 (Platt "
                                 f"scaling sigmoid(a * logit(p) + b)), got {ab!r}")

    @property
    def grid(self) -> int:
        return self.resolution // 2 ** len(self.channels)


class FiLMBlock(nn.Module):
    """Residual conv block whose output is scaled and shifted per channel by the prompt vector."""

    def __init__(self, cin: int, cout: int, stride: int, d_prompt: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm1, self.norm2 = nn.GroupNorm(8, cout), nn.GroupNorm(8, cout)
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)
        self.film = nn.Linear(d_prompt, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x_BCHW: torch.Tensor, prompt_Bd: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.norm1(self.conv1(x_BCHW)))
        h = self.norm2(self.conv2(h))
        gamma_BC, beta_BC = self.film(prompt_Bd).chunk(2, -1)
        h = h * (1 + gamma_BC[:, :, None, None]) + beta_BC[:, :, None, None]
        return F.gelu(h + self.skip(x_BCHW))


class VerifierNet(nn.Module, PretrainedMixin):
    config_class = VerifierConfig
    model_type = "verifier"

    def __init__(self, config: VerifierConfig):
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.word_emb = nn.Embedding(c.text_vocab, d)
        self.word_pos = nn.Parameter(torch.zeros(1, c.text_len, d))
        self.text = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, c.n_head, 2 * d, c.dropout, activation="gelu", batch_first=True,
                                       norm_first=True), 1, enable_nested_tensor=False)
        self.stem = nn.Conv2d(3, c.channels[0], 3, 1, 1)
        widths = [c.channels[0], *c.channels[1:], d]
        self.blocks = nn.ModuleList(FiLMBlock(a, b, 1 if i == 0 else 2, d)
                                    for i, (a, b) in enumerate(zip([c.channels[0], *widths[:-1]], widths)))
        self.cell_pos = nn.Parameter(torch.zeros(1, c.grid * c.grid, d))
        self.progress_emb = nn.Embedding(PROGRESS_BINS + 1, d)
        self.summary = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(d, c.n_head, 4 * d, c.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(SCALAR_HEADS) + len(KINDS))
        self.counts = nn.Linear(d, N_OBJECT_KINDS * (MAX_COUNT_CLASS + 1))
        self.cell_head = nn.Linear(d, 1 + 1 + N_OBJECT_KINDS)   # region, parse classes
        for p in (self.cell_pos, self.word_pos, self.summary):
            nn.init.normal_(p, std=0.02)

    def forward(self, images_B3HW: torch.Tensor, text_BL: torch.Tensor, progress_B: torch.Tensor) -> dict:
        """Logits: outcome, value, potential, clarity (B,); flaws (B, 4); region (B, N); parse (B, N, 37);
        counts (B, 36, 5); N = grid * grid cells."""
        B, r = images_B3HW.shape[0], self.config.resolution
        if tuple(images_B3HW.shape[1:]) != (3, r, r):
            raise ValueError(f"this verifier judges (B, 3, {r}, {r}) images, got {tuple(images_B3HW.shape)}: "
                             "use a verifier trained on this generator's frames")
        pad_BL = text_BL == 0
        words_BLd = self.text(self.word_emb(text_BL) + self.word_pos, src_key_padding_mask=pad_BL)
        keep_BL1 = (~pad_BL).unsqueeze(-1).to(words_BLd.dtype)
        prompt_Bd = (words_BLd * keep_BL1).sum(1) / keep_BL1.sum(1).clamp_min(1)
        x = self.stem(images_B3HW)
        for block in self.blocks:
            x = block(x, prompt_Bd)
        cells_BNd = x.flatten(2).transpose(1, 2) + self.cell_pos
        bins = (progress_B.clamp(0, 1) * PROGRESS_BINS).round().long()
        seq = torch.cat([self.summary.expand(B, -1, -1), self.progress_emb(bins)[:, None], words_BLd, cells_BNd], 1)
        pad = torch.cat([torch.zeros(B, 2, dtype=torch.bool, device=seq.device), pad_BL,
                         torch.zeros(B, cells_BNd.shape[1], dtype=torch.bool, device=seq.device)], 1)
        h = self.norm(self.encoder(seq, src_key_padding_mask=pad))
        out = self.head(h[:, 0])
        cells = self.cell_head(h[:, -cells_BNd.shape[1]:])
        heads = {k: out[:, i] for i, k in enumerate(SCALAR_HEADS)}
        return {**heads, "flaws": out[:, len(SCALAR_HEADS):], "region": cells[..., 0], "parse": cells[..., 1:],
                "counts": self.counts(h[:, 0]).view(B, N_OBJECT_KINDS, MAX_COUNT_CLASS + 1)}


BINARY_HEADS = (*SCALAR_HEADS, "flaws", "region")
CLASS_HEADS = ("parse", "counts")


def ranking_loss(score_B: torch.Tensor, label_B: torch.Tensor, group_B: torch.Tensor) -> torch.Tensor | None:
    """Pairwise logistic loss within groups (one prompt's candidates at one step): mean over pairs (accepted i,
    rejected j) of the same group of log(1 + exp(s_j - s_i)). None when the batch has no such pair."""
    pair_BB = (group_B[:, None] == group_B[None, :]) & label_B[:, None].bool() & ~label_B[None, :].bool()
    if not pair_BB.any():
        return None
    diff_BB = score_B[None, :] - score_B[:, None]          # s_j - s_i at [i, j]
    return F.softplus(diff_BB[pair_BB]).mean()


def verifier_loss(out: dict, batch: dict, rank_weight: float = 1.0) -> dict:
    """Binary cross-entropies on the labels a batch carries (`<head>_mask` (B,) bool selects the rows that have
    that label, e.g. flaws only on final images); cross-entropies for `parse` and `counts`; and, where the batch
    has `group` ids, the within-group ranking loss on the outcome, value and potential heads."""
    losses = {}
    for key in BINARY_HEADS + CLASS_HEADS:
        if key not in batch:
            continue
        m = batch.get(f"{key}_mask")
        logits, target = (out[key], batch[key]) if m is None else (out[key][m], batch[key][m])
        if not target.numel():
            continue
        if key in CLASS_HEADS:
            losses[key] = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1).long())
        else:
            losses[key] = F.binary_cross_entropy_with_logits(logits.float(), target.float())
    if "group" in batch and rank_weight:
        for key in ROLE_HEAD.values():
            if key not in batch:
                continue
            m = batch.get(f"{key}_mask", torch.ones_like(batch[key], dtype=torch.bool)) & (batch["group"] >= 0)
            r = ranking_loss(out[key][m].float(), batch[key][m], batch["group"][m])
            if r is not None:
                losses[f"{key}_rank"] = rank_weight * r
    if not losses:
        raise ValueError(f"the batch carries none of the labels {BINARY_HEADS + CLASS_HEADS}")
    losses["loss"] = sum(losses.values())
    return losses


class LearnedVerifier:
    """A trained VerifierNet as one role (orm, prm, parm) behind the interfaces search strategies call
    (probabilities, batched).

    `verifier(images, prompts)` is the role's score at progress 1 (the ORM's outcome, the PRM's value, the PARM's
    potential); `verifier(previews, prompts, t, T)` at step t; `clarity` and `potential` are PARM's heads;
    `reflect` gives PARM++ the flaws it believes in.
    """

    is_oracle = False

    def __init__(self, net: VerifierNet, role: str | None = None, prompt_tokenizer=None, batch_size: int = 256):
        from ..generators.condition import PromptTokenizer
        role = role or (net.config.role if net.config.role != "all" else "parm")
        if role not in ROLE_HEAD:
            raise ValueError(f"unknown verifier role {role!r}; expected orm, prm or parm")
        if net.config.role not in ("all", role):
            raise ValueError(f"this verifier was trained as {net.config.role!r} only, not {role!r}")
        self.net = net.eval()
        self.role, self.score_head = role, ROLE_HEAD[role]
        self.prompt_tokenizer = prompt_tokenizer or PromptTokenizer(net.config.text_len)
        self.batch_size = batch_size
        self.name = f"learned {role}"
        self.parm_threshold = net.config.parm_threshold
        self.parm_clarity = net.config.parm_clarity

    @torch.no_grad()
    def heads(self, images_B3HW: torch.Tensor, prompts: list[str], t: int | None = None,
              T: int | None = None) -> dict:
        dev = next(self.net.parameters()).device
        progress = 1.0 if t is None else t / T
        outs = []
        for i in range(0, len(prompts), self.batch_size):
            x = images_B3HW[i:i + self.batch_size].to(dev).float()
            text = self.prompt_tokenizer.encode(prompts[i:i + self.batch_size]).to(dev)
            outs.append(self.net(x, text, torch.full((x.shape[0],), progress, device=dev)))
        probs = {}
        for k in outs[0]:
            logits = torch.cat([o[k] for o in outs]).float()
            probs[k] = (logits.softmax(-1) if k in CLASS_HEADS else logits.sigmoid()).cpu()
        if self.net.config.count_verdict_tasks:
            previews = ("potential",) if self.net.config.count_verdict_on_previews else ()
            self._count_verdicts(probs, prompts, ROLE_HEAD.values() if progress == 1.0 else previews)
        return probs

    def _count_verdicts(self, probs: dict, prompts: list[str], heads) -> None:
        """For prompts of the config's `count_verdict_tasks`, these heads' scores become the verdict the counts
        head implies: every role's on a final image (the same P(the image meets the prompt) for ORM, PRM and
        PARM), the potential on a preview (PARM reads it at the first step its clarity head judges clear; on
        validation rollouts the counts rank clear color_attr previews better than the potential head does).
        For `count_verdict_times_head` tasks each head's score is multiplied by the verdict instead."""
        cfg = self.net.config
        if not heads:   # a preview whose potential keeps its head: nothing reads the verdict
            return
        for b, prompt in enumerate(prompts):
            try:
                spec = parse_prompt(prompt)
            except PromptParseError:
                continue
            task = prompt_format(spec)
            if task in cfg.count_verdict_tasks:
                verdict = count_verdict(spec, probs["counts"][b], probs["parse"][b])
                for head in heads:
                    score = verdict * float(probs[head][b]) if task in cfg.count_verdict_times_head else verdict
                    if task in cfg.count_verdict_calibration:
                        score = platt_apply(score, cfg.count_verdict_calibration[task])
                    probs[head][b] = score

    def _misplaced(self, prompt: str, parse_NC: torch.Tensor) -> torch.Tensor | None:
        """The cells of a relation the parse judges unmet (`misplaced_cells`), where the verifier's verdict on this
        prompt's format reads the parse (the format among its config's count_verdict_tasks); else None."""
        try:
            spec = parse_prompt(prompt)
        except PromptParseError:
            return None
        return misplaced_cells(spec, parse_NC) if prompt_format(spec) in self.net.config.count_verdict_tasks else None

    def __call__(self, images_B3HW, prompts, t=None, T=None) -> torch.Tensor:
        return self.heads(images_B3HW, prompts, t, T)[self.score_head]

    def clarity(self, previews_B3HW, prompts, t, T) -> torch.Tensor:
        return self.heads(previews_B3HW, prompts, t, T)["clarity"]

    def potential(self, previews_B3HW, prompts, t, T) -> torch.Tensor:
        return self.heads(previews_B3HW, prompts, t, T)["potential"]

    def reflect(self, images_B3HW, prompts, threshold: float = 0.5) -> list[dict]:
        """Per image: the flaw kinds it believes (P > threshold), the cells to redo (grid*grid bool), a sentence."""
        h = self.heads(images_B3HW, prompts)
        out = []
        for b in range(len(prompts)):
            kinds = [k for k, p in zip(KINDS, h["flaws"][b].tolist()) if p > threshold]
            cells = h["region"][b] > threshold
            misplaced = self._misplaced(prompts[b], h["parse"][b])
            if misplaced is not None:   # the relation the verdict reads from the parse fails: name it, redo both
                kinds = kinds if "wrong_position" in kinds else [*kinds, "wrong_position"]
                cells = cells | misplaced
            where = ""
            if cells.any():
                g = self.net.config.grid
                ys, xs = torch.nonzero(cells.view(g, g), as_tuple=True)
                where = f" around rows {ys.min().item()}-{ys.max().item()}, columns {xs.min().item()}-{xs.max().item()}"
            text = (", ".join(k.replace("_", " ") for k in kinds) + where) if kinds else "nothing wrong"
            out.append({"kinds": kinds, "cells": cells, "p_aligned": float(h[self.score_head][b]), "sentence": text})
        return out
