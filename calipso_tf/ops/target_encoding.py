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

import functools

import numpy as np
import tensorflow as tf

from calipso_tf.ops.anchor_assignment import AnchorGrid, assign_anchors


def _scatter_max(shape, indices, valid):
    """Dense float tensor of ``shape`` with 1 at each valid index row (duplicates fine)."""
    idx = tf.boolean_mask(indices, valid)
    ones = tf.ones(tf.shape(idx)[:1], tf.float32)
    return tf.minimum(tf.scatter_nd(idx, ones, shape), 1.0)


def verb_components(triplets, num_boxes_padded, num_verbs):
    """Connected components of boxes per verb, linked by triplets with a target.

    triplets (K, 3) int32 rows (subject, object or -1, verb); a row links subject and
    object for its verb when both are >= 0 and differ. Returns component (V, G) int32,
    the smallest box index of g's class for verb v (g itself for verbs no triplet links),
    and interacting (V, G) f32, 1 where that class holds >= 2 boxes.

    Only the U verbs of linked triplets are solved: min-label propagation over the
    triplet edges with pointer jumping, O((K + U G) x iterations), iterations bounded by
    the component diameter + 1; then the U rows are scattered into the (V, G) outputs.
    """
    g = num_boxes_padded
    subj, obj, verb = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    linked = (subj >= 0) & (obj >= 0) & (subj != obj)
    verbs, edge_verb = tf.unique(tf.boolean_mask(verb, linked))  # (U,), (E,) index into verbs
    u = tf.shape(verbs)[0]
    # Nodes are flattened (present verb, box) pairs: u * G + box; labels hold box indices.
    offset = edge_verb * g
    ends = tf.concat([tf.boolean_mask(subj, linked) + offset, tf.boolean_mask(obj, linked) + offset], 0)
    other = tf.concat([ends[tf.size(offset):], ends[:tf.size(offset)]], 0)  # the edge's other end
    rows = tf.repeat(tf.range(u) * g, g)  # (U G,) node -> its row offset
    start = tf.tile(tf.range(g, dtype=tf.int32), [u])

    def step(labels, _):
        neighbour = tf.math.unsorted_segment_min(tf.gather(labels, other), ends, u * g)
        lowered = tf.minimum(labels, neighbour)  # empty segments give int32 max
        jumped = tf.gather(lowered, rows + lowered)  # a label is a box of the same class
        return jumped, tf.reduce_any(jumped != labels)

    labels, _ = tf.while_loop(lambda labels, changed: changed, step, (start, tf.constant(True)))
    sizes = tf.math.unsorted_segment_sum(tf.ones_like(labels), rows + labels, u * g)
    present_interacting = tf.cast(tf.gather(sizes, rows + labels) >= 2, tf.float32)
    index = verbs[:, None]
    component = tf.tensor_scatter_nd_update(tf.tile(tf.range(g, dtype=tf.int32)[None], [num_verbs, 1]), index,
                                            tf.reshape(labels, [u, g]))
    interacting = tf.tensor_scatter_nd_update(tf.zeros([num_verbs, g], tf.float32), index,
                                              tf.reshape(present_interacting, [u, g]))
    return component, interacting


def encode_targets(anchors, boxes, box_valid, category_ids, triplets, num_verbs, verb_target_sets,
                   match_iou=0.5, force_match_best_anchor=False):
    """Builds the target dict described in the module docstring for one image.

    anchors: (N, 4) anchors, or an ``AnchorGrid`` (same anchor_box, computed near each box only).

    verb_target_sets: (V, C) f32 lookup, 1 where category id c is in L_v. Category ids
    outside [0, C) belong to no L_v.
    """
    assign = anchors.assign if isinstance(anchors, AnchorGrid) else functools.partial(assign_anchors, anchors)
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
        "anchor_box": assign(boxes, box_valid, match_iou, force_match_best_anchor),
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
