"""Verifier training data: generator rollouts on training prompts, every step's preview, evaluator labels.

For each rollout the preview after every step is kept (the last one is the
final image) with:
- `correct`: the evaluator's verdict on the final image (the ORM / PRM / potential label);
- `step_correct[t]`: the evaluator's verdict on preview t, read as if it were an image;
- `objects[t]`: the preview's confident detections as a sorted list of "colour shape" (GenEval's threshold);
- `clear[t]`: the clarity label. A preview is *clear* when from it to the end nothing
  that is judged changes: every later preview shows the final image's objects
  (objects[t'] == objects[T-1]) and gets its verdict (step_correct[t'] == correct).
  So "clear" means "what you see now is what the final image will show" — defined
  from data, per generator, with no threshold to tune. The verdict alone would not
  do: a blank early AR preview is judged wrong like a final image that is wrong,
  so every failing rollout would be "clear" from its first step;
- `flaws` (4 kinds) and `region` (cells to redo) of the final image, from `evaluation.diagnose`.
Prompts are given by the caller; `imagecot.verifiers.prompts` draws training prompts under the verifier
papers' rule, and every image is seeded with `seeds.training_seed` (never a benchmark image's seed).
At scale, `write_rollout_shards` writes a folder of shards that a killed run resumes.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.images import to_uint8
from ..evaluation.detector import ShapesDetector
from ..evaluation.diagnose import KINDS, diagnose
from ..evaluation.rules import THRESHOLD, evaluate
from ..seeds import training_seed


def region_cells(flaws, grid: int, size: int) -> np.ndarray:
    """(grid*grid,) bool: the token cells any flaw's box touches."""
    cells = np.zeros((grid, grid), dtype=bool)
    step = size / grid
    for f in flaws:
        if f.box is None:
            continue
        x0, y0, x1, y1 = f.box
        if x1 <= x0 or y1 <= y0:
            continue
        cells[int(y0 // step):int(np.ceil(y1 / step)), int(x0 // step):int(np.ceil(x1 / step))] = True
    return cells.reshape(-1)


def collect_rollouts(generator, specs: list[dict], n_per_prompt: int = 1, sampling=None, seed: int = 0,
                     batch_size: int = 64, detector=None, grid: int | None = None, progress=None,
                     first_prompt: int = 0) -> dict:
    """Arrays over S = len(specs) * n_per_prompt rollouts; frames are uint8 (S, T, H, W, 3); `region` is over
    a grid x grid of cells, by default the verifier's (resolution / 4, as `VerifierConfig.grid`). Rollout j of
    spec i is seeded training_seed(seed, first_prompt + i, j) and records prompt_index first_prompt + i."""
    detector = detector or ShapesDetector()
    jobs = [(first_prompt + i, j) for i in range(len(specs)) for j in range(n_per_prompt)]
    specs = {first_prompt + i: spec for i, spec in enumerate(specs)}
    frames, rows = [], []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        session = generator.start([specs[i]["prompt"] for i, _ in chunk], sampling,
                                  seed=[training_seed(seed, i, j) for i, j in chunk])
        steps = []
        while session.t < session.num_steps:
            session.step()
            steps.append(to_uint8(session.preview()))
        steps[-1] = to_uint8(session.finish().images)
        frames.append(np.stack(steps, 1))
        rows += chunk
        if progress:
            progress(len(rows), len(jobs))
    frames_STHW3 = np.concatenate(frames)
    S, T, H = frames_STHW3.shape[:3]
    grid = grid or H // 4
    out = {"frames": frames_STHW3, "prompt": np.array([specs[i]["prompt"] for i, _ in rows]),
           "tag": np.array([specs[i]["tag"] for i, _ in rows]), "prompt_index": np.array([i for i, _ in rows]),
           "step_correct": np.zeros((S, T), bool), "flaws": np.zeros((S, len(KINDS)), bool),
           "region": np.zeros((S, grid * grid), bool)}
    objects = np.zeros((S, T), object)
    for s, (i, _) in enumerate(rows):
        for t in range(T):
            dets = detector(frames_STHW3[s, t])
            out["step_correct"][s, t] = evaluate(specs[i], dets)[0]
            objects[s, t] = "; ".join(sorted(f"{d.color} {d.cls}" for d in dets if d.confidence >= THRESHOLD))
        flaws = diagnose(specs[i], dets, size=H)  # dets of the final frame
        out["flaws"][s] = [any(f.kind == k for f in flaws) for k in KINDS]
        out["region"][s] = region_cells(flaws, grid, H)
    out["correct"] = out["step_correct"][:, -1].copy()
    out["objects"] = objects.astype(str)
    out["clear"] = clarity_labels(out["step_correct"], out["objects"])
    return out


def clarity_labels(step_correct_ST: np.ndarray, objects_ST: np.ndarray) -> np.ndarray:
    """(S, T) bool: from step t to the end every preview has the final verdict and the final objects."""
    same = (step_correct_ST == step_correct_ST[:, -1:]) & (objects_ST == objects_ST[:, -1:])
    return np.flip(np.cumprod(np.flip(same, 1), 1), 1).astype(bool)


def to_torch_batch(data: dict, idx: np.ndarray, role: str, prompt_tokenizer, aux_heads: bool = False) -> dict:
    """A training batch for `role` from rollout rows × steps. idx: (B, 2) of (rollout, step). A row's frames are
    `frames[frame_row[row]]` when the data has `frame_row` (relabelled pairs share their rollout's frames).
    `aux_heads`: the ORM and PRM also learn the flaw kinds and region on final images (as the PARM does), tasks
    that can only be solved by looking at the image."""
    s, t = idx[:, 0], idx[:, 1]
    T = data["frames"].shape[1]
    rows = data["frame_row"][s] if "frame_row" in data else s
    imgs = torch.from_numpy(data["frames"][rows, t]).permute(0, 3, 1, 2).float() / 127.5 - 1
    batch = {"images": imgs, "text": prompt_tokenizer.encode([str(p) for p in data["prompt"][s]]),
             "progress": torch.from_numpy((t + 1) / T).float()}
    correct = torch.from_numpy(data["correct"][s])
    final = torch.from_numpy(t == T - 1)
    image_tasks = {"flaws": torch.from_numpy(data["flaws"][s]), "flaws_mask": final,
                   "region": torch.from_numpy(data["region"][s]), "region_mask": final}
    if role in ("orm", "prm"):
        batch["potential"] = correct
        if aux_heads:
            batch.update(image_tasks)
    elif role == "parm":
        clear = torch.from_numpy(data["clear"][s, t])
        batch.update(potential=correct, potential_mask=clear, clarity=clear, **image_tasks)
    else:
        raise ValueError(f"unknown verifier role {role!r}; expected orm, prm or parm")
    return batch


ROLLOUT_KEYS = ("frames", "prompt", "correct", "clear", "flaws", "region", "step_correct")


def write_rollout_shards(generator, specs: list[dict], out_dir, n_per_prompt: int = 1, sampling=None,
                         seed: int = 0, batch_size: int = 64, shard_prompts: int = 256, progress=None) -> Path:
    """Rollouts of every spec in `out_dir/shard-<k>.npz` (`shard_prompts` specs each), written atomically one shard
    at a time: a killed run resumes at the first missing shard, and a run with other specs, generator or
    sampling is refused (`rollouts.json` records them)."""
    import json
    from pathlib import Path

    from ..io_utils import atomic_write_json, check_writable, clean_stale_temporaries, read_json, to_json
    from ..provenance import differences, identity, refusal
    out_dir = check_writable(out_dir, "folder")
    settings = json.loads(to_json({
        "generator": identity(generator), "sampling": vars(sampling) if sampling is not None else None,
        "seed": seed, "n_per_prompt": n_per_prompt, "shard_prompts": shard_prompts,
        "prompts": [s["prompt"] for s in specs], "formats": [s.get("format", s["tag"]) for s in specs]}))
    info = out_dir / "rollouts.json"
    if info.is_file():
        diff = differences(read_json(info, "the settings of these rollouts"), settings)
        if diff:
            raise refusal(out_dir, "rollouts", diff[:4], None)
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} holds files but no rollouts.json; choose a new folder for rollouts")
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out_dir)
    atomic_write_json(info, settings)
    n_shards = -(-len(specs) // shard_prompts)
    done = sum((out_dir / f"shard-{k:05d}.npz").is_file() for k in range(n_shards)) * shard_prompts * n_per_prompt
    for k in range(n_shards):
        path = out_dir / f"shard-{k:05d}.npz"
        if path.is_file():
            continue
        first = k * shard_prompts
        base = done

        def shard_progress(n, total, base=base):
            if progress:
                progress(base + n, len(specs) * n_per_prompt)
        data = collect_rollouts(generator, specs[first:first + shard_prompts], n_per_prompt, sampling, seed,
                                batch_size, progress=shard_progress, first_prompt=first)
        data["format"] = np.array([s.get("format", s["tag"]) for s in specs[first:first + shard_prompts]
                                   for _ in range(n_per_prompt)])
        save_rollouts(path, data)
        done += len(data["correct"])
    return out_dir


def save_rollouts(path, data: dict) -> None:
    """One .npz (uncompressed, strings as unicode arrays), written atomically."""
    import io

    from ..io_utils import atomic_write_bytes
    buf = io.BytesIO()
    np.savez(buf, **data)
    atomic_write_bytes(path, buf.getvalue())


def load_rollouts(path, limit: int | None = None) -> dict:
    """A rollouts .npz, or a `write_rollout_shards` folder (its shards in order, at most `limit` rollouts)."""
    from pathlib import Path
    path = Path(path)
    if path.is_dir():
        shards = sorted(path.glob("shard-*.npz"))
        if not shards:
            raise FileNotFoundError(f"{path} holds no shard-*.npz; expected a folder `imagecot rollouts` wrote")
        parts, n = [], 0
        for shard in shards:
            if limit is not None and n >= limit:
                break
            parts.append(load_rollouts(shard))
            n += len(parts[-1]["correct"])
        data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return {k: v[:limit] for k, v in data.items()} if limit is not None else data
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; expected rollouts `imagecot rollouts` wrote")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable .npz ({e}); expected rollouts `imagecot rollouts` wrote") from None
    missing = set(ROLLOUT_KEYS) - set(data)
    if missing:
        raise ValueError(f"{path} is not a rollouts file: it lacks {sorted(missing)}")
    return data
