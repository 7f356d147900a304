"""The one resumable writer every generate-to-disk job uses (the benchmark, a prompt's images, class samples,
verifier rollouts), and what it records of the networks that made a folder.

- `identity`: a generator (or verifier, classifier) as its class and a content
  fingerprint of every network it holds (sha256 over each tensor's name, dtype,
  shape and bytes): the same weights from the zoo, a copied folder or memory
  give the same identity, one changed weight another. Paths are kept beside it
  for people to read (`source`), never compared.

- `open_output_folder`: the folder remembers what made it (`settings.json`:
  the generator's and verifier's content fingerprints, sampling, seed, ...).
  A resume with other settings is refused, naming the difference; a count in
  `growable` may grow (each item keeps its seed), never shrink; the
  temporaries a killed run left are removed.
- `write_shards` / `read_shards`: a dataset written as numbered `.npz` shards
  (rollouts, preference data), each shard whole or absent, so a killed run
  resumes at the first missing one;
- `write_in_batches`: the pending items in batches, each written atomically by
  the caller's `work`, a progress bar that moves with every batch (or finer,
  through `tick`), compute summed over batches.
Every item is seeded by its index alone (`seeds.image_seed`), so which items a
run finds finished, and how it batches the rest, never changes a byte.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from . import distributed
from .generators.base import Compute
from .io_utils import atomic_write_json, check_writable, clean_stale_temporaries, read_json, to_json

SETTINGS = "settings.json"
ROLE_OF = {"model": "weights", "vq": "tokenizer", "net": "weights", "classifier": "weights"}


def fingerprint(module: torch.nn.Module) -> str:
    """16 hex digits of sha256 over the state dict (sorted names, dtypes, shapes, raw bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()[:16]


def identity(obj) -> dict | None:
    """{"class": ..., "networks": {attribute: fingerprint}} of a generator, verifier or classifier; None for None."""
    if obj is None:
        return None
    if isinstance(obj, torch.nn.Module):
        return {"class": type(obj).__name__, "networks": {"weights": fingerprint(obj)}}
    nets = {name: fingerprint(m) for name, m in sorted(vars(obj).items()) if isinstance(m, torch.nn.Module)}
    return {"class": type(obj).__name__, "networks": nets}


def _flatten(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out or {prefix: {}}


def _label(key: str) -> str:
    parts = key.split(".")
    if len(parts) == 3 and parts[1] == "networks":
        return f"{parts[0]} {ROLE_OF.get(parts[2], parts[2])} ({parts[2]})"
    return key


def differences(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """'key: old -> new' for every leaf that differs between two settings dicts (dotted keys)."""
    a, b = _flatten(old), _flatten(new)
    keys = sorted(k for k in set(a) | set(b) if k.split(".")[0] not in ignore and a.get(k) != b.get(k))
    return [f"{_label(k)}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys]


def refusal(folder, what: str, diff: list[str], source: dict | None) -> ValueError:
    """The error for a folder whose `what` (images, samples) another model or setting made."""
    made_by = ", ".join(f"{k} {v}" for k, v in (source or {}).items())
    return ValueError(f"{folder} holds {what} made with other settings ({'; '.join(diff)})"
                      f"{f'; they came from {made_by}' if made_by else ''}; write into another folder or delete it")



def open_output_folder(out_dir: str | Path, settings: dict, growable: tuple[str, ...] = (),
                       foreign: Callable[[Path], bool] | None = None) -> Path:
    """Create `out_dir` or check that its `settings.json` matches `settings` (except `source`, kept for people to
    read, and the `growable` counts, which may grow); then remove stale temporaries and record the settings.
    `foreign(out_dir)`: True when an existing folder without settings.json holds outputs of unknown making
    (refused). Raises ValueError naming what differs. Under torchrun, rank 0 checks and writes; every rank gets its
    verdict."""
    return distributed.on_main(lambda: _open_output_folder(out_dir, settings, growable, foreign))


def _open_output_folder(out_dir, settings: dict, growable: tuple[str, ...], foreign) -> Path:
    out_dir = check_writable(out_dir, "folder")
    settings = json.loads(to_json(settings))
    path = out_dir / SETTINGS
    if path.is_file():
        old = read_json(path, "the settings of the outputs in this folder")
        if not isinstance(old, dict) or "generator" not in old:
            raise ValueError(f"{path} records no generator identity (written by an older imagecot), so its outputs "
                             "cannot be matched to this model; write into another folder or delete it")
        diff = differences(old, settings, ignore=("source", *growable))
        if diff:
            raise refusal(out_dir, "outputs", diff, old.get("source"))
        for key in growable:
            if old.get(key) is not None and settings[key] < old[key]:
                raise ValueError(f"{out_dir} holds {old[key]} {key.replace('_', ' ')}, this run asks for "
                                 f"{settings[key]}: pass {old[key]} or more (more extends every item, each keeping "
                                 "its seed), or write into another folder")
    elif out_dir.is_dir() and foreign is not None and foreign(out_dir):
        raise ValueError(f"{out_dir} holds outputs but no {SETTINGS}, so they cannot be matched to this model; "
                         "write into another folder or delete it")
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out_dir)
    if not path.is_file() or read_json(path) != settings:
        atomic_write_json(path, settings)
    return out_dir


def write_in_batches(pending: list, per_batch: int, work: Callable, units_per_item: int = 1, desc: str = "generating",
                     unit: str = "img", progress: bool = True) -> tuple[Compute, float]:
    """Run `work(chunk, tick) -> Compute` over `pending` in chunks of `per_batch` items; `work` writes each item
    atomically and may call `tick(n)` to move the bar by n units itself (else the chunk's units are counted when
    it returns). Under torchrun each rank takes its share of `pending` (`distributed.my_share`); the bar is rank
    0's. -> (compute over all chunks of all ranks, seconds)."""
    compute, t0 = Compute(), time.time()
    pending = distributed.my_share(pending)
    shown = progress and distributed.is_main()
    with tqdm(total=len(pending) * units_per_item, desc=desc, unit=unit, disable=not shown) as bar:
        for start in range(0, len(pending), per_batch):
            chunk = pending[start:start + per_batch]
            ticked = []

            def tick(n: int) -> None:
                ticked.append(n)
                bar.update(n)
            compute += work(chunk, tick)
            if not ticked:
                bar.update(len(chunk) * units_per_item)
    distributed.barrier()
    forwards, passes = distributed.sum_all([compute.token_forwards, compute.forward_passes])
    return Compute(int(forwards), int(passes)), time.time() - t0


def write_shards(out_dir: str | Path, settings: dict, n_items: int, per_shard: int,
                 make: Callable[[int, int], dict], progress: Callable[[int, int], None] | None = None) -> Path:
    """Items [0, n_items) as `shard-<k>.npz` of `per_shard` items each: `make(first, stop) -> {name: array}` builds
    one, written atomically; shards already there are kept (the folder's settings.json must match `settings`).
    `progress(done, total)` after every shard."""
    import io

    import numpy as np

    from .io_utils import atomic_write_bytes
    out_dir = open_output_folder(out_dir, settings, foreign=lambda d: any(d.iterdir()))
    n_shards = -(-n_items // per_shard)
    pending = [k for k in range(n_shards) if not (out_dir / f"shard-{k:05d}.npz").is_file()]
    done = (n_shards - len(pending)) * per_shard
    for k in distributed.my_share(pending):   # under torchrun each rank writes its share of the shards
        buf = io.BytesIO()
        np.savez(buf, **make(k * per_shard, min(n_items, (k + 1) * per_shard)))
        atomic_write_bytes(out_dir / f"shard-{k:05d}.npz", buf.getvalue())
        done += per_shard * distributed.world()
        if progress and distributed.is_main():
            progress(min(n_items, done), n_items)
    distributed.barrier()
    return out_dir


def read_shards(path: str | Path, limit: int | None = None, expected: str = "shards imagecot wrote") -> dict:
    """The arrays of a `write_shards` folder concatenated in shard order (the first `limit` rows), or of one .npz."""
    import numpy as np
    path = Path(path)
    files = sorted(path.glob("shard-*.npz")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"{path} holds no shard-*.npz; expected {expected}")
    parts, n = [], 0
    for f in files:
        if limit is not None and n >= limit:
            break
        try:
            with np.load(f, allow_pickle=False) as z:
                parts.append({k: z[k] for k in z.files})
        except (OSError, ValueError) as e:
            raise ValueError(f"{f} is not a readable .npz ({e}); expected {expected}") from None
        n += len(next(iter(parts[-1].values())))
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return {k: v[:limit] for k, v in data.items()} if limit is not None else data
