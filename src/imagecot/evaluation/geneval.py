"""GenEval-format sample folders, scoring and summaries.

Layout (GenEval's)::

    <folder>/00000/metadata.jsonl      one JSON line: the prompt's spec
    <folder>/00000/samples/0000.png    the images generated for it
    ...

`score_folder` runs a detector (default `ShapesDetector`) and GenEval's rules
on every image and writes ``results.jsonl`` (one line per image) and
``summary.json``. Accuracy is image-level: per task, the mean over that task's
images; overall, the unweighted mean of the task accuracies present (GenEval's
headline number). The 95% intervals are percentile bootstraps that resample
images within each task; they treat images as independent, which understates
the spread when several images share a prompt (a cluster bootstrap over
prompts would be wider).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from imagecot.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text, to_json
from imagecot.world.vocab import TASKS

from .detector import Detector, ShapesDetector, to_rgb_array
from .rules import evaluate


class GenEvalFolderError(ValueError):
    """A sample folder that does not follow GenEval's layout, or an unreadable file in it."""


# ----------------------------------------------------------------------------- writing

def _png_bytes(image: Image.Image | np.ndarray) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(to_rgb_array(image))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def write_sample_folder(out_dir: str | os.PathLike, index: int, metadata: dict,
                        images: Sequence[Image.Image | np.ndarray]) -> Path:
    """Write one prompt's images in GenEval's layout; returns ``<out_dir>/<index:05d>``.

    Every file is written atomically (temp file in the same directory, then
    os.replace), so an interrupted run leaves whole files only.
    """
    prompt_dir = Path(out_dir) / f"{index:05d}"
    for j, image in enumerate(images):
        atomic_write_bytes(prompt_dir / "samples" / f"{j:04d}.png", _png_bytes(image))
    # metadata last: a folder with metadata.jsonl has all its samples
    atomic_write_text(prompt_dir / "metadata.jsonl", to_json(metadata) + "\n")
    return prompt_dir


# ----------------------------------------------------------------------------- scoring

def score_image(metadata: dict, image: Image.Image | np.ndarray,
                detector: Detector | None = None) -> dict:
    """One image's record: tag, prompt, correct, reason and detections (no filename)."""
    detector = detector if detector is not None else ShapesDetector()
    detections = detector(to_rgb_array(image))
    correct, reason = evaluate(metadata, detections)
    return {"tag": metadata.get("tag"), "prompt": metadata.get("prompt"), "correct": bool(correct),
            "reason": reason, "detections": [d.to_dict() for d in detections]}


def _bootstrap_means(correct_N: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) means of resamples (with replacement) of a 0/1 vector."""
    idx_BN = rng.integers(0, len(correct_N), size=(n_boot, len(correct_N)))
    return correct_N[idx_BN].mean(axis=1)


def _ci(samples: np.ndarray) -> list[float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def mean_ci95(correct_N: np.ndarray, n_boot: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of the mean of a 0/1 vector."""
    return _ci(_bootstrap_means(np.asarray(correct_N, dtype=np.float64), n_boot, np.random.default_rng(seed)))


def task_order(tags: Iterable[str]) -> list[str]:
    """The distinct tags in GenEval's task order, then any other tags sorted."""
    seen = set(tags)
    return [t for t in TASKS if t in seen] + sorted(seen - set(TASKS))


def paired_difference(tags: Sequence[str], correct_a: Sequence[bool], correct_b: Sequence[bool],
                      n_boot: int = 1000, seed: int = 0) -> dict:
    """Overall accuracy of A minus B on the same images (the mean over tasks, as `summarize` reports it), with a
    95% interval from a paired bootstrap: each replicate resamples the images of every task once for both, so
    the images' shared difficulty cancels and the interval is far narrower than the two intervals side by side."""
    if not len(tags) == len(correct_a) == len(correct_b) or not len(tags):
        raise ValueError(f"need one tag and two verdicts per image, got {len(tags)}, {len(correct_a)}, "
                         f"{len(correct_b)}")
    diff_N = np.asarray(correct_a, dtype=np.float64) - np.asarray(correct_b, dtype=np.float64)
    tags_N = np.asarray(tags)
    rng = np.random.default_rng(seed)
    order = task_order(tags)
    per_task = [diff_N[tags_N == t] for t in order]
    boots_TB = [_bootstrap_means(d, n_boot, rng) for d in per_task]
    return {"difference": float(np.mean([d.mean() for d in per_task])), "ci95": _ci(np.mean(boots_TB, axis=0)),
            "n_images": len(tags), "n_boot": n_boot, "seed": seed}


def paired_text(paired: dict | None, digits: int = 3) -> str:
    """A `paired_difference` result as "+0.004 [-0.004, +0.014]" ("–" for None), for tables and notes."""
    if paired is None:
        return "–"
    lo, hi = paired["ci95"]
    return f"{paired['difference']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def summarize(records: Iterable[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Per-task and overall image-level accuracy with 95% percentile bootstrap intervals.

    `records` need ``tag`` and ``correct``. Tasks appear in GenEval's order,
    then any other tags sorted. The overall accuracy is the unweighted mean of
    the task accuracies; its interval comes from the same bootstrap replicates
    (each replicate resamples images within every task, then averages tasks).
    """
    by_task: dict[str, list[bool]] = {}
    for r in records:
        by_task.setdefault(str(r["tag"]), []).append(bool(r["correct"]))
    if not by_task:
        raise ValueError("no records to summarize")
    order = task_order(by_task)
    rng = np.random.default_rng(seed)
    tasks, boots_TB = {}, []
    for task in order:
        correct_N = np.array(by_task[task], dtype=np.float64)
        boot_B = _bootstrap_means(correct_N, n_boot, rng)
        boots_TB.append(boot_B)
        tasks[task] = {"n_images": len(correct_N), "accuracy": float(correct_N.mean()),
                       "ci95": _ci(boot_B)}
    overall_B = np.mean(boots_TB, axis=0)
    return {
        "tasks": tasks,
        "overall": {"accuracy": float(np.mean([t["accuracy"] for t in tasks.values()])),
                    "ci95": _ci(overall_B), "n_tasks": len(tasks)},
        "n_images": sum(t["n_images"] for t in tasks.values()),
        "n_boot": n_boot, "seed": seed,
    }


def score_images(metadatas: Sequence[dict], images: Sequence[Image.Image | np.ndarray],
                 detector: Detector | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    """In-memory scoring: metadatas[i] is the spec images[i] was generated for; returns the summary."""
    if len(metadatas) != len(images):
        raise ValueError(f"got {len(metadatas)} metadata entries for {len(images)} images")
    detector = detector if detector is not None else ShapesDetector()
    records = [score_image(m, img, detector) for m, img in zip(metadatas, images)]
    return summarize(records, n_boot=n_boot, seed=seed)


def _prompt_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise GenEvalFolderError(f"not a folder: {folder}")
    dirs = sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()),
                  key=lambda p: int(p.name))
    if not dirs:
        raise GenEvalFolderError(f"no numbered prompt folders (00000/, 00001/, ...) in {folder}")
    return dirs


def _read_metadata(prompt_dir: Path) -> dict:
    path = prompt_dir / "metadata.jsonl"
    if not path.is_file():
        raise GenEvalFolderError(f"missing metadata.jsonl in {prompt_dir}")
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return json.loads(lines[0])
    except (IndexError, ValueError) as e:
        raise GenEvalFolderError(f"unreadable metadata in {path}: {e}") from e


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb_array(im)
    except Exception as e:  # PIL raises several types for truncated / corrupt files
        raise GenEvalFolderError(f"cannot read image {path}: {type(e).__name__}: {e}") from e


def score_folder(folder: str | os.PathLike, detector: Detector | None = None,
                 n_boot: int = 1000, seed: int = 0) -> dict:
    """Score a GenEval-layout folder; writes results.jsonl and summary.json there and returns the summary."""
    folder = Path(folder)
    detector = detector if detector is not None else ShapesDetector()
    records = []
    for prompt_dir in _prompt_dirs(folder):
        metadata = _read_metadata(prompt_dir)
        pngs = sorted((prompt_dir / "samples").glob("*.png"))
        if not pngs:
            raise GenEvalFolderError(f"no samples/*.png in {prompt_dir}")
        for png in pngs:
            record = {"filename": png.relative_to(folder).as_posix()}
            record.update(score_image(metadata, _read_png(png), detector))
            record["metadata"] = metadata
            records.append(record)
    summary = summarize(records, n_boot=n_boot, seed=seed)
    atomic_write_text(folder / "results.jsonl", "".join(to_json(r) + "\n" for r in records))
    atomic_write_json(folder / "summary.json", summary)
    return summary


# ----------------------------------------------------------------------------- printing

def format_summary(summary: dict) -> str:
    """A plain-text table: task, images, accuracy, 95% CI; the overall row last."""
    rows = [("task", "images", "accuracy", "95% CI")]
    for task, t in summary["tasks"].items():
        rows.append((task, str(t["n_images"]), f"{t['accuracy']:.3f}",
                     f"[{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}]"))
    o = summary["overall"]
    rows.append((f"overall (mean of {o['n_tasks']})", str(summary["n_images"]), f"{o['accuracy']:.3f}",
                 f"[{o['ci95'][0]:.3f}, {o['ci95'][1]:.3f}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
