"""The validation-side choices of benchmarks/: PARM's waves rule (choose_parm_waves.py) and two_judges.py's records."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from imagecot.search.replay import Record, replay

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_replicated_rule_rejects_waves_that_pass_pooled_but_fail_one_pool():
    not_worse = script("choose_parm_waves").not_worse
    # the pooled interval passes (-0.004 >= -0.005), the 500-prompt pool alone does not (-0.019)
    assert not_worse("noninferior", 0.005, 0.932, 0.931, -0.004, (-0.019, -0.003))
    assert not not_worse("replicated", 0.005, 0.932, 0.931, -0.004, (-0.019, -0.003))
    assert not_worse("replicated", 0.005, 0.931, 0.931, -0.003, (-0.004, -0.004))
    assert not_worse("replicated", 0.005, 0.931, 0.931, -0.003)   # one pool: the noninferior rule
    assert not not_worse("point", 0.005, 0.920, 0.931, 0.0)
    with pytest.raises(ValueError, match="replicated"):
        not_worse("pooled", 0.005, 0.9, 0.9, 0.0)


def record(potential_CT, orm_C, correct_C):
    C, T = potential_CT.shape
    return Record(np.ones(T), potential_CT.copy(), np.ones((C, T)), potential_CT, orm_C, correct_C)


def test_two_judges_takes_b_for_the_steps_and_the_named_judge_for_the_final_image():
    tj = script("two_judges")
    correct_C = np.array([False, True])
    # A: both final images look alike, and its pick (the first) is wrong; B's preview says the first has no potential
    rec_a = record(np.array([[0.9, 0.95], [0.9, 0.94]]), np.array([0.95, 0.94]), correct_C)
    rec_b = record(np.array([[0.02, 0.6], [0.8, 0.9]]), np.array([0.6, 0.9]), correct_C)
    steps_b_final_a = tj.judged_by(rec_a, rec_b, "a")
    assert steps_b_final_a.potential_CT[:, -1].tolist() == [0.95, 0.94]        # A's final judgment
    assert steps_b_final_a.potential_CT[:, 0].tolist() == [0.02, 0.8]          # B's preview judgment
    assert not replay(rec_a, "orm", 2).correct and not replay(rec_a, "parm", 2, threshold=0.5).correct
    assert replay(steps_b_final_a, "parm", 2, threshold=0.5).correct          # B's "no" drops A's wrong pick
    both = tj.judged_by(rec_a, rec_b, "ab").orm_C
    assert both[0] == pytest.approx(tj.logit_mean(np.array(0.95), np.array(0.6)))
    assert replay(tj.judged_by(rec_a, rec_b, "ab"), "orm", 2).correct           # 0.94 and 0.9 outrank 0.95 and 0.6
