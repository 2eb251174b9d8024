"""Decoding for evaluation: the valid (verb, object) mask and the "best" / "all" candidate modes.

Scenes are given as hand-built box features (what `read_box_features` returns), one verb,
every detector score 1 and every embedding equal (s_emb = 1), so each triplet score is
(active_h * passive_o * target_h) ** (1/6) and the no-target score (active_h * (1 - target_h)) ** (1/3).
"""

import logging

import numpy as np
import pytest
import tensorflow as tf
from harness import tiny_config

from calipso_tf.data.manifest import Category, Manifest
from calipso_tf.evaluation.hico import evaluate_hico
from calipso_tf.inference import hico_output, runner, triplet_decoder
from calipso_tf.inference.detectors import Detections
from calipso_tf.inference.valid_pairs import valid_pair_mask
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.vocabularies.vocabulary import hico_hoi_categories, hico_verb_names

PERSON, BALL, CUP, CHAIR, BOOK = 1, 37, 47, 62, 84
HOLD_ID = 7  # the scene's single verb, dataset id
BOXES = np.array([[0, 0, 10, 30], [12, 0, 20, 8], [22, 0, 30, 8], [32, 0, 40, 8]], np.float32)


def scene(categories, passive, active=0.8, target=0.5):
    """One image: person d0 and objects d1.. with the given passive scores; V = 1, T = 1."""
    n = len(categories)
    column = lambda values: tf.constant(np.asarray(values, np.float32).reshape(1, n, 1))  # noqa: E731
    features = {"active": column([active] + [0.0] * (n - 1)), "passive": column([0.0] + list(passive)),
                "target": column([target] + [0.0] * (n - 1)), "embeddings": tf.zeros([1, n, 1, 1])}
    return features, np.asarray(categories, np.int32)[None]


def hold_mask(objects, no_target=False):
    """(V = 1, C = 85) mask: hold is valid with ``objects``, and without target when no_target."""
    mask = np.zeros((1, BOOK + 1), bool)
    mask[0, list(objects)] = True
    mask[0, 0] = no_target
    return mask


def decode(features, categories, candidates, valid_pairs=None, top_k=100):
    out = triplet_decoder.score_triplets(features, BOXES[None, :categories.shape[1]], categories,
                                         tf.ones(categories.shape), [categories.shape[1]], top_k=top_k,
                                         candidates=candidates, valid_pairs=valid_pairs)
    return {k: v.numpy()[0] for k, v in out.items()}


def triplets(out):
    n = out["num_triplets"]
    return [(int(s), int(v), int(o)) for s, v, o in zip(out["subject_index"][:n], out["verb"][:n],
                                                         out["object_index"][:n])]


# Person d0 holding: cup d1 (passive 0.5, valid), chair d2 (0.9, invalid), book d3 (0.1, valid).
# Scores: chair 0.36^(1/6) = 0.843 > cup 0.2^(1/6) = 0.765 > no target 0.4^(1/3) = 0.737
# > book 0.04^(1/6) = 0.585.
MIXED = dict(categories=[PERSON, CUP, CHAIR, BOOK], passive=[0.5, 0.9, 0.1])
MIXED_MASK = hold_mask([CUP, BOOK])


@pytest.mark.parametrize("candidates", ["best", "all"])
def test_mask_picks_the_best_valid_object_over_a_higher_invalid_one(candidates):
    features, categories = scene(**MIXED)
    unmasked = decode(features, categories, candidates)
    assert triplets(unmasked)[0] == (0, 0, 2)  # the chair wins without the mask
    np.testing.assert_allclose(unmasked["score"][0], 0.36 ** (1 / 6), rtol=1e-5)
    masked = decode(features, categories, candidates, MIXED_MASK)
    assert triplets(masked)[0] == (0, 0, 1)
    np.testing.assert_allclose(masked["score"][0], 0.2 ** (1 / 6), rtol=1e-5)
    np.testing.assert_array_equal(masked["object_box"][0], BOXES[1])
    assert (0, 0, 2) not in triplets(masked) and (0, 0, -1) not in triplets(masked)


# Person d0 holding ball d1, cup d2 and book d3 (passive 0.9, 0.6, 0.3; target 0.9), all valid.
SEVERAL = dict(categories=[PERSON, BALL, CUP, BOOK], passive=[0.9, 0.6, 0.3], target=0.9)
SEVERAL_SCORES = [(0.8 * 0.9 * p) ** (1 / 6) for p in (0.9, 0.6, 0.3)]  # 0.930, 0.870, 0.774


def test_one_person_one_verb_several_objects():
    features, categories = scene(**SEVERAL)
    mask = hold_mask([BALL, CUP, BOOK])
    every = decode(features, categories, "all", mask)
    assert triplets(every) == [(0, 0, 1), (0, 0, 2), (0, 0, 3)]
    np.testing.assert_allclose(every["score"][:3], SEVERAL_SCORES, rtol=1e-5)
    best = decode(features, categories, "best", mask)
    assert triplets(best) == [(0, 0, 1)]
    np.testing.assert_allclose(best["score"][0], SEVERAL_SCORES[0], rtol=1e-5)
    # Without the mask the no-target candidate, (0.8 * 0.1) ** (1/3) = 0.431, is ranked too.
    unmasked = decode(features, categories, "all")
    assert triplets(unmasked) == [(0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 0, -1)]
    np.testing.assert_allclose(unmasked["score"][3], 0.08 ** (1 / 3), rtol=1e-5)


def hico_scene_map(features, categories, candidates, mask, gt_objects, top_k=100):
    """mAP_full of the decoded scene against ground truth "d0 holds each of gt_objects"."""
    out = decode(features, categories, candidates, mask, top_k)
    boxes = BOXES[:categories.shape[1]]
    prediction = hico_output.to_hico_predictions(out, boxes, categories[0], "a.jpg", [HOLD_ID])
    annotations = [{"bbox": box.tolist(), "category_id": int(c)} for box, c in zip(boxes, categories[0])]
    gt = [{"file_name": "a.jpg", "annotations": annotations,
           "hoi_annotation": [{"subject_id": 0, "object_id": o, "category_id": HOLD_ID} for o in gt_objects]}]
    return evaluate_hico(gt, gt, [prediction]).mAP_full


def test_invalid_and_no_target_entries_take_no_top_k_slot():
    features, categories = scene(**MIXED)
    # top_k = 2 without the mask keeps chair (invalid) and cup: the book misses the cut.
    assert triplets(decode(features, categories, "all", top_k=2)) == [(0, 0, 2), (0, 0, 1)]
    assert triplets(decode(features, categories, "all", MIXED_MASK, top_k=2)) == [(0, 0, 1), (0, 0, 3)]
    # Categories (cup, hold) and (book, hold), one ground truth each: AP 1 + 0 vs 1 + 1.
    assert hico_scene_map(features, categories, "all", None, [1, 3], top_k=2) == pytest.approx(50.0)
    assert hico_scene_map(features, categories, "all", MIXED_MASK, [1, 3], top_k=2) == pytest.approx(100.0)
    # No-target candidate above the book: (0.8 * 0.5) ** (1/3) = 0.737 > 0.585; the mask drops it.
    features, categories = scene(**{**MIXED, "categories": [PERSON, CUP, CUP, BOOK]})
    assert triplets(decode(features, categories, "all", top_k=3)) == [(0, 0, 2), (0, 0, 1), (0, 0, -1)]
    assert triplets(decode(features, categories, "all", MIXED_MASK, top_k=3)) == [(0, 0, 2), (0, 0, 1), (0, 0, 3)]


def test_several_objects_map_by_mode():
    """The evaluator's mAP on one person holding three objects of three categories."""
    features, categories = scene(**SEVERAL)
    mask = hold_mask([BALL, CUP, BOOK])
    assert hico_scene_map(features, categories, "all", mask, [1, 2, 3]) == pytest.approx(100.0)
    assert hico_scene_map(features, categories, "best", mask, [1, 2, 3]) == pytest.approx(100.0 / 3)


def test_all_mode_compiles_with_xla_to_the_eager_result():
    features, categories = scene(**SEVERAL)
    mask = hold_mask([BALL, CUP])

    @tf.function(jit_compile=True)
    def compiled(features, categories):
        return triplet_decoder.score_triplets(features, BOXES[None], categories, tf.ones([1, 4]), [4], top_k=5,
                                              candidates="all", valid_pairs=mask)

    out = {k: v.numpy()[0] for k, v in compiled(features, categories).items()}
    eager = decode(features, categories, "all", mask, top_k=5)
    assert triplets(out) == triplets(eager) == [(0, 0, 1), (0, 0, 2)]
    np.testing.assert_allclose(out["score"], eager["score"], rtol=1e-6)


def test_unknown_mode_and_a_mask_of_other_verbs_are_refused():
    features, categories = scene(**SEVERAL)
    with pytest.raises(ValueError, match="candidates must be one of"):
        decode(features, categories, "some")
    with pytest.raises(ValueError, match="valid_pairs has 2 verb rows, the model outputs 1 verbs"):
        decode(features, categories, "all", np.ones((2, BOOK + 1), bool))


def manifest(dataset, verbs, objects, hois=()):
    return Manifest(dataset, [Category(i, n) for i, n in verbs], [Category(i, n) for i, n in objects], {}, [],
                    non_rare_hois=list(hois))


def test_valid_pair_mask_of_hico_det_is_the_600_categories_without_no_target():
    names = hico_verb_names()
    board, ride = names.index("board") + 1, names.index("ride") + 1
    mask = valid_pair_mask(manifest("hico_det", [(ride, "ride"), (board, "board")],
                                    [(PERSON, "person"), (5, "airplane"), (24, "zebra"), (19, "horse")]))
    assert mask.shape == (2, 25)  # columns: no target, then COCO ids up to the largest object's
    # Row by row, the objects the 600-HOI list pairs with the verb (e.g. ride bicycle, horse;
    # board airplane, boat), and never the no-target column 0.
    for row, verb in zip(mask, (ride, board)):
        expected = sorted(obj for v, obj in hico_hoi_categories() if v == verb and obj < 25)
        assert np.flatnonzero(row).tolist() == expected
    assert mask[0, [2, 19]].all() and mask[1, [5, 9]].all() and not mask[1, 2]


def test_valid_pair_mask_of_other_datasets_from_the_manifest(caplog):
    verbs = [(1, "hold"), (2, "look"), (4, "run")]
    objects = [(PERSON, "person"), (BALL, "ball"), (CUP, "cup")]
    mask = valid_pair_mask(manifest("synthetic", verbs, objects, ["47,1", "37,2", "47,2", "-1,4"]))
    assert mask.shape == (3, CUP + 1)
    assert [np.flatnonzero(row).tolist() for row in mask] == [[CUP], [BALL, CUP], [0]]  # run: no target only
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        assert valid_pair_mask(manifest("synthetic", verbs, objects)) is None
    assert "no (verb, object) pair is masked" in caplog.text
    with pytest.raises(ValueError, match="'47,3'"):
        valid_pair_mask(manifest("synthetic", verbs, objects, ["47,3"]))


@pytest.mark.parametrize("candidates", ["best", "all"])
def test_predict_fn_decodes_with_the_mask_and_mode(candidates):
    """The runner hands mask and mode to the decoder: an untrained model's every triplet is a valid pair."""
    config = tiny_config(num_verbs=2)
    model = build_model(config)
    # Persons d0, d1, a cup d2 and a ball d3; verb 0 is valid with a cup only, verb 1 only without target.
    boxes = np.array([[0, 0, 30, 60], [30, 0, 60, 60], [5, 40, 20, 55], [40, 40, 55, 55]], np.float32)
    det = Detections(boxes, np.array([PERSON, PERSON, CUP, BALL]), np.linspace(1.0, 0.7, 4))
    mask = np.zeros((2, CUP + 1), bool)
    mask[0, CUP] = mask[1, 0] = True
    predict = runner.make_predict_fn(model, config, valid_pairs=mask, candidates=candidates)
    ((_, out),) = runner.decode_batch(predict, np.zeros((1, 64, 64, 3), np.float32), [1.0], [det], 4)
    # One valid candidate per (person, verb) in either mode: 2 persons x 2 verbs.
    assert sorted(triplets(out)) == [(0, 0, 2), (0, 1, -1), (1, 0, 2), (1, 1, -1)]
