"""The evaluator used as a verifier: the upper bound of verifier-guided search, never a verifier itself.

It reads the answer the benchmark scores with, so anything selected with it is
labelled "oracle" wherever it appears (`is_oracle`).
"""

from __future__ import annotations

import torch

from ..data.images import to_uint8
from ..evaluation.geneval import score_image
from ..world import parse_prompt


class OracleVerifier:
    is_oracle = True
    name = "oracle (evaluator)"

    def __call__(self, images_B3HW: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        imgs = to_uint8(images_B3HW)
        return torch.tensor([float(score_image(parse_prompt(p), im)["correct"]) for p, im in zip(prompts, imgs)])
