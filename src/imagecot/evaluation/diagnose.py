"""What is wrong with an image and where: the evaluator's verdict as structured flaws.

The same rules as `rules.evaluate` (same thresholds, grouping and order), but
instead of a yes/no each failed requirement becomes a `Flaw` of one of four
kinds, with the image region to fix and a sentence:

- "missing": fewer objects of a class than asked (region: the side of the
  reference object where it should be, for a positional requirement; else None = anywhere);
- "extra": as many or more objects than a counting prompt excludes (region: the surplus object);
- "wrong_color": an object of the right class in the wrong colour (region: that object);
- "wrong_position": an object not in the asked relation to its reference (region: that object).

These are exact labels computed from the evaluator's detections: they train the
reflection verifier of PARM++; reading them at test time would be an oracle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..world.geometry import relative_position
from .detector import Detection
from .rules import COUNTING_THRESHOLD, THRESHOLD, group_detections

KINDS = ("missing", "extra", "wrong_color", "wrong_position")


@dataclass
class Flaw:
    kind: str
    cls: str
    box: tuple[int, int, int, int] | None   # (x0, y0, x1, y1) pixels to fix; None = anywhere
    sentence: str

    def to_dict(self) -> dict:
        return asdict(self)


def _plural(n: int, cls: str) -> str:
    return f"{n} {cls}{'' if n == 1 else 's'}"


def _side_of(box, relation: str, size: int) -> tuple[int, int, int, int]:
    """The part of the image in `relation` to `box` (where a missing positioned object belongs)."""
    x0, y0, x1, y1 = box
    return {"left of": (0, 0, x0, size), "right of": (x1, 0, size, size),
            "above": (0, 0, size, y0), "below": (0, y1, size, size)}[relation]


def diagnose(metadata: dict, detections: list[Detection], size: int = 32) -> list[Flaw]:
    """The flaws of one image for one spec; empty exactly when `rules.evaluate` says correct."""
    threshold = COUNTING_THRESHOLD if metadata.get("tag") == "counting" else THRESHOLD
    objects = group_detections(detections, threshold)
    flaws: list[Flaw] = []
    matched_groups: list[list[Detection] | None] = []
    includes = metadata.get("include", [])
    for req in includes:
        cls, count = req["class"], req["count"]
        found = objects.get(cls, [])[:count]
        matched = True
        if len(found) < count:
            matched = False
            box = None
            if "position" in req and matched_groups[req["position"][1]]:
                box = _side_of(matched_groups[req["position"][1]][0].box, req["position"][0], size)
            what = f"{req['color']} {cls}" if "color" in req else cls
            flaws.append(Flaw("missing", cls, box, f"the prompt asks for {_plural(count, what)}, "
                                                   f"the image has {len(found)}"))
        else:
            if "color" in req:
                wrong = [d for d in found if d.color != req["color"]]
                if count - (len(found) - len(wrong)) > 0:
                    matched = False
                    for d in wrong:
                        flaws.append(Flaw("wrong_color", cls, tuple(d.box),
                                          f"the {cls} is {d.color}; the prompt asks for a {req['color']} {cls}"))
            if "position" in req and matched:
                rel, j = req["position"]
                targets = matched_groups[j]
                target_cls = includes[j]["class"]
                bad = [obj for obj in found if targets is None or
                       any(rel not in relative_position(obj.box, t.box) for t in targets)]
                if bad:
                    matched = False
                    for obj in bad:
                        now = " and ".join(sorted(relative_position(obj.box, targets[0].box))) if targets else ""
                        flaws.append(Flaw("wrong_position", cls, tuple(obj.box),
                                          f"the {cls} should be {rel} the {target_cls}; "
                                          f"it is {now or 'level with'} it" if targets else
                                          f"the {cls} has no {target_cls} to be {rel}"))
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        cls, count = req["class"], req["count"]
        have = objects.get(cls, [])
        if len(have) >= count:
            for d in have[count - 1:]:
                flaws.append(Flaw("extra", cls, tuple(d.box), f"one {cls} too many: the prompt asks for "
                                                              f"{_plural(count - 1, cls)}, the image has {len(have)}"))
    return flaws


def describe(flaws: list[Flaw]) -> str:
    """One sentence for a list of flaws ("" when there is nothing wrong)."""
    return "; ".join(f.sentence for f in flaws)
