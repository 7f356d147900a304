"""Train one verifier network as ORM, PRM and PARM at once on generator rollouts (or as one of them: config `role`),
and report it.

Every batch holds `groups` prompt draws with all their candidates (rollouts of
one prompt_index: the same prompt, other seeds), each at its final image and at
one preview step shared by the group, plus `hindsight` rows (`verifiers.relabel`:
final images under near-miss prompts and descriptions, labelled by the
evaluator, so that the prompt alone never gives the label away). Labels:
- outcome (ORM): the evaluator's verdict, on final images;
- value (PRM): the final verdict, on every step;
- potential (PARM): the final verdict, on clear steps; clarity on every step;
- flaws and region (PARM++'s reflection), parse and counts (what the detector
  sees, auxiliary): on final images.
A network trained for one role (`role`: orm, prm or parm; the paper's separate
models) gets only that role's labels besides the final-image ones, and an ORM's
batches hold no previews.
Beside the pointwise cross-entropies (calibrated probabilities), a pairwise
ranking loss within each group (one prompt's candidates at one step) trains
what best-of-N and step search need: to order one prompt's candidates.
The held-out split is by prompt draw (prompt_index): held-out images are
fresh seeds, and hindsight prompts never take a held-out draw's prompt. The
report (`final/eval.json`) gives per role head the pooled and within-pool AUC
by step, ECE, per task and split by benchmark-string vs other-string prompts,
and grounding (`grounding`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..data.images import to_tensor
from ..evaluation.diagnose import KINDS
from ..evaluation.ranking import auc, expected_calibration_error, within_group_auc
from ..generators.condition import PromptTokenizer
from ..io_utils import atomic_write_json
from ..verifiers.learned import ROLE_HEAD, ROLE_LABELS, LearnedVerifier, VerifierConfig, VerifierNet, verifier_loss
from .kinds import VERIFIER_CHOSEN_AFTER_TRAINING
from .loop import TrainConfig, start_model, train


@dataclass
class VerifierData:
    """How a verifier's batches are drawn and what it trains on."""

    groups: int = field(default=8, metadata={"help": "prompt draws per batch, each with all its candidates"})
    hindsight: int = field(default=32, metadata={"help": "hindsight rows per batch (0: none)"})
    relabel: int = field(default=2, metadata={"help": "hindsight prompts made per training rollout"})
    rank_weight: float = field(default=1.0, metadata={"help": "weight of the within-group ranking loss"})
    held_out: float = field(default=0.1, metadata={"help": "share of prompt draws held out for the report"})
    limit: int = field(default=0, metadata={"help": "train on the first N rollouts only (0: all), for a data ladder"})

    def __post_init__(self):
        if self.groups < 1 or self.hindsight < 0 or self.relabel < 0 or not 0 < self.held_out < 1:
            raise ValueError(f"need groups >= 1, hindsight >= 0, relabel >= 0 and 0 < held_out < 1, got {self}")


def split_by_draw(data: dict, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rollout indices (train, validation); all candidates of one prompt draw (prompt_index) go to one side."""
    draws = np.unique(data["prompt_index"])
    rng = np.random.default_rng([seed, 17])
    val = rng.choice(draws, max(1, round(held_out * len(draws))), replace=False)
    is_val = np.isin(data["prompt_index"], val)
    return np.nonzero(~is_val)[0], np.nonzero(is_val)[0]


class BatchMaker:
    """Seeded training batches (see the module doc) over `rows` of `data` and their hindsight pairs `extra`."""

    def __init__(self, data: dict, rows: np.ndarray, extra: dict | None, opts: VerifierData, text_len: int,
                 role: str = "all"):
        self.data, self.extra, self.opts = data, extra, opts
        self.labels = ROLE_LABELS[role]
        self.previews = role != "orm"   # an ORM alone never sees a preview, as the paper's ORM
        self.T = data["frames"].shape[1]
        draws = data["prompt_index"][rows]
        order = np.argsort(draws, kind="stable")
        keys, starts = np.unique(draws[order], return_index=True)
        self.groups = np.split(rows[order], starts[1:])
        self.tokenizer, self._text = PromptTokenizer(text_len), {}

    def text(self, prompts) -> torch.Tensor:
        missing = sorted({str(p) for p in prompts} - set(self._text))
        if missing:
            for p, row in zip(missing, self.tokenizer.encode(missing)):
                self._text[p] = row
        return torch.stack([self._text[str(p)] for p in prompts])

    def __call__(self, rng: np.random.Generator) -> dict:
        d, T = self.data, self.T
        picks = rng.choice(len(self.groups), min(self.opts.groups, len(self.groups)), replace=False)
        rows, steps, group, final = [], [], [], []
        for g, k in enumerate(picks):
            members = self.groups[k]
            t = int(rng.integers(0, T - 1)) if T > 1 else 0
            for step, gid in ((T - 1, 2 * g), (t, 2 * g + 1))[:2 if self.previews else 1]:
                rows += members.tolist()
                steps += [step] * len(members)
                group += [gid] * len(members)
                final += [step == T - 1] * len(members)
        rows, steps = np.array(rows), np.array(steps)
        frame_rows, prompts = rows, d["prompt"][rows]
        correct, clear = d["correct"][rows], d["clear"][rows, steps]
        flaws, region = d["flaws"][rows], d["region"][rows]
        if self.extra is not None and self.opts.hindsight and len(self.extra["rollout"]):
            h = rng.integers(0, len(self.extra["rollout"]), self.opts.hindsight)
            frame_rows = np.r_[frame_rows, self.extra["rollout"][h]]
            steps = np.r_[steps, np.full(len(h), T - 1)]
            prompts = np.r_[prompts.astype(str), self.extra["prompt"][h]]
            correct = np.r_[correct, self.extra["correct"][h]]
            clear = np.r_[clear, np.ones(len(h), bool)]
            flaws, region = np.r_[flaws, self.extra["flaws"][h]], np.r_[region, self.extra["region"][h]]
            group += [-1] * len(h)
            final += [True] * len(h)
        final_B = torch.tensor(final)
        correct_B = torch.from_numpy(correct)
        scalar = {"outcome": correct_B, "outcome_mask": final_B, "value": correct_B,
                  "potential": correct_B, "potential_mask": torch.from_numpy(clear), "clarity": torch.from_numpy(clear)}
        batch = {"images": to_tensor(d["frames"][frame_rows, steps]), "text": self.text(prompts),
                 "progress": torch.from_numpy((steps + 1) / T).float(), "group": torch.tensor(group),
                 **{k: v for k, v in scalar.items() if k.removesuffix("_mask") in self.labels},
                 "flaws": torch.from_numpy(flaws), "flaws_mask": final_B,
                 "region": torch.from_numpy(region), "region_mask": final_B}
        if "parse" in d:
            batch.update(parse=torch.from_numpy(d["parse"][frame_rows]).long(), parse_mask=final_B,
                         counts=torch.from_numpy(d["counts"][frame_rows]).long(), counts_mask=final_B)
        return batch


@torch.no_grad()
def score_rollouts(net: VerifierNet, data: dict, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every head's probabilities on `rows` at every step: {head: (len(rows), T)} for the scalar heads, and the
    final step's flaws (R, 4)."""
    v = LearnedVerifier(net)
    T = data["frames"].shape[1]
    prompts = [str(p) for p in data["prompt"][rows]]
    per_step = [v.heads(to_tensor(data["frames"][rows, t]), prompts, t + 1, T) for t in range(T)]
    out = {k: np.stack([h[k].numpy() for h in per_step], 1) for k in ("outcome", "value", "potential", "clarity")}
    out["flaws"] = per_step[-1]["flaws"].numpy()
    out["parse"], out["counts"] = per_step[-1]["parse"].numpy(), per_step[-1]["counts"].numpy()
    return out


def judge_role(net: VerifierNet) -> str:
    """The role whose score on final images a report reads: the ORM's where the network trains the outcome head,
    else its own."""
    return "orm" if net.config.role in ("all", "orm") else net.config.role


def _ranking(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> dict:
    within, n = within_group_auc(scores, labels, groups)
    return {"auc": auc(scores, labels), "within_auc": within, "mixed_groups": n, "n": int(len(labels))}


def evaluate_verifier(net: VerifierNet, data: dict, rows: np.ndarray) -> dict:
    """Held-out report: per role head, pooled and within-pool AUC (pools: one prompt draw's candidates) on final
    images and by step, per task, split by benchmark-string vs other-string prompts; ECE of every role on final
    images; clarity and flaw-kind accuracy; parse and counts accuracy; grounding."""
    from ..verifiers.prompts import is_benchmark_string
    s = score_rollouts(net, data, rows)
    T = data["frames"].shape[1]
    y, draws = data["correct"][rows], data["prompt_index"][rows]
    report: dict = {"rollouts": int(len(rows)), "positive_rate": float(y.mean()), "role": net.config.role}
    final = ROLE_HEAD[judge_role(net)]
    for head in (h for h in ("outcome", "value", "potential") if h in ROLE_LABELS[net.config.role]):
        report[head] = {**_ranking(s[head][:, -1], y, draws),
                        "ece": expected_calibration_error(s[head][:, -1], y),
                        "within_auc_by_step": [within_group_auc(s[head][:, t], y, draws)[0] for t in range(T)],
                        "auc_by_step": [auc(s[head][:, t], y) for t in range(T)]}
    tags = data["tag"][rows].astype(str)
    report["outcome_by_task"] = {t: _ranking(s[final][tags == t, -1], y[tags == t], draws[tags == t])
                                 for t in sorted(set(tags))}
    in_bench = np.array(is_benchmark_string(data["prompt"][rows].astype(str).tolist()))
    report["outcome_by_prompt_kind"] = {
        name: _ranking(s[final][m, -1], y[m], draws[m])
        for name, m in (("benchmark_strings", in_bench), ("other_strings", ~in_bench)) if m.any()}
    clear = data["clear"][rows]
    report["clear_rate_by_step"] = clear.mean(0).tolist()
    if "clarity" in ROLE_LABELS[net.config.role]:
        report["clarity_accuracy"] = float(((s["clarity"] > 0.5) == clear).mean())
    pred, truth = s["flaws"] > 0.5, data["flaws"][rows]
    report["flaw_kind_accuracy"] = float((pred == truth).mean())
    report["flaw_kinds"] = {k: {"precision": float(truth[pred[:, i], i].mean()) if pred[:, i].any() else None,
                                "recall": float(pred[truth[:, i], i].mean()) if truth[:, i].any() else None,
                                "support": int(truth[:, i].sum())} for i, k in enumerate(KINDS)}
    if "parse" in data:
        report["parse_cell_accuracy"] = float((s["parse"].argmax(-1) == data["parse"][rows]).mean())
        report["counts_accuracy"] = float((s["counts"].argmax(-1) == data["counts"][rows]).mean())
    report.update(grounding(LearnedVerifier(net, judge_role(net)), data, rows))
    return report


def grounding(v: LearnedVerifier, data: dict, rollouts: np.ndarray, seed: int = 1) -> dict:
    """Held-out images under hindsight prompts (`verifiers.relabel`). For every image whose own prompt and a
    hindsight prompt get different verdicts: how often the accepted pair scores higher (ties half), overall and
    per source (description, near_miss); and the same with the images shuffled among the held-out rollouts — a
    verifier that reads only the prompts scores the same there, one that looks drops to ~0.5 or below."""
    from ..verifiers.relabel import relabel_rollouts
    extra = relabel_rollouts(data, rollouts, per_rollout=2, seed=seed)
    if not len(extra["rollout"]):
        return {}
    own_prompts = [str(p) for p in data["prompt"][rollouts]]
    position = {s: q for q, s in enumerate(rollouts.tolist())}

    def scores(frame_rows_own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(own-prompt score per held-out rollout, hindsight-prompt score per pair) with these frames."""
        frames = to_tensor(data["frames"][frame_rows_own, -1])
        own = v(frames, own_prompts).numpy()
        pair_frames = frames[[position[s] for s in extra["rollout"].tolist()]]
        return own, v(pair_frames, [str(p) for p in extra["prompt"]]).numpy()

    def wins(own: np.ndarray, pair: np.ndarray, mask: np.ndarray) -> list[float]:
        out = []
        for k in np.nonzero(mask)[0]:
            q = position[int(extra["rollout"][k])]
            hi, lo = (pair[k], own[q]) if extra["correct"][k] else (own[q], pair[k])
            out.append(1.0 if hi > lo else 0.5 if hi == lo else 0.0)
        return out

    differ = extra["correct"] != data["correct"][extra["rollout"]]
    shuffled = np.random.default_rng(seed).permutation(rollouts)
    report = {"relabelled_pairs": int(len(differ)), "grounding_pairs": int(differ.sum())}
    real = scores(rollouts)
    for name, (own, pair) in (("", real), ("_shuffled", scores(shuffled))):
        w = wins(own, pair, differ)
        report[f"grounding_accuracy{name}"] = float(np.mean(w)) if w else None
        for src in ("description", "near_miss"):
            w = wins(own, pair, differ & (extra["source"] == src))
            report[f"grounding_accuracy{name}_{src}"] = float(np.mean(w)) if w else None
    report["relabelled_auc"] = auc(real[1], extra["correct"])
    return report


def train_verifier(run_dir: str | Path, data: dict, model_cfg: VerifierConfig, cfg: TrainConfig,
                   opts: VerifierData | None = None, benchmark: set[str] | None = None,
                   init: str | Path | None = None) -> tuple[VerifierNet, dict]:
    """Train on `data` (rollouts), report on held-out draws. Refuses rollouts whose prompts include an excluded
    benchmark string (`verifiers.prompts`' rule; `benchmark` replaces the excluded set). With `init` (a verifier
    folder or zoo:NAME, e.g. another generator's), training starts from its weights and architecture; the choices
    made after its training (counts verdict, calibration, PARM's gate) were made for its data, so they and its role
    are reset to `model_cfg`'s."""
    from ..verifiers.prompts import check_training_prompts
    from ..verifiers.relabel import relabel_rollouts
    opts = opts or VerifierData()
    check_training_prompts(data["prompt"].tolist(), benchmark)
    if opts.limit:
        data = {k: v[:opts.limit] for k, v in data.items()}
    train_idx, val_idx = split_by_draw(data, opts.held_out, cfg.seed)
    extra = None
    if opts.relabel and opts.hindsight:
        extra = relabel_rollouts(data, train_idx, opts.relabel, cfg.seed, exclude=set(data["prompt"][val_idx].tolist()),
                                 benchmark=benchmark)
    make_batch = BatchMaker(data, train_idx, extra, opts, model_cfg.text_len, model_cfg.role)

    def loss_fn(model, step: int) -> dict:
        batch = make_batch(np.random.default_rng([cfg.seed, step]))
        dev = next(model.parameters()).device
        batch = {k: v.to(dev) for k, v in batch.items()}
        out = model(batch["images"], batch["text"], batch["progress"])
        return verifier_loss(out, batch, opts.rank_weight)

    watch = val_idx[:2000]

    @torch.no_grad()
    def held_out_check(model, step: int) -> dict:
        """At every checkpoint: the final judgment's (`judge_role`) within-pool AUC and ECE on (up to 2000) held-out
        final images."""
        model.eval()
        p = LearnedVerifier(model, judge_role(model))(to_tensor(data["frames"][watch, -1]),
                                          [str(x) for x in data["prompt"][watch]]).numpy()
        y = data["correct"][watch]
        return {"held_out_within_auc": within_group_auc(p, y, data["prompt_index"][watch])[0],
                "held_out_auc": auc(p, y), "held_out_ece": expected_calibration_error(p, y)}

    torch.manual_seed(cfg.seed)
    net = start_model(VerifierNet, model_cfg, init, ("text_vocab", "resolution"), run_dir)
    net.config = replace(net.config, **{k: getattr(model_cfg, k) for k in ("role", *VERIFIER_CHOSEN_AFTER_TRAINING)})
    net = train(net, loss_fn, run_dir, cfg, on_checkpoint=held_out_check)
    report = {"data": asdict(opts), "train_rollouts": int(len(train_idx)),
              "hindsight_pairs": 0 if extra is None else int(len(extra["rollout"])),
              "held_out_draws": int(len(np.unique(data["prompt_index"][val_idx]))),
              **evaluate_verifier(net, data, val_idx)}
    atomic_write_json(Path(run_dir) / "final" / "eval.json", report)
    return net, report
