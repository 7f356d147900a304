import json
from pathlib import Path

import pytest
import torch

from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.sampling import SamplingConfig
from imagecot.generators.var import VARConfig, VARGenerator, VARTransformer
from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel

REFERENCE = json.loads((Path(__file__).parent / "data" / "var_reference_layout.json").read_text())
PROMPTS = ["a red circle", "two squares", "a triangle left of a diamond", "a blue square and a pink circle"]


def _layout(model):
    return {k: [list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()}


def test_official_d16_layout_matches_reference_names_and_shapes():
    with torch.device("meta"):
        model = VARTransformer(VARConfig.var_official(16))
    ours, ref = _layout(model), REFERENCE["var_d16"]
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if v != ref[k]} == {}


@pytest.mark.parametrize("depth", [20, 24, 30])
def test_official_larger_depths_have_the_reference_parameter_counts(depth):
    with torch.device("meta"):
        model = VARTransformer(VARConfig.var_official(depth))
    assert sum(p.numel() for p in model.parameters()) == REFERENCE["notes"][f"var_d{depth}_params"]


def test_official_checkpoint_loads_strict_from_a_weights_only_file(tmp_path):
    """A state dict saved the way VAR's .pth files are (plain tensors) loads with strict=True."""
    cfg = VARConfig(vocab_size=16, z_channels=4, patch_nums=(1, 2, 4), depth=2, condition="class", num_classes=10)
    src = VARTransformer(cfg)
    torch.save(src.state_dict(), tmp_path / "var_tiny.pth")
    from imagecot.generators.var_official import load_official_var
    model = load_official_var(tmp_path / "var_tiny.pth", cfg)
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


@pytest.fixture
def tiny_var():
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4)).eval()
    cfg = VARConfig(vocab_size=32, z_channels=4, depth=2, embed_dim=32, num_heads=4, condition="text",
                    text_vocab=PromptTokenizer().vocab_size)
    model = VARTransformer(cfg)
    with torch.no_grad():  # AdaLN gammas start near zero; wake them so the test exercises attention
        for blk in model.blocks:
            blk.ada_lin[-1].bias.normal_(0, 0.5)
    return VARGenerator(model, vq)


def test_attention_mask_lets_scale_k_see_exactly_scales_up_to_k():
    model = VARTransformer(VARConfig(vocab_size=8, z_channels=4, patch_nums=(1, 2, 3), depth=1, embed_dim=16,
                                     num_heads=2, condition="class", num_classes=3))
    lvl = model.lvl_1L[0]
    allowed = model.attn_bias_for_masking[0, 0] == 0
    for q in range(lvl.numel()):
        for k in range(lvl.numel()):
            assert bool(allowed[q, k]) == bool(lvl[k] <= lvl[q])


def test_text_prefix_is_seen_by_scales_but_sees_no_scale(tiny_var):
    m = tiny_var.model
    keep = torch.tensor([[True, True, False] + [False] * 9])
    bias = m._full_bias(keep, 5)
    P = 12
    assert torch.isinf(bias[0, 0, :P, P:]).all()            # prefix never sees image tokens
    assert (bias[0, 0, P:, :2] == 0).all() and torch.isinf(bias[0, 0, P:, 2:P]).all()  # pads hidden


@pytest.mark.parametrize("cfg_scale", [1.0, 2.5])
def test_cached_and_uncached_sampling_agree(tiny_var, cfg_scale):
    s = SamplingConfig(cfg_scale=cfg_scale, top_k=20, top_p=0.95)
    a = tiny_var.generate(PROMPTS, s, seed=3)
    b = tiny_var.generate(PROMPTS, s, seed=3, use_cache=False)
    assert torch.equal(a.tokens, b.tokens)
    assert a.tokens.shape == (4, sum(pn * pn for pn in (1, 2, 3, 4, 5, 6, 8)))
    assert a.compute.token_forwards < b.compute.token_forwards


def test_class_conditional_cached_and_uncached_agree():
    torch.manual_seed(1)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4)).eval()
    model = VARTransformer(VARConfig(vocab_size=32, z_channels=4, depth=2, embed_dim=32, num_heads=4,
                                     condition="class", num_classes=10))
    gen = VARGenerator(model, vq)
    s = SamplingConfig(cfg_scale=2.5, top_k=10, top_p=0.9)
    assert torch.equal(gen.generate([1, 2, 3], s, seed=0).tokens, gen.generate([1, 2, 3], s, seed=0, use_cache=False).tokens)
    with pytest.raises(ValueError, match="class ids"):
        gen.generate(["a circle"], s)


def test_steps_previews_and_drops(tiny_var):
    s = SamplingConfig(cfg_scale=2.0)
    full = tiny_var.generate(PROMPTS, s, seed=[1, 2, 3, 4])
    sess = tiny_var.start(PROMPTS, s, seed=[1, 2, 3, 4])
    assert sess.num_steps == 7
    sess.step()
    first = sess.preview()
    sess.step()
    assert first.shape == (4, 3, 32, 32) and not torch.allclose(first, sess.preview())
    before = sess.compute.token_forwards
    sess.keep(torch.tensor([0, 2]))
    while sess.t < sess.num_steps:
        sess.step()
    out = sess.finish()
    assert out.ids.tolist() == [0, 2] and torch.equal(out.tokens, full.tokens[[0, 2]])
    assert out.compute.token_forwards - before == 2 * 2 * sum(pn * pn for pn in (3, 4, 5, 6, 8))
    assert torch.allclose(out.images, tiny_var.decode(out.tokens), atol=1e-5)


def test_log_prob_equals_the_samplers_own_log_prob_and_is_differentiable(tiny_var):
    """At cfg 1, temperature 1 and no top-k/p the sampler draws from the model: its log-probability of each scale's
    tokens given the coarser ones is what the teacher-forced `sequence_log_prob` sums."""
    out = tiny_var.generate(PROMPTS[:2], SamplingConfig(), seed=0)
    lp = tiny_var.log_prob(out.tokens, PROMPTS[:2])
    assert lp.shape == (2,) and torch.allclose(lp.double(), out.log_prob, atol=1e-3)
    lp.sum().backward()
    assert tiny_var.model.head.weight.grad is not None


def test_training_lowers_loss_and_saves(tmp_path, tiny_var):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.var import train_var
    cfg = tiny_var.model.config
    model = train_var(tmp_path / "run", tiny_var.vq, cfg, TrainConfig(steps=30, batch_size=8, lr=3e-3, warmup=3,
                                                                     log_every=5, ckpt_every=30))
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.8 * losses[0]
    loaded = VARTransformer.from_pretrained(tmp_path / "run" / "final")
    assert torch.equal(loaded.head.weight, model.head.weight)


def test_cfg_ramps_linearly_from_one_to_full_strength_over_scales(tiny_var, monkeypatch):
    import imagecot.generators.base as base
    seen = []
    real = base.guide
    monkeypatch.setattr(base, "guide", lambda c, u, s: seen.append(s) or real(c, u, s))
    tiny_var.generate(PROMPTS[:1], SamplingConfig(cfg_scale=3.0), seed=0)
    assert seen[0] == 1.0 and seen[-1] == 3.0 and len(seen) == 7
    assert all(abs((b - a) - 2.0 / 6) < 1e-9 for a, b in zip(seen, seen[1:]))


def test_training_from_init_starts_at_its_weights_and_records_it(tmp_path, tiny_var):
    """`train var --init`: the first step starts from the given checkpoint (not a fresh init), the run records where
    it started, the zoo's provenance carries it, and a checkpoint of another tokenizer is refused by name."""
    import dataclasses

    from imagecot.train.loop import TrainConfig
    from imagecot.train.var import train_var
    from imagecot.zoo.build import _provenance
    cfg = tiny_var.model.config
    tiny_var.model.save_pretrained(tmp_path / "base")
    tc = TrainConfig(steps=1, batch_size=4, lr=1e-9, warmup=0, log_every=1, ckpt_every=1)
    model = train_var(tmp_path / "run", tiny_var.vq, cfg, tc, init=tmp_path / "base")
    assert torch.allclose(model.head.weight, tiny_var.model.head.weight, atol=1e-6)
    fresh = train_var(tmp_path / "fresh", tiny_var.vq, cfg, tc)
    assert not torch.allclose(fresh.head.weight, tiny_var.model.head.weight, atol=1e-3)
    assert _provenance(tmp_path / "run" / "final")["init"] == str(tmp_path / "base")
    assert not (tmp_path / "run" / "final" / "sampling.json").exists()   # the base had none
    (tmp_path / "base" / "sampling.json").write_text('{"cfg_scale": 3.0, "top_k": 50}')
    train_var(tmp_path / "run2", tiny_var.vq, cfg, tc, init=tmp_path / "base")
    from imagecot.zoo import default_sampling
    assert default_sampling(tmp_path / "run2" / "final", "var").cfg_scale == 3.0   # samples as its base did
    other = dataclasses.replace(cfg, vocab_size=cfg.vocab_size + 1)
    with pytest.raises(ValueError, match="vocab_size"):
        train_var(tmp_path / "bad", tiny_var.vq, other, tc, init=tmp_path / "base")
