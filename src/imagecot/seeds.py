"""Every seed in one place: each image is seeded by what it is, never by how it was batched.

- `image_seed(base, i, j)`: image (or candidate) j of prompt (or class) i of a
  generation job: the benchmark, class samples, search candidates. crc32 of
  the triple, so any batching, resume or number of ranks gives the same image.
- Search candidates past an output's own N draw from reserved ranges of j:
  PARM's refills from `REFILL_OFFSET * round`, PARM++'s corrections from
  `CORRECTION_OFFSET`.
- `training_seed(base, i, j)`: verifier and preference data. It adds 2**32 to
  a crc32, so it is never any `image_seed` (every one of those is < 2**32):
  no training image ever shares a seed with a benchmark image.
"""

from __future__ import annotations

import zlib

REFILL_OFFSET = 1_000_000          # refill round r draws candidates from r * REFILL_OFFSET on: never an output's own
CORRECTION_OFFSET = 2_000_000_000  # correction seeds: never a candidate's or a refill's
TRAINING_SPACE = 2 ** 32           # training seeds start here; image seeds are crc32 values, below it


def image_seed(base_seed: int, prompt_index: int, sample_index: int) -> int:
    """A seed per image, independent of batching (so a resumed run makes the same images)."""
    return zlib.crc32(f"{base_seed}/{prompt_index}/{sample_index}".encode())


def training_seed(base_seed: int, prompt_index: int, sample_index: int) -> int:
    """A seed per training image, disjoint from every image_seed by construction."""
    return TRAINING_SPACE + zlib.crc32(f"train/{base_seed}/{prompt_index}/{sample_index}".encode())
