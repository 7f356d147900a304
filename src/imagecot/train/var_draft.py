"""Train VAR's raster draft (`generators.var_draft`): a small AR over the first D scales of a multi-scale tokenizer's
codes, then write the VAR checkpoint and its draft as one generator folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .. import distributed
from ..data.streams import make_stream
from ..generators.ar import ARConfig, ARTransformer
from ..generators.var_draft import DRAFT_FOLDER, CoarseScales
from ..hub import resolve
from ..io_utils import make_temp_dir, replace_dir
from .ar import ar_loss_fn
from .loop import TrainConfig, train

GENERATOR_FOLDER = "generator"


def train_var_draft(run_dir: str | Path, var_folder: str | Path, msvq, scales: int, model_cfg: ARConfig,
                    cfg: TrainConfig, data_root: str | Path | None = None) -> Path:
    """Fit the draft to the codes of the first `scales` scales (the VAR's data, its prompts or classes), and write
    `run_dir/generator`: the VAR folder's files with the draft in `draft/`. Returns that folder."""
    run_dir, var_folder = Path(run_dir), resolve(var_folder)
    coarse = CoarseScales(msvq.eval().to(distributed.local_device(cfg.device)), scales)
    if model_cfg.num_image_tokens != coarse.seq_len or model_cfg.image_vocab != coarse.vocab_size:
        raise ValueError(f"the draft's config ({model_cfg.num_image_tokens} tokens, vocab {model_cfg.image_vocab}) "
                         f"does not match {scales} scales of the tokenizer ({coarse.seq_len}, {coarse.vocab_size})")
    stream = make_stream(model_cfg.data, cfg.seed, msvq.config.resolution, data_root)
    torch.manual_seed(cfg.seed)
    train(ARTransformer(model_cfg), ar_loss_fn(coarse, stream, cfg.batch_size), run_dir, cfg)

    def join() -> None:
        tmp = make_temp_dir(run_dir / GENERATOR_FOLDER)
        for f in var_folder.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        shutil.copytree(run_dir / "final", tmp / DRAFT_FOLDER)
        replace_dir(tmp, run_dir / GENERATOR_FOLDER)
    distributed.on_main(join)
    return run_dir / GENERATOR_FOLDER
