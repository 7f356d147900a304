"""Prompts -> images on disk in GenEval's layout, batched, seeded per image, resumable."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from .data.images import to_uint8
from .evaluation.geneval import write_sample_folder
from .generators.base import Compute
from .io_utils import atomic_write_json, check_writable, clean_stale_temporaries, read_json, to_json
from .provenance import differences, identity, refusal
from .seeds import image_seed


def _is_complete(folder: Path, n: int) -> bool:
    return (folder / "metadata.jsonl").is_file() and all(
        (folder / "samples" / f"{j:04d}.png").is_file() for j in range(n))


def _check_same_spec(folder: Path, spec: dict) -> None:
    """Refuse to resume into a prompt folder written for another spec (its images would be kept as ours)."""
    meta = folder / "metadata.jsonl"
    if not meta.is_file():
        return
    lines = [ln for ln in meta.read_text(encoding="utf-8").splitlines() if ln.strip()]
    old = json.loads(lines[0]) if lines else None
    if old != json.loads(json.dumps(spec)):
        old_prompt = old.get("prompt") if isinstance(old, dict) else old
        raise ValueError(f"{folder} already holds images for {old_prompt!r}, not {spec.get('prompt')!r}; "
                         f"write into another folder or delete it")


def _check_same_settings(out_dir: Path, settings: dict) -> None:
    """Images already in `out_dir` were made with these settings (settings.json: the generator's and verifier's
    identity, sampling, seed, search), or none are there yet: a resumed run must not mix, and then relabel,
    images of another model, sampling, seed or search. More images per prompt extend a folder (image j keeps its
    seed); fewer are refused, since the folder would hold more than its summary says."""
    path = out_dir / "settings.json"
    settings = json.loads(to_json(settings))
    if path.is_file():
        old = read_json(path, "the settings of the images in this folder")
        if not isinstance(old, dict) or "generator" not in old:
            raise ValueError(f"{path} records no generator identity (written by an older imagecot), so its images "
                             "cannot be matched to this model; write into another folder or delete it")
        diff = differences(old, settings, ignore=("source", "images_per_prompt"))
        if diff:
            raise refusal(out_dir, "images", diff, old.get("source"))
        n_old, n_new = old.get("images_per_prompt"), settings["images_per_prompt"]
        if n_old is not None and n_new < n_old:
            raise ValueError(f"{out_dir} holds {n_old} images per prompt, this run asks for {n_new}: pass {n_old} "
                             "or more (more extends every prompt, each image keeping its seed), or write into "
                             "another folder")
        if n_old != n_new:
            atomic_write_json(path, settings)
    elif any(out_dir.glob("[0-9]" * 5)):
        raise ValueError(f"{out_dir} holds prompt folders but no settings.json, so its images cannot be matched "
                         "to this model; write into another folder or delete it")
    else:
        atomic_write_json(path, settings)


def generate_folder(generator, specs: list[dict], out_dir: str | Path, images_per_prompt: int = 4,
                    sampling=None, seed: int = 0, batch_size: int = 64, progress: bool = True,
                    search=None, source: dict | None = None) -> dict:
    """Generate `images_per_prompt` images for every spec into `<out>/<00000>/samples/<0000>.png`.

    Prompts whose folder is already complete are skipped, so a killed run
    resumes where it stopped; a prompt folder written for a different spec
    raises ValueError instead of being kept, and so does a folder made by
    another model (`<out>/settings.json` holds the generator's and verifier's
    content fingerprints; `source`, e.g. the checkpoint paths, is kept there
    for people to read). Returns (and writes to `<out>/generation.json`)
    the compute spent and the throughput of this call.

    With `search` (a `search.strategies.Strategy`), each image is the strategy's
    pick among its candidates (image j of prompt i searches candidates j*S ..
    j*S+N-1 of that prompt's seeds, S = the strategy's seed_stride, default N),
    and `<out>/<i>/search.json` keeps what the verifier said about each.
    """
    if images_per_prompt < 1:
        raise ValueError(f"images_per_prompt must be >= 1, got {images_per_prompt}")
    out_dir = check_writable(out_dir, "folder")
    for i, spec in enumerate(specs):
        _check_same_spec(out_dir / f"{i:05d}", spec)
    settings = {"generator": identity(generator), "images_per_prompt": images_per_prompt,
                "sampling": vars(sampling) if sampling is not None else None, "seed": seed,
                "search": None if search is None else {
                    "strategy": search.name, "n": search.n, "options": search.options,
                    "seed_stride": search.stride, "verifier": getattr(search.verifier, "name", None),
                    "verifier_identity": identity(search.verifier)},
                "source": source}
    if out_dir.is_dir():
        _check_same_settings(out_dir, settings)
        clean_stale_temporaries(out_dir)  # a killed run's half-written files
    else:
        out_dir.mkdir(parents=True)
        _check_same_settings(out_dir, settings)
    todo = [i for i in range(len(specs)) if not _is_complete(out_dir / f"{i:05d}", images_per_prompt)]
    per_batch = max(1, batch_size // (images_per_prompt if search is None else search.n))
    compute, n_images, seen, t0 = Compute(), 0, 0, time.time()
    bar = tqdm(total=len(todo) * images_per_prompt, desc="generating", unit="img", disable=not progress)
    for start in range(0, len(todo), per_batch):
        chunk = todo[start:start + per_batch]
        if search is None:
            prompts = [specs[i]["prompt"] for i in chunk for _ in range(images_per_prompt)]
            seeds = [image_seed(seed, i, j) for i in chunk for j in range(images_per_prompt)]
            out = generator.generate(prompts, sampling, seed=seeds)
            images = to_uint8(out.images)
            compute += out.compute
            for k, i in enumerate(chunk):
                write_sample_folder(out_dir, i, specs[i], images[k * images_per_prompt:(k + 1) * images_per_prompt])
        else:
            per_image = []
            for j in range(images_per_prompt):  # one search call per output image: the bar moves with each
                res = search([specs[i]["prompt"] for i in chunk], chunk, j)
                per_image.append(res)
                compute += res.compute
                seen += res.verifier_images
                bar.update(len(chunk))
            for k, i in enumerate(chunk):
                images = [to_uint8(res.images[k:k + 1])[0] for res in per_image]
                atomic_write_json(out_dir / f"{i:05d}" / "search.json",
                                  {"strategy": search.name, "oracle": search.is_oracle, "n": search.n,
                                   "chosen": [res.chosen[k] for res in per_image],
                                   "trace": [res.trace[k] for res in per_image]})
                write_sample_folder(out_dir, i, specs[i], images)
        n_images += len(chunk) * images_per_prompt
        if search is None:
            bar.update(len(chunk) * images_per_prompt)
    bar.close()
    elapsed = time.time() - t0
    info = {"prompts": len(specs), "images_per_prompt": images_per_prompt, "generated_now": n_images,
            "skipped_prompts": len(specs) - len(todo), "seconds": round(elapsed, 2),
            "images_per_s": round(n_images / elapsed, 2) if n_images else None,
            "compute": compute.to_dict(), "sampling": vars(sampling) if sampling is not None else None,
            "seed": seed}
    if search is not None:
        info["search"] = {"strategy": search.name, "oracle": search.is_oracle, "n": search.n,
                          "options": search.options, "seed_stride": search.stride,
                          "verifier_images": seen}
    atomic_write_json(out_dir / "generation.json", info)
    return info


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n} is not valid JSON: {e}") from None
    return rows
