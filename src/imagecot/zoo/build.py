"""Copy trained checkpoints into the zoo (python -m imagecot.zoo.build --tokenizer DIR --ar DIR ...).

Generators are stored in float16 to fit the zoo's size budget and are
evaluated exactly as shipped (from_pretrained casts them back to float32).
The shapes tokenizers stay float32; the Fashion-MNIST track (`--fmnist`) is
all float16 to fit its 15 MB allowance, and its FID is measured on those copies.
Training cost is read from each run's checkpoint/state.json and log.jsonl and
kept in provenance.json beside the weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..generators.ar import ARTransformer
from ..generators.registry import keep_sampling
from ..generators.sampling import SamplingConfig
from ..io_utils import atomic_write_json
from ..tokenizers.msvq import MSVQModel
from ..tokenizers.vq import VQModel
from ..train.loop import INIT_RECORD
from . import ZOO_DIR


def _ship(model, run_final: Path, dest: Path, dtype: torch.dtype | None = None) -> None:
    """Weights (+ the run's held-out eval.json, if any) and provenance.json."""
    model.save_pretrained(dest, dtype=dtype)
    _write_provenance(run_final, dest)


def _write_provenance(run_final: Path, dest: Path) -> None:
    info = _provenance(Path(run_final))
    if (Path(run_final) / "eval.json").is_file():
        info["eval_of_the_float32_run"] = json.loads((Path(run_final) / "eval.json").read_text())
    atomic_write_json(dest / "provenance.json", info)


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
    init = run / INIT_RECORD
    if init.is_file():   # trained on from another checkpoint (`train ... --init`): what that one had
        info.update(json.loads(init.read_text()))
    return info


SAMPLING_KEYS = ("cfg_scale", "top_k", "top_p", "temperature")


def sweep_best(path: Path) -> dict:
    """The best row of a benchmarks/sampling_sweep.py --json file."""
    return json.loads(Path(path).read_text())["best"]


def _network_class(kind: str):
    from ..generators.maskgit import MaskGITTransformer
    from ..generators.var import VARTransformer
    return {"ar": ARTransformer, "var": VARTransformer, "maskgit": MaskGITTransformer}[kind]


def _ship_generator(kind: str, run_final: Path, zoo: Path, best: dict | None) -> None:
    """Store a generator in float16 with its provenance and its sampling settings: a sweep's best row, else the
    run's own sampling.json."""
    model = _network_class(kind).from_pretrained(run_final)
    if best is not None and kind == "maskgit":  # MaskGIT's sampling knobs live in its config
        model.config.sample_steps = int(best.get("sample_steps", model.config.sample_steps))
        model.config.choice_temperature = float(best.get("choice_temperature", model.config.choice_temperature))
    _ship(model, run_final, zoo / kind, torch.float16)
    if best is not None:
        atomic_write_json(zoo / kind / "sampling.json", {k: best[k] for k in SAMPLING_KEYS if k in best})
    else:
        _copy_sampling(run_final, zoo / kind)


def _copy_sampling(run_final: Path, dest: Path) -> None:
    """The run's own sampling.json (a DPO run keeps its base's; a run trained on with --init gets one put beside
    it), copied as it is."""
    if (run_final / "sampling.json").is_file():
        atomic_write_json(dest / "sampling.json", json.loads((run_final / "sampling.json").read_text()))


def build_fmnist(tokenizer: Path, ar: Path, classifier: Path, zoo: Path = ZOO_DIR) -> None:
    """The Fashion-MNIST track's tokenizer, AR generator and rejection classifier, all in float16 (the
    track's 15 MB allowance), as `fmnist-tokenizer`, `fmnist-ar`, `fmnist-classifier`."""
    from ..classifiers.cnn import CNNClassifier
    for name, cls, run in (("fmnist-tokenizer", VQModel, tokenizer), ("fmnist-ar", ARTransformer, ar),
                           ("fmnist-classifier", CNNClassifier, classifier)):
        _ship(cls.from_pretrained(run), run, zoo / name, torch.float16)
    # the track samples plainly (CFG 1, temperature 1: FID is measured so); say it rather than leave it implied
    keep_sampling(zoo / "fmnist-ar", SamplingConfig())


def build_fmnist_var(tokenizer: Path, var: Path, zoo: Path = ZOO_DIR) -> None:
    """The Fashion-MNIST track's class-conditional VAR and its multi-scale tokenizer, in float16, as `fmnist-var`
    and `fmnist-msvq` (rejection uses the track's `fmnist-classifier`)."""
    from ..generators.var import VARTransformer
    for name, cls, run in (("fmnist-msvq", MSVQModel, tokenizer), ("fmnist-var", VARTransformer, var)):
        _ship(cls.from_pretrained(run), run, zoo / name, torch.float16)
    keep_sampling(zoo / "fmnist-var", SamplingConfig())   # plain sampling, as FID is measured


def build_verifiers(generator: str, run: Path, zoo: Path = ZOO_DIR, parm: Path | None = None) -> None:
    """The verifier trained on `generator`'s rollouts (`run`: a training run or its final/ folder; one network
    serving as ORM, PRM and PARM), in float16, as `verifier-<generator>` with its held-out eval.json. With `parm`
    (a network trained for the PARM role alone, `train verifier --role parm`), that one goes in as its `parm/`
    subfolder, which load_verifier serves for PARM (ORM and PRM stay the one network)."""
    from . import FAMILIES, load_verifier
    if generator not in FAMILIES:
        raise ValueError(f"unknown generator {generator!r}; expected one of {', '.join(FAMILIES)}")
    def ship(path: Path, folder: Path) -> None:
        final = Path(path) / "final" if (Path(path) / "final").is_dir() else Path(path)
        _ship(load_verifier("parm", final).net, final, folder, torch.float16)

    dest = zoo / f"verifier-{generator}"
    ship(run, dest)   # first: its save_pretrained replaces the whole folder, a parm/ in it included
    if parm is not None:
        ship(parm, dest / "parm")


def build_aligned(kind: str, run_final: Path, zoo: Path = ZOO_DIR) -> Path:
    """An aligned generator (`imagecot train dpo`'s final/ folder) as `<kind>-dpo`: an int8 delta against the zoo's
    `<kind>` (weight_delta.py: closer to the float32 run than float16 is, at half its bytes), with the sampling.json
    it kept from its base. Load it with `--generator <kind> --checkpoint zoo:<kind>-dpo`."""
    run_final = Path(run_final)
    dest = zoo / f"{kind}-dpo"
    _network_class(kind).from_pretrained(run_final).save_pretrained_delta(dest, zoo / kind)
    _write_provenance(run_final, dest)
    _copy_sampling(run_final, dest)
    return dest


def build(tokenizer: Path | None = None, ar: Path | None = None, sampling: dict | None = None, zoo: Path = ZOO_DIR,
          msvq: Path | None = None, var: Path | None = None, var_sampling: dict | None = None,
          maskgit: Path | None = None, maskgit_sampling: dict | None = None) -> None:
    """Ship what is given: tokenizers in float32, generators in float16 (+ sampling.json from a sweep)."""
    if tokenizer is not None:
        _ship(VQModel.from_pretrained(tokenizer), tokenizer, zoo / "tokenizer")
    if msvq is not None:
        _ship(MSVQModel.from_pretrained(msvq), msvq, zoo / "msvq")
    for kind, run, best in (("ar", ar, sampling), ("var", var, var_sampling), ("maskgit", maskgit, maskgit_sampling)):
        if run is not None:
            _ship_generator(kind, Path(run), zoo, best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", type=Path, default=None, help="the VQ tokenizer (AR, MaskGIT)")
    ap.add_argument("--msvq", type=Path, default=None, help="the multi-scale tokenizer (VAR)")
    for kind in ("ar", "var", "maskgit"):
        ap.add_argument(f"--{kind}", type=Path, default=None, help=f"the {kind} generator's final/ folder")
        flag = "--sampling-from" if kind == "ar" else f"--{kind}-sampling-from"
        ap.add_argument(flag, type=Path, default=None, dest=f"{kind}_sweep",
                        help=f"benchmarks/sampling_sweep.py --json output for {kind}: ship its best setting")
    ap.add_argument("--fmnist", type=Path, nargs=3, default=None, metavar=("TOKENIZER", "AR", "CLASSIFIER"),
                    help="the Fashion-MNIST track's final/ folders")
    ap.add_argument("--fmnist-var", type=Path, nargs=2, default=None, metavar=("MSVQ", "VAR"),
                    help="the Fashion-MNIST VAR track's final/ folders")
    ap.add_argument("--verifier", nargs=2, action="append", default=[], metavar=("GENERATOR", "RUN"),
                    help="a generator (ar, var, maskgit) and its verifier's training run")
    ap.add_argument("--verifier-parm", nargs=2, action="append", default=[], metavar=("GENERATOR", "RUN"),
                    help="a generator and its PARM trained alone (train verifier --role parm): shipped as "
                         "verifier-<generator>/parm/, beside that generator's --verifier")
    ap.add_argument("--aligned", nargs=2, action="append", default=[], metavar=("GENERATOR", "FINAL"),
                    help="a generator kind and its DPO run's final/ folder: shipped as <kind>-dpo")
    a = ap.parse_args()
    for kind, final in a.aligned:
        build_aligned(kind, Path(final))
    parm_runs = dict(a.verifier_parm)
    if set(parm_runs) - {g for g, _ in a.verifier}:
        ap.error("--verifier-parm GENERATOR needs that generator's --verifier too (its ORM and PRM)")
    for generator, run in a.verifier:
        build_verifiers(generator, Path(run), parm=Path(parm_runs[generator]) if generator in parm_runs else None)
    if a.fmnist:
        build_fmnist(*a.fmnist)
    if a.fmnist_var:
        build_fmnist_var(*a.fmnist_var)
    best = {k: sweep_best(getattr(a, f"{k}_sweep")) if getattr(a, f"{k}_sweep") else None
            for k in ("ar", "var", "maskgit")}
    build(a.tokenizer, a.ar, best["ar"], msvq=a.msvq, var=a.var, var_sampling=best["var"],
          maskgit=a.maskgit, maskgit_sampling=best["maskgit"])


if __name__ == "__main__":
    main()
