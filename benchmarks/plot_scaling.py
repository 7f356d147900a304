"""Redraw a scaling plot from a recorded `search_scaling.py` scaling.json (no search is run).

Usage: python benchmarks/plot_scaling.py runs/v6/scaling-ar/scaling.json docs/search/scaling-ar.png
"""

import argparse
import json
from pathlib import Path

from imagecot.report.figures import save_png, scaling_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scaling", type=Path, help="a scaling.json written by benchmarks/search_scaling.py")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    print(f"wrote {save_png(scaling_figure(json.loads(a.scaling.read_text()), a.title), a.out)}")


if __name__ == "__main__":
    main()
