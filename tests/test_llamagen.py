"""LlamaGen loaded like VAR: its reference layout name for name and shape, its numerics, its file formats, and a
tiny model end to end through the CLI and the search strategies.

tests/data/llamagen_reference_layout.json and llamagen_tiny.npz were made by running FoundationVision/LlamaGen's own
code (commit ce98ec4) unchanged: the GPT-B and VQ-16 state-dict layouts, larger sizes' parameter counts, and a tiny
random GPT's weights with the logits its eval forward gives."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run

from imagecot.generators.llamagen import (
    LlamaGenConfig,
    LlamaGenGenerator,
    LlamaGenTransformer,
    official_state_dict,
)
from imagecot.generators.sampling import SamplingConfig
from imagecot.tokenizers.llamagen_vq import LlamaGenVQ, LlamaGenVQConfig

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "llamagen_reference_layout.json").read_text())
TINY = dict(dim=32, n_layer=2, n_head=2, multiple_of=32, vocab_size=32, num_classes=5, block_size=16)


def layout(model) -> dict:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def test_gpt_b_and_vq16_layouts_are_llamagens_name_for_name():
    with torch.device("meta"):
        gpt, vq = LlamaGenTransformer(LlamaGenConfig.gpt("B")), LlamaGenVQ(LlamaGenVQConfig())
    assert layout(gpt) == REFERENCE["gpt_b"]
    assert layout(vq) == REFERENCE["vq16"]


@pytest.mark.parametrize("size", ["L", "XL", "XXL", "3B"])
def test_larger_sizes_have_the_reference_parameter_counts(size):
    with torch.device("meta"):
        gpt = LlamaGenTransformer(LlamaGenConfig.gpt(size))
    assert sum(p.numel() for p in gpt.parameters()) == REFERENCE["params"][f"GPT-{size}"]


@pytest.fixture(scope="module")
def tiny_reference():
    ref = np.load(DATA / "llamagen_tiny.npz")
    model = LlamaGenTransformer(LlamaGenConfig(**TINY)).eval()
    model.load_state_dict({k: torch.from_numpy(ref[k]) for k in model.state_dict()}, strict=True)
    return model, ref


def test_logits_equal_llamagens_own_forward(tiny_reference):
    """2D RoPE (rows then columns, adjacent pairs), the zeroed class-token query and key, RMSNorm, SwiGLU."""
    model, ref = tiny_reference
    with torch.no_grad():
        logits = model(torch.from_numpy(ref["cond"]), torch.from_numpy(ref["idx"]))
    assert torch.allclose(logits, torch.from_numpy(ref["logits"]), atol=1e-4)


def test_the_kv_cache_and_the_sequence_log_prob_agree_with_the_sampler(tiny_reference):
    model, _ = tiny_reference
    vq = LlamaGenVQ(LlamaGenVQConfig(codebook_size=32, z_channels=16, ch=32, ch_mult=(1, 2), resolution=8)).eval()
    gen = LlamaGenGenerator(model, vq)
    out = gen.generate([1, 4], SamplingConfig(), seed=[3, 4])
    assert out.tokens.shape == (2, 16) and out.images.shape == (2, 3, 8, 8)
    assert torch.allclose(gen.log_prob(out.tokens, [1, 4]).double(), out.log_prob, atol=1e-3)
    uncached = gen.generate([1, 4], SamplingConfig(), seed=[3, 4], use_cache=False)
    assert torch.equal(uncached.tokens, out.tokens)


def _training_dict(model) -> dict:
    return {"model": model.state_dict(), "optimizer": {"state": {}}, "steps": 5,
            "args": argparse.Namespace(gpt_model="GPT-tiny", lr=1e-4), "freqs_cis": torch.zeros(17, 8, 2)}


def test_a_training_dictionary_loads_naming_every_key_it_ignores(tmp_path, tiny_reference):
    model, _ = tiny_reference
    torch.save(_training_dict(model), tmp_path / "c2i_tiny.pt")
    state, ignored = official_state_dict(tmp_path / "c2i_tiny.pt")
    assert set(state) == set(model.state_dict())
    assert [line.split(":")[0] for line in ignored] == ["optimizer", "steps", "args", "freqs_cis"]
    assert "rotary table recomputed" in ignored[-1]

    from fractions import Fraction  # anything beside the allow-listed argparse.Namespace is refused, never built
    torch.save({"model": model.state_dict(), "extra": Fraction(1, 3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"fractions.Fraction.*unpickling, which can run arbitrary code"):
        official_state_dict(tmp_path / "other.pt")


def test_a_tiny_llamagen_end_to_end_through_the_cli(tmp_path, tiny_reference, capsys):
    model, _ = tiny_reference
    torch.manual_seed(0)
    vq = LlamaGenVQ(LlamaGenVQConfig(codebook_size=32, z_channels=16, ch=32, ch_mult=(1, 2), resolution=8))
    torch.save(_training_dict(model), tmp_path / "c2i_tiny_8.pt")   # 8 px: a 4 x 4 token grid, as trained
    torch.save({"model": vq.state_dict(), "steps": 1}, tmp_path / "vq_tiny.pt")
    rc, out, err = run(["generate", "--generator", "llamagen", "--checkpoint", tmp_path / "c2i_tiny_8.pt",
                        "--tokenizer", tmp_path / "vq_tiny.pt", "--class-id", 1, 3, "-n", 2, "--out", tmp_path / "o"],
                       capsys)
    assert rc == 0, err
    assert "4 images" in out and "ignored args: training metadata" in err
    assert len(list((tmp_path / "o" / "samples").rglob("*.png"))) == 4


def test_every_search_strategy_runs_on_llamagen(tiny_reference):
    from imagecot.search.best_of_n import best_of_n
    from imagecot.search.parm import parm
    from imagecot.search.reflect import parm_plus_plus
    from imagecot.search.step_search import step_search
    model, _ = tiny_reference
    vq = LlamaGenVQ(LlamaGenVQConfig(codebook_size=32, z_channels=16, ch=32, ch_mult=(1, 2), resolution=8)).eval()
    gen = LlamaGenGenerator(model, vq)

    class Bright:   # a stand-in verifier of class-conditional images: prefers bright ones; blames the top rows
        def __call__(self, images, prompts, t=None, T=None):
            return (images.mean((1, 2, 3)) + 1) / 2

        def clarity(self, previews, prompts, t, T):
            return torch.full((len(prompts),), float(t >= 2))

        potential = __call__

        def reflect(self, images, prompts):
            cells = torch.zeros(16, dtype=torch.bool)
            cells[4:8] = True   # the cell grid is the token grid (4 x 4 here; 16 x 16 at 256 px)
            return [{"kinds": ["wrong_color"], "cells": cells, "p_aligned": 0.5, "sentence": "row 1"}] * len(prompts)
    v = Bright()
    for out in (best_of_n(gen, ["1", "3"], 3, v), step_search(gen, ["1", "3"], 4, v),
                parm(gen, ["1", "3"], 3, v, early_stop=True), parm_plus_plus(gen, ["1", "3"], 3, v, rounds=1)):
        assert out.images.shape == (2, 3, 8, 8) and len(out.chosen) == 2
    assert gen.cell_grid == 4
