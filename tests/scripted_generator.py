"""A scripted generator and verifiers for testing search strategies: every candidate's quality is known.

Candidate quality q = (seed % 1000) / 1000. Previews show q (in channel 0) from step `clear_from` on and
0.5 before; channel 1 says whether the preview is clear. Each step costs one token-forward per live row.
"""

import torch

from imagecot.generators.base import Compute, GenerationOutput, keep_index


class ScriptedSession:
    def __init__(self, prompts, seeds, steps=8, clear_from=4):
        self.prompts_all, self.num_steps, self.clear_from, self.t = list(prompts), steps, clear_from, 0
        self.q = torch.tensor([(s % 1000) / 1000 for s in seeds])
        self.ids = torch.arange(len(prompts))
        self.compute = Compute()
        self.steps_run = torch.zeros(len(prompts), dtype=torch.long)  # per candidate, steps it was alive for

    @property
    def n_alive(self):
        return self.ids.numel()

    def step(self):
        self.compute.add(self.n_alive, 1)
        self.steps_run[self.ids] += 1
        self.t += 1

    def _image(self, clear: bool):
        B = self.n_alive
        img = torch.full((B, 3, 4, 4), -1.0)
        level = self.q[self.ids] if clear else torch.full((B,), 0.5)
        img[:, 0] = (level * 2 - 1).view(B, 1, 1)
        img[:, 1] = 1.0 if clear else -1.0
        return img

    def preview(self):
        return self._image(self.t >= self.clear_from)

    def preview_tokens(self):   # its previews are drawn, not decoded from tokens
        return None

    def keep(self, keep_B):
        self.ids = self.ids[keep_index(keep_B, self.n_alive)]

    def finish(self):
        assert self.t == self.num_steps
        return GenerationOutput(self._image(True), self.ids[:, None].clone(), [self.prompts_all[i] for i in self.ids],
                                self.compute, self.ids.clone())


class ScriptedGenerator:
    def __init__(self, steps=8, clear_from=4):
        self.steps, self.clear_from, self.sessions = steps, clear_from, []

    def start(self, prompts, sampling=None, seed=()):
        s = ScriptedSession(prompts, seed, self.steps, self.clear_from)
        self.sessions.append(s)
        return s


def level(images):
    return (images[:, 0].mean((1, 2)) + 1) / 2


class ScriptedORM:
    def __call__(self, images, prompts):
        return level(images)


class ScriptedPRM:
    def __call__(self, previews, prompts, t, T):
        return level(previews)


class ScriptedPARM:
    def clarity(self, previews, prompts, t, T):
        return (previews[:, 1].mean((1, 2)) > 0).float()

    def potential(self, previews, prompts, t, T):
        return level(previews)
