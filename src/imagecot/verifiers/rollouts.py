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
- `flaws` (4 kinds) and `region` (cells to redo) of the final image, from `evaluation.diagnose`;
- `parse` (per cell: 0 = background, else 1 + the coloured shape covering it) and `counts` (per coloured
  shape: confident objects, 4 = four or more) of the final image: what the detector sees, the verifier's
  auxiliary targets (`scene_targets`).
Prompts are given by the caller; `imagecot.verifiers.prompts` draws training prompts under the verifier
papers' rule, and every image is seeded with `seeds.training_seed` (never a benchmark image's seed).
At scale, `write_rollout_shards` writes a folder of shards that a killed run resumes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import to_uint8
from ..evaluation.detector import ShapesDetector
from ..evaluation.diagnose import KINDS, diagnose
from ..evaluation.rules import THRESHOLD, evaluate
from ..seeds import training_seed
from ..world.vocab import COLORS, SHAPES


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


def scene_targets(img_HW3: np.ndarray, grid: int, detector) -> tuple[np.ndarray, np.ndarray]:
    """(parse (grid*grid,) int8, counts (36,) int8) of one image: each cell takes the coloured shape of the
    confident detections covering most of its pixels (background when they cover under a quarter), and each
    coloured shape its number of confident detections (at most 4)."""
    dets, owner_HW = detector.detect_with_owner(img_HW3)
    kind_D = np.array([1 + SHAPES.index(d.cls) * len(COLORS) + COLORS.index(d.color) if d.confidence > THRESHOLD
                       else 0 for d in dets] + [0], np.int64)            # the extra 0: owner -1 (no detection)
    kind_HW = kind_D[owner_HW]
    H, W = kind_HW.shape
    onehot = np.zeros((grid, grid, 1 + len(SHAPES) * len(COLORS)), np.int32)
    cy, cx = np.meshgrid(np.arange(H) * grid // H, np.arange(W) * grid // W, indexing="ij")
    np.add.at(onehot, (cy, cx, kind_HW), 1)
    best = onehot[..., 1:].argmax(-1) + 1
    covered = onehot[..., 1:].max(-1) * 4 >= (H // grid) * (W // grid)
    counts = np.bincount(kind_D[kind_D > 0], minlength=1 + len(SHAPES) * len(COLORS))[1:]
    return np.where(covered, best, 0).reshape(-1).astype(np.int8), np.minimum(counts, 4).astype(np.int8)


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
           "region": np.zeros((S, grid * grid), bool), "parse": np.zeros((S, grid * grid), np.int8),
           "counts": np.zeros((S, len(SHAPES) * len(COLORS)), np.int8)}
    objects = np.zeros((S, T), object)
    for s, (i, _) in enumerate(rows):
        for t in range(T):
            dets = detector(frames_STHW3[s, t])
            out["step_correct"][s, t] = evaluate(specs[i], dets)[0]
            objects[s, t] = "; ".join(sorted(f"{d.color} {d.cls}" for d in dets if d.confidence >= THRESHOLD))
        flaws = diagnose(specs[i], dets, size=H)  # dets of the final frame
        out["flaws"][s] = [any(f.kind == k for f in flaws) for k in KINDS]
        out["region"][s] = region_cells(flaws, grid, H)
        out["parse"][s], out["counts"][s] = scene_targets(frames_STHW3[s, -1], grid, detector)
    out["correct"] = out["step_correct"][:, -1].copy()
    out["objects"] = objects.astype(str)
    out["clear"] = clarity_labels(out["step_correct"], out["objects"])
    return out


def clarity_labels(step_correct_ST: np.ndarray, objects_ST: np.ndarray) -> np.ndarray:
    """(S, T) bool: from step t to the end every preview has the final verdict and the final objects."""
    same = (step_correct_ST == step_correct_ST[:, -1:]) & (objects_ST == objects_ST[:, -1:])
    return np.flip(np.cumprod(np.flip(same, 1), 1), 1).astype(bool)


ROLLOUT_KEYS = ("frames", "prompt", "correct", "clear", "flaws", "region", "step_correct")


def write_rollout_shards(generator, specs: list[dict], out_dir, n_per_prompt: int = 1, sampling=None,
                         seed: int = 0, batch_size: int = 64, shard_prompts: int = 256, progress=None,
                         precision: str = "float32") -> Path:
    """Rollouts of every spec in `out_dir/shard-<k>.npz` (`shard_prompts` specs each) through the one resumable
    writer (`writer.write_shards`): a killed run resumes at the first missing shard, and a run with other specs,
    generator, sampling or `precision` is refused (settings.json records them)."""
    from ..writer import identity, write_shards
    settings = {"generator": identity(generator), "sampling": vars(sampling) if sampling is not None else None,
                "seed": seed, "n_per_prompt": n_per_prompt, "shard_prompts": shard_prompts, "precision": precision,
                "prompts": [s["prompt"] for s in specs], "formats": [s.get("format", s["tag"]) for s in specs]}

    def make(first: int, stop: int) -> dict:
        data = collect_rollouts(generator, specs[first:stop], n_per_prompt, sampling, seed, batch_size,
                                first_prompt=first)
        data["format"] = np.array([s.get("format", s["tag"]) for s in specs[first:stop] for _ in range(n_per_prompt)])
        return data
    return write_shards(out_dir, settings, len(specs), shard_prompts, make,
                        None if progress is None else lambda d, t: progress(d * n_per_prompt, t * n_per_prompt))


def add_scene_targets(folder, grid: int | None = None) -> int:
    """Give every shard of a rollouts folder that lacks them its `parse` and `counts` targets (rollouts written
    before they existed); each shard is rewritten atomically. Returns how many shards were updated."""
    detector, updated = ShapesDetector(), 0
    for shard in sorted(Path(folder).glob("shard-*.npz")):
        data = load_rollouts(shard)
        if "parse" in data:
            continue
        g = grid or int(round(np.sqrt(data["region"].shape[1])))
        targets = [scene_targets(f, g, detector) for f in data["frames"][:, -1]]
        data["parse"] = np.stack([t[0] for t in targets])
        data["counts"] = np.stack([t[1] for t in targets])
        save_rollouts(shard, data)
        updated += 1
    return updated


def save_rollouts(path, data: dict) -> None:
    """One .npz (uncompressed, strings as unicode arrays), written atomically."""
    import io

    from ..io_utils import atomic_write_bytes
    buf = io.BytesIO()
    np.savez(buf, **data)
    atomic_write_bytes(path, buf.getvalue())


def load_rollouts(path, limit: int | None = None) -> dict:
    """A rollouts .npz, or a `write_rollout_shards` folder (its shards in order, at most `limit` rollouts)."""
    from ..writer import read_shards
    data = read_shards(path, limit, "rollouts `imagecot rollouts` wrote")
    missing = set(ROLLOUT_KEYS) - set(data)
    if missing:
        raise ValueError(f"{path} is not a rollouts file: it lacks {sorted(missing)}")
    return data
