"""GenEval's per-image rules, applied to a list of detections.

Follows GenEval's ``evaluate_images.py``: detections are kept when their
confidence is strictly above 0.3 (0.9 for the counting task), grouped by class
in descending confidence order, at most 16 per class; then every `include`
requirement must be met (count, colour of the top-`count` detections, relative
position to an earlier matched group) and no `exclude` requirement may be
reached. Differences from GenEval, both forced by the detector interface:

* colour is read from `Detection.color` (GenEval crops each object and asks
  CLIP); as in GenEval only the top-`count` detections of the class are checked;
* no NMS: GenEval's default NMS threshold is 1.0 (off) as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from imagecot.world.geometry import relative_position
from imagecot.world.vocab import COLORS

from .detector import Detection

THRESHOLD = 0.3
COUNTING_THRESHOLD = 0.9
MAX_OBJECTS = 16


def group_detections(detections: Iterable[Detection], threshold: float,
                     max_objects: int = MAX_OBJECTS) -> dict[str, list[Detection]]:
    """Detections with confidence > threshold, per class, most confident first, at most max_objects.

    Equal confidences (two clean renders both score 1.0) go by area, then by box: properties of the blobs, so
    the order, and with it which objects are checked for colour, never depends on the detector's palette order."""
    groups: dict[str, list[Detection]] = {}
    for det in sorted(detections, key=lambda d: (-d.confidence, -d.area, d.box)):
        if det.confidence > threshold:
            groups.setdefault(det.cls, []).append(det)
    return {cls: dets[:max_objects] for cls, dets in groups.items()}


def evaluate(metadata: dict, detections: list[Detection]) -> tuple[bool, str]:
    """(correct, reasons) for one image, GenEval's rules; reasons are newline-joined."""
    threshold = COUNTING_THRESHOLD if metadata.get("tag") == "counting" else THRESHOLD
    objects = group_detections(detections, threshold)
    correct = True
    reasons: list[str] = []
    matched_groups: list[list[Detection] | None] = []
    for req in metadata.get("include", []):
        cls, count = req["class"], req["count"]
        found = objects.get(cls, [])[:count]
        matched = True
        if len(found) < count:
            matched = False
            reasons.append(f"expected {cls}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = [d.color for d in found]
                if colors.count(req["color"]) < count:
                    matched = False
                    seen = ", ".join(f"{colors.count(c)} {c}" for c in _ordered_colors(colors))
                    reasons.append(f"expected {req['color']} {cls}>={count}, found "
                                   f"{colors.count(req['color'])} {req['color']}; and {seen}")
            if "position" in req and matched:
                rel, j = req["position"]
                targets = matched_groups[j]
                if targets is None:
                    matched = False
                    reasons.append(f"no target for {cls} to be {rel}")
                else:
                    target_cls = metadata["include"][j]["class"]
                    for obj in found:
                        for target in targets:
                            true_rels = relative_position(obj.box, target.box)
                            if rel not in true_rels:
                                matched = False
                                found_rels = " and ".join(sorted(true_rels)) or "no relation"
                                reasons.append(f"expected {cls} {rel} {target_cls}, found "
                                               f"{found_rels} {target_cls}")
                                break
                        if not matched:
                            break
        correct = correct and matched
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        cls, count = req["class"], req["count"]
        n = len(objects.get(cls, []))
        if n >= count:
            correct = False
            reasons.append(f"expected {cls}<{count}, found {n}")
    return correct, "\n".join(reasons)


def _ordered_colors(colors: list[str]) -> list[str]:
    """The distinct colours, palette order first, then any unknown names."""
    known = [c for c in COLORS if c in colors]
    return known + sorted(set(colors) - set(known))
