"""Box geometry on [x1, y1, x2, y2] pixel tensors (continuous coordinates)."""

from __future__ import annotations

import tensorflow as tf


def iou(boxes_a: tf.Tensor, boxes_b: tf.Tensor) -> tf.Tensor:
    """IoU of broadcastable (..., 4) boxes -> (...); 0 where the union is empty."""
    inter_w = tf.maximum(tf.minimum(boxes_a[..., 2], boxes_b[..., 2]) - tf.maximum(boxes_a[..., 0], boxes_b[..., 0]),
                         0.0)
    inter_h = tf.maximum(tf.minimum(boxes_a[..., 3], boxes_b[..., 3]) - tf.maximum(boxes_a[..., 1], boxes_b[..., 1]),
                         0.0)
    inter = inter_w * inter_h
    area_a = (boxes_a[..., 2] - boxes_a[..., 0]) * (boxes_a[..., 3] - boxes_a[..., 1])
    area_b = (boxes_b[..., 2] - boxes_b[..., 0]) * (boxes_b[..., 3] - boxes_b[..., 1])
    return tf.math.divide_no_nan(inter, area_a + area_b - inter)


def pairwise_iou(boxes_a: tf.Tensor, boxes_b: tf.Tensor) -> tf.Tensor:
    """IoU of every box in (..., M, 4) with every box in (..., N, 4) -> (..., M, N)."""
    return iou(boxes_a[..., :, None, :], boxes_b[..., None, :, :])
