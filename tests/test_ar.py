import pytest
import torch

from imagecot.generators.ar import ARGenerator, ARTransformer
from imagecot.generators.base import run_to_end
from imagecot.generators.sampling import SamplingConfig
from imagecot.train.ar import ar_loss_fn

PROMPTS = ["a red circle", "two squares", "a triangle left of a diamond", "a blue square and a pink circle"]


@pytest.mark.parametrize("cfg_scale", [1.0, 2.5])
def test_cached_and_uncached_sampling_give_identical_tokens(tiny_ar, cfg_scale):
    s = SamplingConfig(cfg_scale=cfg_scale, top_k=20, top_p=0.9, temperature=1.3)
    a = tiny_ar.generate(PROMPTS, s, seed=7)
    b = tiny_ar.generate(PROMPTS, s, seed=7, use_cache=False)
    assert torch.equal(a.tokens, b.tokens)
    assert a.compute.token_forwards < b.compute.token_forwards
    rows = 2 if cfg_scale != 1.0 else 1
    assert a.compute.token_forwards == rows * len(PROMPTS) * (12 + 63)


def test_sampling_is_deterministic_per_seed_and_per_candidate(tiny_ar):
    s = SamplingConfig(cfg_scale=2.0)
    a = tiny_ar.generate(PROMPTS, s, seed=[1, 2, 3, 4])
    b = tiny_ar.generate(PROMPTS[2:], s, seed=[3, 4])  # batch composition does not matter
    assert torch.equal(a.tokens[2:], b.tokens)
    c = tiny_ar.generate(PROMPTS, s, seed=[9, 9, 9, 9])
    assert not torch.equal(a.tokens, c.tokens)


def test_dropped_candidates_cost_nothing_and_keep_their_tokens(tiny_ar):
    s = SamplingConfig(cfg_scale=2.0)
    full = tiny_ar.generate(PROMPTS, s, seed=[1, 2, 3, 4])
    sess = tiny_ar.start(PROMPTS, s, seed=[1, 2, 3, 4])
    assert sess.num_steps == 8
    sess.step()
    sess.step()
    before = sess.compute.token_forwards
    assert sess.preview().shape == (4, 3, 32, 32)
    sess.keep(torch.tensor([False, True, False, True]))
    while sess.t < sess.num_steps:
        sess.step()
    out = sess.finish()
    assert out.ids.tolist() == [1, 3]
    assert torch.equal(out.tokens, full.tokens[[1, 3]])
    # after the drop only 2 candidates x 2 rows (cond + uncond) pay, one token per step
    assert out.compute.token_forwards - before == 2 * 2 * (64 - 16 - 1)  # the last token needs no forward


def test_preview_fills_unfinished_rows_with_blank(tiny_ar):
    sess = tiny_ar.start(["a circle"], SamplingConfig())
    blank = tiny_ar.decode(tiny_ar.blank_tokens_N[None])
    assert torch.allclose(sess.preview(), blank)
    sess.step()
    assert sess.tokens_Bn.shape[1] == 8


def test_log_prob_equals_the_cached_samplers_own_log_probs(tiny_ar):
    """log_prob (teacher-forced, one pass) == sum of the KV-cached session's next-token log-probs."""
    from imagecot.generators.sampling import filter_logits, sample_from_uniform
    sess = tiny_ar.start(PROMPTS[:2], SamplingConfig(), seed=0)
    total = torch.zeros(2, dtype=torch.float64)
    for n in range(64):
        logp = sess.next_logits_BV.log_softmax(-1)
        tok = sample_from_uniform(filter_logits(sess.next_logits_BV, sess.sampling), sess.u_BN[sess.ids, n])
        total += logp.gather(1, tok[:, None]).squeeze(1).double()
        sess.tokens_Bn = torch.cat([sess.tokens_Bn, tok[:, None]], 1)
        if n + 1 < 64:
            sess.next_logits_BV = sess._forward_last()
    out_tokens = sess.tokens_Bn
    assert torch.equal(out_tokens, tiny_ar.generate(PROMPTS[:2], SamplingConfig(), seed=0).tokens)
    lp = tiny_ar.log_prob(out_tokens, PROMPTS[:2])
    assert lp.shape == (2,) and torch.allclose(lp.double(), total, atol=1e-3)
    # the session keeps the same sum itself, and the bare model gives it from the encoded prompts
    assert torch.allclose(tiny_ar.generate(PROMPTS[:2], SamplingConfig(), seed=0).log_prob, total, atol=1e-3)
    cond = tiny_ar.conditioner.encode(PROMPTS[:2])
    assert torch.allclose(tiny_ar.model.sequence_log_prob(out_tokens, cond), lp)


def test_tiny_ar_overfits_one_prompt(tiny_vq, tiny_ar_config):
    """Trained on one prompt's scenes, the model's samples reproduce training token statistics."""
    from imagecot.data.shapes import ShapesStream
    torch.manual_seed(0)
    model = ARTransformer(tiny_ar_config)
    model.config.cond_dropout = 0.0

    class OnePrompt(ShapesStream):
        def sample_spec(self, rng):
            from imagecot.world import parse_prompt
            return parse_prompt("a red square")

    stream = OnePrompt(seed=0)
    loss_fn = ar_loss_fn(tiny_vq, stream, 16)
    # one fixed batch, memorised
    batch_step = 0
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = loss_fn(model, batch_step)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.15 * first, (first, loss.item())
    gen = ARGenerator(model.eval(), tiny_vq)
    out = gen.generate(["a red square"] * 4, SamplingConfig(top_k=1), seed=0)
    from imagecot.data.images import to_tensor
    with torch.no_grad():
        train_tokens = tiny_vq.encode(to_tensor(stream.batch(0, 16).images_BHW3)).flatten(1)
    # greedy samples follow a training sequence for its first row at least
    assert any(torch.equal(out.tokens[0, :8], t[:8]) for t in train_tokens)


def test_bad_sampling_arguments_are_explained():
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)


def test_keep_rejects_out_of_range(tiny_ar):
    sess = tiny_ar.start(PROMPTS[:2], SamplingConfig())
    with pytest.raises(ValueError, match="keep"):
        sess.keep(torch.tensor([5]))


@pytest.mark.parametrize("use_cache", [True, False])
def test_regenerating_from_a_row_keeps_the_rows_above(tiny_ar, use_cache):
    prompts, s = ["a red circle", "two squares"], SamplingConfig(cfg_scale=2.0)
    full = tiny_ar.generate(prompts, s, seed=[1, 2])
    prefix = full.tokens[:, :24]  # rows 0-2 kept
    same = tiny_ar.start(prompts, s, seed=[1, 2], use_cache=use_cache, prefix_tokens=prefix)
    assert same.t == 3
    out = run_to_end(same)
    assert torch.equal(out.tokens, full.tokens)  # same seeds: the rest comes out as before
    redo = tiny_ar.start(prompts, s, seed=[7, 8], use_cache=use_cache, prefix_tokens=prefix)
    new = run_to_end(redo)
    assert torch.equal(new.tokens[:, :24], prefix) and not torch.equal(new.tokens, full.tokens)
    if use_cache:  # the kept rows go through in one forward; every token is still processed once
        assert new.compute.forward_passes == full.compute.forward_passes - 24
        assert new.compute.token_forwards == full.compute.token_forwards
    with pytest.raises(ValueError, match="multiple of 8"):
        tiny_ar.start(prompts, s, prefix_tokens=full.tokens[:, :5])
