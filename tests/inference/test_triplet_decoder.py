"""Triplet decoding on hand-built maps: 4 anchors on a 2x2 grid, one per detection."""

import math

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.inference import hico_output, triplet_decoder

PERSON, CUP, BALL = 1, 47, 37
# 2x2 grid of 10 px anchors; each detection below sits exactly on one anchor (IoU 1, 0 elsewhere).
ANCHORS = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [10, 10, 20, 20]], np.float32)
# Per anchor, per verb (V = 2) probabilities, and per-verb embeddings (T = 2).
ACTIVE = [[0.8, 0.6], [0.1, 0.1], [0.9, 0.9], [0.1, 0.1]]
PASSIVE = [[0.1, 0.5], [0.7, 0.2], [0.2, 0.9], [0.9, 0.9]]
TARGET = [[0.9, 0.8], [0.5, 0.5], [0.2, 0.1], [0.5, 0.5]]
EMBEDDINGS = [[[0, 0], [0, 0]], [[1, 0], [3, 4]], [[0, 2], [0, 0.5]], [[0, 0], [6, 8]]]
# Detections: person d0, cup d1, person d2, ball d3, and a padding slot placed on the ball's
# anchor with a person class and score 1, which would win everything if it were not masked.
BOXES = np.concatenate([ANCHORS, ANCHORS[3:]], axis=0)
CATEGORIES = np.array([PERSON, CUP, PERSON, BALL, PERSON], np.int32)
DET_SCORES = np.array([0.9, 0.8, 1.0, 0.5, 1.0], np.float32)


def logit(p):
    p = np.asarray(p, np.float64)
    return np.log(p / (1 - p)).astype(np.float32)


def make_maps(batch=1, passive=True, target=True):
    verbs = np.concatenate([ACTIVE, PASSIVE], axis=-1) if passive else np.asarray(ACTIVE)
    maps = {"verb_logits": logit(verbs), "embeddings": np.asarray(EMBEDDINGS, np.float32)}
    if target:
        maps["target_logits"] = logit(TARGET)
    return {k: tf.constant(np.repeat(v[None], batch, axis=0)) for k, v in maps.items()}


def decode(maps, num_detections=(4,), threshold=0.0, top_k=100, jit=False, scale=None, boxes=BOXES, candidates="best"):
    batch = len(num_detections)
    decoder = triplet_decoder.TripletDecoder(threshold=threshold, top_k=top_k, candidates=candidates)
    args = (maps, ANCHORS, np.repeat(boxes[None], batch, 0), np.repeat(CATEGORIES[None], batch, 0),
            np.repeat(DET_SCORES[None], batch, 0), np.asarray(num_detections, np.int32))
    fn = tf.function(lambda *a: decoder(*a, scale=scale), jit_compile=True) if jit else (lambda *a: decoder(*a, scale=scale))
    return {k: v.numpy() for k, v in fn(*args).items()}


def triplets_of(out, image=0):
    n = out["num_triplets"][image]
    return [(int(out["subject_index"][image, i]), int(out["verb"][image, i]), int(out["object_index"][image, i]),
             float(out["score"][image, i])) for i in range(n)]


def reference_decode(num_detections, passive=True, target=True, threshold=0.0, candidates="best"):
    """Loop-per-candidate restatement of eq. 10-12 on the hand-built tables ("all": every candidate)."""
    kept = []
    for h in range(num_detections):
        if CATEGORIES[h] != PERSON:
            continue
        for v in range(2):
            s_target = TARGET[h][v] if target else 1.0
            scored = [((DET_SCORES[h] * ACTIVE[h][v] * (1 - s_target)) ** (1 / 3), -1)] if target else []
            for o in range(num_detections):
                if o == h:
                    continue
                s_emb = math.exp(-math.dist(EMBEDDINGS[h][v], EMBEDDINGS[o][v]))
                s_passive = PASSIVE[o][v] if passive else 1.0
                score = (DET_SCORES[h] * ACTIVE[h][v] * DET_SCORES[o] * s_passive * s_target * s_emb) ** (1 / 6)
                scored.append((score, o))
            ranked = scored if candidates == "all" else [max(scored)]
            kept += [(h, v, o, score) for score, o in ranked if score >= threshold]
    return sorted(kept, key=lambda t: -t[3])


def assert_triplets(actual, expected):
    assert [t[:3] for t in actual] == [t[:3] for t in expected]
    np.testing.assert_allclose([t[3] for t in actual], [t[3] for t in expected], rtol=1e-5)


def test_decodes_the_hand_computed_triplets():
    out = decode(make_maps())
    expected = [
        # person d2: target presence is low, so the no-target pair beats every triplet (eq. 12).
        (2, 1, -1, (1.0 * 0.9 * (1 - 0.1)) ** (1 / 3)),
        (2, 0, -1, (1.0 * 0.9 * (1 - 0.2)) ** (1 / 3)),
        # person d0 + verb 0: the ball d3 shares its embedding (s_emb = 1) and beats the cup (distance 1).
        (0, 0, 3, (0.9 * 0.8 * 0.5 * 0.9 * 0.9 * 1.0) ** (1 / 6)),
        # person d0 + verb 1: the other person d2 is the target (distance 0.5).
        (0, 1, 2, (0.9 * 0.6 * 1.0 * 0.9 * 0.8 * math.exp(-0.5)) ** (1 / 6)),
    ]
    assert_triplets(triplets_of(out), expected)
    assert_triplets(triplets_of(out), reference_decode(4))
    # The no-target pair would lose to the best triplet of d2 + verb 0 only without eq. 12.
    assert (1.0 * 0.9 * 0.5 * 0.9 * 0.2 * math.exp(-2.0)) ** (1 / 6) < expected[1][3]
    np.testing.assert_array_equal(out["subject_box"][0, :4], BOXES[[2, 2, 0, 0]])
    np.testing.assert_array_equal(out["object_box"][0, :4], [np.zeros(4), np.zeros(4), BOXES[3], BOXES[2]])
    assert out["score"].shape == (1, 100) and out["subject_index"].dtype == np.int32
    assert np.all(out["subject_index"][0, 4:] == -1) and np.all(out["score"][0, 4:] == 0)
    assert np.all(out["verb"][0, 4:] == -1) and np.all(out["object_box"][0, 4:] == 0)


def test_padded_detections_are_masked_per_image():
    out = decode(make_maps(batch=2), num_detections=(4, 2))
    assert_triplets(triplets_of(out, 0), reference_decode(4))
    # Image 1 has only d0 and the cup: verb 0 goes to the cup, verb 1 to no target.
    expected = [(0, 0, 1, (0.9 * 0.8 * 0.8 * 0.7 * 0.9 * math.exp(-1.0)) ** (1 / 6)),
                (0, 1, -1, (0.9 * 0.6 * (1 - 0.8)) ** (1 / 3))]
    assert_triplets(triplets_of(out, 1), expected)
    assert out["num_triplets"].tolist() == [4, 2]


@pytest.mark.parametrize("num_detections", [4, 3])
def test_all_candidates_mode_ranks_every_target(num_detections):
    out = decode(make_maps(), num_detections=(num_detections,), candidates="all")
    expected = reference_decode(num_detections, candidates="all")
    assert len(expected) == 2 * 2 * (num_detections - 1 + 1)  # 2 persons x 2 verbs x (others + no target)
    assert_triplets(triplets_of(out), expected)
    out = decode(make_maps(), num_detections=(num_detections,), candidates="all", threshold=0.8, top_k=5)
    assert_triplets(triplets_of(out), reference_decode(num_detections, threshold=0.8, candidates="all")[:5])


def test_threshold_and_top_k():
    out = decode(make_maps(), threshold=0.85)
    assert [t[:3] for t in triplets_of(out)] == [(2, 1, -1), (2, 0, -1)]
    out = decode(make_maps(), top_k=3)
    assert out["score"].shape == (1, 3)
    assert_triplets(triplets_of(out), reference_decode(4)[:3])


@pytest.mark.parametrize("passive, target", [(False, True), (True, False), (False, False)])
def test_ablated_branches(passive, target):
    out = decode(make_maps(passive=passive, target=target))
    expected = reference_decode(4, passive=passive, target=target)
    assert_triplets(triplets_of(out), expected)
    if not target:
        assert all(t[2] >= 0 for t in triplets_of(out))


def test_xla_and_original_frame_boxes():
    eager = decode(make_maps())
    # Detections given in an original frame at half the model input size, scale = 2.
    compiled = decode(make_maps(), jit=True, scale=np.array([2.0], np.float32), boxes=BOXES / 2)
    assert_triplets(triplets_of(compiled), triplets_of(eager))
    np.testing.assert_allclose(compiled["subject_box"], eager["subject_box"] / 2)
    np.testing.assert_allclose(compiled["object_box"], eager["object_box"] / 2)


def test_decoder_config_round_trip():
    mask = [[False, True, True], [True, False, False]]
    decoder = triplet_decoder.TripletDecoder(threshold=0.3, top_k=7, person_category_id=2, mapping_iou=0.6,
                                             candidates="all", valid_pairs=mask)
    clone = triplet_decoder.TripletDecoder.from_config(decoder.get_config())
    assert (clone.threshold, clone.top_k, clone.person_category_id, clone.mapping_iou, clone.candidates) == (
        0.3, 7, 2, 0.6, "all")
    np.testing.assert_array_equal(clone.valid_pairs, mask)
    assert triplet_decoder.TripletDecoder.from_config(triplet_decoder.TripletDecoder().get_config()).valid_pairs is None


def test_mapping_averages_anchors_above_iou_and_falls_back_to_best():
    anchors = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [30, 30, 40, 40]], np.float32)
    boxes = np.array([[0, 0, 10, 10],   # IoU 1, 9/11, 1/3, 0 -> the first two, averaged
                      [0, 0, 4, 4],     # IoU 0.16, 12/104, 0, 0 -> none above 0.5: best anchor 0
                      [0, 0, 0, 0]], np.float32)  # padding: still a valid row
    weights = triplet_decoder.map_boxes_to_anchors(boxes, anchors).numpy()
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    batched = triplet_decoder.map_boxes_to_anchors(np.stack([boxes, boxes[::-1]]), anchors).numpy()
    assert batched.shape == (2, 3, 4)
    np.testing.assert_allclose(batched[1], weights[::-1])
    # A lower IoU threshold takes the third anchor in too.
    np.testing.assert_allclose(triplet_decoder.map_boxes_to_anchors(boxes[:1], anchors, 0.3).numpy(), [[1 / 3] * 3 + [0]])


def test_box_features_average_after_sigmoid():
    maps = {"verb_logits": tf.constant(logit([[[0.2, 0.9], [0.6, 0.3]]])),  # V = 1: active, passive
            "target_logits": tf.constant(logit([[[0.5], [0.7]]])),
            "embeddings": tf.constant([[[[1.0, 2.0]], [[3.0, 6.0]]]])}
    weights = tf.constant([[[0.5, 0.5], [0.0, 1.0]]])
    features = triplet_decoder.read_box_features(maps, weights)
    np.testing.assert_allclose(features["active"].numpy(), [[[0.4], [0.6]]], rtol=1e-6)
    np.testing.assert_allclose(features["passive"].numpy(), [[[0.6], [0.3]]], rtol=1e-6)
    np.testing.assert_allclose(features["target"].numpy(), [[[0.6], [0.7]]], rtol=1e-6)
    np.testing.assert_allclose(features["embeddings"].numpy(), [[[[2.0, 4.0]], [[3.0, 6.0]]]])


def test_to_hico_predictions():
    out = decode(make_maps())
    image = {k: v[0] for k, v in out.items()}
    result = hico_output.to_hico_predictions(image, BOXES[:4] / 2, CATEGORIES[:4], "a.jpg", verb_ids=[5, 9],
                                           detection_scores=DET_SCORES[:4])
    assert result["file_name"] == "a.jpg"
    assert result["predictions"][3] == {"bbox": [5.0, 5.0, 10.0, 10.0], "category_id": BALL, "score": 0.5}
    assert [(h["subject_id"], h["object_id"], h["category_id"]) for h in result["hoi_prediction"]] == [
        (2, -1, 9), (2, -1, 5), (0, 3, 5), (0, 2, 9)]
    assert result["hoi_prediction"][0]["score"] == pytest.approx((0.9 * 0.9) ** (1 / 3), rel=1e-5)


def test_sparse_read_equals_dense_average_over_the_real_anchor_grid():
    """Gathering only each box's anchors gives the dense weighted average over all N."""
    from calipso_tf.ops.anchors import generate_anchors

    rng = np.random.default_rng(0)
    anchors = generate_anchors((128, 128))
    n, v, t = len(anchors), 3, 2
    xy = rng.uniform(0, 90, size=(1, 6, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(16, 38, size=(1, 6, 2))], -1).astype(np.float32)
    maps = {"verb_logits": tf.constant(rng.normal(size=(1, n, 2 * v)), tf.float32),
            "target_logits": tf.constant(rng.normal(size=(1, n, v)), tf.float32),
            "embeddings": tf.constant(rng.normal(size=(1, n, v, t)), tf.float32)}
    weights = triplet_decoder.map_boxes_to_anchors(boxes, anchors)
    features = triplet_decoder.read_box_features(maps, weights)
    dense = weights.numpy()
    assert (dense > 0).sum(-1).max() > 1  # some box really averages several anchors
    sig = lambda x: 1 / (1 + np.exp(-x.numpy()))  # noqa: E731
    np.testing.assert_allclose(features["active"], np.einsum("bdn,bnc->bdc", dense, sig(maps["verb_logits"]))[..., :v],
                               atol=1e-6)
    np.testing.assert_allclose(features["target"], np.einsum("bdn,bnc->bdc", dense, sig(maps["target_logits"])),
                               atol=1e-6)
    np.testing.assert_allclose(features["embeddings"], np.einsum("bdn,bnvt->bdvt", dense, maps["embeddings"].numpy()),
                               atol=1e-5)
    # A cap below a box's anchor count averages its highest-weight anchors, renormalised.
    capped = triplet_decoder.read_box_features(maps, weights, max_anchors_per_box=1)["embeddings"].numpy()
    first = np.argmax(dense, axis=-1)
    np.testing.assert_allclose(capped[0], maps["embeddings"].numpy()[0, first[0]], atol=1e-6)
