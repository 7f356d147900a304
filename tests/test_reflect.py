"""PARM++ on tiny real generators with a scripted verifier: corrections touch only what the reflection blames,
are kept only when the verifier's score improves, and cost compute."""

import pytest
import torch

from imagecot.generators.ar import ARConfig, ARGenerator, ARTransformer
from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.maskgit import (
    MaskGITConfig,
    MaskGITGenerator,
    MaskGITTransformer,
)
from imagecot.search.parm import parm
from imagecot.search.reflect import parm_plus_plus

PROMPTS = ["a red circle", "two squares", "a triangle left of a diamond"]
BLAMED = torch.zeros(64, dtype=torch.bool)
BLAMED[40:56] = True  # rows 5 and 6 of the 8x8 grid


class ScriptedReflectiveVerifier:
    """Outcome = brightness of the image's lower half; always clear; reflection blames rows 5-6 (wrong colour)."""

    def __call__(self, images, prompts, t=None, T=None):
        return (images[:, :, 16:].mean((1, 2, 3)) + 1) / 2

    def clarity(self, previews, prompts, t, T):
        return torch.ones(len(prompts))

    def potential(self, previews, prompts, t, T):
        return self(previews, prompts)

    def reflect(self, images, prompts):
        return [{"kinds": ["wrong_color"], "cells": BLAMED.clone(), "sentence": "wrong colour in rows 5-6"}
                for _ in prompts]


@pytest.fixture
def generators(tiny_vq):
    torch.manual_seed(0)
    ar_cfg = ARConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size, d_model=32, n_layer=2, n_head=4)
    mg_cfg = MaskGITConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size, d_model=32, n_layer=2, n_head=4)
    return {"ar": ARGenerator(ARTransformer(ar_cfg), tiny_vq),
            "maskgit": MaskGITGenerator(MaskGITTransformer(mg_cfg), tiny_vq)}


@pytest.mark.parametrize("kind", ["ar", "maskgit"])
def test_corrections_touch_only_the_blamed_part_and_are_kept_only_if_better(generators, kind):
    gen, v = generators[kind], ScriptedReflectiveVerifier()
    base = parm(gen, PROMPTS, 2, v, early_stop=True)
    out = parm_plus_plus(gen, PROMPTS, 2, v, rounds=2)
    assert out.chosen == base.chosen and out.compute.token_forwards > base.compute.token_forwards
    kept = ~BLAMED if kind == "maskgit" else torch.arange(64) < 40  # AR keeps the rows above row 5
    assert any(c["accepted"] for t in out.trace for c in t["corrections"])
    for b, t in enumerate(out.trace):
        assert [c["round"] for c in t["corrections"]] == [0, 1]
        assert torch.equal(out.tokens[b][kept], base.tokens[b][kept])
        accepted = any(c["accepted"] for c in t["corrections"])
        assert accepted == (not torch.equal(out.tokens[b], base.tokens[b]))
        scores = [t["corrections"][0]["p_before"]] + [c["p_after"] for c in t["corrections"] if c["accepted"]]
        assert scores == sorted(scores)  # only improvements are kept


def test_var_corrections_resample_with_fresh_seeds():
    """VAR cannot inpaint a cell (its tokens span every scale): PARM++ resamples the image instead of failing."""
    from imagecot.generators.var import VARConfig, VARGenerator, VARTransformer
    from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4)).eval()
    cfg = VARConfig(vocab_size=32, z_channels=4, depth=1, embed_dim=32, num_heads=4, condition="text",
                    text_vocab=PromptTokenizer().vocab_size)
    gen, v = VARGenerator(VARTransformer(cfg), vq), ScriptedReflectiveVerifier()
    base = parm(gen, PROMPTS, 2, v, early_stop=True)
    out = parm_plus_plus(gen, PROMPTS, 2, v, rounds=1)
    assert out.compute.token_forwards > base.compute.token_forwards
    for b, t in enumerate(out.trace):
        assert len(t["corrections"]) == 1
        changed = not torch.equal(out.tokens[b], base.tokens[b])
        assert changed == t["corrections"][0]["accepted"]
    refilled = parm_plus_plus(gen, PROMPTS, 2, v, rounds=1, refill_rounds=1)  # PARM's refill passes through
    assert refilled.images.shape[0] == len(PROMPTS)


class SomeFlawsVerifier(ScriptedReflectiveVerifier):
    """Blames only the first prompt's image: the others are done after one reflection."""

    def reflect(self, images, prompts):
        return [r if p == PROMPTS[0] else {"kinds": [], "cells": torch.zeros(64, dtype=torch.bool),
                                           "sentence": "nothing wrong"}
                for r, p in zip(super().reflect(images, prompts), prompts)]


def test_search_scaling_replays_parm_plus_plus_as_the_online_search_with_the_pool_stride(generators):
    """benchmarks/search_scaling.py's PARM++ (PARM-ES from the records, then corrections) equals
    `geneval generate --verifier parm++ --seed-stride <pool>` at a later output: same images, compute, judgments."""
    from imagecot.search.replay import record_candidates, replay_parm_plus_plus
    from imagecot.search.strategies import Strategy
    gen, v, pool, n, j = generators["ar"], SomeFlawsVerifier(), 3, 2, 1
    recs = record_candidates(gen, PROMPTS, pool, v, v, v, lambda im, p: v(im, p) > 0.5, output_index=j)
    specs = [{"prompt": p} for p in PROMPTS]
    judged = []
    ok, compute, seen, audit = replay_parm_plus_plus(gen, recs, [(i, j) for i in range(3)], specs, n, v,
                                              lambda im, p: judged.append(im) or v(im, p) > 0.5, None, 0, 2, pool)
    online = Strategy("parm++", gen, v, n, options={"rounds": 2}, seed_stride=pool)(PROMPTS, [0, 1, 2], j)
    from imagecot.data.images import to_uint8  # the records keep uint8 images
    assert abs(to_uint8(judged[0]).astype(int) - to_uint8(online.images).astype(int)).max() <= 1
    assert sum(compute) == pytest.approx(online.compute.token_forwards)
    assert sum(seen) == online.verifier_images
    assert [len(t["corrections"]) for t in online.trace] == [2, 0, 0] and audit["reflected_on"] == 1
    base = parm(gen, PROMPTS, n, v, early_stop=True, first=j * pool)
    # scores of the 3 chosen images, then 2 reflections + 2 re-scores for the first, 1 reflection for the others
    assert online.verifier_images == base.verifier_images + 3 + 4 + 2


@pytest.mark.parametrize("aligned", [False, True])
def test_demo_comparison_reports_each_pick_and_every_correction(generators, tmp_path, aligned):
    import json

    import numpy as np

    from imagecot.demo_search import compare_base_and_parm_plus_plus
    from imagecot.world import parse_prompt
    specs = [parse_prompt(p) for p in PROMPTS[:2]]
    base_PJHW3 = np.zeros((2, 3, 32, 32, 3), np.uint8)   # blank base images: the evaluator finds nothing
    res = compare_base_and_parm_plus_plus(generators["ar"], None, specs, base_PJHW3, ScriptedReflectiveVerifier(),
                                          tmp_path, n=2, rounds=2, aligned_PJHW3=base_PJHW3 if aligned else None)
    assert res["base"] == 0.0 and res.get("aligned") == (0.0 if aligned else None)
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [e["prompt"] for e in saved["prompts"]] == PROMPTS[:2]
    for e in saved["prompts"]:
        assert len(e["parm++_correct"]) == 3 and [im["j"] for im in e["images"]] == [0, 1, 2]
        for im in e["images"]:
            assert im["chosen"] in range(2) and sorted(im["verdicts"]) == ["0", "1"]
            assert im["base"].startswith("wrong")
            # the scripted reflection always blames rows 5-6: both rounds ran, each kept or undone
            assert [c["round"] for c in im["corrections"]] == [0, 1]
            assert all(c["reflection"] == "wrong colour in rows 5-6" for c in im["corrections"])
        assert ("aligned_correct" in e) == aligned and all(("aligned" in im) == aligned for im in e["images"])
    from PIL import Image

    from imagecot.labelled_grid import FAIL
    png = np.asarray(Image.open(tmp_path / "compare.png").convert("RGB"))
    assert png.shape[1] >= (9 if aligned else 6) * 32 * 4   # 3 base | [3 aligned |] 3 PARM++ images, upscaled 4x
    assert (np.abs(png.astype(int) - FAIL).sum(-1) < 30).any()   # the blank base images carry the evaluator's cross
