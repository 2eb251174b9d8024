"""Pictures for people to look at: the confident triplets only, small pictures enlarged for legible labels."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from calipso_tf.visualization.drawing import draw_triplets


def draw_confident_triplets(frame: np.ndarray, triplets: dict, verb_names: Sequence[str],
                            min_display_score: float = 0.3, min_display_size: int = 512,
                            object_categories=None) -> np.ndarray:
    """Draws the triplets scoring >= min_display_score, on the frame enlarged (nearest
    neighbour, aspect kept) so that its long side is at least min_display_size pixels.

    Args:
      frame: (H, W, 3) uint8 RGB, the frame the triplet boxes are in.
      triplets: one image of the `TripletDecoder` output (batch axis removed), numpy.
      verb_names: name of each verb index.
      object_categories: (D,) COCO category id of each detection, naming the targets.

    Returns:
      (H', W', 3) uint8 RGB, H' = H and W' = W unless enlarged.
    """
    shown = triplets["score"][:int(triplets["num_triplets"])] >= min_display_score
    keep = np.flatnonzero(shown)
    view = {k: (v[keep] if k != "num_triplets" else np.int32(len(keep))) for k, v in triplets.items()}
    factor = max(1.0, min_display_size / max(frame.shape[:2]))
    if factor > 1.0:
        frame, view = resize_with_triplets(frame, view, factor)
    return draw_triplets(frame, view, verb_names, object_categories=object_categories)


def resize_with_triplets(frame: np.ndarray, triplets: dict, factor: float) -> tuple[np.ndarray, dict]:
    """The frame resized by factor (aspect kept; nearest neighbour when enlarging, so pixels stay
    sharp, bilinear when shrinking) and a copy of the triplets with their boxes scaled to it.

    Args:
      frame: (H, W, 3) uint8 RGB.
      triplets: one image of the `TripletDecoder` output (or its layout), boxes in frame pixels.

    Returns:
      ((round(H * factor), round(W * factor), 3) uint8 RGB, triplets with boxes in its pixels).
    """
    size = (max(1, round(frame.shape[1] * factor)), max(1, round(frame.shape[0] * factor)))
    resample = Image.NEAREST if factor >= 1.0 else Image.BILINEAR
    frame = np.asarray(Image.fromarray(np.asarray(frame, np.uint8)).resize(size, resample))
    scaled = dict(triplets, subject_box=np.asarray(triplets["subject_box"]) * factor,
                  object_box=np.asarray(triplets["object_box"]) * factor)
    return frame, scaled
