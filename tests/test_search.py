"""Search strategies on a scripted generator with scripted verifiers: each picks what it should, at the cost it
should (dropped candidates cost nothing more)."""

import random

import numpy as np
import pytest
import torch
from scripted_generator import ScriptedGenerator, ScriptedORM, ScriptedPARM, ScriptedPRM

from imagecot.search.best_of_n import best_of_n
from imagecot.search.parm import parm
from imagecot.search.step_search import keep_top_per_group, step_search
from imagecot.seeds import image_seed
from imagecot.verifiers import OracleVerifier
from imagecot.world import parse_prompt, sample_scene
from imagecot.world.benchmark import contrast_spec

PROMPTS = ["a circle", "two squares", "a red triangle"]


def quality(i, j, seed=0):
    return (image_seed(seed, i, j) % 1000) / 1000


def best_q(i, n, seed=0):
    return max(range(n), key=lambda j: quality(i, j, seed))


def test_best_of_n_picks_the_verifiers_favourite_and_pays_for_all():
    gen = ScriptedGenerator()
    out = best_of_n(gen, PROMPTS, 6, ScriptedORM())
    assert out.chosen == [best_q(i, 6) for i in range(3)]
    assert out.compute.token_forwards == 3 * 6 * 8 and out.verifier_images == 18
    one = best_of_n(ScriptedGenerator(), PROMPTS, 1, ScriptedORM())
    assert one.chosen == [0, 0, 0]  # N=1 is plain sampling: image 0's seed


def test_keep_top_per_group_keeps_at_least_one():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.2])
    groups = torch.tensor([0, 0, 0, 1, 1])
    assert keep_top_per_group(scores, groups, 0.34).tolist() == [False, True, True, True, False]
    assert keep_top_per_group(scores, groups, 0.01).sum() == 2


def test_step_search_prunes_at_checkpoints_and_saves_compute():
    n, T = 8, 8
    out = step_search(ScriptedGenerator(T, clear_from=2), PROMPTS, n, ScriptedPRM(), checkpoints=[2, 4],
                      keep_fraction=0.5)
    assert out.chosen == [best_q(i, n) for i in range(3)]  # the PRM sees quality from step 2
    assert out.trace[0]["alive_after"] == {2: 4, 4: 2}
    assert out.compute.token_forwards == 3 * (8 * 2 + 4 * 2 + 2 * 4)


def test_parm_reference_runs_everything_and_chooses_among_yes():
    gen = ScriptedGenerator(8, clear_from=3)
    out = parm(gen, PROMPTS, 6, ScriptedPARM(), threshold=0.5)
    for i in range(3):
        yes = [j for j in range(6) if quality(i, j) >= 0.5]
        want = max(yes, key=lambda j: quality(i, j)) if yes else best_q(i, 6)
        assert out.chosen[i] == want
        assert all(v["step"] == 3 for v in out.trace[i]["verdicts"].values())  # judged at the first clear step
    assert out.compute.token_forwards == 3 * 6 * 8  # the reference never stops a candidate


def test_parm_falls_back_to_the_lowest_p_no_when_nobody_says_yes():
    out = parm(ScriptedGenerator(), PROMPTS, 5, ScriptedPARM(), threshold=1.1)
    assert out.chosen == [best_q(i, 5) for i in range(3)] and all(t["n_yes"] == 0 for t in out.trace)


def test_parm_early_stop_costs_nothing_after_the_no():
    gen = ScriptedGenerator(8, clear_from=3)
    out = parm(gen, PROMPTS, 6, ScriptedPARM(), early_stop=True, threshold=0.5)
    ref = parm(ScriptedGenerator(8, clear_from=3), PROMPTS, 6, ScriptedPARM(), threshold=0.5)
    assert out.chosen == ref.chosen  # same choice ...
    steps = gen.sessions[0].steps_run.tolist()
    for r, s in enumerate(steps):  # ... and every "no" stopped right after its judgment at step 3
        i, j = divmod(r, 6)
        no = quality(i, j) < 0.5
        all_no = all(quality(i, jj) < 0.5 for jj in range(6))
        expected = 3 if no and not (all_no and j == best_q(i, 6)) else 8
        assert s == expected, (r, s, expected)
    assert out.compute.token_forwards == sum(steps) < ref.compute.token_forwards


def test_parm_refill_replaces_stopped_candidates_with_fresh_seeds():
    out = parm(ScriptedGenerator(8, clear_from=3), PROMPTS, 4, ScriptedPARM(), early_stop=True, refill_rounds=2,
               threshold=0.5)
    assert max(max(t["verdicts"]) for t in out.trace) >= 4  # candidates beyond the first 4 were drawn
    for i, t in enumerate(out.trace):
        assert all(quality(i, j) >= 0.5 for j, v in t["verdicts"].items() if v["yes"])
    with pytest.raises(ValueError, match="early_stop"):
        parm(ScriptedGenerator(), PROMPTS, 2, ScriptedPARM(), refill_rounds=1)


def test_oracle_reads_the_evaluator():
    from imagecot.data.images import to_tensor
    specs = [parse_prompt(p) for p in ["a red circle", "three squares"]]
    good = [sample_scene(s, random.Random(0)).render() for s in specs]
    bad = [sample_scene(contrast_spec(s, random.Random(1)), random.Random(0)).render() for s in specs]
    scores = OracleVerifier()(to_tensor(np.stack(good + bad)), [s["prompt"] for s in specs] * 2)
    assert scores.tolist() == [1.0, 1.0, 0.0, 0.0] and OracleVerifier.is_oracle


def test_seeds_follow_global_prompt_ids_and_output_index_not_batching():
    gen = ScriptedGenerator()
    a = best_of_n(gen, PROMPTS[1:], 3, ScriptedORM(), first=6, prompt_ids=[1, 2])
    b = best_of_n(ScriptedGenerator(), PROMPTS, 3, ScriptedORM(), first=6)
    assert a.chosen == b.chosen[1:]
    assert a.chosen == [6 + max(range(3), key=lambda j: quality(i, 6 + j)) for i in (1, 2)]


def test_pipeline_with_a_strategy_writes_choices_and_n1_equals_plain_sampling(tmp_path, tiny_ar):
    import json

    from PIL import Image

    from imagecot.generators.sampling import SamplingConfig
    from imagecot.pipeline import generate_folder
    from imagecot.search.strategies import Strategy
    specs = [parse_prompt(p) for p in PROMPTS]
    s = SamplingConfig(cfg_scale=2.0)
    plain = generate_folder(tiny_ar, specs, tmp_path / "plain", 2, s, seed=3, progress=False)
    one = Strategy("orm", tiny_ar, ScriptedORM(), n=1, sampling=s, seed=3)
    info = generate_folder(tiny_ar, specs, tmp_path / "n1", 2, s, seed=3, progress=False, search=one)
    assert info["search"]["strategy"] == "orm"
    assert plain["compute"]["token_forwards"] == info["compute"]["token_forwards"]
    for i in range(3):
        for j in range(2):
            a = np.asarray(Image.open(tmp_path / "plain" / f"{i:05d}" / "samples" / f"{j:04d}.png"))
            b = np.asarray(Image.open(tmp_path / "n1" / f"{i:05d}" / "samples" / f"{j:04d}.png"))
            assert np.array_equal(a, b)
    oracle = Strategy("oracle", tiny_ar, OracleVerifier(), n=3, sampling=s, seed=3)
    info = generate_folder(tiny_ar, specs, tmp_path / "oracle", 2, s, seed=3, progress=False, search=oracle)
    rec = json.loads((tmp_path / "oracle" / "00001" / "search.json").read_text())
    assert rec["oracle"] and info["search"]["oracle"] and all(0 <= c < 6 for c in rec["chosen"])
    assert rec["chosen"][1] >= 3  # image 1 searched candidates 3..5
    with pytest.raises(ValueError, match="reflect"):
        Strategy("parm++", tiny_ar, ScriptedORM(), n=2)


def test_parm_refill_stops_a_round_that_cannot_beat_a_finished_candidate(tiny_ar):
    class DimNoes:  # everything is clear at once and says "no" (potential < 0.5)
        def clarity(self, previews, prompts, t, T):
            return torch.ones(len(prompts))

        def potential(self, previews, prompts, t, T):
            return (previews.mean((1, 2, 3)) + 1) / 4

    out = parm(tiny_ar, PROMPTS, 3, DimNoes(), early_stop=True, refill_rounds=2)
    assert [t["finished"] for t in out.trace] == [1, 1, 1]  # only each prompt's best "no" ran to the end
    assert out.compute.token_forwards < parm(tiny_ar, PROMPTS, 3, DimNoes()).compute.token_forwards * 3
