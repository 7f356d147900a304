"""Strategies by name, as the CLI and the pipeline call them: (prompts, their ids, output index) -> SearchOutput.

| name | verifier it needs | what it does |
|---|---|---|
| `orm` | outcome (ORM) | best-of-N on the final images |
| `prm` | process (PRM) | prune at checkpoints, best final survivor |
| `parm` | PARM | clarity -> potential -> best-of-N' among "yes" (the reference; `early_stop`, `max_yes`, `wave` ours) |
| `parm++` | PARM with `reflect` | PARM (early stop), then reflection and self-correction rounds |
| `oracle` | the evaluator | best-of-N with the answer key: an upper bound, labelled so |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .candidates import SearchOutput

NAMES = ("orm", "prm", "parm", "parm++", "oracle")


@dataclass
class Strategy:
    name: str
    generator: object
    verifier: object
    n: int
    sampling: object = None
    seed: int = 0
    options: dict = field(default_factory=dict)   # early_stop, refill_rounds, rounds, keep_fraction, ...
    seed_stride: int | None = None   # output j's candidates are seeds j*stride + c (default n); search_scaling's pool

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"unknown strategy {self.name!r}; expected one of {', '.join(NAMES)}")
        if self.n < 1:
            raise ValueError(f"the number of candidates must be >= 1, got {self.n}")
        if self.seed_stride is not None and self.seed_stride < self.n:
            raise ValueError(f"seed_stride ({self.seed_stride}) must be >= the number of candidates ({self.n}), "
                             "or outputs would share candidates")
        if self.name == "parm++" and not hasattr(self.verifier, "reflect"):
            raise ValueError("parm++ needs a verifier that can reflect (a PARM verifier)")

    @property
    def stride(self) -> int:
        return self.seed_stride or self.n

    @property
    def is_oracle(self) -> bool:
        return self.name == "oracle" or getattr(self.verifier, "is_oracle", False)

    def __call__(self, prompts: list[str], prompt_ids: list[int], output_index: int = 0) -> SearchOutput:
        common = dict(sampling=self.sampling, seed=self.seed, first=output_index * self.stride, prompt_ids=prompt_ids)
        if self.name in ("orm", "oracle"):
            from .best_of_n import best_of_n
            return best_of_n(self.generator, prompts, self.n, self.verifier, **common)
        if self.name == "prm":
            from .step_search import step_search
            return step_search(self.generator, prompts, self.n, self.verifier, **common, **self.options)
        if self.name == "parm":
            from .parm import parm
            return parm(self.generator, prompts, self.n, self.verifier, **common, **self.options)
        from .reflect import parm_plus_plus
        return parm_plus_plus(self.generator, prompts, self.n, self.verifier, **common, **self.options)
