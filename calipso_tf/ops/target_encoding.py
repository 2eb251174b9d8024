"""Label encoding: ground-truth boxes and triplets -> the training targets of one image.

Targets stay at box level (cheap to batch); the loss gathers them per anchor through
``anchor_box``. All ops are vectorised over anchors, boxes, verbs and triplets.

Input (one image, padded): boxes (G, 4) pixels of the model input, box_valid (G,),
category_ids (G,), triplets (K, 3) rows (subject, object or -1, verb) with padding rows
holding subject -1.

Output dict:
  anchor_box        (N,) int32   index of the box anchor n is assigned to, -1 if none
  box_active        (G, V) f32   box is the subject of a triplet with verb v
  box_passive       (G, V) f32   box is the target of a triplet with verb v
  box_target        (G, V) f32   some v-triplet of this subject has a visible target
                                 (defined where box_active is 1: that is its mask)
  component         (V, G) int32 equivalence class of box g for verb v (smallest box index in it)
  component_interacting (V, G) f32  the class of g links >= 2 boxes by v (lambda_pull applies)
  box_in_target_set (V, G) f32   g's category is in L_v (gamma_push applies)
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from calipso_tf.ops.box_ops import pairwise_iou


def assign_anchors(anchors, boxes, box_valid, match_iou=0.5, force_match_best_anchor=False):
    """(N, 4) anchors, (G, 4) boxes -> (N,) int32 best box with IoU > match_iou, else -1.

    With ``force_match_best_anchor`` each valid box also takes its best anchor, so that
    no box is left without anchors (not in the paper; off by default).
    """
    iou = pairwise_iou(anchors, boxes) * tf.cast(box_valid, tf.float32)[None, :]
    best_box = tf.argmax(iou, axis=1, output_type=tf.int32)
    best_iou = tf.reduce_max(iou, axis=1)
    assigned = tf.where(best_iou > match_iou, best_box, -1)
    if force_match_best_anchor:
        best_anchor = tf.argmax(iou, axis=0, output_type=tf.int32)
        has_overlap = tf.logical_and(box_valid, tf.reduce_max(iou, axis=0) > 0.0)
        box_ids = tf.range(tf.shape(boxes)[0], dtype=tf.int32)
        updates = tf.boolean_mask(tf.stack([best_anchor, box_ids], 1), has_overlap)
        assigned = tf.tensor_scatter_nd_update(assigned, updates[:, :1], updates[:, 1])
    return assigned


def _scatter_max(shape, indices, valid):
    """Dense float tensor of ``shape`` with 1 at each valid index row (duplicates fine)."""
    idx = tf.boolean_mask(indices, valid)
    ones = tf.ones(tf.shape(idx)[:1], tf.float32)
    return tf.minimum(tf.scatter_nd(idx, ones, shape), 1.0)


def verb_components(triplets, num_boxes_padded, num_verbs):
    """Connected components of boxes per verb, linked by triplets with a target.

    Returns (component (V, G) int32, interacting (V, G) f32). Transitive closure by
    repeated boolean squaring of the (V, G, G) reachability matrix.
    """
    g = num_boxes_padded
    subj, obj, verb = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    linked = (subj >= 0) & (obj >= 0) & (subj != obj)
    edges = tf.stack([verb, subj, obj], axis=1)
    adjacency = _scatter_max([num_verbs, g, g], edges, linked)
    reach = tf.minimum(adjacency + tf.transpose(adjacency, [0, 2, 1]) + tf.eye(g)[None], 1.0)
    for _ in range(max(1, math.ceil(math.log2(max(g, 2))))):
        reach = tf.minimum(tf.matmul(reach, reach), 1.0)
    component = tf.argmax(reach > 0.5, axis=2, output_type=tf.int32)
    interacting = tf.cast(tf.reduce_sum(reach, axis=2) > 1.5, tf.float32)
    return component, interacting


def encode_targets(anchors, boxes, box_valid, category_ids, triplets, num_verbs, verb_target_sets,
                   match_iou=0.5, force_match_best_anchor=False):
    """Builds the target dict described in the module docstring for one image.

    verb_target_sets: (V, C) f32 lookup, 1 where category id c is in L_v. Category ids
    outside [0, C) belong to no L_v.
    """
    g = boxes.shape[0]
    subj, obj, verb = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    real = subj >= 0
    has_target = real & (obj >= 0)
    box_active = _scatter_max([g, num_verbs], tf.stack([subj, verb], 1), real)
    box_passive = _scatter_max([g, num_verbs], tf.stack([obj, verb], 1), has_target)
    box_target = _scatter_max([g, num_verbs], tf.stack([subj, verb], 1), has_target)
    component, interacting = verb_components(triplets, g, num_verbs)
    num_categories = tf.shape(verb_target_sets)[1]
    safe_ids = tf.clip_by_value(category_ids, 0, num_categories - 1)
    # Ids past the table (e.g. a category that is no verb's target) must not borrow the last column.
    known = tf.cast(box_valid, tf.bool) & (category_ids >= 0) & (category_ids < num_categories)
    in_target_set = tf.gather(verb_target_sets, safe_ids, axis=1) * tf.cast(known, tf.float32)[None, :]
    return {
        "anchor_box": assign_anchors(anchors, boxes, box_valid, match_iou, force_match_best_anchor),
        "box_active": box_active,
        "box_passive": box_passive,
        "box_target": box_target,
        "component": component,
        "component_interacting": interacting,
        "box_in_target_set": in_target_set,
    }


def verb_target_lookup(verb_target_categories: list[list[int]], num_categories: int | None = None):
    """L_v lists of category ids -> (V, C) float32 0/1 lookup table."""
    max_id = max([c for cats in verb_target_categories for c in cats] + [0])
    table = np.zeros((len(verb_target_categories), max(num_categories or 0, max_id + 1)), np.float32)
    for v, cats in enumerate(verb_target_categories):
        table[v, list(cats)] = 1.0
    return tf.constant(table)
