"""CALIPSO losses (docs/method.md eq. 1-9), batched and XLA-friendly.

L = L_verb + L_target + (1/|V|) sum_v L_emb_v, computed per image and returned per
image (B,) so the caller can divide by the global batch size.

Only anchors assigned to a box (A_G) take part. To keep shapes static, each image's
assigned anchors are gathered into a fixed-size slot array of ``max_assigned_anchors``
(top-k on the assignment mask); ``dropped_anchors`` reports any overflow.
"""

from __future__ import annotations

import tensorflow as tf

from calipso_tf.config import LossConfig


def gather_assigned(anchor_box: tf.Tensor, max_assigned: int):
    """(B, N) anchor->box ids -> slots (B, M) anchor indices, (B, M) validity, dropped count."""
    assigned = tf.cast(anchor_box >= 0, tf.float32)
    num_anchors = tf.shape(anchor_box)[1]
    m = min(max_assigned, anchor_box.shape[1]) if anchor_box.shape[1] is not None else max_assigned
    # Ties broken towards lower anchor indices so the choice is deterministic.
    order = assigned * 2.0 - tf.cast(tf.range(num_anchors), tf.float32)[None, :] / tf.cast(num_anchors, tf.float32)
    _, slots = tf.math.top_k(order, k=m)
    valid = tf.gather(assigned, slots, batch_dims=1) > 0.5
    dropped = tf.reduce_sum(assigned, axis=1) - tf.reduce_sum(tf.cast(valid, tf.float32), axis=1)
    return slots, valid, dropped


def _masked_bce_mean(labels, logits, mask):
    """Mean BCE over the entries where mask = 1, per image: (B, ...) -> (B,)."""
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits) * mask
    axes = list(range(1, len(bce.shape)))
    return tf.math.divide_no_nan(tf.reduce_sum(bce, axes), tf.reduce_sum(mask, axes))


def embedding_loss(embeddings, anchor_valid, anchor_component, interacting, in_target_set, config: LossConfig):
    """Pull/push loss per image and verb (eq. 3-8), averaged over verbs -> (B,).

    embeddings (B, M, V, T) of the gathered anchors; anchor_valid (B, M) bool;
    anchor_component (B, M, V) class id (a box index < G) of each anchor per verb;
    interacting (B, V, G) f32 lambda switch per class; in_target_set (B, M, V) f32, the
    anchor's box category is in L_v.
    """
    batch, _, num_verbs, _ = tf.unstack(tf.shape(embeddings))
    num_classes = tf.shape(interacting)[2]
    emb = tf.transpose(embeddings, [0, 2, 1, 3])  # (B, V, M, T)
    comp = tf.transpose(anchor_component, [0, 2, 1])  # (B, V, M)
    valid = tf.cast(tf.broadcast_to(anchor_valid[:, None, :], tf.shape(comp)), tf.float32)
    group = (tf.range(batch)[:, None, None] * num_verbs + tf.range(num_verbs)[None, :, None]) * num_classes
    dump = batch * num_verbs * num_classes
    segment = tf.where(valid > 0, group + comp, dump)
    num_segments = dump + 1
    sums = tf.math.unsorted_segment_sum(emb, segment, num_segments)[:-1]
    counts = tf.math.unsorted_segment_sum(valid, segment, num_segments)[:-1]
    lv_class = tf.math.unsorted_segment_max(tf.transpose(in_target_set, [0, 2, 1]) * valid, segment, num_segments)[:-1]
    shape = tf.stack([batch, num_verbs, num_classes])
    counts = tf.reshape(counts, shape)
    centres = tf.math.divide_no_nan(tf.reshape(sums, tf.concat([shape, [-1]], 0)), counts[..., None])
    lv_class = tf.reshape(tf.maximum(lv_class, 0.0), shape)
    present = tf.cast(counts > 0, tf.float32)
    num_present = tf.reduce_sum(present, axis=2)  # E_v per image, (B, V)

    # Pull (eq. 5-6): lambda_C / |C| * sum_j ||e_j - e_C||^2, averaged over classes.
    anchor_centre = tf.gather(tf.reshape(centres, [-1, tf.shape(centres)[-1]]), tf.minimum(segment, dump - 1))
    sq_dist = tf.reduce_sum(tf.square(emb - anchor_centre), axis=-1) * valid
    lam = 1.0 + (config.lambda_pull - 1.0) * interacting
    class_weight = tf.math.divide_no_nan(lam, counts)  # (B, V, G)
    anchor_weight = tf.gather(tf.reshape(class_weight, [-1]), tf.minimum(segment, dump - 1))
    pull = tf.math.divide_no_nan(tf.reduce_sum(sq_dist * anchor_weight, axis=2), num_present)

    # Push (eq. 7-8): gamma * exp(-||e_C - e_C'||^2 / (2 sigma^2)) over ordered pairs C != C'.
    pair_sq = tf.reduce_sum(tf.square(centres[:, :, :, None, :] - centres[:, :, None, :, :]), axis=-1)
    not_self = 1.0 - tf.eye(num_classes)
    pair_mask = present[..., :, None] * present[..., None, :] * not_self
    gamma = 1.0 + (config.gamma_push - 1.0) * lv_class[..., :, None] * lv_class[..., None, :]
    kernel = tf.exp(-pair_sq / (2.0 * config.sigma ** 2))
    push = tf.math.divide_no_nan(tf.reduce_sum(gamma * kernel * pair_mask, axis=[2, 3]), tf.square(num_present))

    return tf.reduce_sum(pull + push, axis=1) / tf.cast(num_verbs, tf.float32)


def calipso_losses(predictions: dict, targets: dict, config: LossConfig) -> dict:
    """Per-image loss terms (B,) of the dense maps (B, N, ...): verb, target, embedding, total;
    plus dropped_anchors."""
    slots, valid, dropped = gather_assigned(targets["anchor_box"], config.max_assigned_anchors)
    reads = {key: tf.gather(value, slots, batch_dims=1) for key, value in predictions.items()}
    return slot_losses(reads, slots, valid, dropped, targets, config)


def slot_losses(reads: dict, slots, valid, dropped, targets: dict, config: LossConfig) -> dict:
    """`calipso_losses` from the maps read at the assigned-anchor slots.

    reads: the maps' keys, each (B, M, ...) at ``slots``; slots, valid, dropped: from
    `gather_assigned`.
    """
    box = tf.maximum(tf.gather(targets["anchor_box"], slots, batch_dims=1), 0)  # (B, M)
    valid_f = tf.cast(valid, tf.float32)

    def per_anchor(box_table):  # (B, G, V) -> (B, M, V)
        return tf.gather(box_table, box, batch_dims=1)

    verb_logits = reads["verb_logits"]
    num_verbs = targets["box_active"].shape[-1]
    verb_labels = per_anchor(targets["box_active"])
    if verb_logits.shape[-1] == 2 * num_verbs:
        verb_labels = tf.concat([verb_labels, per_anchor(targets["box_passive"])], axis=-1)
    verb_mask = tf.broadcast_to(valid_f[..., None], tf.shape(verb_labels))
    terms = {"verb": _masked_bce_mean(verb_labels, tf.cast(verb_logits, tf.float32), verb_mask)}

    active = per_anchor(targets["box_active"])
    if "target_logits" in reads:
        target_logits = tf.cast(reads["target_logits"], tf.float32)
        terms["target"] = _masked_bce_mean(per_anchor(targets["box_target"]), target_logits,
                                           active * valid_f[..., None])
    else:
        terms["target"] = tf.zeros_like(terms["verb"])

    component = tf.gather(tf.transpose(targets["component"], [0, 2, 1]), box, batch_dims=1)  # (B, M, V)
    in_set = per_anchor(tf.transpose(targets["box_in_target_set"], [0, 2, 1]))
    embeddings = tf.cast(reads["embeddings"], tf.float32)
    terms["embedding"] = embedding_loss(embeddings, valid, component, targets["component_interacting"], in_set, config)
    terms["total"] = terms["verb"] + terms["target"] + terms["embedding"]
    terms["dropped_anchors"] = dropped
    return terms
