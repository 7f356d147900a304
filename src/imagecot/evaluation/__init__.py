"""Evaluation: the GenEval-style compositional benchmark of the shapes world.

The evaluator is not a verifier: it is the exact, classical scorer that
measures results (and labels training data for learned verifiers).
"""

from .detector import Detection, Detector, ShapesDetector, to_rgb_array
from .geneval import (
    GenEvalFolderError,
    format_summary,
    score_folder,
    score_image,
    score_images,
    summarize,
    write_sample_folder,
)
from .rules import COUNTING_THRESHOLD, MAX_OBJECTS, THRESHOLD, evaluate, group_detections

__all__ = [
    "COUNTING_THRESHOLD", "MAX_OBJECTS", "THRESHOLD", "Detection", "Detector", "GenEvalFolderError",
    "ShapesDetector", "evaluate", "format_summary", "group_detections", "score_folder", "score_image",
    "score_images", "summarize", "to_rgb_array", "write_sample_folder",
]
