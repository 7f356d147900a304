"""The closed vocabulary of the shapes world: shapes, colours, counts, relations.

Colour names are GenEval's (``white`` is left out: the background is light).
The palette is chosen so that every pair of colours is far apart in RGB, which
is what lets the classical detector be exact.
"""

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
PLURALS: dict[str, str] = {s: s + "s" for s in SHAPES}

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "orange": (255, 130, 0),
    "yellow": (240, 225, 0),
    "green": (20, 150, 40),
    "blue": (20, 60, 230),
    "purple": (130, 40, 170),
    "pink": (255, 105, 180),
    "brown": (120, 70, 20),
    "black": (25, 25, 25),
}
COLORS: tuple[str, ...] = tuple(PALETTE)
BACKGROUND: tuple[int, int, int] = (240, 240, 240)

NUMBERS: dict[str, int] = {"one": 1, "two": 2, "three": 3, "four": 4}
NUMBER_WORDS: dict[int, str] = {v: k for k, v in NUMBERS.items()}
MAX_COUNT = 4

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
OPPOSITE: dict[str, str] = {
    "left of": "right of", "right of": "left of", "above": "below", "below": "above",
}

TASKS: tuple[str, ...] = (
    "single_object", "two_object", "counting", "colors", "position", "color_attr",
)

ARTICLES = ("a", "an")
FILLER_PREFIX = ("a", "photo", "of")  # GenEval writes "a photo of ..."; accepted and dropped


def vocabulary() -> list[str]:
    """Every word the prompt parser accepts, sorted."""
    words = set(SHAPES) | set(PLURALS.values()) | set(COLORS) | set(NUMBERS)
    words |= set(ARTICLES) | {"and", "photo", "of", "left", "right", "above", "below"}
    return sorted(words)
