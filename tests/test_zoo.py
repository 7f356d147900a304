"""The shipped checkpoints: present, loadable, small enough, and they make images."""

import pytest
import torch

from imagecot.zoo import ZOO_DIR, default_sampling, load_ar


def test_zoo_fits_its_budget():
    total = sum(p.stat().st_size for p in ZOO_DIR.rglob("*.safetensors"))
    assert 0 < total <= 100 * 2**20, total


@pytest.mark.parametrize("kind", ["var", "maskgit"])
def test_shipped_var_and_maskgit_draw_a_single_object_prompt(kind):
    from imagecot.data.images import to_uint8
    from imagecot.evaluation.geneval import score_image
    from imagecot.world import parse_prompt
    from imagecot.zoo import load_generator
    gen, s = load_generator(kind), default_sampling(kind=kind)
    assert s.cfg_scale > 1.0  # the sweep's choice was shipped
    prompts = ["a circle"] * 8
    out = gen.generate(prompts, s, seed=0)
    assert out.images.shape == (8, 3, 32, 32)
    correct = [score_image(parse_prompt(p), im)["correct"] for p, im in zip(prompts, to_uint8(out.images))]
    assert sum(correct) >= 3, correct  # both score ~0.7 on single_object; a broken load scores 0


def test_shipped_ar_generates_with_its_sampling_settings():
    gen = load_ar()
    s = default_sampling()
    assert s.cfg_scale >= 1.0
    out = gen.generate(["a red circle", "two squares"], s, seed=0)
    assert out.images.shape == (2, 3, 32, 32)
    assert out.images.min() >= -1 and out.images.max() <= 1
    # the shipped generator draws something, not a blank canvas
    assert (out.images - out.images.mean(dim=(2, 3), keepdim=True)).abs().amax() > 0.5
    assert torch.isfinite(gen.log_prob(out.tokens, out.prompts)).all()


def test_shipped_multiscale_tokenizer_reconstructs_a_scene_the_evaluator_accepts():
    import random

    from imagecot.data.images import to_tensor, to_uint8
    from imagecot.evaluation.geneval import score_image
    from imagecot.tokenizers import MSVQModel
    from imagecot.world import parse_prompt, sample_scene
    from imagecot.zoo import zoo_path
    vq = MSVQModel.from_pretrained(zoo_path("msvq"))
    spec = parse_prompt("a red circle left of a blue square")
    img = sample_scene(spec, random.Random(0)).render()
    idx = vq.encode(to_tensor(img[None]))
    assert [t.shape[1] for t in idx] == [pn * pn for pn in vq.config.patch_nums]
    assert score_image(spec, to_uint8(vq.decode(idx))[0])["correct"]


def test_fmnist_build_ships_float16_copies_that_load_by_zoo_name(tmp_path, tiny_vq, tiny_ar, monkeypatch):
    from imagecot import hub
    from imagecot.classifiers.cnn import CNNClassifier, CNNClassifierConfig
    from imagecot.generators.ar import ARTransformer
    from imagecot.tokenizers.vq import VQModel
    from imagecot.zoo.build import build_fmnist
    runs = {"tok": tiny_vq, "ar": tiny_ar.model, "clf": CNNClassifier(CNNClassifierConfig(channels=(4, 8)))}
    for name, m in runs.items():
        m.save_pretrained(tmp_path / "runs" / name / "final")
    build_fmnist(*(tmp_path / "runs" / n / "final" for n in runs), zoo=tmp_path / "zoo")
    monkeypatch.setattr(hub, "ZOO_DIR", tmp_path / "zoo")
    for name, cls, orig in (("fmnist-tokenizer", VQModel, tiny_vq), ("fmnist-ar", ARTransformer, tiny_ar.model),
                            ("fmnist-classifier", CNNClassifier, runs["clf"])):
        shipped = cls.from_pretrained(f"zoo:{name}")
        for (k, w), v in zip(shipped.state_dict().items(), orig.state_dict().values()):
            assert w.dtype == v.dtype and torch.equal(w, v.half().to(v.dtype)), (name, k)  # float16, nothing else
        assert (tmp_path / "zoo" / name / "provenance.json").is_file()
    with pytest.raises(FileNotFoundError, match="no 'fmnist-var'"):
        VQModel.from_pretrained("zoo:fmnist-var")


@pytest.mark.parametrize("kind,tokenizer", [("ar", "fmnist-tokenizer"), ("var", "fmnist-msvq")])
def test_shipped_fashion_mnist_generator_draws_the_class_the_shipped_classifier_sees(kind, tokenizer):
    from imagecot.classifiers.cnn import CNNClassifier
    from imagecot.zoo import load_generator
    gen, clf = load_generator(kind, f"zoo:fmnist-{kind}", f"zoo:{tokenizer}"), CNNClassifier.from_pretrained(
        "zoo:fmnist-classifier")
    classes = list(range(10)) * 2
    out = gen.generate(classes, default_sampling(f"zoo:fmnist-{kind}", kind), seed=0)
    assert out.images.shape == (20, 3, 32, 32)
    with torch.no_grad():
        agree = (clf(out.images).argmax(1) == torch.tensor(classes)).float().mean().item()
    assert agree >= 0.6, agree  # ~0.9 on 10k samples (BENCHMARKS.md); an untrained or mismatched pair gets ~0.1


@pytest.mark.parametrize("generator", ["ar", "maskgit", "var"])
def test_every_generator_has_a_shipped_verifier_for_every_role(generator):
    from imagecot.zoo import load_verifier
    networks = {"orm": "all", "prm": "all", "parm": "parm" if generator == "ar" else "all"}   # AR's PARM: trained alone
    for role, network in networks.items():
        v = load_verifier(role, generator=generator)
        assert v.role == role and v.net.config.role == network


@pytest.mark.parametrize("generator", ["ar", "maskgit", "var"])
@pytest.mark.parametrize("verifier", ["orm", "prm", "parm", "parm++"])
def test_generate_searches_with_every_shipped_verifier_out_of_the_box(generator, verifier, tmp_path, capsys):
    from imagecot.cli import main
    assert main(["generate", "--generator", generator, "--prompt", "a red circle", "-n", "2", "--verifier", verifier,
                 "--out", str(tmp_path / "g")]) == 0
    assert len(list((tmp_path / "g" / "00000" / "samples").glob("*.png"))) == 1


def test_shipped_ar_verifier_ranks_fresh_ar_images_of_training_prompts():
    """New images from the shipped AR for training prompts (fresh training seeds), judged by the evaluator: the
    shipped verifier's outcome score separates right from wrong (a broken load gives ~0.5), and its reflection
    says something about each image."""
    import numpy as np

    from imagecot.data.images import to_uint8
    from imagecot.evaluation.geneval import score_image
    from imagecot.evaluation.ranking import auc
    from imagecot.seeds import training_seed
    from imagecot.verifiers.prompts import training_specs
    from imagecot.zoo import load_verifier
    specs = training_specs(128, seed=99)
    out = load_ar().generate([s["prompt"] for s in specs], default_sampling(),
                             seed=[training_seed(99, i, 0) for i in range(len(specs))])
    correct = np.array([score_image(s, im)["correct"] for s, im in zip(specs, to_uint8(out.images))])
    assert 10 < correct.sum() < 118
    v = load_verifier("orm", generator="ar")
    assert auc(v(out.images, out.prompts).numpy(), correct) > 0.8
    notes = v.reflect(out.images[:4], out.prompts[:4])
    assert all(n["sentence"] and n["cells"].shape == (64,) for n in notes)


def test_build_verifiers_ships_a_float16_copy_under_the_generators_name(tmp_path):
    from imagecot.verifiers.learned import VerifierConfig, VerifierNet
    from imagecot.zoo.build import build_verifiers
    torch.manual_seed(0)
    VerifierNet(VerifierConfig(d_model=32, n_layer=1)).save_pretrained(tmp_path / "run" / "final")
    build_verifiers("maskgit", tmp_path / "run", zoo=tmp_path / "zoo")
    net = VerifierNet.from_pretrained(tmp_path / "zoo" / "verifier-maskgit")
    ref = VerifierNet.from_pretrained(tmp_path / "run" / "final")
    for a, b in zip(net.parameters(), ref.parameters()):
        assert torch.equal(a, b.half().float())
    with pytest.raises(ValueError, match="unknown generator"):
        build_verifiers("dalle", tmp_path / "run", zoo=tmp_path / "zoo2")


def test_build_verifiers_ships_a_parm_trained_alone_beside_the_one_network(tmp_path):
    from imagecot.verifiers.learned import VerifierConfig, VerifierNet
    from imagecot.zoo import load_verifier
    from imagecot.zoo.build import build_verifiers
    torch.manual_seed(0)
    VerifierNet(VerifierConfig(d_model=32, n_layer=1)).save_pretrained(tmp_path / "run" / "final")
    VerifierNet(VerifierConfig(d_model=32, n_layer=1, role="parm")).save_pretrained(tmp_path / "parm" / "final")
    build_verifiers("ar", tmp_path / "run", zoo=tmp_path / "zoo", parm=tmp_path / "parm")
    dest = tmp_path / "zoo" / "verifier-ar"
    assert [load_verifier(r, dest).net.config.role for r in ("orm", "prm", "parm")] == ["all", "all", "parm"]
    build_verifiers("ar", tmp_path / "run", zoo=tmp_path / "zoo")   # rebuilt without one: no stale parm/ stays
    assert not (dest / "parm").exists() and load_verifier("parm", dest).net.config.role == "all"


@pytest.mark.parametrize("kind", ["ar", "maskgit"])
def test_the_shipped_aligned_generators_load_and_sample_as_their_base_does(kind):
    from imagecot.zoo import load_generator
    base, aligned = default_sampling(kind=kind), default_sampling(f"zoo:{kind}-dpo", kind)
    assert aligned == base   # DPO kept its base's sampling.json; without it the model sampled at CFG 1
    gen = load_generator(kind, f"zoo:{kind}-dpo")
    assert gen.model.config == load_generator(kind).model.config   # MaskGIT's steps live in its config
    out = gen.generate(["two squares"], aligned, seed=0)
    assert out.images.shape == (1, 3, 32, 32) and torch.isfinite(gen.log_prob(out.tokens, out.prompts)).all()
    base_weights = load_generator(kind).model.state_dict().values()
    assert any((a != b).any() for a, b in zip(gen.model.state_dict().values(), base_weights))


def test_build_aligned_ships_an_int8_delta_on_its_zoo_base_with_its_sampling(tmp_path, tiny_ar):
    import copy
    import json

    from imagecot.generators.ar import ARTransformer
    from imagecot.zoo.build import build_aligned
    tiny_ar.model.save_pretrained(tmp_path / "zoo" / "ar", dtype=torch.float16)   # the zoo's base
    tuned = copy.deepcopy(tiny_ar.model)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1e-4 * torch.randn_like(p))
    final = tmp_path / "dpo" / "final"
    tuned.save_pretrained(final)
    (final / "sampling.json").write_text(json.dumps({"cfg_scale": 2.5}))
    dest = build_aligned("ar", final, zoo=tmp_path / "zoo")
    assert dest.name == "ar-dpo" and json.loads((dest / "sampling.json").read_text()) == {"cfg_scale": 2.5}
    assert (dest / "delta.safetensors").is_file() and not (dest / "model.safetensors").exists()
    shipped = ARTransformer.from_pretrained(dest)
    for k, v in tuned.state_dict().items():
        assert (shipped.state_dict()[k] - v).abs().max() < 5e-6, k


def test_fmnist_var_build_ships_float16_copies_that_load_by_zoo_name(tmp_path, monkeypatch):
    from imagecot import hub
    from imagecot.generators.var import VARConfig, VARTransformer
    from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel
    from imagecot.zoo import default_sampling, load_generator
    from imagecot.zoo.build import build_fmnist_var
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4))
    var = VARTransformer(VARConfig(vocab_size=32, z_channels=4, depth=1, embed_dim=32, num_heads=4,
                                   condition="class", num_classes=10))
    for name, m in (("msvq", vq), ("var", var)):
        m.save_pretrained(tmp_path / "runs" / name / "final")
    build_fmnist_var(tmp_path / "runs" / "msvq" / "final", tmp_path / "runs" / "var" / "final", zoo=tmp_path / "zoo")
    monkeypatch.setattr(hub, "ZOO_DIR", tmp_path / "zoo")
    shipped = VARTransformer.from_pretrained("zoo:fmnist-var")
    for w, v in zip(shipped.state_dict().values(), var.state_dict().values()):
        assert torch.equal(w, v.half().to(v.dtype))
    assert default_sampling(tmp_path / "zoo" / "fmnist-var", kind="var").cfg_scale == 1.0   # plain, as FID is measured
    gen = load_generator("var", "zoo:fmnist-var", "zoo:fmnist-msvq")
    assert gen.generate([3, 7], default_sampling(kind="var"), seed=0).images.shape == (2, 3, 32, 32)


def test_generate_searches_parm_in_waves_from_the_cli(tmp_path, capsys):
    import json

    from imagecot.cli import main
    assert main(["generate", "--prompt", "a red circle", "-n", "4", "--verifier", "parm", "--early-stop",
                 "--wave", "2", "--stop-at", "0.0", "--out", str(tmp_path / "g")]) == 0
    trace = json.loads((tmp_path / "g" / "00000" / "search.json").read_text())["trace"][0]
    assert trace["finished"] == 2 and sorted(trace["verdicts"]) == ["0", "1"]   # stop_at 0: one turn of 2 only
    assert json.loads((tmp_path / "g" / "settings.json").read_text())["search"]["options"]["wave"] == 2


def test_a_generator_shipped_without_a_sweep_keeps_its_runs_sampling_settings(tmp_path, tiny_ar):
    """`zoo.build --var FINAL` of a run trained on with --init: the sampling.json beside its final model ships."""
    import json

    from imagecot.zoo.build import build
    final = tmp_path / "run" / "final"
    tiny_ar.model.save_pretrained(final)
    (final / "sampling.json").write_text(json.dumps({"cfg_scale": 3.0, "top_k": 50}))
    build(ar=final, zoo=tmp_path / "zoo")
    assert json.loads((tmp_path / "zoo" / "ar" / "sampling.json").read_text()) == {"cfg_scale": 3.0, "top_k": 50}
