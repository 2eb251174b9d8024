"""Where boxes may go in one synthetic image: inside it, matched by an anchor, apart from each other.

Boxes are ``(x1, y1, x2, y2)`` pixels. The anchors are the model's default set
(``calipso_tf.ops.anchors.generate_anchors``), so every generated box can be learnt.
"""

from __future__ import annotations

import numpy as np

MIN_ANCHOR_IOU = 0.55  # margin over the 0.5 assignment threshold
MARGIN = 4  # px kept free between boxes that do not interact


def best_anchor_iou(boxes, anchors) -> np.ndarray:
    """Best IoU (N,) of boxes (N, 4) against anchors (A, 4), continuous coordinates."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    wh = np.clip(np.minimum(boxes[..., 2:], anchors[:, 2:]) - np.maximum(boxes[..., :2], anchors[:, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_b = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    return (inter / (area_b + area_a - inter)).max(axis=1)


def apart(a, b, margin) -> bool:
    """True if boxes a, b (x1, y1, x2, y2) are at least margin px apart on some axis."""
    return a[0] > b[2] + margin or b[0] > a[2] + margin or a[1] > b[3] + margin or b[1] > a[3] + margin


class Layout:
    """Boxes placed so far in one image and the gaze corridors they must keep clear.

    image_size: (height, width) px; anchors: (A, 4) anchor boxes of that image size.
    """

    def __init__(self, image_size, anchors):
        self.height, self.width = image_size
        self.anchors = anchors
        self.boxes: list[tuple[int, int, int, int]] = []
        self.corridors: list[tuple[float, float, float, float]] = []

    def covered(self, box) -> bool:
        """Box inside the image and matched by an anchor, as exclusive and as inclusive pixel box."""
        x1, y1, x2, y2 = box
        if x1 < 0 or y1 < 0 or x2 > self.width - 1 or y2 > self.height - 1 or x2 <= x1 or y2 <= y1:
            return False
        return best_anchor_iou([box, (x1, y1, x2 + 1, y2 + 1)], self.anchors).min() >= MIN_ANCHOR_IOU

    def clear(self, region, partners=()) -> bool:
        """True if region keeps MARGIN px from every placed box except the partner indices."""
        return all(apart(region, b, MARGIN) for i, b in enumerate(self.boxes) if i not in partners)

    def fits(self, box, partners=()) -> bool:
        """Box placeable: covered, clear of non-partner boxes and of every gaze corridor."""
        return (self.covered(box) and self.clear(box, partners)
                and all(apart(box, c, 0) for c in self.corridors))
