"""The embedded shapes world: vocabulary, prompt specs, scenes and their rendering."""

from .geometry import relative_position
from .scene import Scene, SceneObject, SceneSamplingError, render_scene, sample_scene
from .spec import (
    PromptParseError,
    Spec,
    all_specs,
    make_spec,
    parse_prompt,
    sample_spec,
    spec_to_text,
    validate_spec,
)
from .vocab import BACKGROUND, COLORS, PALETTE, RELATIONS, SHAPES, TASKS

__all__ = [
    "BACKGROUND", "COLORS", "PALETTE", "RELATIONS", "SHAPES", "TASKS", "PromptParseError", "Scene",
    "SceneObject", "SceneSamplingError", "Spec", "all_specs", "make_spec", "parse_prompt",
    "relative_position", "render_scene", "sample_scene", "sample_spec", "spec_to_text",
    "validate_spec",
]
