"""What `imagecot train KIND` can train: one entry per kind, with the configuration it derives from its data.

Each `Trainable` names its config class, which options it takes beside the
config's fields (`inputs`: "init" for tokenizers, "tokenizer" for generators,
"rollouts" for verifiers), the config fields the library derives rather than
the user gives (`derived`: vocabulary sizes, the token grid, the conditioning),
and `run(out, options, train_cfg)`, which derives them and trains. The CLI
builds its parser from this table and calls `train_kind`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def config_from(cls, options: dict, **derived):
    """A config dataclass from the options that name its fields (lists become tuples), then the derived fields."""
    kw = {f.name: options[f.name] for f in dataclasses.fields(cls) if f.name in options}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    return cls(**{**kw, **derived})


def _classes(options: dict) -> tuple[str, ...]:
    from ..data.streams import class_names_of
    return class_names_of(options.get("data", "shapes"))


def _tokenizer(options: dict, train_cfg) -> dict:
    from .tokenizer import train_tokenizer
    kind = options["_kind"]
    train_tokenizer(options["out"], config_from(TRAINABLES[kind].config_class(), options), train_cfg,
                    init=options.get("init"), finetune_decoder=options.get("finetune_decoder", False),
                    data_root=options.get("data_root"))
    return {}


def _grid_generator(options: dict, train_cfg) -> dict:
    """AR and MaskGIT: image vocabulary and grid from the VQ tokenizer; prompt words, or one class token."""
    from ..generators.condition import ClassTokenizer, PromptTokenizer
    from ..zoo import load_tokenizer
    from .ar import train_ar
    from .maskgit import train_maskgit
    kind, classes = options["_kind"], _classes(options)
    vq = load_tokenizer(options.get("tokenizer"))
    cond = dict(cond_len=1, class_names=classes, text_vocab=ClassTokenizer(classes).vocab_size) if classes else \
        dict(text_vocab=PromptTokenizer(options.get("cond_len", 12)).vocab_size)
    cfg = config_from(TRAINABLES[kind].config_class(), options, image_vocab=vq.vocab_size, grid=vq.config.grid,
                      **cond)
    (train_ar if kind == "ar" else train_maskgit)(options["out"], vq, cfg, train_cfg, options.get("data_root"),
                                                  options.get("init"))
    return {}


def _var(options: dict, train_cfg) -> dict:
    """VAR: vocabulary, latent channels and scales from the multi-scale tokenizer; prompts or classes."""
    from ..generators.condition import PromptTokenizer
    from ..tokenizers.msvq import MSVQModel
    from .var import train_var
    if options.get("tokenizer") is None:
        raise ValueError("train var needs --tokenizer: a multi-scale tokenizer folder (imagecot train msvq)")
    vq, classes = MSVQModel.from_pretrained(options["tokenizer"]), _classes(options)
    cond = dict(condition="class", num_classes=len(classes), class_names=classes) if classes else \
        dict(condition="text", text_vocab=PromptTokenizer(options.get("text_len", 12)).vocab_size)
    cfg = config_from(TRAINABLES["var"].config_class(), options, vocab_size=vq.vocab_size,
                      z_channels=vq.config.z_channels, patch_nums=vq.config.patch_nums, **cond)
    train_var(options["out"], vq, cfg, train_cfg, options.get("data_root"), options.get("init"))
    return {}


def _var_draft(options: dict, train_cfg) -> dict:
    """VAR's raster draft: its vocabulary and length from the tokenizer's first --draft-scales scales, its data and
    conditions (prompts or classes) from the VAR it drafts for."""
    from ..generators.ar import ARConfig
    from ..generators.condition import ClassTokenizer, PromptTokenizer
    from ..generators.var import VARGenerator, VARTransformer
    from ..hub import resolve, zoo_path
    from ..tokenizers.msvq import MSVQModel
    from .var_draft import train_var_draft
    var_folder = resolve(options.get("var") or zoo_path("var"))
    msvq = MSVQModel.from_pretrained(options.get("tokenizer") or zoo_path("msvq"))
    var_cfg = VARGenerator(VARTransformer.from_pretrained(var_folder), msvq).model.config   # checks they match
    if var_cfg.condition == "class" and not var_cfg.class_names:
        raise ValueError(f"{var_folder} is class-conditional without class names; a draft reads named classes")
    classes, scales = var_cfg.class_names, options.get("draft_scales", 4)
    cond = dict(cond_len=1, class_names=classes, text_vocab=ClassTokenizer(classes).vocab_size) if classes else \
        dict(text_vocab=PromptTokenizer(options.get("cond_len", 12)).vocab_size)
    cfg = config_from(ARConfig, options, image_vocab=msvq.vocab_size, grid=var_cfg.patch_nums[scales - 1],
                      seq_len=sum(pn * pn for pn in var_cfg.patch_nums[:scales]), data=var_cfg.data, **cond)
    folder = train_var_draft(options["out"], var_folder, msvq, scales, cfg, train_cfg, options.get("data_root"))
    return {"generator": str(folder), "draft_scales": scales, "draft_tokens": cfg.seq_len}


def _classifier(options: dict, train_cfg) -> dict:
    from .classifier import train_classifier
    classes = _classes(options)
    if not classes:
        raise ValueError("the classifier trains on a labelled dataset: pass --data fashion-mnist")
    train_classifier(options["out"], config_from(TRAINABLES["classifier"].config_class(), options,
                                                 num_classes=len(classes), class_names=classes),
                     train_cfg, options.get("data_root"))
    return {}


def _verifier(options: dict, train_cfg) -> dict:
    """One network as ORM, PRM and PARM (or as the one --role): its resolution from the rollouts' frames."""
    from ..generators.condition import PromptTokenizer
    from ..verifiers.rollouts import load_rollouts
    from .verifier import VerifierData, train_verifier
    data = load_rollouts(options["rollouts"])
    cfg = config_from(TRAINABLES["verifier"].config_class(), options,
                      text_vocab=PromptTokenizer(options.get("text_len", 12)).vocab_size,
                      resolution=int(data["frames"].shape[2]))
    _, report = train_verifier(options["out"], data, cfg, train_cfg, config_from(VerifierData, options),
                               init=options.get("init"))
    return {k: report[k] for k in ("train_rollouts", "hindsight_pairs", "outcome", "value", "potential",
                                   "outcome_by_task", "outcome_by_prompt_kind") if k in report}


def _dpo(options: dict, train_cfg) -> dict:
    """(Iterative) DPO of a generator on its own judged samples: given preference data (`--preferences`, one round),
    or sampled and judged here each round (`--rounds`, `--prompts`, `--per-prompt`, `--judge`)."""
    from ..align.dpo import iterative_dpo, train_dpo
    from ..align.preferences import build_pairs, judge_for, load_preferences
    from ..verifiers.prompts import training_specs
    from ..zoo import default_sampling, load_generator
    dpo = config_from(TRAINABLES["dpo"].config_class(), options)
    kind = options.get("generator", "ar")
    gen = load_generator(kind, options.get("checkpoint"), options.get("tokenizer"))
    if options.get("preferences") is not None:
        pairs = build_pairs(load_preferences(options["preferences"]), dpo.pairs_per_prompt, train_cfg.seed)
        train_dpo(options["out"], gen, pairs, train_cfg, dpo, default_sampling(options.get("checkpoint"), kind))
        return {"pairs": int(len(pairs["prompt"])), "unanimous_prompts_dropped": pairs["dropped"],
                "final": str(options["out"] / "final")}
    judge, name = judge_for(options.get("judge", "evaluator"), kind)
    seed = options.get("seed", 0)
    return iterative_dpo(options["out"], gen, lambda r: training_specs(dpo.prompts, seed=seed + 1000 * (r + 1)),
                         judge, name, default_sampling(options.get("checkpoint"), kind), train_cfg, dpo, seed=seed)


def _ddo(options: dict, train_cfg) -> dict:
    """DDO of a class-conditional generator (AR, MaskGIT or VAR; the Fashion-MNIST track by default): the training
    images' tokens are the real side, the frozen reference's samples the fake side; `--rounds` of self-play."""
    import numpy as np

    from ..align.ddo import train_ddo
    from ..data.fashion_mnist import load_fashion_mnist
    from ..zoo import default_sampling, load_generator
    from .token_batches import image_tokens
    ddo = config_from(TRAINABLES["ddo"].config_class(), options)
    kind, ckpt = options.get("generator", "ar"), options.get("checkpoint") or "zoo:fmnist-ar"
    gen = load_generator(kind, ckpt, options.get("tokenizer") or "zoo:fmnist-tokenizer")
    if not getattr(gen.model.config, "class_names", ()) or not hasattr(gen, "vq"):
        raise ValueError(f"train ddo needs a class-conditional generator (e.g. zoo:fmnist-ar); {ckpt} is not one")
    images, labels = load_fashion_mnist("train", options.get("data_root"))
    tokens = np.concatenate([image_tokens(gen.vq, images[i:i + 1000]).cpu().numpy()
                             for i in range(0, len(images), 1000)])
    _, rounds = train_ddo(options["out"], gen, tokens, labels, train_cfg, ddo, default_sampling(ckpt, kind),
                          seed=options.get("seed", 0))
    return {"real_images": int(len(labels)), "rounds": rounds, "final": rounds[-1]["checkpoint"]}


def _cls(module: str, name: str) -> Callable[[], type]:
    def get():
        import importlib
        return getattr(importlib.import_module(f"imagecot.{module}"), name)
    return get


@dataclass(frozen=True)
class Trainable:
    name: str
    description: str
    config_class: Callable[[], type]
    run: Callable[[dict, object], dict]
    inputs: str | None = None          # "init", "tokenizer", "rollouts", "generator", "class-generator" or "var":
    #                                    options beside the config's
    tokenizer_help: str = ""
    derived: tuple[str, ...] = ()      # config fields the library derives from the data or the tokenizer
    train_defaults: dict | None = None  # TrainConfig defaults of this kind (DPO's reference recipe)


# VerifierConfig fields chosen on validation data after a verifier is trained (benchmarks/count_verdict_check.py,
# choose_parm_waves.py): not training options, and a verifier trained on from another one starts without them
VERIFIER_CHOSEN_AFTER_TRAINING = ("count_verdict_tasks", "count_verdict_calibration", "count_verdict_on_previews",
                                  "count_verdict_times_head", "parm_threshold", "parm_clarity")
GENERATOR_DERIVED = ("image_vocab", "grid", "text_vocab", "vocab_size", "z_channels", "patch_nums", "condition",
                     "num_classes", "class_names", "data")
TRAINABLES: dict[str, Trainable] = {t.name: t for t in (
    Trainable("tokenizer", "Train the VQ tokenizer (on the shapes world by default).",
              _cls("tokenizers.vq", "VQConfig"), _tokenizer, "init", derived=("data",)),
    Trainable("msvq", "Train VAR's multi-scale residual VQ tokenizer (on the shapes world by default).",
              _cls("tokenizers.msvq", "MSVQConfig"), _tokenizer, "init", derived=("data",)),
    Trainable("ar", "Train the AR generator on a VQ tokenizer's codes.", _cls("generators.ar", "ARConfig"),
              _grid_generator, "tokenizer", "VQ tokenizer folder (default: the zoo's)", GENERATOR_DERIVED),
    Trainable("var", "Train the VAR generator on a multi-scale tokenizer's codes (text prompts, or classes with "
                     "--data fashion-mnist).", _cls("generators.var", "VARConfig"), _var, "tokenizer",
              "multi-scale tokenizer folder (required)", GENERATOR_DERIVED),
    Trainable("var-draft", "Train VAR's raster draft: a small AR over the coarse scales' tokens, sampled token by "
                           "token before VAR's parallel fine scales; writes OUT/generator (the VAR with its draft).",
              _cls("generators.ar", "ARConfig"), _var_draft, "var",
              "multi-scale tokenizer folder (default: the zoo's msvq)", GENERATOR_DERIVED + ("seq_len",)),
    Trainable("maskgit", "Train the MaskGIT generator on a VQ tokenizer's codes.",
              _cls("generators.maskgit", "MaskGITConfig"), _grid_generator, "tokenizer",
              "VQ tokenizer folder (default: the zoo's)", GENERATOR_DERIVED),
    Trainable("classifier", "Train the CNN classifier of classifier rejection sampling (--data fashion-mnist).",
              _cls("classifiers.cnn", "CNNClassifierConfig"), _classifier,
              derived=("num_classes", "class_names", "data")),
    Trainable("verifier", "Train one verifier network as ORM, PRM and PARM (or, with --role, as one of them) on "
                          "generator rollouts (imagecot rollouts).", _cls("verifiers.learned", "VerifierConfig"),
              _verifier, "rollouts",
              derived=("text_vocab", "resolution", *VERIFIER_CHOSEN_AFTER_TRAINING)),
    Trainable("dpo", "Align a generator with DPO on its own samples judged by the evaluator or a verifier "
                     "(iterative with --rounds; the reference moves to each round's starting policy).",
              _cls("align.dpo", "DPOConfig"), _dpo, "generator",
              train_defaults={"lr": 1e-5, "batch_size": 32, "warmup": 10, "min_lr_ratio": 1.0}),
    Trainable("ddo", "Fine-tune a class-conditional generator with DDO: its likelihood ratio to a frozen reference "
                     "as the discriminator between training images and the reference's samples (Fashion-MNIST; "
                     "self-play with --rounds).", _cls("align.ddo", "DDOConfig"), _ddo, "class-generator",
              train_defaults={"lr": 1e-5, "batch_size": 32, "warmup": 10, "min_lr_ratio": 1.0}),
)}


def train_kind(kind: str, out: str | Path, options: dict, train_cfg) -> dict:
    """Train `kind` into the run folder `out` from user `options` (config fields and the kind's inputs); returns
    what the kind reports (a verifier's held-out figures; {} for the others)."""
    if kind not in TRAINABLES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(TRAINABLES)}")
    return TRAINABLES[kind].run({**options, "out": Path(out), "_kind": kind}, train_cfg)
