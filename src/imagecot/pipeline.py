"""Prompts -> images on disk in GenEval's layout, batched, seeded per image, resumable."""

from __future__ import annotations

import json
from pathlib import Path

from . import distributed
from .data.images import to_uint8
from .evaluation.geneval import write_sample_folder
from .generators.base import Compute
from .io_utils import atomic_write_json, check_writable
from .seeds import image_seed
from .writer import identity, open_output_folder, write_in_batches


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
    open_output_folder(out_dir, settings, growable=("images_per_prompt",),
                       foreign=lambda d: any(d.glob("[0-9]" * 5)))
    todo = [i for i in range(len(specs)) if not _is_complete(out_dir / f"{i:05d}", images_per_prompt)]
    seen = [0]

    def plain(chunk: list[int], tick) -> Compute:
        prompts = [specs[i]["prompt"] for i in chunk for _ in range(images_per_prompt)]
        out = generator.generate(prompts, sampling, seed=[image_seed(seed, i, j) for i in chunk
                                                          for j in range(images_per_prompt)])
        images = to_uint8(out.images)
        for k, i in enumerate(chunk):
            write_sample_folder(out_dir, i, specs[i], images[k * images_per_prompt:(k + 1) * images_per_prompt])
        return out.compute

    def searched(chunk: list[int], tick) -> Compute:
        compute, per_image = Compute(), []
        for j in range(images_per_prompt):  # one search call per output image: the bar moves with each
            res = search([specs[i]["prompt"] for i in chunk], chunk, j)
            per_image.append(res)
            compute += res.compute
            seen[0] += res.verifier_images
            tick(len(chunk))
        for k, i in enumerate(chunk):
            atomic_write_json(out_dir / f"{i:05d}" / "search.json",
                              {"strategy": search.name, "oracle": search.is_oracle, "n": search.n,
                               "chosen": [res.chosen[k] for res in per_image],
                               "trace": [res.trace[k] for res in per_image]})
            write_sample_folder(out_dir, i, specs[i], [to_uint8(res.images[k:k + 1])[0] for res in per_image])
        return compute

    per_batch = max(1, batch_size // (images_per_prompt if search is None else search.n))
    compute, elapsed = write_in_batches(todo, per_batch, plain if search is None else searched, images_per_prompt,
                                        progress=progress)
    n_images = len(todo) * images_per_prompt
    seen[0] = int(distributed.sum_all([seen[0]])[0])
    info = {"prompts": len(specs), "images_per_prompt": images_per_prompt, "generated_now": n_images,
            "skipped_prompts": len(specs) - len(todo), "seconds": round(elapsed, 2),
            "images_per_s": round(n_images / elapsed, 2) if n_images else None,
            "compute": compute.to_dict(), "sampling": vars(sampling) if sampling is not None else None,
            "seed": seed}
    if search is not None:
        info["search"] = {"strategy": search.name, "oracle": search.is_oracle, "n": search.n,
                          "options": search.options, "seed_stride": search.stride,
                          "verifier_images": seen[0]}
    if distributed.is_main():
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
