"""Triplet decoding cost at the real-data shape: sparse anchor gather vs dense einsum.

  python benchmarks/decode_speed.py [--image-size 512] [--detections 64] [--verbs 117]

Times `TripletDecoder` (box-to-anchor mapping + reading the maps at each box's anchors +
eq. 10-12 scoring) on random maps, against the same decoder reading the maps with a dense
(B, D, N) x (B, N, C) einsum over all N anchors (the first implementation), and checks
that both give the same scores. A second table times the ranking choices of HICO-DET
evaluation: candidates best / all, with the 600-HOI valid-pair mask. Prints the tables;
no GPU needed.
"""

from __future__ import annotations

import argparse

import numpy as np
import tensorflow as tf

from benchmarks.common import describe_device, median_times_ms
from calipso_tf.inference import triplet_decoder
from calipso_tf.ops.anchors import generate_anchors
from calipso_tf.vocabularies.vocabulary import hoi_mask


def dense_features(maps, weights, num_verbs):
    """The einsum reading over all anchors that `read_box_features` replaced."""
    verbs = tf.einsum("bdn,bnc->bdc", weights, tf.sigmoid(maps["verb_logits"]))
    return {"active": verbs[..., :num_verbs], "passive": verbs[..., num_verbs:],
            "embeddings": tf.einsum("bdn,bnvt->bdvt", weights, maps["embeddings"]),
            "target": tf.einsum("bdn,bnv->bdv", weights, tf.sigmoid(maps["target_logits"]))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--detections", type=int, default=64)
    parser.add_argument("--verbs", type=int, default=117)
    parser.add_argument("--embedding-dim", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    anchors = tf.constant(generate_anchors((args.image_size, args.image_size)))
    n, v, t, d = anchors.shape[0], args.verbs, args.embedding_dim, args.detections
    rng = np.random.default_rng(0)
    maps = {"verb_logits": tf.constant(rng.normal(size=(1, n, 2 * v)), tf.float32),
            "target_logits": tf.constant(rng.normal(size=(1, n, v)), tf.float32),
            "embeddings": tf.constant(rng.normal(size=(1, n, v, t)), tf.float32)}
    corner = rng.uniform(0, args.image_size * 0.8, size=(1, d, 2))
    size = rng.uniform(30, args.image_size * 0.2, size=(1, d, 2))
    boxes = tf.constant(np.concatenate([corner, corner + size], -1), tf.float32)
    categories = tf.constant(np.where(np.arange(d) % 3 == 0, 1, 47)[None], tf.int32)
    scores, count = tf.ones((1, d)), tf.constant([d])

    def decoder(**ranking):
        @tf.function
        def decode():
            weights = triplet_decoder.map_boxes_to_anchors(boxes, anchors)
            features = triplet_decoder.read_box_features(maps, weights)
            return triplet_decoder.score_triplets(features, boxes, categories, scores, count, **ranking)
        return decode

    sparse = decoder()

    @tf.function
    def dense():
        weights = triplet_decoder.map_boxes_to_anchors(boxes, anchors)
        return triplet_decoder.score_triplets(dense_features(maps, weights, v), boxes, categories, scores, count)

    gap = float(tf.reduce_max(tf.abs(sparse()["score"] - dense()["score"])))
    times = median_times_ms({"dense einsum over all anchors": dense, "sparse gather of each box's anchors": sparse},
                            warmup=1, rounds=args.repeats)
    print(f"device: {describe_device()}; D={d}, N={n} anchors ({args.image_size}px), V={v}, T={t}")
    print("| reading | decode ms (median) |\n|---|---|")
    for name, ms in times.items():
        print(f"| {name} | {ms:.1f} |")
    print(f"max |score difference| = {gap:.2e}")
    mask = hoi_mask(np.arange(1, v + 1), np.arange(91))  # HICO-DET verb ids 1..V x COCO ids
    modes = {"best, no mask (the paper)": decoder(candidates="best"),
             "best, 600-HOI mask": decoder(candidates="best", valid_pairs=mask),
             "all, 600-HOI mask": decoder(candidates="all", valid_pairs=mask)}
    times = median_times_ms(modes, warmup=1, rounds=args.repeats)
    print(f"| ranking (top_k 100 of D x V or D x V x (D + 1) = {d * v} or {d * v * (d + 1)}) | decode ms (median) |")
    print("|---|---|")
    for name, ms in times.items():
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
