"""Rewrite the pinned samples of some zoo generators in generator_pin.npz (after their shipped weights change; a
code change must never be re-pinned): `python tests/data/write_generator_pin.py var`. First check that the old
weights still give the old pin (pytest tests/test_generator_pin.py), then ship, then run this for that kind only."""

import sys
from pathlib import Path

import numpy as np
import torch

from imagecot.data.images import to_uint8
from imagecot.zoo import default_sampling, load_generator

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_generator_pin import PROMPTS  # noqa: E402  (the test's prompts, one place)

PIN_PATH = Path(__file__).parent / "generator_pin.npz"


def entries(kind: str) -> dict:
    gen, sampling = load_generator(kind), default_sampling(None, kind)
    out = gen.generate(PROMPTS, sampling, seed=[11, 22, 33])
    s = gen.start(PROMPTS, sampling, seed=[11, 22, 33])
    s.step()
    preview = to_uint8(s.preview())
    s.keep(torch.tensor([True, False, True]))
    while s.t < s.num_steps:
        s.step()
    kept = s.finish()
    return {f"{kind}_tokens": out.tokens.numpy(), f"{kind}_images": to_uint8(out.images),
            f"{kind}_preview1": preview, f"{kind}_kept_tokens": kept.tokens.numpy(),
            f"{kind}_kept_compute": np.array(kept.compute.token_forwards)}


if __name__ == "__main__":
    kinds = sys.argv[1:]
    if not kinds or set(kinds) - {"ar", "maskgit", "var"}:
        sys.exit("usage: write_generator_pin.py KIND... (ar, maskgit, var)")
    pin = dict(np.load(PIN_PATH))
    for kind in kinds:
        pin.update(entries(kind))
    np.savez_compressed(PIN_PATH, **pin)
    print(f"re-pinned {', '.join(kinds)} in {PIN_PATH}")
