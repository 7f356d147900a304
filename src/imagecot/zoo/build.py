"""Copy trained checkpoints into the zoo (python -m imagecot.zoo.build --tokenizer DIR --ar DIR).

The AR generator is stored in float16 to fit the zoo's size budget and is
evaluated exactly as shipped (from_pretrained casts it back to float32).
Training cost is read from each run's checkpoint/state.json and log.jsonl and
kept in provenance.json beside the weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..generators.ar import ARTransformer
from ..io_utils import atomic_write_json
from ..tokenizers.msvq import MSVQModel
from ..tokenizers.vq import VQModel
from . import ZOO_DIR


def _provenance(final_dir: Path) -> dict:
    run = final_dir.parent
    info: dict = {"run": str(run)}
    state = run / "checkpoint" / "state.json"
    if state.is_file():
        s = json.loads(state.read_text())
        info.update(steps=s["step"], train_seconds_last_session=round(s.get("elapsed_s", 0)))
    cfg = run / "train_config.json"
    if cfg.is_file():
        info["train_config"] = json.loads(cfg.read_text())
    return info


def build(tokenizer: Path, ar: Path, sampling: dict | None = None, zoo: Path = ZOO_DIR,
          msvq: Path | None = None) -> None:
    vq = VQModel.from_pretrained(tokenizer)
    vq.save_pretrained(zoo / "tokenizer")
    atomic_write_json(zoo / "tokenizer" / "provenance.json", _provenance(Path(tokenizer)))
    model = ARTransformer.from_pretrained(ar)
    model.save_pretrained(zoo / "ar", dtype=torch.float16)
    atomic_write_json(zoo / "ar" / "provenance.json", _provenance(Path(ar)))
    if sampling is not None:
        atomic_write_json(zoo / "ar" / "sampling.json", sampling)
    if msvq is not None:
        MSVQModel.from_pretrained(msvq).save_pretrained(zoo / "msvq")
        atomic_write_json(zoo / "msvq" / "provenance.json", _provenance(Path(msvq)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--ar", type=Path, required=True)
    ap.add_argument("--msvq", type=Path, default=None, help="also ship this multi-scale tokenizer (for VAR)")
    ap.add_argument("--sampling", type=str, default=None, help='JSON, e.g. \'{"cfg_scale": 3.0}\'')
    ap.add_argument("--sampling-from", type=Path, default=None,
                    help="the --json output of benchmarks/sampling_sweep.py: ship its best setting")
    a = ap.parse_args()
    sampling = json.loads(a.sampling) if a.sampling else None
    if a.sampling_from:
        best = json.loads(a.sampling_from.read_text())["best"]
        sampling = {k: best[k] for k in ("cfg_scale", "top_k", "temperature")}
    build(a.tokenizer, a.ar, sampling, msvq=a.msvq)


if __name__ == "__main__":
    main()
