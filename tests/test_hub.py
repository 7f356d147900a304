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
