"""Why images fail: the share of benchmark images with each flaw kind (missing, extra, wrong colour, wrong
position), per task, for one or more scored GenEval folders (`imagecot geneval score` wrote results.jsonl).
Usage: python benchmarks/failure_kinds.py out/geneval-n1-ar out/geneval-n1-var out/geneval-n1-maskgit
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from imagecot.evaluation.detector import Detection
from imagecot.evaluation.diagnose import KINDS, diagnose
from imagecot.world import TASKS


def kinds_of(folder: Path) -> dict:
    per_task: dict[str, Counter] = {}
    n: Counter = Counter()
    for line in (folder / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        dets = [Detection(d["cls"], d["color"], tuple(d["box"]), d["confidence"], d["area"]) for d in r["detections"]]
        flaws = diagnose(r["metadata"], dets)
        assert (not flaws) == r["correct"], r["filename"]
        n[r["tag"]] += 1
        per_task.setdefault(r["tag"], Counter()).update({k for k in KINDS if any(f.kind == k for f in flaws)})
    return {t: {k: per_task.get(t, Counter())[k] / n[t] for k in KINDS} | {"images": n[t]} for t in TASKS if n[t]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    out = {}
    for folder in a.folders:
        out[str(folder)] = table = kinds_of(folder)
        print(f"\n{folder}: share of images with each flaw")
        print("| task | images | " + " | ".join(KINDS) + " |")
        print("|---|---:|" + "---:|" * len(KINDS))
        for t, row in table.items():
            print(f"| {t} | {row['images']} | " + " | ".join(f"{row[k]:.3f}" for k in KINDS) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
