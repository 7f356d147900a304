"""One training loop for every model: step budget, warmup + cosine LR, logs, resume."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..io_utils import atomic_write_text, recover_dir
from .checkpoint import load_training_state, save_training_state


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250
    amp_bf16: bool = False       # bf16 autocast (about 1.7x faster on CPUs with avx512_bf16)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _truncate_log(path: Path, start: int) -> None:
    """Drop log rows past the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= start]
    if len(kept) != len(rows):
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, int], dict], run_dir: str | Path,
          cfg: TrainConfig, model_cls=None, on_checkpoint: Callable[[torch.nn.Module, int], dict] | None = None,
          prepare: Callable[[torch.nn.Module], None] | None = None) -> torch.nn.Module:
    """Train `model` for cfg.steps steps of `loss_fn(model, step) -> {"loss": tensor, ...}`.

    `run_dir/checkpoint` is rewritten every cfg.ckpt_every steps and at the end;
    a run started again in the same `run_dir` resumes from it (same data,
    same seeds per step). Logs go to `run_dir/log.jsonl`; the final model is
    saved with save_pretrained to `run_dir/final`. `prepare(model)` runs before
    the optimizer is built, fresh or resumed (e.g. to freeze parameters).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint"
    recover_dir(ckpt)  # a kill between the two renames of a checkpoint swap
    for leftover in run_dir.glob(".checkpoint.*"):  # a kill while a checkpoint was being written
        shutil.rmtree(leftover, ignore_errors=True)
    model_cls = model_cls or type(model)
    start = 0
    if (ckpt / "state.json").exists():
        def build_optimizer(m):
            if prepare:
                prepare(m)
            return make_optimizer(m, cfg)
        model, optimizer, meta = load_training_state(ckpt, model_cls, build_optimizer)
        start = meta["step"]
        print(f"resuming {run_dir} from step {start}")
    else:
        if prepare:
            prepare(model)
        optimizer = make_optimizer(model, cfg)
        (run_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    model.train()
    _truncate_log(run_dir / "log.jsonl", start)
    log = (run_dir / "log.jsonl").open("a")
    t0, seen = time.time(), 0
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=run_dir.name, mininterval=5)
    for step in bar:
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, cfg)
        device_type = next(model.parameters()).device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.amp_bf16):
            metrics = loss_fn(model, step)
        optimizer.zero_grad(set_to_none=True)
        metrics["loss"].backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        seen += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            row = {"step": step + 1, "lr": lr_at(step, cfg), "grad_norm": float(gnorm),
                   "sec_per_step": (time.time() - t0) / seen,
                   **{k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in metrics.items()}}
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            extra = on_checkpoint(model, step + 1) if on_checkpoint else {}
            if extra:
                log.write(json.dumps({"step": step + 1, **extra}) + "\n")
                log.flush()
            save_training_state(ckpt, model, optimizer, step + 1, {"elapsed_s": time.time() - t0})
            model.train()
    log.close()
    model.eval()
    model.save_pretrained(run_dir / "final")
    return model
