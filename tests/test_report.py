"""`imagecot report`: one self-contained page whose every section is present and every image is embedded."""

import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from imagecot.cli import main
from imagecot.report import figures
from imagecot.report.page import SECTIONS, build_report

TASKS = {"single_object": 0.9, "two_object": 0.5, "color_attr": 0.2}


def _acc(a: float) -> dict:
    return {"accuracy": a, "ci95": [a - 0.05, a + 0.05], "n_images": 40}


def _png(path, color) -> None:
    Image.fromarray(np.full((16, 32, 3), color, np.uint8)).save(path)


def _results(root):
    """One result of every kind the page shows, as the commands and benchmarks write them."""
    gv = root / "geneval-ar"
    gv.mkdir(parents=True)
    (gv / "summary.json").write_text(json.dumps({"n_images": 120, "overall": {**_acc(0.53), "n_tasks": 3},
                                                 "tasks": {t: _acc(a) for t, a in TASKS.items()}}))
    (gv / "results.jsonl").write_text("{}\n")
    (gv / "settings.json").write_text(json.dumps({"sampling": {"cfg_scale": 2.0}, "source": {"generator": "ar"}}))
    _png(gv / "grid.png", (200, 30, 30))
    (gv / "compare.json").write_text(json.dumps({"prompts": [{"prompt": "a red circle", "images": [
        {"j": 0, "base": "correct", "parm++": "wrong (missing)", "pick": "2 of 8 said yes",
         "corrections": [{"round": 1, "reflection": "missing: circle", "accepted": True}]}]}]}))
    _png(gv / "compare.png", (30, 200, 30))
    sc = root / "search"
    sc.mkdir()
    results = {f"{s}@{n}": {"compute_per_image": 150.0 * n, "overall": _acc(0.6 + 0.01 * n)}
               for s in ("orm", "parm", "oracle") for n in (1, 4, 20)}
    results["base@1"] = {"compute_per_image": 150.0, "overall": _acc(0.6)}
    (sc / "scaling.json").write_text(json.dumps({"results": results, "ns": [1, 4, 20], "pool": 20, "images": 40,
                                                 "generator": "ar"}))
    fid = root / "fmnist"
    fid.mkdir()
    row = {"fid": 38.5, "kid": 0.0227, "kid_std": 0.0009, "precision": 0.41, "recall": 0.14,
           "classifier_accuracy": 0.8, "judge_accuracy": 0.78, "acceptance_rate": 1.0, "compute_multiplier": 1.0}
    (fid / "fid_report-threshold-0.5.json").write_text(json.dumps({"results": {"plain": row}}))
    run = root / "runs" / "ar"
    run.mkdir(parents=True)
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 5.0 / s, "acc": s / 100}) + "\n"
                                           for s in range(1, 40, 5)))
    return [gv, sc, fid, root / "runs"]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.srcs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        assert not (tag in ("script", "link", "img") and (a.get("src") or a.get("href") or "").startswith("http")), \
            "the page must not load anything from elsewhere"


def test_the_page_has_every_section_and_every_image_is_embedded(tmp_path):
    held = build_report(_results(tmp_path / "res"), tmp_path / "report.html")
    assert held == {"summaries": 1, "search": 1, "samples": 2, "fid": 1, "training": 1, "settings": 1}
    text = (tmp_path / "report.html").read_text()
    page = _Page()
    page.feed(text)
    assert {key for key, _ in SECTIONS} <= page.ids
    # task bars, scaling curves, two grids, the FID table and the training curves: all present, all PNGs
    assert len(page.srcs) == 6
    for src in page.srcs:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert "missing: circle (kept)" in text and "38.50" in text and "0.530 [0.480, 0.580]" in text
    assert "data-images-loaded" in text


def test_report_from_the_cli_and_a_folder_without_results(tmp_path, capsys):
    dirs = _results(tmp_path / "res")
    assert main(["report", *map(str, dirs), "-o", str(tmp_path / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "r.html").stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "e.html")]) == 2
    assert "no results under" in capsys.readouterr().err


def test_tick_labels_are_compact_so_they_cannot_overprint():
    assert [figures._compact(x) for x in (150, 2089.342, 5346.767, 48640, 2.5e6)] == \
        ["150", "2.09k", "5.35k", "48.6k", "2.5M"]


@pytest.mark.parametrize("make", ["scaling", "bars", "training"])
def test_figures_are_pngs(make, tmp_path):
    dirs = _results(tmp_path)
    data = {"scaling": lambda: figures.scaling_figure(json.loads((dirs[1] / "scaling.json").read_text())),
            "bars": lambda: figures.task_bars_figure({"a": json.loads((dirs[0] / "summary.json").read_text())}),
            "training": lambda: figures.training_curves_figure({"r": [{"step": 1, "loss": 2.0},
                                                                     {"step": 2, "loss": 1.0}]})}[make]()
    assert Image.open(io.BytesIO(data)).format == "PNG"
