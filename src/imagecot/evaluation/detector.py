"""Object detectors for the GenEval-style evaluator.

`ShapesDetector` is the exact classical detector of the shapes world. It stands
in for GenEval's Mask2Former + CLIP colour classifier and is exact on the
world's own renders (hard-edged shapes in exact palette colours on a plain
background, never touching). On generated images it is an approximation:

* colour comes from quantising each pixel to the nearest palette colour (not
  from a learned classifier), so an object drawn in two colours becomes two
  detections, and a colour between two palette entries goes to the nearer one;
* shape comes from comparing the blob with the world's own shape masks at the
  blob's box size (IoU), so a blob that is no shape at all still gets the
  closest one, with a low confidence;
* confidence = best shape IoU x colour purity (see `ShapesDetector`). It plays
  the role of GenEval's detection score: GenEval keeps detections above 0.3,
  and above 0.9 for counting, so only clean, well-formed blobs count there.

A `Detector` is any callable ``(img_HW3 uint8) -> list[Detection]``, so a real
detector can be plugged in for real-world prompts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image
from scipy import ndimage

from imagecot.world.shapes import shape_mask
from imagecot.world.vocab import BACKGROUND, COLORS, PALETTE, SHAPES

BASE_RESOLUTION = 32  # the world's default resolution; the min area scales from it


@dataclass(frozen=True)
class Detection:
    """One detected object. `box` is (x0, y0, x1, y1) in pixels, x1/y1 exclusive."""

    cls: str
    color: str
    box: tuple[int, int, int, int]
    confidence: float
    area: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Detection":
        return cls(d["cls"], d["color"], tuple(int(v) for v in d["box"]), float(d["confidence"]),
                   int(d["area"]))


@runtime_checkable
class Detector(Protocol):
    """Anything that turns an (H, W, 3) uint8 RGB image into detections."""

    def __call__(self, img_HW3: np.ndarray) -> list[Detection]: ...


def to_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a PIL image or a uint8 array.

    Transparent pixels (RGBA, LA, P with transparency) are composited over the
    world's BACKGROUND colour, so that they read as background; grey images are
    replicated to three channels.
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image array, got dtype {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 4)):
            image = Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[2] == 1
                                    else image)
        else:
            raise ValueError(f"expected an image array of shape (H, W, 3|4|1) or (H, W), "
                             f"got {image.shape}")
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        image = Image.alpha_composite(canvas, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


class ShapesDetector:
    """Exact classical detector for the shapes world.

    1. Each pixel takes the nearest colour among PALETTE + BACKGROUND (RGB
       distance); pixels farther than `tolerance` from all of them are unknown
       and ignored.
    2. For each palette colour, 8-connected components of its pixels; those
       smaller than `min_area` (default 12 px at 32x32, scaled by image area)
       are dropped as specks.
    3. The shape is the world shape whose `shape_mask` fits the component
       best: the highest IoU over template boxes whose edges lie within
       `jitter` pixels of the component's box (ties go to the first in SHAPES
       order). The tolerance absorbs the one-pixel edge growth or erosion of a
       decoded image; on an exact render the exact box wins with IoU 1.
    4. confidence = edge-tolerant IoU of the best template x purity, where
       purity is the fraction of the component's interior pixels (its outline
       peeled off: edges of a decoded image are blends) within
       `pure_tolerance` of the palette colour. Both are 1 on an exact render;
       noise, smears and malformed shapes lower it, one-pixel edge blur does not.
    """

    def __init__(self, tolerance: float = 80.0, pure_tolerance: float = 40.0,
                 min_area: float | None = None, base_min_area: float = 12.0, jitter: int = 1):
        self.tolerance = tolerance
        self.pure_tolerance = pure_tolerance
        self.min_area = min_area
        self.base_min_area = base_min_area
        self.jitter = jitter
        self._colors = COLORS
        self._refs_K3 = np.array([PALETTE[c] for c in COLORS] + [BACKGROUND], dtype=np.int32)
        self._masks: dict[tuple[int, int], list[np.ndarray]] = {}  # (w, h) -> masks, SHAPES order

    def min_area_for(self, height: int, width: int) -> float:
        if self.min_area is not None:
            return self.min_area
        return self.base_min_area * (height * width) / BASE_RESOLUTION**2

    def _shape_masks(self, w: int, h: int) -> list[np.ndarray]:
        key = (w, h)
        if key not in self._masks:
            if len(self._masks) > 4096:
                self._masks.clear()
            self._masks[key] = [shape_mask(s, w, h) for s in SHAPES]
        return self._masks[key]

    def __call__(self, img_HW3: np.ndarray | Image.Image) -> list[Detection]:
        return self.detect_with_owner(img_HW3)[0]

    def detect_with_owner(self, img_HW3: np.ndarray | Image.Image) -> tuple[list[Detection], np.ndarray]:
        """(detections, owner_HW): owner_HW[y, x] is the index of the detection whose blob holds the pixel, or -1."""
        img_HW3 = to_rgb_array(img_HW3)
        H, W, _ = img_HW3.shape
        # squared RGB distances in exact integers, one reference colour at a time (bounded memory)
        pix_HW3 = img_HW3.astype(np.int32)
        d2_KHW = np.stack([((pix_HW3 - ref_3) ** 2).sum(-1) for ref_3 in self._refs_K3])
        nearest_HW = d2_KHW.argmin(0)
        nearest_d2_HW = np.take_along_axis(d2_KHW, nearest_HW[None], 0)[0]
        nearest_HW[nearest_d2_HW > self.tolerance ** 2] = -1  # unknown
        pure_HW = nearest_d2_HW <= self.pure_tolerance ** 2
        min_area = self.min_area_for(H, W)
        structure = np.ones((3, 3), dtype=bool)  # 8-connectivity

        detections: list[Detection] = []
        owner_HW = np.full((H, W), -1, dtype=np.int32)
        for k, color in enumerate(self._colors):
            colour_HW = nearest_HW == k
            if not colour_HW.any():
                continue
            labels_HW, n = ndimage.label(colour_HW, structure=structure)
            for label, sl in enumerate(ndimage.find_objects(labels_HW), start=1):
                comp_hw = labels_HW[sl] == label
                area = int(comp_hw.sum())
                if area < min_area:
                    continue
                y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
                ious, tolerant_iou = self._fit(comp_hw)
                best = int(np.argmax(ious))
                interior_hw = ndimage.binary_erosion(comp_hw, structure)
                core_hw = interior_hw if interior_hw.any() else comp_hw
                purity = float(pure_HW[sl][core_hw].mean())
                owner_HW[sl][comp_hw] = len(detections)
                detections.append(Detection(SHAPES[best], color, (x0, y0, x1, y1),
                                            float(tolerant_iou * purity), area))
        return detections, owner_HW


    def _fit(self, comp_hw: np.ndarray) -> tuple[list[float], float]:
        """Per shape, the best IoU of its template over boxes within `jitter` px of the blob's box;
        and, for the best shape at its best box, the edge-tolerant IoU (see `_edge_tolerant_iou`)."""
        j = self.jitter
        h, w = comp_hw.shape
        canvas_hw = np.pad(comp_hw, j)
        area = int(comp_hw.sum())
        best = [0.0] * len(SHAPES)
        best_box: list[tuple[int, int, int, int] | None] = [None] * len(SHAPES)
        for y0 in range(0, 2 * j + 1):
            for y1 in range(h, h + 2 * j + 1):
                for x0 in range(0, 2 * j + 1):
                    for x1 in range(w, w + 2 * j + 1):
                        if y1 - y0 < 2 or x1 - x0 < 2:
                            continue
                        window = canvas_hw[y0:y1, x0:x1]
                        for k, m in enumerate(self._shape_masks(x1 - x0, y1 - y0)):
                            inter = int(np.count_nonzero(window & m))
                            union = area + int(m.sum()) - inter  # blob pixels outside the box count too
                            iou = inter / union if union else 0.0
                            if iou > best[k]:
                                best[k], best_box[k] = iou, (y0, y1, x0, x1)
        k = int(np.argmax(best))
        return best, _edge_tolerant_iou(canvas_hw, self._shape_masks, best_box[k], k)


def _edge_tolerant_iou(canvas_hw: np.ndarray, masks_for, box, k: int) -> float:
    """IoU of blob and template where disagreements on the template's one-pixel edge band don't count.

    A decoded image grows or erodes an object's outline by a pixel here and
    there; that is blur, not a malformed object, so it should not cost confidence.
    """
    y0, y1, x0, x1 = box
    tmpl_hw = np.zeros_like(canvas_hw)
    m = masks_for(x1 - x0, y1 - y0)[k]
    tmpl_hw[y0:y1, x0:x1] = m
    tmpl_hw = np.pad(tmpl_hw, 1)
    blob_hw = np.pad(canvas_hw, 1)
    full = np.ones((3, 3), dtype=bool)
    band_hw = ndimage.binary_dilation(tmpl_hw, full) & ~ndimage.binary_erosion(tmpl_hw, full)
    union = np.count_nonzero(blob_hw | tmpl_hw)
    off_band_errors = np.count_nonzero((blob_hw ^ tmpl_hw) & ~band_hw)
    return 1.0 - off_band_errors / union if union else 0.0
