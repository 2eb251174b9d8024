"""Box overlaps in numpy, in the three conventions the project uses (boxes ``[x1, y1, x2, y2]``, pixels).

- ``continuous_iou``: continuous coordinates, area ``(x2 - x1) * (y2 - y1)``; the
  convention of the anchors and of ``calipso_tf.ops.box_ops.pairwise_iou`` (its tensor
  twin). Used by data_prep's cleaning (snapping, merging duplicates).
- ``hico_iou`` and ``vcoco_overlap``: the inclusive-pixel conventions of the HOI reference
  evaluators, where a box covers the pixels ``x1..x2`` inclusive, so its area is
  ``(x2 - x1 + 1) * (y2 - y1 + 1)``; they differ in their empty-intersection test and
  dtype. Used by ``evaluation.hico`` and ``evaluation.vcoco``. Both broadcast over
  leading dimensions: ``a[:, None]`` against ``b[None]`` gives an (N, M) matrix, equal
  shapes give element-wise overlaps.
"""

from __future__ import annotations

import numpy as np


def continuous_iou(boxes_a, boxes_b) -> np.ndarray:
    """IoU of boxes a (M, 4) against boxes b (N, 4) -> (M, N) float64; 0 where the union is empty."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(1, -1, 4)
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def hico_iou(boxes_a, boxes_b) -> np.ndarray:
    """HICO-DET IoU, float64, shape ``broadcast(a[..., 0], b[..., 0])``.

    Boxes whose intersection is empty or degenerate (``max x1 >= min x2`` or
    ``max y1 >= min y2``) have IoU 0, as in the Python ports of the HICO-DET protocol.
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    ix1 = np.maximum(a[..., 0], b[..., 0])
    iy1 = np.maximum(a[..., 1], b[..., 1])
    ix2 = np.minimum(a[..., 2], b[..., 2])
    iy2 = np.minimum(a[..., 3], b[..., 3])
    empty = (ix1 >= ix2) | (iy1 >= iy2)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_a + area_b - inter)
    return np.where(empty, 0.0, iou)


def vcoco_overlap(gt_boxes, pred_boxes) -> np.ndarray:
    """V-COCO overlap (``get_overlap`` of ``vsrl_eval.py``), float32.

    No empty-intersection test: the intersection side is ``max(min x2 - max x1 + 1, 0)``.
    A NaN coordinate gives a NaN overlap, which never passes a threshold. The reference
    ran under NumPy 1.x, where the area of the predicted box (a float32 scalar there) was
    computed in float64 and then rounded to float32; this is reproduced bit for bit.
    """
    g = np.asarray(gt_boxes, dtype=np.float32)
    p = np.asarray(pred_boxes, dtype=np.float32)
    one = np.float32(1)
    iw = np.maximum(np.minimum(g[..., 2], p[..., 2]) - np.maximum(g[..., 0], p[..., 0]) + one, 0)
    ih = np.maximum(np.minimum(g[..., 3], p[..., 3]) - np.maximum(g[..., 1], p[..., 1]) + one, 0)
    inter = iw * ih
    pred_w = (p[..., 2] - p[..., 0]).astype(np.float64) + 1.0
    pred_h = (p[..., 3] - p[..., 1]).astype(np.float64) + 1.0
    pred_area = (pred_w * pred_h).astype(np.float32)
    gt_area = (g[..., 2] - g[..., 0] + one) * (g[..., 3] - g[..., 1] + one)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (pred_area + gt_area - inter)
