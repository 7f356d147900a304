"""The result figures, drawn with matplotlib (Agg: no display) from the files the benchmarks write.

Every figure takes the recorded results (a geneval `summary.json`, a search `scaling.json`, a ladder's rows, an
FID report, a training `log.jsonl`) and returns PNG bytes (`png_bytes`), so the report page can embed them and
the benchmarks can save them (`save_png`). Intervals are drawn wherever the results carry them: 95% bootstrap
bands on curves, error bars on bars, KID's standard deviation in FID tables.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

try:
    import matplotlib
except ImportError as e:   # pragma: no cover - depends on the install
    raise ImportError("imagecot's plots need matplotlib: pip install 'imagecot[plots]'") from e
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from ..io_utils import atomic_write_bytes  # noqa: E402

TASK_ORDER = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
STRATEGY_LABELS = {"base": "base (N=1)", "orm": "ORM best-of-N", "prm": "PRM step search", "parm": "PARM (reference)",
                   "parm_es": "PARM + early stop", "parm_es1": "PARM + early stop, one yes",
                   "parm_wave": "PARM + early stop, in waves", "parm++": "PARM++",
                   "oracle": "oracle best-of-N (evaluator)"}   # the search strategies, in table order


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def save_png(data: bytes, path: str | Path) -> Path:
    atomic_write_bytes(path, data)
    return Path(path)


def _compact(x: float, _pos=None) -> str:
    """1500 -> '1.5k', 48640 -> '48.6k': tick labels that do not overprint each other."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def scaling_figure(scaling: dict, title: str | None = None) -> bytes:
    """Benchmark accuracy against compute (token-forwards per image, log axis), one curve per strategy over its
    Ns, with its 95% band; the oracle dashed. `scaling`: a `search_scaling.py` scaling.json."""
    results = scaling["results"]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    strategies = [s for s in STRATEGY_LABELS if any(k.split("@")[0] == s for k in results)]
    for s in strategies:
        pts = sorted((r["compute_per_image"], r["overall"]["accuracy"], r["overall"]["ci95"])
                     for k, r in results.items() if k.split("@")[0] == s)
        if s == "base":
            pts = pts[:1]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        style = dict(ls="--", color="black") if s == "oracle" else {}
        line, = ax.plot(xs, ys, marker="o", ms=4, label=STRATEGY_LABELS[s], **style)
        ax.fill_between(xs, [p[2][0] for p in pts], [p[2][1] for p in pts], color=line.get_color(), alpha=0.15,
                        lw=0)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_xlabel("token-forwards per image (log scale)")
    ax.set_ylabel("overall accuracy (95% CI band)")
    gen = str(scaling.get("generator", "")).upper()
    ax.set_title(title or f"{gen}: accuracy vs compute, N in {scaling.get('ns')}, "
                          f"{scaling.get('images', '?')} images")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return png_bytes(fig)


def ladder_figure(rows: list[dict], strategies: dict[str, str]) -> bytes:
    """The verifier-quality ladder: accuracy at the table's N against the verifier's within-pool AUC on the
    benchmark pool, one line per strategy with 95% error bars; base and oracle as reference lines."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    x = [r["pool_within_auc"] for r in rows]
    for s, label in strategies.items():
        pts = [(xi, r[s], r[f"{s}_ci95"]) for xi, r in zip(x, rows) if r.get(s) is not None]
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                        yerr=[[p[1] - p[2][0] for p in pts], [p[2][1] - p[1] for p in pts]], marker="o",
                        capsize=3, label=label)
    n = rows[0]["n"]
    ax.axhline(rows[0]["base"], color="grey", ls=":", label="base (N = 1)")
    ax.axhline(rows[0]["oracle"], color="black", ls="--", label=f"oracle (N = {n})")
    for xi, r in zip(x, rows):
        ax.annotate(f"{r['train_rollouts'] / 1000:.0f}k", (xi, r.get("orm") or r["base"]),
                    textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xlabel("verifier's within-pool AUC on the benchmark pool (ORM, final images)")
    ax.set_ylabel(f"benchmark accuracy at N = {n} (95% CI)")
    ax.set_title("Verifier quality ladder (AR); labels: training rollouts")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def task_bars_figure(summaries: dict[str, dict], title: str = "Benchmark accuracy per task") -> bytes:
    """Grouped bars: for each task and overall, one bar per run (a geneval summary.json each), with the 95%
    bootstrap interval as an error bar."""
    tasks = [t for t in TASK_ORDER if any(t in s["tasks"] for s in summaries.values())]
    tasks += sorted({t for s in summaries.values() for t in s["tasks"]} - set(tasks)) + ["overall"]
    fig, ax = plt.subplots(figsize=(max(7.5, 1.2 * len(tasks) * max(1, len(summaries)) / 2), 4.4))
    width = 0.8 / max(1, len(summaries))
    for i, (label, s) in enumerate(summaries.items()):
        vals = [s["overall"] if t == "overall" else s["tasks"].get(t) for t in tasks]
        xs = [j + (i - (len(summaries) - 1) / 2) * width for j in range(len(tasks))]
        ys = [v["accuracy"] if v else math.nan for v in vals]
        err = [[(v["accuracy"] - v["ci95"][0]) if v else 0 for v in vals],
               [(v["ci95"][1] - v["accuracy"]) if v else 0 for v in vals]]
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=f"{label} ({s['overall']['accuracy']:.3f})")
    ax.set_xticks(range(len(tasks)), [t.replace("_", " ") for t in tasks], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper right", ncol=max(1, len(summaries) // 4))
    fig.tight_layout()
    return png_bytes(fig)


FID_COLUMNS = ("FID", "KID (± std)", "precision", "recall", "clf acc", "judge acc", "accept", "compute")


def fid_rows(report: dict) -> list[list[str]]:
    """The rows of an FID report (`fmnist_fid.py`'s fid_report-*.json) as table cells, in FID_COLUMNS order."""
    rows = []
    for name, r in report["results"].items():
        judge = r.get("judge_accuracy")
        rows.append([name, f"{r['fid']:.2f}", f"{r['kid']:.4f} ± {r['kid_std']:.4f}", f"{r['precision']:.3f}",
                     f"{r['recall']:.3f}", f"{r['classifier_accuracy']:.3f}", "–" if judge is None else f"{judge:.3f}",
                     f"{r['acceptance_rate']:.3f}", f"{r['compute_multiplier']:.2f}x"])
    return rows


def fid_table_figure(reports: dict[str, dict]) -> bytes:
    """FID / KID / precision / recall of several FID reports as one table figure (a row per run and rule)."""
    cells = [[f"{label}: {row[0]}", *row[1:]] for label, rep in reports.items() for row in fid_rows(rep)]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(cells) + 1.0))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["run", *FID_COLUMNS], loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(FID_COLUMNS) + 1)))
    ax.set_title("Fashion-MNIST: FID-10k against the test set (clean resize), KID, precision / recall (k = 3)",
                 fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)


def training_curves_figure(logs: dict[str, list[dict]], keys: tuple[str, ...] | None = None) -> bytes:
    """One panel per logged quantity (loss first), one line per run, against the training step. `logs`: run label
    -> the rows of its log.jsonl."""
    numeric = [k for rows in logs.values() for r in rows for k, v in r.items()
               if isinstance(v, (int, float)) and k not in ("step", "lr", "sec_per_step", "grad_norm")]
    keys = keys or tuple(dict.fromkeys(["loss"] + [k for k in numeric if k != "loss"]))[:4]
    keys = tuple(k for k in keys if any(k in r for rows in logs.values() for r in rows))
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.6 * max(1, len(keys)), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, rows in logs.items():
            pts = [(r["step"], r[key]) for r in rows if key in r and "step" in r]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, lw=1.2)
        ax.set_xlabel("step")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)
