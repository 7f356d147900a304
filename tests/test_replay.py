"""Replayed strategies equal the online ones — same choice, same compute — so scaling curves can be replayed."""

import dataclasses

import numpy as np
import pytest
import torch
from scripted_generator import ScriptedGenerator, ScriptedORM, ScriptedPARM, ScriptedPRM, level

from imagecot.data.images import to_uint8
from imagecot.search.best_of_n import best_of_n
from imagecot.search.parm import parm
from imagecot.search.replay import Record, record_candidates, replay
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
        "parm_es1": parm(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedPARM(), early_stop=True, max_yes=1),
    }
    for name, out in online.items():
        reps = [replay(r, name, n) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, name
        assert sum(r.compute for r in reps) == out.compute.token_forwards, name
        assert sum(r.verifier_images for r in reps) == out.verifier_images, name
    for wave, stop_at, yeses in ((2, 0.5, 1), (4, 0.9, 1), (1, 2.0, 1), (1, 0.5, 2), (2, 0.3, 3)):
        out = parm(ScriptedGenerator(8, clear_from), PROMPTS, n, ScriptedPARM(), early_stop=True, wave=wave,
                   stop_at=stop_at, stop_yeses=yeses)
        reps = [replay(r, "parm_wave", n, wave=wave, stop_at=stop_at, stop_yeses=yeses) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, (wave, stop_at, yeses)
        assert sum(r.compute for r in reps) == out.compute.token_forwards, (wave, stop_at, yeses)
        assert sum(r.verifier_images for r in reps) == out.verifier_images, (wave, stop_at, yeses)
    # PARM's gate is the verifier's own parm_threshold where it has one (chosen on validation), else 0.5
    for thr in (0.2, 0.8):
        gated = ScriptedPARM()
        gated.parm_threshold = thr
        out = parm(ScriptedGenerator(8, clear_from), PROMPTS, n, gated, early_stop=True)
        reps = [replay(r, "parm_es", n, threshold=thr) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, thr
        assert sum(r.compute for r in reps) == out.compute.token_forwards, thr
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
                      "parm_es": parm(tiny_ar, PROMPTS[:2], n, v, s, seed=1, early_stop=True),
                      "parm_es1": parm(tiny_ar, PROMPTS[:2], n, v, s, seed=1, early_stop=True, max_yes=1)}.items():
        reps = [replay(r, name, n) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, name
        assert sum(r.compute for r in reps) == pytest.approx(out.compute.token_forwards), name
        assert sum(r.verifier_images for r in reps) == out.verifier_images, name
    out = parm(tiny_ar, PROMPTS[:2], n, v, s, seed=1, early_stop=True, wave=1, stop_at=0.5)
    reps = [replay(r, "parm_wave", n, wave=1, stop_at=0.5) for r in recs]
    assert [r.chosen for r in reps] == out.chosen
    assert sum(r.compute for r in reps) == pytest.approx(out.compute.token_forwards)


def test_parm_clarity_threshold_moves_the_judged_step_online_and_in_replay(tiny_ar):
    """The clarity judgment's cut (the verifier's `parm_clarity`, chosen on validation) decides at which step each
    candidate's potential is judged: online and replayed PARM judge at the same step, the first with
    clarity >= the cut, and choose the same candidates."""
    from imagecot.generators.sampling import SamplingConfig
    s, n = SamplingConfig(cfg_scale=2.0), 4

    class GradedClarity:   # clarity grows with progress; the potential reads the preview
        def __init__(self, clarity_cut):
            self.parm_clarity = clarity_cut

        def __call__(self, images, prompts, t=None, T=None):
            return (images[:, 0, :16].mean((1, 2)) + 1) / 2

        def clarity(self, previews, prompts, t, T):
            return torch.full((len(prompts),), t / T)

        def potential(self, previews, prompts, t, T):
            return self(previews, prompts)

    recs = record_candidates(tiny_ar, PROMPTS[:2], n, GradedClarity(0.5), GradedClarity(0.5), GradedClarity(0.5),
                             lambda im, p: (GradedClarity(0.5)(im, p) > 0.5).float(), s, seed=1)
    T = len(recs[0].cost_T)
    for cut in (0.3, 0.5, 0.9):
        out = parm(tiny_ar, PROMPTS[:2], n, GradedClarity(cut), s, seed=1, early_stop=True)
        steps = {v["step"] for tr in out.trace for v in tr["verdicts"].values()}
        assert steps == {min(t for t in range(1, T + 1) if t / T >= cut or t == T)}, cut
        reps = [replay(r, "parm_es", n, clarity=cut) for r in recs]
        assert [r.chosen for r in reps] == out.chosen, cut
        assert sum(r.compute for r in reps) == pytest.approx(out.compute.token_forwards), cut
        assert sum(r.verifier_images for r in reps) == out.verifier_images, cut


def test_seed_stride_reproduces_a_replayed_row_at_a_later_output(tiny_ar):
    """Output j of the table's pool is seeds j*pool + c: an online search with --seed-stride pool and N < pool
    searches its first N candidates, the ones the replay picks from."""
    from imagecot.generators.sampling import SamplingConfig
    from imagecot.search.strategies import Strategy
    s, pool, n = SamplingConfig(cfg_scale=2.0), 4, 2

    def orm(images, prompts, t=None, T=None):
        return (images[:, 0, :16].mean((1, 2)) + 1) / 2

    recs = record_candidates(tiny_ar, PROMPTS[:2], pool, orm, orm, _Heads(orm), lambda im, p: orm(im, p) > 0.5,
                             s, seed=1, output_index=1)
    online = Strategy("orm", tiny_ar, orm, n, s, seed=1, seed_stride=pool)(PROMPTS[:2], [0, 1], output_index=1)
    picks = [replay(r, "orm", n).chosen for r in recs]
    assert [pool + c for c in picks] == online.chosen   # online numbers candidates by seed index
    for r, c, img in zip(recs, picks, to_uint8(online.images)):
        assert np.array_equal(r.images_C[c], img)
    with pytest.raises(ValueError, match="seed_stride"):
        Strategy("orm", tiny_ar, orm, n=4, seed_stride=2)


@pytest.mark.parametrize("family,kept", [("ar", True), ("ar", False), ("maskgit", True)])
def test_rescoring_a_recorded_pool_equals_recording_it_with_the_new_verifiers(family, kept, request):
    """A record keeps its previews' token maps (AR, MaskGIT); an AR record without them (recorded before they
    were kept) is rebuilt from the final tokens: either way other verifiers score a recorded pool without
    sampling it again."""
    from imagecot.generators.sampling import SamplingConfig
    from imagecot.search.replay import rescore_records
    gen = request.getfixturevalue(f"tiny_{family}")
    s, pool = SamplingConfig(cfg_scale=2.0), 3

    def old(images, prompts, t=None, T=None):
        return (images[:, 0, :16].mean((1, 2)) + 1) / 2

    def new(images, prompts, t=None, T=None):   # reads every row, weighted: each step's preview scores differently
        rows = torch.arange(1, images.shape[2] + 1, dtype=images.dtype)
        return torch.sigmoid((images[:, 2].mean(2) * rows).mean(1))

    def judge(images, prompts):
        return old(images, prompts) > 0.5

    recorded = record_candidates(gen, PROMPTS[:2], pool, old, old, _Heads(old), judge, s, seed=2)
    assert all(r.preview_tokens_CTL.shape == (pool, len(r.cost_T) - 1, r.tokens_C.shape[1]) for r in recorded)
    if not kept:
        recorded = [dataclasses.replace(r, preview_tokens_CTL=None) for r in recorded]
    rescored = rescore_records(gen, recorded, PROMPTS[:2], new, new, _Heads(new))
    direct = record_candidates(gen, PROMPTS[:2], pool, new, new, _Heads(new), judge, s, seed=2)
    assert len(rescored) == len(direct) == 2
    for a, b in zip(rescored, direct):
        for k in ("prm_CT", "clarity_CT", "potential_CT", "orm_C"):
            np.testing.assert_allclose(getattr(a, k), getattr(b, k), atol=1e-5, err_msg=k)
        assert np.array_equal(a.correct_C, b.correct_C) and np.array_equal(a.tokens_C, b.tokens_C)
    assert not np.allclose(recorded[0].prm_CT, rescored[0].prm_CT)   # the new verifier did score them
    finals = rescore_records(gen, recorded, PROMPTS[:2], new, new, _Heads(new), finals_only=True)
    for a, r, full in zip(finals, recorded, rescored):   # the last step and the ORM rescored, the previews kept
        for k in ("prm_CT", "potential_CT"):
            np.testing.assert_array_equal(getattr(a, k)[:, :-1], getattr(r, k)[:, :-1], err_msg=k)
            np.testing.assert_allclose(getattr(a, k)[:, -1], getattr(full, k)[:, -1], atol=1e-6, err_msg=k)
        np.testing.assert_allclose(a.orm_C, full.orm_C, atol=1e-6)
    if not kept:
        with pytest.raises(ValueError, match="previews depend on more"):
            rescore_records(object(), recorded, PROMPTS[:2], new, new, _Heads(new))


def test_records_keep_their_preview_tokens_on_disk_and_older_records_still_load(tmp_path, tiny_maskgit):
    from imagecot.search.replay import load_records, save_records

    def score(images, prompts, t=None, T=None):
        return level(images)

    recorded = record_candidates(tiny_maskgit, PROMPTS[:2], 2, score, score, _Heads(score), judge, seed=1)
    save_records(tmp_path / "r.npz", recorded)
    back = load_records(tmp_path / "r.npz")
    assert back[1].preview_tokens_CTL.dtype == np.uint16
    np.testing.assert_array_equal(back[1].preview_tokens_CTL, recorded[1].preview_tokens_CTL)
    save_records(tmp_path / "old.npz", [dataclasses.replace(r, preview_tokens_CTL=None) for r in recorded])
    assert load_records(tmp_path / "old.npz")[0].preview_tokens_CTL is None


class _Heads:
    def __init__(self, f):
        self.f = f

    def clarity(self, previews, prompts, t, T):
        return torch.ones(len(prompts))

    def potential(self, previews, prompts, t, T):
        return self.f(previews, prompts)


def _record(clarity_CT, potential_CT):
    C, T = potential_CT.shape
    return Record(np.ones(T), potential_CT, clarity_CT, potential_CT, potential_CT[:, -1], np.arange(C) % 2 == 0)


def test_early_stop_keeps_the_best_no_while_nobody_says_yes():
    # candidate 0 is judged "no" (0.4) at step 1, candidate 1 "no" (0.1) at step 3: the reference picks 0
    clarity = np.array([[1, 1, 1, 1], [0, 0, 1, 1]], float)
    potential = np.array([[0.4, 0.4, 0.4, 0.4], [0.5, 0.5, 0.1, 0.1]])
    rec = _record(clarity, potential)
    ref, es = replay(rec, "parm", 2), replay(rec, "parm_es", 2)
    assert ref.chosen == es.chosen == 0
    assert es.compute == 4 + 3 < ref.compute  # candidate 1 stops after its "no" at step 3


def test_early_stop_always_chooses_what_the_reference_chooses():
    rng = np.random.default_rng(0)
    for _ in range(200):
        C, T = rng.integers(1, 7), rng.integers(2, 9)
        clarity = (rng.random((C, T)) < 0.4).astype(float)
        potential = rng.random((C, T)) * rng.choice([0.6, 1.0])  # often nobody says yes
        rec = _record(clarity, potential)
        ref, es = replay(rec, "parm", C), replay(rec, "parm_es", C)
        assert es.chosen == ref.chosen and es.compute <= ref.compute


def test_max_yes_keeps_only_the_best_judged_yes_running():
    # three candidates say "yes" at step 1 (0.7, 0.9, 0.8): max_yes=1 runs only candidate 1 to the end
    clarity = np.ones((3, 4))
    potential = np.array([[0.7, 0.7, 0.7, 0.99], [0.9, 0.9, 0.9, 0.9], [0.8, 0.8, 0.8, 0.8]])
    rec = _record(clarity, potential)
    es, es1 = replay(rec, "parm_es", 3), replay(rec, "parm_es1", 3)
    assert es.chosen == 0 and es.compute == 12        # all run: candidate 0's final potential is the best
    assert es1.chosen == 1 and es1.compute == 4 + 1 + 1
    with pytest.raises(ValueError, match="need early_stop"):
        parm(ScriptedGenerator(), PROMPTS, 2, ScriptedPARM(), max_yes=1)


def test_waves_stop_at_the_kth_confident_yes_and_otherwise_choose_what_the_reference_chooses():
    # candidate 2 (the second wave of 2) ends with potential 0.95: the third wave never starts
    clarity = np.ones((6, 3))
    potential = np.array([[0.3] * 3, [0.6] * 3, [0.7, 0.7, 0.95], [0.2] * 3, [0.99] * 3, [0.99] * 3])
    rec = _record(clarity, potential)
    wave = replay(rec, "parm_wave", 6, wave=2, stop_at=0.9)
    assert wave.chosen == 2 and wave.compute == (1 + 3) + (3 + 1)   # cand 0 stops on its "no"; cand 3 too
    assert replay(rec, "parm", 6).chosen == 4
    # two confident yeses: candidate 2's 0.95 is one, the third wave (4, 5: 0.99 each) brings more, and the best
    two = replay(rec, "parm_wave", 6, wave=2, stop_at=0.9, stop_yeses=2)
    assert two.chosen == 4 and two.compute == wave.compute + (3 + 3)
    assert replay(rec, "parm_wave", 6, wave=2, stop_at=0.9, stop_yeses=4).compute == two.compute   # all 6 ran
    with pytest.raises(ValueError, match="wave=W, stop_at=S"):
        replay(rec, "parm_wave", 6)
    with pytest.raises(ValueError, match="stop_yeses must be >= 1"):
        parm(ScriptedGenerator(), PROMPTS, 2, ScriptedPARM(), early_stop=True, wave=1, stop_yeses=0)
    rng = np.random.default_rng(1)
    for _ in range(200):   # never confident: every wave runs, and the reference's choice is kept
        C, T = rng.integers(1, 9), rng.integers(2, 9)
        clarity = (rng.random((C, T)) < 0.4).astype(float)
        rec = _record(clarity, rng.random((C, T)) * rng.choice([0.6, 1.0]))
        ref, w = replay(rec, "parm", C), replay(rec, "parm_wave", C, wave=int(rng.integers(1, 4)), stop_at=1.1)
        assert w.chosen == ref.chosen and w.compute <= ref.compute
