"""One training loop for every model: step budget, warmup + cosine LR, logs, resume."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .. import distributed
from ..io_utils import atomic_write_json, atomic_write_text, clean_stale_temporaries, read_json, recover_dir, to_json
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
    device: str = "cpu"          # cpu or cuda; under torchrun, cuda means this rank's GPU (LOCAL_RANK)
    tensorboard: bool = False    # also write the logged rows as TensorBoard event files in run_dir/tensorboard

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        checks = {"lr": 0 < self.lr < 1e3 and math.isfinite(self.lr), "warmup": self.warmup >= 0,
                  "min_lr_ratio": 0 <= self.min_lr_ratio <= 1, "weight_decay": 0 <= self.weight_decay < 1e3,
                  "betas": len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                  "grad_clip": 0 < self.grad_clip < math.inf}
        if self.device.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"{bad[0]} = {getattr(self, bad[0])} is out of range; expected lr in (0, 1000), "
                             "warmup >= 0, min_lr_ratio in [0, 1], weight_decay in [0, 1000), betas in [0, 1), "
                             "grad_clip > 0 (all finite)")


def _tensorboard(run_dir: Path, start: int):
    """A TensorBoard writer beside log.jsonl; a resumed run purges the events logged after its checkpoint, as
    log.jsonl is truncated there."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ValueError(f"--tensorboard needs the tensorboard package (pip install 'imagecot[tensorboard]'): "
                         f"{e}") from None
    return SummaryWriter(str(run_dir / "tensorboard"), purge_step=start + 1 if start else None)   # rows are step + 1


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

    def step_of(line: str) -> float:
        try:
            return json.loads(line).get("step", 0)
        except json.JSONDecodeError:  # a row cut short by a kill
            return math.inf
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if step_of(line) <= start]
    if len(kept) != len(rows):
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def _flat_config(config) -> dict:
    return json.loads(json.dumps(asdict(config)))


def check_resume(run_dir: Path, saved_model_config, wanted_model_config, cfg: TrainConfig) -> dict:
    """Before a resumed run trains: the same architecture (else ValueError naming the fields), and the training
    settings that changed since `train_config.json` (recorded there and in the log, with a warning)."""
    old_m, new_m = _flat_config(saved_model_config), _flat_config(wanted_model_config)
    arch = [f"{k} {old_m.get(k)!r} -> {new_m.get(k)!r}" for k in sorted(set(old_m) | set(new_m))
            if old_m.get(k) != new_m.get(k)]
    if arch:
        raise ValueError(f"{run_dir} was trained with another architecture ({type(saved_model_config).__name__} "
                         f"{'; '.join(arch)}): resuming would train the old model. Pass the same options to "
                         "resume, or a new --out")
    cfg_file = run_dir / "train_config.json"
    if not cfg_file.is_file():
        return {}
    old = read_json(cfg_file, "the TrainConfig this run started with")
    new = _flat_config(cfg)
    # the device is where a run computes, not how it trains: a run may resume on another one
    return {k: [old.get(k), new[k]] for k in new if old.get(k) != new[k] and k != "device"}


INIT_RECORD = "init.json"


def start_model(cls, model_cfg, init: str | Path | None, derived: tuple[str, ...], run_dir: str | Path):
    """A new `cls(model_cfg)`, or the pretrained model in `init` (its architecture wins, as a tokenizer's --init)
    whose `derived` fields (vocabulary, scales, conditioning: what the tokenizer and the data fix) must equal
    `model_cfg`'s, else ValueError naming them. A fresh optimizer and LR schedule start from its weights; the run
    records where it started (`run_dir/init.json`: the folder and that checkpoint's own provenance, if it ships
    one), so the zoo can state the whole training a model had."""
    if init is None:
        return cls(model_cfg)
    from ..hub import resolve
    model = cls.from_pretrained(init)
    old_m, new_m = _flat_config(model.config), _flat_config(model_cfg)
    bad = [f"{k} {old_m[k]!r} (init) vs {new_m[k]!r}" for k in derived if k in old_m and old_m[k] != new_m.get(k)]
    if bad:
        raise ValueError(f"--init {init} was trained for other data or another tokenizer ({'; '.join(bad)}); "
                         "expected a checkpoint of the same tokenizer and data")
    prov = resolve(init) / "provenance.json"
    record = {"init": str(init), "init_provenance": read_json(prov, "provenance") if prov.is_file() else None}

    def write() -> None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(run_dir) / INIT_RECORD, record)
    distributed.on_main(write)
    return model


def inherit_sampling(run_dir: str | Path, init: str | Path | None) -> None:
    """A generator trained on from `init` samples as `init` did: its sampling.json (if it has one) beside the run's
    final model, as a DPO run keeps its base's."""
    if init is None:
        return
    from ..hub import resolve
    src = resolve(init) / "sampling.json"
    if src.is_file():
        distributed.on_main(lambda: atomic_write_json(Path(run_dir) / "final" / "sampling.json",
                                                      read_json(src, "sampling settings")))


def _record_changes(run_dir: Path, cfg: TrainConfig, changed: dict, start: int) -> None:
    """Training settings that changed on resume: a warning, the new settings in train_config.json (with a
    history of changes), and a log row at the resume step."""
    text = "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
    print(f"warning: {run_dir} resumes at step {start} with other training settings ({text}); recorded in "
          f"train_config.json and log.jsonl", file=sys.stderr)
    old = read_json(run_dir / "train_config.json", "the TrainConfig this run started with")
    history = old.get("resumed_with", []) + [{"at_step": start, "changed": changed}]
    atomic_write_json(run_dir / "train_config.json", {**_flat_config(cfg), "resumed_with": history})
    with (run_dir / "log.jsonl").open("a") as log:
        log.write(to_json({"step": start, "event": "resumed with other training settings", "changed": changed})
                  + "\n")


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
    same seeds per step), on cfg.device whatever device wrote it. Logs go to `run_dir/log.jsonl`; the final model is
    saved with save_pretrained to `run_dir/final`. `prepare(model)` runs before
    the optimizer is built, fresh or resumed (e.g. to freeze parameters).
    """
    run_dir, device = Path(run_dir), distributed.local_device(cfg.device)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir} is a file; expected a run folder (a new one, or a run to resume)")
    ckpt = run_dir / "checkpoint"
    distributed.on_main(lambda: recover_dir(ckpt))  # a kill between the two renames of a checkpoint swap
    model_cls = model_cls or type(model)
    start = 0
    if (ckpt / "state.json").exists():
        def build_optimizer(m):
            m.to(device)   # before the optimizer, whose state then loads onto the parameters' device
            if prepare:
                prepare(m)
            return make_optimizer(m, cfg)
        wanted = getattr(model, "config", None)
        model, optimizer, meta = load_training_state(ckpt, model_cls, build_optimizer)
        start = meta["step"]

        def resume_checks() -> None:
            changed = check_resume(run_dir, model.config, wanted, cfg) if wanted is not None else {}
            clean_stale_temporaries(run_dir)  # a kill while a checkpoint or a log was being written
            if changed:
                _record_changes(run_dir, cfg, changed, start)
            print(f"resuming {run_dir} from step {start}")
        distributed.on_main(resume_checks)
    else:
        def fresh() -> None:
            run_dir.mkdir(parents=True, exist_ok=True)
            clean_stale_temporaries(run_dir)
            atomic_write_json(run_dir / "train_config.json", asdict(cfg))
        distributed.on_main(fresh)
        model.to(device)
        if prepare:
            prepare(model)
        optimizer = make_optimizer(model, cfg)
    model.train()
    if cfg.amp_bf16 and next(model.parameters()).device.type == "cpu":
        from ..generators.autocast import warn_if_cpu_lacks_bf16
        warn_if_cpu_lacks_bf16()
    main = distributed.is_main()
    distributed.on_main(lambda: _truncate_log(run_dir / "log.jsonl", start))
    log = (run_dir / "log.jsonl").open("a") if main else None
    board = _tensorboard(run_dir, start) if main and cfg.tensorboard else None
    t0, seen = time.time(), 0
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=run_dir.name, mininterval=5,
               disable=not main)
    for step in bar:
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, cfg)
        device_type = next(model.parameters()).device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.amp_bf16):
            metrics = loss_fn(model, step)
        if distributed.sum_all([0.0 if torch.isfinite(metrics["loss"].detach()).all() else 1.0])[0]:
            for f in (log, board):
                if f:
                    f.close()
            raise ValueError(f"{run_dir}: the loss is {float(metrics['loss'].detach())} at step {step + 1}: training "
                             f"diverged. The last checkpoint stays in {ckpt}; resume with a lower --lr or a "
                             "longer --warmup (the change is recorded in train_config.json)")
        optimizer.zero_grad(set_to_none=True)
        metrics["loss"].backward()
        distributed.average_gradients(model)   # under torchrun: every rank's update is the global batch's
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        seen += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            names = list(metrics)
            values = distributed.sum_all([float(metrics[k].detach()) if torch.is_tensor(metrics[k])
                                          else float(metrics[k]) for k in names])
            row = {"step": step + 1, "lr": lr_at(step, cfg), "grad_norm": float(gnorm),
                   "sec_per_step": (time.time() - t0) / seen,
                   **{k: v / distributed.world() for k, v in zip(names, values)}}   # means over ranks
            if log:
                log.write(to_json(row) + "\n")
                log.flush()
            if board:
                for k, v in row.items():
                    if k != "step":
                        board.add_scalar(k, v, step + 1)
                board.flush()
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            def checkpoint(step=step) -> None:
                extra = on_checkpoint(model, step + 1) if on_checkpoint else {}
                if extra:
                    log.write(to_json({"step": step + 1, **extra}) + "\n")
                    log.flush()
                save_training_state(ckpt, model, optimizer, step + 1, {"elapsed_s": time.time() - t0})
            distributed.on_main(checkpoint)
            model.train()
    if log:
        log.close()
    if board:
        board.close()
    model.eval()
    distributed.on_main(lambda: model.save_pretrained(run_dir / "final"))
    return model
