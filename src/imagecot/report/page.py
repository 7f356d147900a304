"""`imagecot report DIR... -o report.html`: one self-contained HTML page of the results under some folders.

The page gathers what the commands and benchmarks wrote, whatever made them:
- benchmark summaries (a geneval folder's `summary.json`): per-task bars with 95% intervals, and a table;
- search and ladder curves (`scaling.json` of benchmarks/search_scaling.py, `ladder.json` of verifier_ladder.py);
- sample grids (`grid.png`, `compare.png`) with the verdicts and reflections of `compare.json`;
- FID tables (`fid_report-*.json` of benchmarks/fmnist_fid.py);
- training curves (a run folder's `log.jsonl`);
- the settings beside each result (settings.json, generation.json, train_config.json, records/setup.json).

Every image is embedded as a data URI, the style is inline and there is no script from elsewhere: the file opens
offline, from anywhere, and can be mailed. A few lines of inline script count the images that loaded and put the
count in `<body data-images-loaded="k/n">` (the headless-browser check reads it).
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io_utils import atomic_write_text
from . import figures

SECTIONS = (("summaries", "Benchmark summaries"), ("search", "Search and ladder curves"),
            ("samples", "Sample grids, verdicts and reflections"), ("fid", "FID tables"),
            ("training", "Training curves"), ("settings", "Settings and commands"))
SKIP_DIRS = {"samples", "records", "checkpoint", "preferences", "__pycache__"}
SETTINGS_FILES = ("settings.json", "generation.json", "train_config.json", "records/setup.json", "rounds.json")
MAX_LOG_RUNS = 12


@dataclass
class Found:
    """The result files under the report's folders, by kind: (label, path) pairs."""
    summaries: list[tuple[str, Path]] = field(default_factory=list)
    scalings: list[tuple[str, Path]] = field(default_factory=list)
    ladders: list[tuple[str, Path]] = field(default_factory=list)
    grids: list[tuple[str, Path]] = field(default_factory=list)
    fid_reports: list[tuple[str, Path]] = field(default_factory=list)
    logs: list[tuple[str, Path]] = field(default_factory=list)
    settings: list[tuple[str, Path]] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(getattr(self, k) for k in self.__dataclass_fields__)


def _is_prompt_folder(name: str) -> bool:
    return name.isdigit() and len(name) == 5   # a GenEval layout's <00000>/ folders: thousands, no results


def find_results(dirs: list[Path]) -> Found:
    found = Found()
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder; give folders that commands or benchmarks wrote results into")
        for here, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS and not _is_prompt_folder(d)
                                and not d.startswith("."))
            here = Path(here)
            label = str(here.relative_to(root.parent)) if here != root else root.name
            names = set(files)
            if "summary.json" in names and "results.jsonl" in names:
                found.summaries.append((label, here / "summary.json"))
            if "scaling.json" in names:
                found.scalings.append((label, here / "scaling.json"))
            if "ladder.json" in names:
                found.ladders.append((label, here / "ladder.json"))
            for name in ("compare.png", "grid.png"):
                if name in names:
                    found.grids.append((label, here / name))
            found.fid_reports += [(label, here / f) for f in sorted(names) if f.startswith("fid_report-")
                                  and f.endswith(".json")]
            if "log.jsonl" in names:
                found.logs.append((label, here / "log.jsonl"))
            found.settings += [(label, here / f) for f in SETTINGS_FILES if (here / f).is_file()]
    return found


def _img(data: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _ci(v: dict) -> str:
    return f"{v['accuracy']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summaries(found: Found) -> str:
    if not found.summaries:
        return "<p>No benchmark summary (a scored geneval folder) under these folders.</p>"
    summ = {label: _read_json(p) for label, p in found.summaries}
    tasks = [t for t in figures.TASK_ORDER if any(t in s["tasks"] for s in summ.values())]
    rows = [[label, s.get("n_images", ""), *[_ci(s["tasks"][t]) if t in s["tasks"] else "–" for t in tasks],
             _ci(s["overall"])] for label, s in summ.items()]
    return (_img(figures.task_bars_figure(summ), "per-task accuracy with 95% intervals")
            + _table(["run", "images", *tasks, "overall [95% CI]"], rows))


def _search(found: Found) -> str:
    parts = []
    for label, path in found.scalings:
        sc = _read_json(path)
        n = sc["pool"] if sc["pool"] in sc["ns"] else max(sc["ns"])
        order = list(figures.STRATEGY_LABELS)
        keys = sorted((k for k in sc["results"] if k.endswith(f"@{n}") or k == "base@1"),
                      key=lambda k: order.index(k.split("@")[0]) if k.split("@")[0] in order else len(order))
        rows = [[figures.STRATEGY_LABELS.get(k.split("@")[0], k), _ci(sc["results"][k]["overall"]),
                 f"{sc['results'][k]['compute_per_image']:,.0f}"] for k in keys]
        parts.append(f"<h3>{html.escape(label)}</h3>" + _img(figures.scaling_figure(sc), f"scaling curves {label}")
                     + _table(["strategy", f"accuracy at N = {n} [95% CI]", "token-forwards / image"], rows))
    for label, path in found.ladders:
        rows = _read_json(path)
        parts.append(f"<h3>{html.escape(label)}</h3>" + _img(figures.ladder_figure(rows, {
            k: figures.STRATEGY_LABELS[k] for k in ("orm", "prm", "parm", "parm_es", "parm_es1", "parm++")}),
            f"verifier ladder {label}"))
    return "".join(parts) or "<p>No search or ladder results (scaling.json, ladder.json) under these folders.</p>"


def _compare_notes(path: Path) -> str:
    """The verdicts, picks and reflections a compare.json holds, one list item per image."""
    rep = _read_json(path)
    items = []
    for e in rep["prompts"]:
        for im in e["images"]:
            verdicts = ", ".join(f"{k}: {im[k]}" for k in ("base", "aligned", "parm++") if k in im)
            fixes = "; ".join(f"round {c['round']}: {c['reflection']} ({'kept' if c['accepted'] else 'undone'})"
                              for c in im.get("corrections", []))
            items.append(f"<li><b>{html.escape(e['prompt'])}</b>, image {im['j']}: {html.escape(verdicts)}. "
                         f"PARM: {html.escape(im['pick'])}{'. Reflection: ' + html.escape(fixes) if fixes else ''}"
                         "</li>")
    return f"<details><summary>verdicts and reflections ({len(items)} images)</summary><ul>{''.join(items)}</ul>" \
           "</details>"


def _samples(found: Found) -> str:
    parts = []
    for label, path in found.grids:
        notes = _compare_notes(path.with_suffix(".json")) if path.name == "compare.png" and \
            path.with_suffix(".json").is_file() else ""
        parts.append(f"<h3>{html.escape(label)}/{path.name}</h3><div class=grid>{_img(path.read_bytes(), label)}"
                     f"</div>{notes}")
    return "".join(parts) or "<p>No sample grids (grid.png, compare.png) under these folders.</p>"


def _fid(found: Found) -> str:
    if not found.fid_reports:
        return "<p>No FID report (benchmarks/fmnist_fid.py's fid_report-*.json) under these folders.</p>"
    reports = {f"{label}/{p.name}": _read_json(p) for label, p in found.fid_reports}
    rows = [[label, *row] for label, rep in reports.items() for row in figures.fid_rows(rep)]
    return (_img(figures.fid_table_figure(reports), "FID table")
            + _table(["report", "run", *figures.FID_COLUMNS], rows))


def _training(found: Found) -> str:
    logs = {}
    for label, path in found.logs[:MAX_LOG_RUNS]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [r for r in rows if isinstance(r, dict) and "step" in r]
        if rows:
            logs[label] = rows
    if not logs:
        return "<p>No training log (a run folder's log.jsonl) under these folders.</p>"
    more = len(found.logs) - MAX_LOG_RUNS
    return _img(figures.training_curves_figure(logs), "training curves") + (
        f"<p>{more} more runs not drawn.</p>" if more > 0 else "")


def _settings(found: Found) -> str:
    parts = [f"<details><summary>{html.escape(label)}/{html.escape(path.name)}</summary>"
             f"<pre>{html.escape(path.read_text(encoding='utf-8'))}</pre></details>" for label, path in found.settings]
    return "".join(parts) or "<p>No settings files under these folders.</p>"


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}img{max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3}.grid img{image-rendering:pixelated}pre{background:#f7f7f7;padding:.5em;overflow:auto}
nav a{margin-right:1em}"""
CHECK = """<script>window.addEventListener('load',function(){var im=document.images,k=0;
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){k++;}}
document.body.setAttribute('data-images-loaded',k+'/'+im.length);});</script>"""


def build_report(dirs: list[str | Path], out: str | Path, title: str = "imagecot results") -> dict:
    """Write the page to `out` (atomically); returns what it holds: {section: count of items}."""
    found = find_results([Path(d) for d in dirs])
    if found.empty():
        raise ValueError(f"no results under {', '.join(map(str, dirs))}: expected folders with summary.json, "
                         "scaling.json, ladder.json, grid.png/compare.png, fid_report-*.json or log.jsonl")
    bodies = {"summaries": _summaries(found), "search": _search(found), "samples": _samples(found),
              "fid": _fid(found), "training": _training(found), "settings": _settings(found)}
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name in SECTIONS)
    sections = "".join(f'<section id="{key}"><h2>{html.escape(name)}</h2>{bodies[key]}</section>'
                       for key, name in SECTIONS)
    sources = ", ".join(html.escape(str(d)) for d in dirs)
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>From: {sources}</p>"
            f"<nav>{nav}</nav>{sections}{CHECK}</body></html>\n")
    atomic_write_text(out, page)
    return {"summaries": len(found.summaries), "search": len(found.scalings) + len(found.ladders),
            "samples": len(found.grids), "fid": len(found.fid_reports), "training": len(found.logs),
            "settings": len(found.settings)}
