"""Prompt specs in GenEval's ``evaluation_metadata.jsonl`` format, and text <-> spec.

A spec is a plain dict, exactly one line of GenEval's metadata::

    {"tag": "position",
     "include": [{"class": "square", "count": 1},
                 {"class": "circle", "count": 1, "position": ["left of", 0]}],
     "prompt": "a circle left of a square"}

``include[i]["position"] = [relation, j]`` means include[i] is <relation>
include[j] (GenEval's convention: the reference object comes first).
Counting specs carry ``exclude: [{"class": c, "count": n + 1}]`` ("exactly n").
"""

from __future__ import annotations

import random

from .vocab import (
    ARTICLES,
    COLORS,
    MAX_COUNT,
    NUMBER_WORDS,
    NUMBERS,
    PLURALS,
    RELATIONS,
    SHAPES,
    TASKS,
    vocabulary,
)

Spec = dict


class PromptParseError(ValueError):
    """A prompt that the shapes-world grammar cannot read."""


def _phrase(req: dict) -> str:
    count = req["count"]
    noun = req["class"] if count == 1 else PLURALS[req["class"]]
    det = "a" if count == 1 else NUMBER_WORDS[count]
    color = req.get("color")
    return " ".join(w for w in (det, color, noun) if w)


def spec_to_text(spec: Spec) -> str:
    """The prompt sentence of a spec (the inverse of `parse_prompt`)."""
    include = spec["include"]
    if len(include) == 2 and "position" in include[1]:
        rel, _ = include[1]["position"]
        return f"{_phrase(include[1])} {rel} {_phrase(include[0])}"
    return " and ".join(_phrase(r) for r in include)


def _tag_for(include: list[dict], has_relation: bool) -> str:
    if has_relation:
        return "position"
    if len(include) > 1:
        return "color_attr" if any("color" in r for r in include) else "two_object"
    req = include[0]
    if req["count"] > 1:
        return "counting"
    return "colors" if "color" in req else "single_object"


def make_spec(include: list[dict], tag: str | None = None) -> Spec:
    """A full spec (tag, exclude for counting, prompt) from its include list."""
    has_relation = any("position" in r for r in include)
    spec: Spec = {"tag": tag or _tag_for(include, has_relation), "include": include}
    if spec["tag"] == "counting":
        spec["exclude"] = [{"class": r["class"], "count": r["count"] + 1} for r in include]
    validate_spec(spec)
    spec["prompt"] = spec_to_text(spec)
    return spec


def validate_spec(spec: Spec) -> None:
    """Raise ValueError naming the first thing a spec gets wrong."""
    if not isinstance(spec, dict) or "include" not in spec:
        raise ValueError(f"a spec is a dict with an 'include' list, got {spec!r}")
    if not spec["include"]:
        raise ValueError("a spec must include at least one object")
    if "tag" in spec and spec["tag"] not in TASKS:
        raise ValueError(f"unknown tag {spec['tag']!r}; tags: {', '.join(TASKS)}")
    for i, req in enumerate(spec["include"]):
        if not isinstance(req, dict):
            raise ValueError(f"include[{i}] is {req!r}; expected a dict with 'class' and 'count'")
        if req.get("class") not in SHAPES:
            raise ValueError(f"include[{i}] has class {req.get('class')!r}; expected one of {SHAPES}")
        if not isinstance(req.get("count"), int) or not 1 <= req["count"] <= MAX_COUNT:
            raise ValueError(f"include[{i}] has count {req.get('count')!r}; expected 1..{MAX_COUNT}")
        if "color" in req and req["color"] not in COLORS:
            raise ValueError(f"include[{i}] has color {req['color']!r}; expected one of {COLORS}")
        if "position" in req:
            pos = req["position"]
            rel, j = pos if isinstance(pos, (list, tuple)) and len(pos) == 2 else (None, None)
            if rel not in RELATIONS or not isinstance(j, int) or not 0 <= j < i:
                raise ValueError(
                    f"include[{i}] has position {req['position']!r}; expected [relation, j] "
                    f"with relation in {RELATIONS} and 0 <= j < {i}")
    for i, req in enumerate(spec.get("exclude", [])):
        if not isinstance(req, dict) or req.get("class") not in SHAPES or not isinstance(req.get("count"), int) \
                or req["count"] < 1:
            raise ValueError(f"exclude[{i}] is {req!r}; expected a class and an integer count")


def _parse_phrase(words: list[str], text: str) -> dict:
    if not words:
        raise PromptParseError(f"expected an object phrase in {text!r}, found nothing")
    det, rest = words[0], words[1:]
    if det in ARTICLES or det == "one":
        count = 1
    elif det in NUMBERS:
        count = NUMBERS[det]
    else:
        det, rest, count = None, words, 1
    color = None
    if rest and rest[0] in COLORS:
        color, rest = rest[0], rest[1:]
    if len(rest) != 1:
        raise PromptParseError(
            f"expected '[a|one|two|three|four] [colour] shape' in {text!r}, found {' '.join(words)!r}")
    noun = rest[0]
    singular = {v: k for k, v in PLURALS.items()}
    if noun in SHAPES:
        if count != 1:
            raise PromptParseError(f"{' '.join(words)!r} in {text!r}: a count above one needs a plural")
        shape = noun
    elif noun in singular:
        if count == 1:
            raise PromptParseError(f"{' '.join(words)!r} in {text!r}: a plural needs a count above one")
        shape = singular[noun]
    else:
        raise PromptParseError(f"expected a shape in {text!r}, found {noun!r}; shapes: {', '.join(SHAPES)}")
    req = {"class": shape, "count": count}
    if color:
        req["color"] = color
    return req


def parse_prompt(text: str) -> Spec:
    """Read a shapes-world prompt into a spec.

    Grammar: ``phrase ("and" phrase)*`` or ``phrase relation phrase``, where
    ``phrase = [a|an|one|two|three|four] [colour] shape[s]``; a leading
    "a photo of" (GenEval's wording) is accepted. Unknown words raise
    `PromptParseError` naming the word and listing the vocabulary.
    """
    if not isinstance(text, str) or not text.strip():
        raise PromptParseError(f"a prompt is a non-empty string, got {text!r}")
    words = text.lower().replace(",", " ").split()
    known = set(vocabulary())
    unknown = [w for w in words if w not in known]
    if unknown:
        raise PromptParseError(
            f"unknown word{'s' if len(unknown) > 1 else ''} {', '.join(repr(w) for w in unknown)} "
            f"in prompt {text!r}; the vocabulary is: {' '.join(vocabulary())}")
    if words[:3] == ["a", "photo", "of"]:
        words = words[3:]
    for rel in RELATIONS:
        rel_words = rel.split()
        for k in range(len(words) - len(rel_words) + 1):
            if words[k:k + len(rel_words)] == rel_words:
                subject = _parse_phrase(words[:k], text)
                reference = _parse_phrase(words[k + len(rel_words):], text)
                subject["position"] = [rel, 0]
                return make_spec([reference, subject])
    if any(w in ("left", "right", "of", "photo") for w in words):
        raise PromptParseError(
            f"misplaced relation words in {text!r}; relations are: {', '.join(RELATIONS)}")
    phrases, current = [], []
    for w in words + ["and"]:
        if w == "and":
            phrases.append(_parse_phrase(current, text))
            current = []
        else:
            current.append(w)
    return make_spec(phrases)


def sample_spec(task: str, rng: random.Random) -> Spec:
    """A random spec of one of GenEval's six tasks, drawn from the full grammar."""
    if task == "single_object":
        return make_spec([{"class": rng.choice(SHAPES), "count": 1}])
    if task == "two_object":
        a, b = rng.sample(SHAPES, 2)
        return make_spec([{"class": a, "count": 1}, {"class": b, "count": 1}])
    if task == "counting":
        return make_spec([{"class": rng.choice(SHAPES), "count": rng.randint(2, MAX_COUNT)}])
    if task == "colors":
        return make_spec([{"class": rng.choice(SHAPES), "count": 1, "color": rng.choice(COLORS)}])
    if task == "position":
        ref, sub = rng.sample(SHAPES, 2)
        return make_spec([{"class": ref, "count": 1},
                          {"class": sub, "count": 1, "position": [rng.choice(RELATIONS), 0]}])
    if task == "color_attr":
        a, b = rng.sample(SHAPES, 2)
        ca, cb = rng.sample(COLORS, 2)
        return make_spec([{"class": a, "count": 1, "color": ca},
                          {"class": b, "count": 1, "color": cb}])
    raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")


def all_specs(task: str) -> list[Spec]:
    """Every distinct spec of a task, in a fixed order."""
    out = []
    if task == "single_object":
        out = [make_spec([{"class": s, "count": 1}]) for s in SHAPES]
    elif task == "two_object":
        out = [make_spec([{"class": a, "count": 1}, {"class": b, "count": 1}])
               for a in SHAPES for b in SHAPES if a != b]
    elif task == "counting":
        out = [make_spec([{"class": s, "count": n}]) for s in SHAPES for n in range(2, MAX_COUNT + 1)]
    elif task == "colors":
        out = [make_spec([{"class": s, "count": 1, "color": c}]) for s in SHAPES for c in COLORS]
    elif task == "position":
        out = [make_spec([{"class": ref, "count": 1},
                          {"class": sub, "count": 1, "position": [rel, 0]}])
               for ref in SHAPES for sub in SHAPES if ref != sub for rel in RELATIONS]
    elif task == "color_attr":
        out = [make_spec([{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": cb}])
               for a in SHAPES for b in SHAPES if a != b for ca in COLORS for cb in COLORS if ca != cb]
    else:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return out
