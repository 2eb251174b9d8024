"""RetinaNet anchors over the FPN levels, flattened in the order the head emits them.

Order: level (P3 first), then row, then column, then the A = num_scales x
len(aspect_ratios) anchors of one location (aspect ratio major, scale minor).
Anchor centres sit at ((col + 0.5) * stride, (row + 0.5) * stride); a level's
feature map has ceil(H / stride) x ceil(W / stride) locations.
"""

from __future__ import annotations

import math

import numpy as np

from calipso_tf.config import AnchorConfig


def level_shape(image_size: tuple[int, int], level: int) -> tuple[int, int]:
    """Feature-map (rows, cols) of pyramid level ``level`` for an input of image_size."""
    stride = 2 ** level
    return math.ceil(image_size[0] / stride), math.ceil(image_size[1] / stride)


def anchor_shapes(config: AnchorConfig, level: int) -> np.ndarray:
    """(A, 2) anchor (width, height) in pixels at one level; aspect ratio = h / w."""
    base = config.size_multiplier * 2 ** level
    scales = 2.0 ** (np.arange(config.num_scales) / config.num_scales)
    ratios = np.asarray(config.aspect_ratios, np.float64)
    areas = (base * scales[None, :]) ** 2
    widths = np.sqrt(areas / ratios[:, None])
    heights = widths * ratios[:, None]
    return np.stack([widths.ravel(), heights.ravel()], axis=-1)


def generate_anchors(image_size: tuple[int, int], config: AnchorConfig | None = None) -> np.ndarray:
    """(N, 4) float32 anchors [x1, y1, x2, y2] in input pixels, for every level."""
    config = config or AnchorConfig()
    per_level = []
    for level in range(config.min_level, config.max_level + 1):
        rows, cols = level_shape(image_size, level)
        stride = 2 ** level
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        centres = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)
        half = anchor_shapes(config, level)[None] / 2.0
        per_level.append(np.concatenate([centres - half, centres + half], axis=-1).reshape(-1, 4))
    return np.concatenate(per_level, axis=0).astype(np.float32)


def num_anchors(image_size: tuple[int, int], config: AnchorConfig | None = None) -> int:
    config = config or AnchorConfig()
    levels = range(config.min_level, config.max_level + 1)
    return sum(int(np.prod(level_shape(image_size, level))) for level in levels) * config.anchors_per_location
