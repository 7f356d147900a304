"""Replayed strategies equal the online ones — same choice, same compute — so scaling curves can be replayed."""

import pytest
import torch
from scripted_generator import ScriptedGenerator, ScriptedORM, ScriptedPARM, ScriptedPRM, level

from imagecot.search.best_of_n import best_of_n
from imagecot.search.parm import parm
from imagecot.search.replay import record_candidates, replay
from imagecot.search.step_search import step_search

PROMPTS = ["a circle", "two squares", "a red triangle", "a square"]


def judge(images, prompts):
    return (level(images) > 0.7).float()


@pytest.mark.parametrize("clear_from", [1, 3, 6])
def test_replays_match_online_strategies_on_the_scripted_generator(clear_from):
    n = 6
    recs = record_candidates(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedORM(), ScriptedPRM(),
                             ScriptedPARM(), judge)
    online = {
        "orm": best_of_n(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedORM()),
        "prm": step_search(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedPRM()),
        "parm": parm(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedPARM()),
        "parm_es": parm(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedPARM(), early_stop=True),
    }
    for name, out in online.items():
        reps = [replay(r, name, n) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, name
        assert sum(r.compute for r in reps) == out.compute.token_forwards, name
    # smaller N is the first N candidates of the pool
    assert [replay(r, "orm", 3).chosen for r in recs] == best_of_n(ScriptedGenerator(), PROMPTS, 3,
                                                                   ScriptedORM()).chosen


def test_replays_match_online_on_a_real_generator(tiny_ar):
    from imagecot.generators.sampling import SamplingConfig
    s, n = SamplingConfig(cfg_scale=2.0), 4

    class ImageVerifier:  # a deterministic stand-in that reads real previews
        def __call__(self, images, prompts, t=None, T=None):
            return (images[:, 0, :16].mean((1, 2)) + 1) / 2

        def clarity(self, previews, prompts, t, T):
            return torch.full((len(prompts),), float(t >= 3))

        def potential(self, previews, prompts, t, T):
            return self(previews, prompts)

    v = ImageVerifier()
    recs = record_candidates(tiny_ar, PROMPTS[:2], n, v, v, v, lambda im, p: (v(im, p) > 0.5).float(), s, seed=1)
    for name, out in {"orm": best_of_n(tiny_ar, PROMPTS[:2], n, v, s, seed=1),
                      "prm": step_search(tiny_ar, PROMPTS[:2], n, v, s, seed=1),
                      "parm_es": parm(tiny_ar, PROMPTS[:2], n, v, s, seed=1, early_stop=True)}.items():
        reps = [replay(r, name, n) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, name
        assert sum(r.compute for r in reps) == pytest.approx(out.compute.token_forwards), name
