"""Train a verifier (ORM, PRM or PARM) on rollouts, holding out a share of the training prompts to report it.

- "orm": final images, label = the evaluator's verdict;
- "prm": every step's preview, label = the final verdict;
- "parm": clarity on every step; potential on clear steps only; flaw kinds and region on final images.
With `relabel` = k, each training rollout also comes with up to k hindsight prompts (`verifiers.relabel`: the
same image under near-miss prompts and a description of it, labelled by the evaluator): the ORM and PARM see
them on the final image, the PRM at every step. On relabelled pairs the AR ORM's image pathway collapsed (its
score ignored the image: a prompt-only answer fits pairs whose label needs image and prompt together);
`aux_heads` gives the ORM and PRM the PARM's flaw-kind and region losses on final images, which need the image.
The held-out split is by prompt (no prompt string is in both; relabelled prompts avoid the held-out ones), and
the report gives AUC and accuracy of each head there, plus grounding: on held-out images paired with hindsight
prompts, how often the verifier scores the pair the evaluator accepts above the one it rejects for the same image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..generators.condition import PromptTokenizer
from ..io_utils import atomic_write_json
from ..verifiers.learned import LearnedVerifier, VerifierConfig, VerifierNet, verifier_loss
from ..verifiers.rollouts import to_torch_batch
from .loop import TrainConfig, train


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None (undefined) if one class is absent."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(allv):  # average ranks of ties
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def split_by_prompt(data: dict, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rollout indices (train, validation); whole prompts go to one side."""
    prompts = sorted(set(data["prompt"].tolist()))
    rng = np.random.default_rng(seed)
    val = set(rng.choice(prompts, max(1, round(held_out * len(prompts))), replace=False).tolist())
    is_val = np.array([p in val for p in data["prompt"].tolist()])
    return np.nonzero(~is_val)[0], np.nonzero(is_val)[0]


def pairs_for(role: str, rollouts: np.ndarray, T: int, final_only: np.ndarray | None = None) -> np.ndarray:
    """(rollout, step) pairs a role trains on: final frames for the ORM, every step otherwise; rollouts marked
    `final_only` (relabelled pairs: their clarity is known only there) give the PARM their final frame only."""
    def steps(s):
        return [T - 1] if role == "orm" or (role == "parm" and final_only is not None and final_only[s]) else range(T)
    return np.array([(s, t) for s in rollouts for t in steps(s)])


@torch.no_grad()
def evaluate_verifier(net: VerifierNet, data: dict, rollouts: np.ndarray) -> dict:
    """Held-out AUC / accuracy: outcome on final images; potential per step (all steps and clear ones);
    clarity; flaw kinds."""
    v = LearnedVerifier(net)
    T = data["frames"].shape[1]
    report: dict = {"rollouts": int(len(rollouts)), "positive_rate": float(data["correct"][rollouts].mean())}
    per_step = {}
    for t in range(T):
        imgs = torch.from_numpy(data["frames"][rollouts, t]).permute(0, 3, 1, 2).float() / 127.5 - 1
        h = v.heads(imgs, [str(p) for p in data["prompt"][rollouts]], t + 1, T)
        per_step[t] = h
    y = data["correct"][rollouts]
    final = per_step[T - 1]["potential"].numpy()
    report["outcome_auc"] = auc(final, y)
    report["outcome_accuracy"] = float(((final > 0.5) == y).mean())
    report["potential_auc_by_step"] = [auc(per_step[t]["potential"].numpy(), y) for t in range(T)]
    clear = data["clear"][rollouts]
    report["clear_rate_by_step"] = clear.mean(0).tolist()
    report["clarity_accuracy"] = float(np.mean([((per_step[t]["clarity"].numpy() > 0.5) == clear[:, t]).mean()
                                                for t in range(T)]))
    flaws = data["flaws"][rollouts]
    pred = per_step[T - 1]["flaws"].numpy() > 0.5
    report["flaw_kind_accuracy"] = float((pred == flaws).mean())
    report.update(grounding(v, data, rollouts))
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
    T = data["frames"].shape[1]
    own_prompts = [str(p) for p in data["prompt"][rollouts]]
    position = {s: q for q, s in enumerate(rollouts.tolist())}

    def scores(frame_rows_own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(own-prompt score per held-out rollout, hindsight-prompt score per pair) with these frames."""
        frames = torch.from_numpy(data["frames"][frame_rows_own, -1]).permute(0, 3, 1, 2).float() / 127.5 - 1
        own = v.heads(frames, own_prompts, T, T)["potential"].numpy()
        pair_frames = frames[[position[s] for s in extra["rollout"].tolist()]]
        return own, v.heads(pair_frames, [str(p) for p in extra["prompt"]], T, T)["potential"].numpy()

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
                   held_out: float = 0.1, benchmark: set[str] | None = None,
                   relabel: int = 0, aux_heads: bool = False) -> tuple[VerifierNet, dict]:
    """Refuses rollouts whose prompts include an excluded benchmark string (`verifiers.prompts`' rule; `benchmark`
    replaces the excluded set)."""
    from ..verifiers.prompts import check_training_prompts
    if aux_heads and model_cfg.role == "parm":
        raise ValueError("aux_heads is for the ORM and PRM: the PARM always learns the flaw kinds and region")
    check_training_prompts(data["prompt"].tolist(), benchmark)
    train_idx, val_idx = split_by_prompt(data, held_out, cfg.seed)
    T = data["frames"].shape[1]
    train_data, final_only = data, None
    if relabel:
        from ..verifiers.relabel import append_relabelled, relabel_rollouts
        extra = relabel_rollouts(data, train_idx, relabel, cfg.seed, exclude=set(data["prompt"][val_idx].tolist()),
                                 benchmark=benchmark)
        train_data = append_relabelled(data, extra)
        train_idx = np.r_[train_idx, np.arange(len(data["correct"]), len(train_data["correct"]))]
        final_only = train_data["relabelled"]
    pairs = pairs_for(model_cfg.role, train_idx, T, final_only)
    pt = PromptTokenizer(model_cfg.text_len)

    def loss_fn(model, step: int) -> dict:
        rng = np.random.default_rng([cfg.seed, step])
        batch = to_torch_batch(train_data, pairs[rng.integers(0, len(pairs), cfg.batch_size)], model_cfg.role, pt,
                               aux_heads)
        dev = next(model.parameters()).device
        batch = {k: v.to(dev) for k, v in batch.items()}
        out = model(batch["images"], batch["text"], batch["progress"])
        return verifier_loss(out, batch)

    torch.manual_seed(cfg.seed)
    net = train(VerifierNet(model_cfg), loss_fn, run_dir, cfg)
    report = {"role": model_cfg.role, "relabel": relabel, "aux_heads": aux_heads,
              "held_out_prompts": sorted(set(data["prompt"][val_idx].tolist())), **evaluate_verifier(net, data, val_idx)}
    atomic_write_json(Path(run_dir) / "final" / "eval.json", report)
    return net, report
