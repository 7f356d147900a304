"""What search strategies ask of a verifier. Scores are probabilities in [0, 1], one per image, batched.

- OutcomeVerifier (ORM): P(the image satisfies the prompt).
- ProcessVerifier (PRM): P(the final image will satisfy the prompt | the preview at step t of T).
- PARMVerifier: `clarity` (is the preview at step t clear enough to judge?) and `potential`
  (P(final aligned | preview)); at t = T the potential is the outcome judgment.
"""

from __future__ import annotations

from typing import Protocol

import torch


class OutcomeVerifier(Protocol):
    def __call__(self, images_B3HW: torch.Tensor, prompts: list[str]) -> torch.Tensor: ...


class ProcessVerifier(Protocol):
    def __call__(self, previews_B3HW: torch.Tensor, prompts: list[str], t: int, T: int) -> torch.Tensor: ...


class PARMVerifier(Protocol):
    def clarity(self, previews_B3HW: torch.Tensor, prompts: list[str], t: int, T: int) -> torch.Tensor: ...

    def potential(self, previews_B3HW: torch.Tensor, prompts: list[str], t: int, T: int) -> torch.Tensor: ...
