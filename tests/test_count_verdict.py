"""The verdict a verifier's counts head implies, on planted count distributions."""

import pytest
import torch

from imagecot.verifiers.count_verdict import capped_sum, count_verdict, kind_index, relation_probability
from imagecot.world.spec import parse_prompt


def scene(**objects) -> torch.Tensor:
    """A certain counts distribution (36, 5): e.g. scene(red_circle=1, blue_square=2)."""
    counts_K5 = torch.zeros(36, 5)
    counts_K5[:, 0] = 1.0
    for name, n in objects.items():
        color, cls = name.split("_")
        counts_K5[kind_index(cls, color)] = torch.nn.functional.one_hot(torch.tensor(min(n, 4)), 5).float()
    return counts_K5


@pytest.mark.parametrize("prompt,objects,expected", [
    ("a red circle and a blue square", {"red_circle": 1, "blue_square": 1}, 1.0),
    ("a blue circle and a red square", {"red_circle": 1, "blue_square": 1}, 0.0),   # the colours swapped
    ("a red circle", {"red_circle": 1, "blue_circle": 1}, 0.5),   # which circle is more confident is unknown
    ("two circles and a square", {"red_circle": 1, "green_circle": 1, "blue_square": 1}, 1.0),
    ("two circles and a square", {"red_circle": 1, "blue_square": 1}, 0.0),
    ("three circles", {"red_circle": 2, "blue_circle": 1}, 1.0),
    ("three circles", {"red_circle": 2, "blue_circle": 2}, 0.0),   # four: the exclusion fails
    ("a circle left of a square", {"red_circle": 1, "red_square": 1}, 1.0),   # no parse: relations not read
])
def test_certain_counts_give_the_rules_verdict(prompt, objects, expected):
    assert count_verdict(parse_prompt(prompt), scene(**objects)) == pytest.approx(expected)


def parse_map(g: int = 8, **objects) -> torch.Tensor:
    """A certain parse distribution (g*g, 37): e.g. parse_map(red_circle=(0, 2)) puts a 2x2 red circle at
    row 0, column 2."""
    parse_NC = torch.zeros(g * g, 37)
    parse_NC[:, 0] = 1.0
    for name, (r, c) in objects.items():
        color, cls = name.split("_")
        for y in (r, r + 1):
            for x in (c, c + 1):
                parse_NC[y * g + x] = torch.nn.functional.one_hot(torch.tensor(kind_index(cls, color) + 1), 37)
    return parse_NC


TINY = dict(d_model=32, n_layer=1, n_head=2, channels=(8, 16), text_vocab=40)


def tiny_verifier(role: str = "orm", **config):
    """A seeded tiny LearnedVerifier (untrained) with these config fields: its heads' outputs are arbitrary but
    fixed, which is all the verdict plumbing needs."""
    from imagecot.verifiers.learned import LearnedVerifier, VerifierConfig, VerifierNet
    torch.manual_seed(0)
    return LearnedVerifier(VerifierNet(VerifierConfig(**TINY, **config)), role)


@pytest.mark.parametrize("prompt,where,expected", [
    ("a circle left of a square", {"red_circle": (3, 0), "blue_square": (3, 5)}, 1.0),
    ("a circle left of a square", {"red_circle": (3, 5), "blue_square": (3, 0)}, 0.0),   # right of it
    ("a circle above a square", {"red_circle": (0, 3), "blue_square": (5, 3)}, 1.0),
    ("a circle below a square", {"red_circle": (0, 3), "blue_square": (5, 3)}, 0.0),
    ("a circle left of a square", {"red_circle": (0, 0), "blue_square": (5, 1)}, 0.0),   # below it, not left
    ("a circle left of a square", {"red_circle": (0, 0), "blue_square": (5, 5)}, 1.0),   # diagonal: left and above
    ("a circle above a square", {"red_circle": (0, 0), "blue_square": (5, 5)}, 1.0),
])
def test_relations_are_read_from_the_parse_as_the_evaluator_rules(prompt, where, expected):
    objects = {k: 1 for k in where}
    verdict = count_verdict(parse_prompt(prompt), scene(**objects), parse_map(**where))
    assert abs(verdict - expected) < 0.05   # a logistic of the margin: a diagonal's margin is smaller


def test_a_relation_between_absent_objects_is_a_coin_flip_and_a_colour_reads_its_own_kind():
    kinds_circle, kinds_square = [kind_index("circle", "red")], [kind_index("square", "blue")]
    assert relation_probability("left of", parse_map(red_circle=(3, 0)), kinds_circle, kinds_square) == 0.5
    parse_NC = parse_map(red_circle=(3, 6), green_circle=(3, 0), blue_square=(3, 3))
    red_left = relation_probability("left of", parse_NC, kinds_circle, kinds_square)
    green_left = relation_probability("left of", parse_NC, [kind_index("circle", "green")], kinds_square)
    assert red_left < 0.01 and green_left > 0.99


def test_uncertain_counts_multiply_and_convolve():
    counts_K5 = scene()
    counts_K5[kind_index("circle", "red")] = torch.tensor([0.2, 0.8, 0, 0, 0])
    counts_K5[kind_index("circle", "blue")] = torch.tensor([0.5, 0.5, 0, 0, 0])
    assert capped_sum(counts_K5[[kind_index("circle", c) for c in ("red", "blue")]]).tolist() == pytest.approx(
        [0.1, 0.5, 0.4, 0, 0])
    assert count_verdict(parse_prompt("two circles"), counts_K5) == pytest.approx(0.4)
    # "a red circle": P(red) 0.8 x (P(no blue) 0.5 + half of P(blue) 0.5)
    assert count_verdict(parse_prompt("a red circle"), counts_K5) == pytest.approx(0.8 * 0.75)


def test_a_verifier_reads_its_chosen_tasks_verdict_from_the_counts_head():
    from imagecot.verifiers.learned import LearnedVerifier
    net = tiny_verifier(count_verdict_tasks=("color_attr",)).net
    prompts = ["a red circle and a blue square", "two circles"]
    images_B3HW = torch.rand(2, 3, 32, 32) * 2 - 1
    final = LearnedVerifier(net, "orm").heads(images_B3HW, prompts)
    preview = LearnedVerifier(net, "parm").heads(images_B3HW, prompts, 3, 8)
    verdict = count_verdict(parse_prompt(prompts[0]), final["counts"][0], final["parse"][0])
    for head in ("outcome", "value", "potential"):
        assert final[head][0].item() == pytest.approx(verdict, abs=1e-6)     # color_attr, final image
        assert final[head][1].item() != pytest.approx(count_verdict(parse_prompt(prompts[1]), final["counts"][1],
                                                                    final["parse"][1]))
    # on a preview only PARM's potential reads the counts (of that preview); value and outcome keep their heads
    preview_verdict = count_verdict(parse_prompt(prompts[0]), preview["counts"][0], preview["parse"][0])
    assert preview["potential"][0].item() == pytest.approx(preview_verdict, abs=1e-6)
    net.config.count_verdict_on_previews = False   # the potential head on previews, the counts on final images only
    own = LearnedVerifier(net, "parm").heads(images_B3HW, prompts, 3, 8)
    assert own["potential"][0].item() != pytest.approx(preview_verdict, abs=1e-3)
    assert LearnedVerifier(net, "orm").heads(images_B3HW, prompts)["outcome"][0].item() == pytest.approx(verdict,
                                                                                                      abs=1e-6)
    for head in ("outcome", "value"):
        assert preview[head][0].item() != pytest.approx(preview_verdict)
    net.config.count_verdict_tasks = ()
    assert LearnedVerifier(net, "orm")(images_B3HW, prompts)[0].item() != pytest.approx(verdict)


def test_a_verifier_multiplies_each_heads_score_by_the_verdict_for_its_times_head_tasks():
    from imagecot.verifiers.learned import LearnedVerifier, VerifierConfig, VerifierNet
    torch.manual_seed(0)
    cfg = dict(d_model=32, n_layer=1, n_head=2, channels=(8, 16), text_vocab=40)
    net = VerifierNet(VerifierConfig(**cfg))
    prompts = ["a circle left of a square", "two circles"]
    images_B3HW = torch.rand(2, 3, 32, 32) * 2 - 1
    own = LearnedVerifier(net, "orm").heads(images_B3HW, prompts)
    verdict = count_verdict(parse_prompt(prompts[0]), own["counts"][0], own["parse"][0])
    net.config.count_verdict_tasks = net.config.count_verdict_times_head = ("position",)
    times = LearnedVerifier(net, "orm").heads(images_B3HW, prompts)
    for head in ("outcome", "value", "potential"):
        assert times[head][0].item() == pytest.approx(own[head][0].item() * verdict, rel=1e-5)
        assert times[head][1].item() == pytest.approx(own[head][1].item())   # counting: its own head
    with pytest.raises(ValueError, match="not among count_verdict_tasks"):
        VerifierConfig(**cfg, count_verdict_times_head=("position",))


def test_platt_fit_recovers_a_planted_map_and_keeps_the_ranking():
    import numpy as np

    from imagecot.verifiers.calibration import platt_apply, platt_fit, platt_invert
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.01, 0.99, 20000)
    # the truth: P(right) = sigmoid(2 logit(raw) + 1), i.e. the raw score is too timid and too low
    truth = 1 / (1 + np.exp(-(2 * np.log(raw / (1 - raw)) + 1)))
    labels = rng.uniform(size=raw.size) < truth
    a, b = platt_fit(raw, labels)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(1.0, abs=0.1)
    assert platt_apply(0.5, (a, b)) > 0.7                       # even odds of the raw score are ~73% right
    assert platt_apply(0.2, (a, b)) < platt_apply(0.3, (a, b))  # monotone
    assert platt_apply(0.0, (a, b)) > 0 and platt_apply(1.0, (a, b)) < 1
    for p in (0.01, 0.3, 0.9):
        assert platt_invert(platt_apply(p, (a, b)), (a, b)) == pytest.approx(p, abs=1e-9)
    with pytest.raises(ValueError, match="both outcomes"):
        platt_fit(raw[:5], np.ones(5, bool))


def test_a_verifier_calibrates_its_counts_verdict_and_rejects_a_bad_map():
    from imagecot.verifiers.calibration import platt_apply
    from imagecot.verifiers.learned import LearnedVerifier, VerifierConfig, VerifierNet
    small = dict(d_model=32, n_layer=1, n_head=2, channels=(8, 16), text_vocab=40, count_verdict_tasks=("color_attr",))
    torch.manual_seed(0)
    net = VerifierNet(VerifierConfig(**small, count_verdict_calibration={"color_attr": [1.5, 0.8]}))
    prompt = ["a red circle and a blue square"]
    images_B3HW = torch.rand(1, 3, 32, 32) * 2 - 1
    for t, T in ((None, None), (3, 8)):     # the final verdict and PARM's potential on a preview
        h = LearnedVerifier(net, "parm").heads(images_B3HW, prompt, t, T)
        raw = count_verdict(parse_prompt(prompt[0]), h["counts"][0], h["parse"][0])
        assert h["potential"][0].item() == pytest.approx(platt_apply(raw, (1.5, 0.8)), abs=1e-6)
    with pytest.raises(ValueError, match="not among count_verdict_tasks"):
        VerifierConfig(**small, count_verdict_calibration={"counting": [1.0, 0.0]})
    with pytest.raises(ValueError, match="a > 0"):
        VerifierConfig(**small, count_verdict_calibration={"color_attr": [-1.0, 0.0]})


def test_a_single_objects_colour_is_read_from_the_parse_where_the_counts_confuse_it():
    # the counts head half believes both bindings; the parse places a yellow diamond and a blue circle
    counts_K5 = scene()
    for kind in [("diamond", "blue"), ("diamond", "yellow"), ("circle", "yellow"), ("circle", "blue")]:
        counts_K5[kind_index(*kind)] = torch.tensor([0.4, 0.6, 0, 0, 0])
    spec = parse_prompt("a blue diamond and a yellow circle")
    confused = count_verdict(spec, counts_K5)
    swapped = count_verdict(spec, counts_K5, parse_map(yellow_diamond=(1, 1), blue_circle=(5, 5)))
    right = count_verdict(spec, counts_K5, parse_map(blue_diamond=(1, 1), yellow_circle=(5, 5)))
    assert swapped == pytest.approx(0.0) and 0.05 < confused < right
    # one blue and one yellow diamond: which is more confident is unknown, half credit as without the parse
    both = count_verdict(parse_prompt("a blue diamond"), scene(blue_diamond=1, yellow_diamond=1),
                         parse_map(yellow_diamond=(1, 1), blue_diamond=(5, 5)))
    assert both == pytest.approx(0.5)
    # two or more objects are counted by the counts head: the parse's cells do not separate objects
    assert count_verdict(parse_prompt("two red circles"), scene(red_circle=2), parse_map(red_circle=(1, 1))) == 1.0


def test_the_reflection_names_a_relation_the_parse_finds_unmet_and_blames_both_objects():
    from imagecot.verifiers.count_verdict import misplaced_cells
    spec = parse_prompt("a red circle left of a blue square")
    swapped = parse_map(red_circle=(3, 5), blue_square=(3, 0), green_diamond=(0, 0))
    cells_N = misplaced_cells(spec, swapped)
    assert cells_N.sum() == 8 and not cells_N[0]   # both 2x2 objects, not the bystander diamond
    assert misplaced_cells(spec, parse_map(red_circle=(3, 0), blue_square=(3, 5))) is None
    assert misplaced_cells(parse_prompt("a red circle and a blue square"), swapped) is None   # no relation

    verifier = tiny_verifier("parm")
    net = verifier.net
    verifier.heads = lambda images, prompts, t=None, T=None: {   # a verifier that sees the swapped scene
        "flaws": torch.zeros(1, 4), "region": torch.zeros(1, 64, dtype=torch.bool),
        "parse": swapped[None], "potential": torch.tensor([0.9])}
    image = torch.zeros(1, 3, 32, 32)
    assert verifier.reflect(image, [spec["prompt"]])[0]["kinds"] == []   # its position verdict is its head's
    net.config.count_verdict_tasks = ("position",)   # the uncoloured format only: this prompt is colored_position
    assert verifier.reflect(image, [spec["prompt"]])[0]["kinds"] == []
    net.config.count_verdict_tasks = ("colored_position",)
    note = verifier.reflect(image, [spec["prompt"]])[0]
    assert note["kinds"] == ["wrong_position"] and torch.equal(note["cells"], cells_N)


def test_verdicts_are_chosen_per_prompt_format_and_the_composed_formats_are_told_apart():
    from imagecot.verifiers.prompts import prompt_format
    assert [prompt_format(parse_prompt(p)) for p in (
        "a circle left of a square", "a red circle left of a blue square", "three squares", "three red squares",
        "a red circle and a blue square", "a red circle", "two circles")] == [
        "position", "colored_position", "counting", "colored_counting", "color_attr", "colors", "counting"]
    verifier = tiny_verifier(count_verdict_tasks=("colored_position",))
    prompts = ["a red circle left of a blue square", "a circle left of a square"]
    images_B3HW = torch.rand(2, 3, 32, 32) * 2 - 1
    h = verifier.heads(images_B3HW, prompts)
    assert h["outcome"][0].item() == pytest.approx(
        count_verdict(parse_prompt(prompts[0]), h["counts"][0], h["parse"][0]), abs=1e-6)
    verifier.net.config.count_verdict_tasks = ()
    own = verifier.heads(images_B3HW, prompts)
    assert h["outcome"][1].item() == own["outcome"][1].item()   # the uncoloured format keeps its head
