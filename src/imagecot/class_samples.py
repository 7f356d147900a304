"""Class-conditional samples on disk (for FID), plain or through classifier rejection sampling.

Layout: `<out>/samples/<class:04d>/<j:05d>.png` (point FID at `<out>/samples`),
`<out>/grid.png` (one row per class), `<out>/settings.json` (what made them) and
`<out>/generation.json` (settings, compute, and for rejection sampling the
acceptance rate and compute multiplier).
Image j of class k has seed image_seed(seed, k, j), and rejection sampling's
draw j is that same image, so plain samples are exactly the candidates the
filter sees. Plain runs resume image by image; a rejection run is written once
it is complete (a killed one starts again from the same seeds).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import distributed
from .data.images import to_uint8
from .generators.base import Compute
from .generators.condition import class_space
from .io_utils import atomic_save_png, atomic_write_json, make_temp_dir, read_json, replace_dir
from .labelled_grid import save_labelled_grid
from .seeds import image_seed
from .writer import SETTINGS, identity, open_output_folder, write_in_batches


def _png(out_dir: Path, k: int, j: int) -> Path:
    return out_dir / "samples" / f"{k:04d}" / f"{j:05d}.png"


def _class_labels(generator, class_ids: list[int]) -> list[str]:
    """Each class as a person reads it: "k: name" when the generator's model has class names, else "class k"."""
    names, _ = class_space(getattr(getattr(generator, "model", None), "config", None))
    return [f"{k}: {names[k]}" if 0 <= k < len(names) else f"class {k}" for k in class_ids]


def _write_grid(out_dir: Path, generator, class_ids: list[int], n: int) -> None:
    """grid.png: the first (up to) 8 images of each class, one row per class labelled with its name or id."""
    cols = min(8, n)
    images_NHW3 = np.stack([np.asarray(Image.open(_png(out_dir, k, j)).convert("RGB"))
                            for k in class_ids for j in range(cols)])
    save_labelled_grid(out_dir / "grid.png", images_NHW3, cols, scale=2,
                       row_labels=_class_labels(generator, class_ids))


def generate_class_samples(generator, class_ids: list[int], out_dir: str | Path, n_per_class: int, sampling=None,
                           seed: int = 0, batch_size: int = 64, rejection=None, progress: bool = True,
                           source: dict | None = None) -> dict:
    """`n_per_class` images of each class; `rejection` = (ClassifierFilter, AcceptanceRule) filters them.
    A folder resumes only for the same generator and classifier (content fingerprints) and settings
    (`writer.open_output_folder`; plain runs may grow n_per_class); `source` (checkpoint, tokenizer, classifier
    paths) is recorded for people to read."""
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    settings = {"classes": list(class_ids), "n_per_class": n_per_class, "seed": seed,
                "sampling": vars(sampling) if sampling is not None else None,
                "rejection": vars(rejection[1]) if rejection else None,
                "generator": identity(generator),
                "classifier": identity(rejection[0].classifier) if rejection else None, "source": source}
    out_dir = open_output_folder(out_dir, settings, growable=() if rejection else ("n_per_class",),
                                 foreign=lambda d: any(p.name != SETTINGS for p in d.iterdir()))
    info_path = out_dir / "generation.json"
    old = read_json(info_path) if info_path.is_file() else {}
    if old.get("complete") and old.get("n_per_class") == n_per_class:
        return old
    if rejection:   # rank 0 draws and filters (the filter's rounds depend on every class's acceptance so far)
        return distributed.on_main(lambda: _rejection_folder(generator, class_ids, out_dir, n_per_class, sampling,
                                                             seed, batch_size, rejection, progress, settings))
    todo = [(k, j) for k in class_ids for j in range(n_per_class) if not _png(out_dir, k, j).is_file()]

    def work(chunk, tick) -> Compute:
        out = generator.generate([k for k, _ in chunk], sampling, seed=[image_seed(seed, k, j) for k, j in chunk])
        for (k, j), img in zip(chunk, to_uint8(out.images)):
            atomic_save_png(_png(out_dir, k, j), img)
        return out.compute

    compute, elapsed = write_in_batches(todo, batch_size, work, desc="sampling", progress=progress)
    info = {**settings, "images": n_per_class * len(class_ids), "generated_now": len(todo),
            "seconds": round(elapsed, 2), "compute_this_call": compute.to_dict(), "complete": True}

    def summarize() -> dict:
        _write_grid(out_dir, generator, list(class_ids), n_per_class)
        atomic_write_json(info_path, info)
        return info
    return distributed.on_main(summarize)


def _rejection_folder(generator, class_ids, out_dir: Path, n_per_class: int, sampling, seed: int, batch_size: int,
                      rejection, progress: bool, settings: dict) -> dict:
    from .search.rejection import rejection_sample
    t0 = time.time()
    bar = tqdm(total=n_per_class * len(class_ids), desc="rejection sampling", unit="img", disable=not progress)
    res = rejection_sample(generator, list(class_ids), n_per_class, rejection[0], rejection[1], sampling, seed,
                           batch_size, progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    tmp = make_temp_dir(out_dir / "samples")   # the samples land whole: a killed run starts again
    count = {k: 0 for k in class_ids}
    for k, img in zip(res.class_ids.tolist(), res.images):
        atomic_save_png(tmp / f"{k:04d}" / f"{count[k]:05d}.png", img)
        count[k] += 1
    replace_dir(tmp, out_dir / "samples")
    _write_grid(out_dir, generator, list(class_ids), n_per_class)
    info = {**settings, **res.summary(), "seconds": round(time.time() - t0, 2), "complete": True}
    atomic_write_json(out_dir / "generation.json", info)
    return info
