import json

import pytest
import torch

from imagecot.generators.ar import ARTransformer
from imagecot.tokenizers.vq import VQModel


def test_save_load_round_trip_is_bit_exact(tmp_path, tiny_vq, tiny_ar):
    for model, cls in [(tiny_vq, VQModel), (tiny_ar.model, ARTransformer)]:
        path = model.save_pretrained(tmp_path / cls.model_type)
        assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
        loaded = cls.from_pretrained(path)
        a, b = model.state_dict(), loaded.state_dict()
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
        assert loaded.config == model.config


def test_loading_the_wrong_kind_of_model_is_explained(tmp_path, tiny_vq):
    tiny_vq.save_pretrained(tmp_path / "vq")
    with pytest.raises(ValueError, match="'vq' model, not a 'ar'"):
        ARTransformer.from_pretrained(tmp_path / "vq")
    with pytest.raises(FileNotFoundError, match="config.json"):
        VQModel.from_pretrained(tmp_path / "missing")


def test_unknown_config_field_is_named(tmp_path, tiny_vq):
    path = tiny_vq.save_pretrained(tmp_path / "vq")
    cfg = json.loads((path / "config.json").read_text())
    cfg["chanels"] = [1]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="chanels"):
        VQModel.from_pretrained(path)


def test_save_replaces_an_existing_folder_whole(tmp_path, tiny_vq):
    path = tiny_vq.save_pretrained(tmp_path / "vq")
    (path / "stale.txt").write_text("old")
    tiny_vq.save_pretrained(path)
    assert not (path / "stale.txt").exists()
    assert not list(tmp_path.glob(".vq*"))  # no temp folder left behind


def _nudged(model, eps=1e-4, seed=1):
    """A copy of `model` with every float weight moved a little (what a fine-tuning round does)."""
    import copy
    g = torch.Generator().manual_seed(seed)
    tuned = copy.deepcopy(model)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(eps * torch.randn(p.shape, generator=g))
    return tuned


def test_int8_delta_round_trips_closer_than_float16_at_half_its_bytes(tmp_path, tiny_ar):
    from imagecot.generators.ar import ARTransformer
    base, tuned = tiny_ar.model, _nudged(tiny_ar.model)
    base.save_pretrained(tmp_path / "base", dtype=torch.float16)
    tuned.save_pretrained_delta(tmp_path / "tuned", tmp_path / "base")
    tuned.save_pretrained(tmp_path / "tuned16", dtype=torch.float16)
    assert not (tmp_path / "tuned" / "model.safetensors").exists()
    loaded = ARTransformer.from_pretrained(tmp_path / "tuned").state_dict()
    fp16 = ARTransformer.from_pretrained(tmp_path / "tuned16").state_dict()
    def rms(state):
        true = tuned.state_dict()
        return (sum(((state[k] - w) ** 2).sum() for k, w in true.items()) / sum(w.numel() for w in true.values())) ** .5
    assert rms(loaded) < 0.5 * rms(fp16), (rms(loaded), rms(fp16))   # a DPO round's scale of change (4e-4 at most)
    for k, w in tuned.state_dict().items():
        if w.dim() < 2:
            assert torch.equal(loaded[k], w), k   # vectors are stored exactly
    size = (tmp_path / "tuned" / "delta.safetensors").stat().st_size   # headers and vectors weigh more in a tiny model
    assert size < 0.65 * (tmp_path / "tuned16" / "model.safetensors").stat().st_size


def test_a_delta_refuses_a_rebuilt_or_missing_base(tmp_path, tiny_ar):
    import shutil

    from imagecot.generators.ar import ARTransformer
    base = tiny_ar.model
    base.save_pretrained(tmp_path / "base")
    _nudged(base).save_pretrained_delta(tmp_path / "tuned", tmp_path / "base")
    _nudged(base, seed=2).save_pretrained(tmp_path / "base")   # the base is rebuilt afterwards
    with pytest.raises(ValueError, match="other weights than"):
        ARTransformer.from_pretrained(tmp_path / "tuned")
    shutil.copytree(tmp_path / "tuned", tmp_path / "elsewhere" / "tuned")   # copied without its base
    with pytest.raises(FileNotFoundError, match="holds no weights"):
        ARTransformer.from_pretrained(tmp_path / "elsewhere" / "tuned")


def test_a_delta_of_another_shape_is_refused(tiny_ar):
    from imagecot import weight_delta
    state = tiny_ar.model.state_dict()
    k = next(k for k, v in state.items() if v.dim() == 2)
    other = dict(state, **{k: torch.zeros(state[k].shape[0] + 1, state[k].shape[1])})
    with pytest.raises(ValueError, match="shape"):
        weight_delta.encode(other, state)
    with pytest.raises(ValueError, match="shape"):
        weight_delta.decode(weight_delta.encode(state, state), other, "x")


def test_a_truncated_delta_is_a_clear_error(tmp_path, tiny_ar):
    from imagecot.generators.ar import ARTransformer
    tiny_ar.model.save_pretrained(tmp_path / "base")
    _nudged(tiny_ar.model).save_pretrained_delta(tmp_path / "tuned", tmp_path / "base")
    f = tmp_path / "tuned" / "delta.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated"):
        ARTransformer.from_pretrained(tmp_path / "tuned")
