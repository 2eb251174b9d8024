"""Detector-agnostic triplet decoding (docs/method.md, eq. 10-12).

The network gives dense per-anchor maps; an external detector gives boxes. Decoding
reads the maps at each detected box and scores every (person, verb, target) candidate
with a few batched tensor ops. Every shape is static (detections are padded to a
fixed D with a valid count per image), so the cost depends on D, never on how many
people, objects or pairs an image actually holds, and the whole decoder compiles
with XLA.

Box-to-anchor mapping rule: a detected box reads the average of the anchors whose IoU
with it is above ``iou_threshold`` (0.5 by default, the training assignment
threshold); a box that no anchor overlaps that much reads its single best-IoU anchor
(the first one on ties). Scores are averaged after the sigmoid.

Ranking (`score_triplets`): an optional valid-pair mask first drops the candidates whose
(verb, target category) is no HOI category of the dataset, and the no-target candidate
of verbs that never lack a target (calipso_tf.inference.valid_pairs); then either each
(person, verb) keeps its best remaining target ("best", the paper) or every remaining
candidate is ranked ("all"), and the top-k are kept.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from calipso_tf.constants import CANDIDATE_MODES, NO_TARGET, NO_TARGET_CATEGORY, PERSON_CATEGORY_ID
from calipso_tf.ops.box_ops import pairwise_iou


def map_boxes_to_anchors(boxes: tf.Tensor, anchors: tf.Tensor, iou_threshold: float = 0.5) -> tf.Tensor:
    """Anchor weights of each box: (B, D, 4) or (D, 4) boxes, (N, 4) anchors -> (B, D, N) or (D, N).

    Boxes and anchors are [x1, y1, x2, y2] pixels of the model input frame. Row d
    holds 1/k on the k anchors with IoU > iou_threshold with box d, or 1 on its
    best-IoU anchor when k = 0; every row sums to 1.
    """
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    iou = pairwise_iou(boxes, anchors)
    above = tf.cast(iou > iou_threshold, tf.float32)
    count = tf.reduce_sum(above, axis=-1, keepdims=True)
    best = tf.one_hot(tf.argmax(iou, axis=-1, output_type=tf.int32), tf.shape(anchors)[0], dtype=tf.float32)
    return tf.where(count > 0, above / tf.maximum(count, 1.0), best)


MAX_ANCHORS_PER_BOX = 64


def anchor_reads(num_boxes: int, num_anchors: int) -> int:
    """The anchors the decoder reads per image for num_boxes detections (`box_anchors`' k each)."""
    return num_boxes * min(MAX_ANCHORS_PER_BOX, num_anchors)


def box_anchors(weights: tf.Tensor, max_anchors_per_box: int = MAX_ANCHORS_PER_BOX):
    """The anchors each box reads: (B, D, N) weights -> index (B, D, k), weight (B, D, k).

    The (at most ``max_anchors_per_box``) anchors with the highest weight, weights
    renormalised to sum to 1 per box. A box covered by more anchors than that (none at
    the RetinaNet anchor density in practice) averages its ``max_anchors_per_box``
    highest-weight ones.
    """
    k = min(max_anchors_per_box, weights.shape[-1])
    values, index = tf.math.top_k(weights, k=k)  # (B, D, k)
    return index, tf.math.divide_no_nan(values, tf.reduce_sum(values, axis=-1, keepdims=True))


def read_box_features(maps: dict[str, tf.Tensor], weights: tf.Tensor,
                      max_anchors_per_box: int = MAX_ANCHORS_PER_BOX) -> dict[str, tf.Tensor]:
    """Reads the model maps at the detected boxes.

    Only the anchors of `box_anchors` are gathered, so the cost is O(D k V T), not
    O(D N V T) over all N anchors.

    Args:
      maps: the model outputs, "verb_logits" (B, N, 2V) or (B, N, V) without the
        passive branch, "embeddings" (B, N, V, T), optional "target_logits" (B, N, V).
      weights: (B, D, N) from `map_boxes_to_anchors`.

    Returns:
      `average_box_reads`'s features.
    """
    index, values = box_anchors(weights, max_anchors_per_box)
    return average_box_reads({key: tf.gather(value, index, batch_dims=1) for key, value in maps.items()}, values)


def average_box_reads(reads: dict[str, tf.Tensor], values: tf.Tensor) -> dict[str, tf.Tensor]:
    """The maps read at each box's anchors, (B, D, k, ...) per key, averaged with the
    (B, D, k) `box_anchors` weights.

    Returns:
      "active", "passive" (B, D, V) sigmoid scores averaged over each box's anchors
      (passive is 1 without the passive branch), "embeddings" (B, D, V, T) averaged,
      and "target" (B, D, V) when the model has the target branch.
    """
    def average(gathered, activation=tf.identity):  # (B, D, k, ...) -> (B, D, ...), float32
        gathered = activation(tf.cast(gathered, tf.float32))
        w = tf.reshape(values, tf.concat([tf.shape(values), tf.ones([len(gathered.shape) - 3], tf.int32)], 0))
        return tf.reduce_sum(gathered * w, axis=2)

    embeddings = reads["embeddings"]
    num_verbs = embeddings.shape[3]
    verbs = average(reads["verb_logits"], tf.sigmoid)
    active = verbs[..., :num_verbs]
    passive = verbs[..., num_verbs:] if verbs.shape[-1] == 2 * num_verbs else tf.ones_like(active)
    features = {"active": active, "passive": passive, "embeddings": average(embeddings)}
    if "target_logits" in reads:
        features["target"] = average(reads["target_logits"], tf.sigmoid)
    return features


def valid_pair_table(valid_pairs, category_ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Which candidates a valid-pair mask allows.

    Args:
      valid_pairs: bool (V, C): [v, c] says whether network verb v with a target of
        category id c (c >= 1) is an HOI category; column NO_TARGET_CATEGORY (0) says
        whether verb v may have no target.
      category_ids: (B, D) int category ids of the detections; ids outside [1, C) are
        in no valid pair.

    Returns:
      (B, D, V) bool: detection d may be the target of verb v; (V,) bool: verb v may
      have no target.
    """
    table = tf.convert_to_tensor(valid_pairs, tf.bool)
    ids = tf.cast(category_ids, tf.int32)
    known = (ids > NO_TARGET_CATEGORY) & (ids < tf.shape(table)[1])
    targets = tf.gather(tf.transpose(table), tf.where(known, ids, NO_TARGET_CATEGORY))  # (B, D, V)
    return targets & known[..., None], table[:, NO_TARGET_CATEGORY]


def score_triplets(
    features: dict[str, tf.Tensor],
    boxes: tf.Tensor,
    category_ids: tf.Tensor,
    scores: tf.Tensor,
    num_detections: tf.Tensor,
    threshold: float = 0.0,
    top_k: int = 100,
    person_category_id: int = PERSON_CATEGORY_ID,
    candidates: str = "best",
    valid_pairs=None,
) -> dict[str, tf.Tensor]:
    """Scores all candidates (eq. 10-12), drops the invalid ones, then ranks and keeps the top-k.

    A candidate is a (person h, verb v, target) with the target one of the other
    detections or "no target". With ``valid_pairs``, candidates whose (verb, target
    category) is not an HOI category of the dataset are dropped first, so they never win
    the per-(person, verb) choice nor take one of the K slots.

    Args:
      features: from `read_box_features`; without "target", s_target = 1 and no
        no-target candidate exists.
      boxes: (B, D, 4) detected boxes, copied to the output (any frame).
      category_ids: (B, D) int COCO ids; subjects are the boxes of person_category_id.
      scores: (B, D) detector scores s_det in [0, 1].
      num_detections: (B,) int, valid detections per image (the rest is padding).
      threshold: a ranked entry is kept when its score is >= this.
      top_k: K, the most triplets kept per image.
      candidates: "best": the paper's rule, each (person, verb) ranks only its best valid
        target (at most D x V entries); "all": every valid (person, verb, target)
        candidate is ranked (D x V x (D + 1) entries), so a person doing one verb to
        several objects gives several triplets.
      valid_pairs: optional bool (V, C) mask, see `valid_pair_table`; None allows every
        pair and the no-target candidate.

    Returns:
      "subject_index", "object_index" (B, K) int32 indices into the detections,
      object_index = -1 when there is no target; "verb" (B, K) int32; "score" (B, K)
      float32, descending; "subject_box", "object_box" (B, K, 4) (object zeros when no
      target); "num_triplets" (B,) int32. Slots past num_triplets hold index -1, verb
      -1, score 0 and zero boxes.
    """
    if candidates not in CANDIDATE_MODES:
        raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
    active, passive, embeddings = features["active"], features["passive"], features["embeddings"]
    target = features.get("target")
    num_boxes, num_verbs = active.shape[1], active.shape[2]
    det = tf.convert_to_tensor(scores, tf.float32)
    valid = tf.range(num_boxes)[None, :] < tf.cast(num_detections, tf.int32)[:, None]
    subject = valid & (tf.cast(category_ids, tf.int32) == person_category_id)

    # (B, H, O, V) with H the subject and O the target detection.
    distance = tf.norm(embeddings[:, :, None] - embeddings[:, None, :], axis=-1)
    product = (det[:, :, None, None] * active[:, :, None, :] * det[:, None, :, None] * passive[:, None, :, :]
               * tf.exp(-distance))
    if target is not None:
        product *= target[:, :, None, :]
    pair_ok = (subject[:, :, None] & valid[:, None, :] & ~tf.eye(num_boxes, dtype=tf.bool)[None])[..., None]
    no_target_ok = True
    if valid_pairs is not None:
        rows = tf.convert_to_tensor(valid_pairs, tf.bool).shape[0]
        if rows != num_verbs:
            raise ValueError(f"valid_pairs has {rows} verb rows, the model outputs {num_verbs} verbs")
        target_ok, no_target_ok = valid_pair_table(valid_pairs, category_ids)
        pair_ok &= target_ok[:, None]
    triplet = tf.where(pair_ok, tf.pow(product, 1.0 / 6.0), -1.0)
    if target is None:
        no_target = tf.fill(tf.shape(active), -1.0)
    else:
        no_target = tf.where(no_target_ok, tf.pow(det[..., None] * active * (1.0 - target), 1.0 / 3.0), -1.0)
    # (B, H, V, O + 1): the last candidate is the no-target pair; -1 marks an excluded one.
    ranked = tf.concat([tf.transpose(triplet, [0, 1, 3, 2]), no_target[..., None]], axis=-1)
    if candidates == "best":
        target_of = tf.argmax(ranked, axis=-1, output_type=tf.int32)[..., None]  # (B, H, V, 1)
        ranked = tf.reduce_max(ranked, axis=-1, keepdims=True)
    else:
        target_of = tf.broadcast_to(tf.range(num_boxes + 1), tf.shape(ranked))
    per_verb = ranked.shape[-1]  # 1 or O + 1 ranked entries per (person, verb)
    size = num_boxes * num_verbs * per_verb
    keep = subject[..., None, None] & (ranked >= threshold)
    flat = tf.reshape(tf.where(keep, ranked, -1.0), [-1, size])
    if size < top_k:
        flat = tf.pad(flat, [[0, 0], [0, top_k - size]], constant_values=-1.0)
    top_scores, top = tf.math.top_k(flat, k=top_k)
    kept = top_scores >= 0.0
    top = tf.minimum(top, size - 1)
    subject_index = top // (num_verbs * per_verb)
    verb = top // per_verb % num_verbs
    object_index = tf.gather(tf.reshape(target_of, [-1, size]), top, batch_dims=1)
    object_index = tf.where(object_index == num_boxes, NO_TARGET, object_index)
    has_object = kept & (object_index >= 0)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    return {
        "subject_index": tf.where(kept, subject_index, NO_TARGET),
        "object_index": tf.where(has_object, object_index, NO_TARGET),
        "verb": tf.where(kept, verb, -1),
        "score": tf.where(kept, top_scores, 0.0),
        "subject_box": _gather_boxes(boxes, subject_index, kept),
        "object_box": _gather_boxes(boxes, tf.maximum(object_index, 0), has_object),
        "num_triplets": tf.reduce_sum(tf.cast(kept, tf.int32), axis=-1),
    }


def _gather_boxes(boxes: tf.Tensor, index: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """(B, D, 4) boxes at (B, K) indices, zeros where mask is False -> (B, K, 4)."""
    return tf.where(mask[..., None], tf.gather(boxes, index, batch_dims=1), 0.0)


@keras.saving.register_keras_serializable(package="calipso_tf")
class TripletDecoder(keras.layers.Layer):
    """Model maps + padded detections -> padded triplets, for eager, tf.function or serving use.

    Detections are given in the original image frame with the per-image factor
    ``scale`` that resized the image to the model input: boxes are multiplied by it
    for the anchor mapping and the returned triplet boxes are in the original frame.

    Args:
      threshold: minimum score of a kept triplet.
      top_k: K, the most triplets per image.
      person_category_id: the detector's person class (COCO: 1).
      mapping_iou: IoU above which an anchor belongs to a detected box.
      candidates: "best" or "all", see `score_triplets`.
      valid_pairs: optional bool (V, C) valid (verb, object category) mask, see
        `valid_pair_table` (None: nothing masked).
    """

    def __init__(self, threshold: float = 0.0, top_k: int = 100, person_category_id: int = PERSON_CATEGORY_ID,
                 mapping_iou: float = 0.5, candidates: str = "best", valid_pairs=None, **kwargs):
        # float32 whatever the global policy: under mixed_float16 Keras would otherwise cast the
        # boxes, anchors and scores to float16 on the way in.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.threshold = threshold
        self.top_k = top_k
        self.person_category_id = person_category_id
        self.mapping_iou = mapping_iou
        self.candidates = candidates
        self.valid_pairs = None if valid_pairs is None else np.asarray(valid_pairs, bool)

    def call(self, maps, anchors, boxes, category_ids, scores, num_detections, scale=None):
        """maps: the dense model outputs; anchors (N, 4); boxes (B, D, 4); category_ids, scores (B, D);
        num_detections (B,); scale (B,) or None (= 1). Returns `score_triplets`'s dict."""
        return self.decode(lambda index: {key: tf.gather(value, index, batch_dims=1) for key, value in maps.items()},
                           anchors, boxes, category_ids, scores, num_detections, scale)

    def decode(self, read, anchors, boxes, category_ids, scores, num_detections, scale=None):
        """`call` with the maps given by ``read``: (B, K) int flat anchor indices -> the maps'
        keys at those anchors, (B, K, ...) each (a gather from dense maps, or the read-only
        head: `CalipsoModel.read_anchors`)."""
        boxes = tf.convert_to_tensor(boxes, tf.float32)
        model_boxes = boxes if scale is None else boxes * tf.cast(scale, tf.float32)[:, None, None]
        index, values = box_anchors(map_boxes_to_anchors(model_boxes, anchors, self.mapping_iou))
        batch, num_boxes, k = tf.unstack(tf.shape(index))
        reads = {key: tf.reshape(value, [batch, num_boxes, k, *value.shape[2:]])
                 for key, value in read(tf.reshape(index, [batch, -1])).items()}
        return score_triplets(average_box_reads(reads, values), boxes, category_ids, scores, num_detections,
                              threshold=self.threshold, top_k=self.top_k,
                              person_category_id=self.person_category_id, candidates=self.candidates,
                              valid_pairs=self.valid_pairs)

    def decode_model(self, model, images, anchors, boxes, category_ids, scores, num_detections, scale=None,
                     read_only: bool = False):
        """`call` on a CalipsoModel's maps for images (B, H, W, 3): from its dense maps, or with
        ``read_only`` its branches evaluated only at the anchors the boxes read (same result)
        when that is cheaper (`CalipsoModel.read_only_pays`)."""
        detections = (anchors, boxes, category_ids, scores, num_detections, scale)
        num_boxes = boxes.shape[1]
        reads = None if num_boxes is None else anchor_reads(num_boxes, anchors.shape[0])
        if not (read_only and model.read_only_pays(reads)):
            return self(model(images, training=False), *detections)
        trunk = model.trunk_features(images, training=False)
        return self.decode(lambda index: model.read_anchors(trunk, index), *detections)

    def get_config(self) -> dict[str, Any]:
        valid_pairs = None if self.valid_pairs is None else self.valid_pairs.tolist()
        return {**super().get_config(), "threshold": self.threshold, "top_k": self.top_k,
                "person_category_id": self.person_category_id, "mapping_iou": self.mapping_iou,
                "candidates": self.candidates, "valid_pairs": valid_pairs}
