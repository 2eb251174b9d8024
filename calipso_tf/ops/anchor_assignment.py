"""Anchor assignment: each anchor takes the box it overlaps best, when that IoU > match_iou.

``assign_anchors`` is the definition, for any (N, 4) anchors: IoU of every anchor with every
valid box. ``AnchorGrid`` gives the same (N,) int32 result for the RetinaNet anchors of
``calipso_tf.ops.anchors`` while computing IoU only for the anchors that can pass match_iou:
per (anchor shape, box) a window of anchor centres around the box, so an image pays for what
it holds (about 80 anchors per box on HICO-DET-sized data) instead of N x boxes (76,725
anchors at 640x640).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from calipso_tf.config import AnchorConfig
from calipso_tf.ops import anchors as anchor_lib
from calipso_tf.ops.box_ops import iou as box_iou
from calipso_tf.ops.box_ops import pairwise_iou

# Shapes whose best possible intersection is this close below the needed one still get a window,
# so that float32 rounding of the bound never drops an anchor whose computed IoU passes.
_SHAPE_SLACK = 1e-4


def assign_anchors(anchors, boxes, box_valid, match_iou=0.5, force_match_best_anchor=False):
    """(N, 4) anchors, (G, 4) boxes -> (N,) int32 best box with IoU > match_iou (>= 0), else -1.

    IoU is computed with the valid boxes only: an image padded to the split's largest record
    (HICO-DET: ~110 boxes, mean 6) would otherwise pay N x G for its padding. Ties go to the
    lowest box index. With ``force_match_best_anchor`` each valid box also takes its best
    anchor, so that no box is left without anchors (not in the paper; off by default).
    """
    valid_ids = tf.cast(tf.where(box_valid)[:, 0], tf.int32)
    iou = pairwise_iou(anchors, tf.gather(boxes, valid_ids))  # (N, valid boxes)
    # A zero column keeps argmax defined without valid boxes; IoU 0 never passes > match_iou.
    with_zero = tf.pad(iou, [[0, 0], [0, 1]])
    best_box = tf.gather(tf.concat([valid_ids, [-1]], 0), tf.argmax(with_zero, axis=1, output_type=tf.int32))
    assigned = tf.where(tf.reduce_max(with_zero, axis=1) > match_iou, best_box, -1)
    if force_match_best_anchor:
        best_anchor = tf.argmax(iou, axis=0, output_type=tf.int32)
        has_overlap = tf.reduce_max(iou, axis=0) > 0.0
        updates = tf.boolean_mask(tf.stack([best_anchor, valid_ids], 1), has_overlap)
        assigned = tf.tensor_scatter_nd_update(assigned, updates[:, :1], updates[:, 1])
    return assigned


class AnchorGrid:
    """The anchors of ``generate_anchors(image_size, config)`` with a fast, identical ``assign``.

    Why a window suffices. Take an anchor of size (a_w, a_h), area A, and a box of size (w, h),
    area B, centres dx, dy apart, t = match_iou. IoU > t  <=>  I > t (A + B - I)  <=>
    I > m = t (A + B) / (1 + t), I the intersection. The intersection's width is at most
    min(a_w, w) and at most (a_w + w) / 2 - |dx|; its height at most min(a_h, h). So
    (1) if min(a_w, w) min(a_h, h) <= m, no anchor of that shape can pass, wherever it sits;
    (2) otherwise it needs (a_w + w) / 2 - |dx| > m / min(a_h, h), i.e.
        |dx| < r_x = (a_w + w) / 2 - m / min(a_h, h), and likewise |dy| < r_y.
    The window of grid cells taken per (shape, box) reaches one stride S past r_x and r_y, so
    an anchor left out has |dx| >= r_x + S (or the same in y) and, in exact arithmetic,
    I <= m - S min(a_h, h): its IoU is below t by a relative margin >= S / min(a_w, w) (about
    1/9 with the default anchors), far above float32 rounding; (1) keeps shapes within a
    relative _SHAPE_SLACK of m. Every anchor that can pass is thus a candidate, and candidates
    get the IoU of ``box_ops.iou``, the very ops ``assign_anchors`` applies: same maxima, same
    ties (lowest box index), same result.
    """

    def __init__(self, image_size: tuple[int, int], config: AnchorConfig | None = None):
        config = config or AnchorConfig()
        self.anchors = tf.constant(anchor_lib.generate_anchors(image_size, config))  # (N, 4)
        shapes, strides, rows, cols, first = [], [], [], [], []
        start = 0
        per_location = config.anchors_per_location
        for level in range(config.min_level, config.max_level + 1):
            level_rows, level_cols = anchor_lib.level_shape(image_size, level)
            shapes.append(anchor_lib.anchor_shapes(config, level))
            strides += [2.0 ** level] * per_location
            rows += [level_rows] * per_location
            cols += [level_cols] * per_location
            first += [start + k for k in range(per_location)]
            start += level_rows * level_cols * per_location
        # Per anchor shape j (level major): (width, height), stride, grid rows and columns, the index
        # of its anchor at cell (0, 0); its anchor at (row, col) is first + (row * cols + col) * per_location.
        self.shape_size = tf.constant(np.concatenate(shapes), tf.float32)  # (J, 2)
        self.stride = tf.constant(strides, tf.float32)
        self.rows = tf.constant(rows, tf.int32)
        self.cols = tf.constant(cols, tf.int32)
        self.first = tf.constant(first, tf.int32)
        self.per_location = per_location
        self.num_anchors = start

    def _windows(self, boxes, match_iou):
        """(M, 4) boxes -> per (shape, box) pair, flattened shape major: first row, first column,
        rows and columns (int32, (J M,) each) of the candidate window; 0 rows/columns when empty."""
        size = self.shape_size[:, None, :]  # (J, 1, 2)
        box_size = (boxes[:, 2:] - boxes[:, :2])[None]  # (1, M, 2)
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2.0)[None]
        overlap = tf.minimum(size, box_size)  # (J, M, 2): the widest and highest intersection
        needed = match_iou * (size[..., 0] * size[..., 1] + box_size[..., 0] * box_size[..., 1]) / (1.0 + match_iou)
        reachable = overlap[..., 0] * overlap[..., 1] > needed * (1.0 - _SHAPE_SLACK)  # (J, M)
        # r_x divides by the overlap's height, r_y by its width (docstring (2)).
        radius = (size + box_size) / 2.0 - tf.math.divide_no_nan(needed[..., None], tf.reverse(overlap, [-1]))
        stride = self.stride[:, None, None]
        low = tf.floor((centre - radius) / stride - 0.5)  # (J, M, 2) column, row
        high = tf.math.ceil((centre + radius) / stride - 0.5)
        limit = tf.stack([self.cols, self.rows], -1)[:, None, :]  # (J, 1, 2)
        # Clipped in float first: a far-off box must not overflow the int cast.
        low = tf.cast(tf.clip_by_value(low, 0.0, tf.cast(limit, tf.float32)), tf.int32)
        high = tf.cast(tf.clip_by_value(high, -1.0, tf.cast(limit - 1, tf.float32)), tf.int32)
        extent = tf.maximum(high - low + 1, 0) * tf.cast(reachable, tf.int32)[..., None]
        flat = lambda x: tf.reshape(x, [-1])  # noqa: E731
        return flat(low[..., 1]), flat(low[..., 0]), flat(extent[..., 1]), flat(extent[..., 0])

    def assign(self, boxes, box_valid, match_iou=0.5, force_match_best_anchor=False):
        """``assign_anchors(self.anchors, boxes, box_valid, ...)``, computed over the candidate
        windows (class docstring): (G, 4) boxes, (G,) box_valid -> (N,) int32 box index or -1."""
        if force_match_best_anchor:  # each box's best anchor may lie anywhere: the dense definition
            return assign_anchors(self.anchors, boxes, box_valid, match_iou, True)
        valid_ids = tf.cast(tf.where(box_valid)[:, 0], tf.int32)
        valid_boxes = tf.gather(boxes, valid_ids)
        num_valid = tf.size(valid_ids)
        row0, col0, num_rows, num_cols = self._windows(valid_boxes, match_iou)
        counts = num_rows * num_cols
        pair = tf.repeat(tf.range(tf.size(counts)), counts)  # (C,) the (shape, box) pair of each candidate
        within = tf.range(tf.size(pair)) - tf.gather(tf.cumsum(counts, exclusive=True), pair)
        pair_cols = tf.gather(num_cols, pair)
        row = tf.gather(row0, pair) + within // pair_cols
        col = tf.gather(col0, pair) + within % pair_cols
        shape = pair // num_valid
        anchor = tf.gather(self.first, shape) + (row * tf.gather(self.cols, shape) + col) * self.per_location
        box = pair % num_valid  # position among the valid boxes
        overlap = box_iou(tf.gather(self.anchors, anchor), tf.gather(valid_boxes, box))
        passing = overlap > match_iou
        anchor, box, overlap = (tf.boolean_mask(x, passing) for x in (anchor, box, overlap))
        best = tf.math.unsorted_segment_max(overlap, anchor, self.num_anchors)
        # Lowest box position among each anchor's best: positions ascend with box indices.
        tied = tf.where(overlap == tf.gather(best, anchor), box, num_valid)
        winner = tf.math.unsorted_segment_min(tied, anchor, self.num_anchors)  # int32 max where none passes
        return tf.gather(tf.concat([valid_ids, [-1]], 0), tf.minimum(winner, num_valid))
