"""HICO-DET evaluator rules, each on a tiny hand-computed case (calipso_tf.evaluation.hico)."""

import json
import math

import numpy as np
import pytest

from calipso_tf.evaluation.scoring import score_hico
from calipso_tf.evaluation.hico import evaluate_hico, image_average_precisions
from calipso_tf.visualization.contact_sheet import select_extremes

PERSON, CUP, KNIFE = 1, 2, 3  # COCO ids
HOLD, CUT, RUN = 1, 2, 5  # verb ids

P = [0, 0, 9, 9]  # a 10x10 = 100 px person
CUP_BOX = [20, 20, 29, 29]  # a 100 px cup


def gt_image(name, boxes, hois):
    """boxes: [(bbox, class)], hois: [(subject, object, verb)]."""
    return {"file_name": name, "annotations": [{"bbox": list(b), "category_id": c} for b, c in boxes],
            "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v} for s, o, v in hois]}


def pred_image(name, boxes, hois):
    """boxes: [(bbox, class)], hois: [(subject, object, verb, score)]."""
    return {"file_name": name, "predictions": [{"bbox": list(b), "category_id": c} for b, c in boxes],
            "hoi_prediction": [{"subject_id": s, "object_id": o, "category_id": v, "score": x} for s, o, v, x in hois]}


def training(counts):
    """One training image holding ``n`` rows of each (object class, verb) category."""
    boxes, hois = [(P, PERSON)], []
    for (obj, verb), n in counts.items():
        boxes.append((CUP_BOX, obj))
        hois += [(0, len(boxes) - 1, verb)] * n
    return [gt_image("train.jpg", boxes, hois)]


def evaluate(gt, preds, train=None, **kwargs):
    return evaluate_hico(gt, training({(CUP, HOLD): 10}) if train is None else train, preds, **kwargs)


def category(metrics, obj, verb):
    (entry,) = [c for c in metrics.per_category if (c["object_category_id"], c["verb_id"]) == (obj, verb)]
    return entry


def elevenths(*counts):
    """Sequential sum over the 11 thresholds of value / 11, as the references accumulate it.

    counts: (number of thresholds, precision) pairs, in threshold order.
    """
    total = 0.0
    for n, value in counts:
        for _ in range(n):
            total += value / 11.0
    return total


# A perfect ranking: 11 terms of 1/11 summed one by one give 1.0000000000000002, as in the references.
PERFECT = elevenths((11, 1.0))

ONE_CUP_GT = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)])]


@pytest.mark.parametrize("subject_box, expected_ap", [
    ([0, 0, 9, 4], PERFECT),  # 10x5 = 50 px inside the 100 px person: IoU 50/100 = 0.5 matches
    ([0, 0, 9, 3], 0.0),  # 40 px: IoU 0.4, a false positive; rec 0 >= t=0 with prec 0 -> AP 0
])
def test_iou_threshold_is_inclusive_at_one_half(subject_box, expected_ap):
    preds = [pred_image("a.jpg", [(subject_box, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    assert evaluate(ONE_CUP_GT, preds).per_category[0]["ap"] == expected_ap


@pytest.mark.parametrize("subject_class, expected_ap", [(PERSON, PERFECT), (CUP, 0.0)])
def test_boxes_of_another_class_never_match(subject_class, expected_ap):
    # The subject box sits exactly on the GT person; labelled as a cup it has IoU 0 -> FP.
    preds = [pred_image("a.jpg", [(P, subject_class), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    assert evaluate(ONE_CUP_GT, preds).per_category[0]["ap"] == expected_ap


def test_greedy_match_has_no_fallback_to_second_best():
    # GT rows A = (P1, C1) and B = (P2, C2), same verb. P2 = [0,0,9,8] is 90 px inside P1,
    # so IoU(P1, P2) = 90 / 100 = 0.9 (same for the cups). Two predictions both exactly on
    # (P1, C1): each has candidates A (min IoU 1.0) and B (min IoU 0.9); the best is A.
    # The first covers A (TP); the second's best is covered -> FP, even though B is free.
    gt = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), ([0, 0, 9, 8], PERSON), ([20, 20, 29, 28], CUP)],
                   [(0, 1, HOLD), (2, 3, HOLD)])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9), (0, 1, HOLD, 0.8)])]
    metrics = evaluate(gt, preds)
    recall, precision = metrics.curves[(CUP, HOLD)]
    np.testing.assert_array_equal(recall, [0.5, 0.5])
    np.testing.assert_array_equal(precision, [1.0, 0.5])
    # t = 0 .. 0.5 (6 thresholds) reach recall 0.5 with precision 1; the rest get 0.
    assert metrics.per_category[0]["ap"] == elevenths((6, 1.0), (5, 0.0))
    assert metrics.per_category[0]["max_recall"] == 0.5


def test_tie_on_overlap_goes_to_first_annotation():
    # Two identical GT rows: both candidates tie at min IoU 1, the first wins each time,
    # so the second prediction is an FP and the duplicate row is never covered.
    gt = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD), (0, 1, HOLD)])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9), (0, 1, HOLD, 0.8)])]
    metrics = evaluate(gt, preds)
    np.testing.assert_array_equal(metrics.curves[(CUP, HOLD)][1], [1.0, 0.5])
    assert metrics.per_category[0]["n_gt"] == 2 and metrics.per_category[0]["max_recall"] == 0.5


def test_duplicate_detection_of_covered_gt_is_false_positive():
    # One GT row, three predictions: exact (0.9), a shifted copy still at IoU >= 0.5 (0.8),
    # exact again (0.7). Ranked TP, FP, FP: precision 1, 1/2, 1/3; recall 1 throughout.
    # Every threshold sees max precision 1 (AP PERFECT), but the curve shows the duplicates.
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), ([0, 0, 9, 8], PERSON)],
                        [(0, 1, HOLD, 0.9), (2, 1, HOLD, 0.8), (0, 1, HOLD, 0.7)])]
    metrics = evaluate(ONE_CUP_GT, preds)
    recall, precision = metrics.curves[(CUP, HOLD)]
    np.testing.assert_array_equal(recall, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(precision, [1.0, 1 / 2, 1 / 3])
    assert metrics.per_category[0]["ap"] == elevenths((11, 1.0))


@pytest.mark.parametrize("num_tp, reached", [(3, 3), (7, 7)])
def test_eleven_point_float_thresholds_through_the_evaluator(num_tp, reached):
    # 10 images with one GT row each; exact predictions on the first num_tp images.
    # Recall 3/10 = 0.3 < 0.30000000000000004, so only 3 thresholds (0, 0.1, 0.2) count;
    # likewise 7/10 reaches t = 0 .. 0.6 (7 thresholds), not 0.7000000000000001.
    gt = [gt_image(f"{i}.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)]) for i in range(10)]
    preds = [pred_image(f"{i}.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.5)]) for i in range(num_tp)]
    metrics = evaluate(gt, preds)
    assert metrics.per_category[0]["ap"] == elevenths((reached, 1.0), (11 - reached, 0.0))
    assert metrics.mAP_full == metrics.per_category[0]["ap"] * 100.0


def test_rare_split_at_nine_and_ten_training_rows():
    # (cup, hold): 9 training rows -> Rare; (knife, hold): 10 -> Non-Rare.
    # Perfect prediction for the cup, none for the knife (AP 0 without predictions).
    gt = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), ([40, 40, 49, 49], KNIFE)], [(0, 1, HOLD), (0, 2, HOLD)])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    metrics = evaluate(gt, preds, train=training({(CUP, HOLD): 9, (KNIFE, HOLD): 10}))
    cup, knife = category(metrics, CUP, HOLD), category(metrics, KNIFE, HOLD)
    assert (cup["n_train"], cup["rare"], cup["ap"]) == (9, True, PERFECT)
    assert (knife["n_train"], knife["rare"], knife["ap"]) == (10, False, 0.0)
    assert metrics.mAP_full == float(np.mean([PERFECT, 0.0])) * 100.0
    assert (metrics.mAP_rare, metrics.mAP_non_rare) == (PERFECT * 100.0, 0.0)
    assert metrics.mean_max_recall == 50.0  # (1 + 0) / 2, in percent


def test_category_absent_from_training_is_rare():
    assert evaluate(ONE_CUP_GT, [], train=[]).per_category[0]["rare"]  # 0 < 10 rows


def _cut_case(max_per_image):
    # 5 predictions of a non-evaluated category (knife, hold) with score 0.99, 99 valid FPs
    # (cup boxes far away) with score 0.9, and the single valid TP with score 0.5.
    far = [60, 60, 69, 69]
    hois = [(0, 2, HOLD, 0.99)] * 5 + [(0, 3, HOLD, 0.9)] * 99 + [(0, 1, HOLD, 0.5)]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), (CUP_BOX, KNIFE), (far, CUP)], hois)]
    return evaluate(ONE_CUP_GT, preds, max_per_image=max_per_image).per_category[0]


def test_top_k_cut_happens_after_masking_invalid_categories():
    # Masking first leaves exactly 100 valid rows, so the TP (rank 100) survives the cut.
    # Ranked 99 FPs then the TP: recall reaches 1 only at the last point, precision 1/100;
    # every threshold takes 0.01: AP = 11 * 0.01 / 11.
    entry = _cut_case(100)
    assert entry["max_recall"] == 1.0
    assert entry["ap"] == elevenths((11, 1 / 100))
    # Keeping 99 drops the TP; no cap keeps it.
    assert _cut_case(99)["max_recall"] == 0.0
    assert _cut_case(None)["ap"] == entry["ap"]


def test_predictions_on_image_without_gt_are_false_positives():
    # b.jpg has no GT box; its cup-hold prediction (0.9) ranks first as an FP, then the TP
    # on a.jpg: recall [0, 1], precision [0, 1/2]; every threshold sees max precision 1/2.
    # (QPIC's port would drop it and report AP 1.)
    gt = ONE_CUP_GT + [gt_image("b.jpg", [], [])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.5)]),
             pred_image("b.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    assert evaluate(gt, preds).per_category[0]["ap"] == elevenths((11, 0.5))


def test_known_object_scores_a_category_only_on_images_with_its_object():
    # a.jpg: GT (cup, hold). b.jpg: GT (knife, hold) only, and an FP (cup, hold) there (0.9).
    # Default: (cup, hold) ranks FP, TP -> AP 11 * 0.5 / 11 (as above); (knife, hold) has no
    # prediction -> 0. Known-Object: b.jpg has no cup, so its FP is dropped -> AP 1.
    gt = ONE_CUP_GT + [gt_image("b.jpg", [(P, PERSON), ([40, 40, 49, 49], KNIFE)], [(0, 1, HOLD)])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.5)]),
             pred_image("b.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    metrics = evaluate(gt, preds, train=training({(CUP, HOLD): 10, (KNIFE, HOLD): 3}))
    half = elevenths((11, 0.5))
    assert category(metrics, CUP, HOLD)["ap"] == half
    assert category(metrics, CUP, HOLD)["ap_known_object"] == PERFECT
    assert metrics.mAP_full == float(np.mean([half, 0.0])) * 100.0
    assert metrics.mAP_full_known_object == float(np.mean([PERFECT, 0.0])) * 100.0
    assert (metrics.mAP_non_rare_known_object, metrics.mAP_rare_known_object) == (PERFECT * 100.0, 0.0)


def test_verb_without_target_extension():
    # GT: the person runs (object_id -1) -> category (0, run). A prediction with object -1 and
    # a subject at IoU exactly 0.5 matches on the subject alone (TP); one with a real object
    # box is category (cup, run), not evaluated, so ignored; no-target predictions never match
    # a GT row with an object, and vice versa.
    gt = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, -1, RUN), (0, 1, HOLD)])]
    preds = [pred_image("a.jpg", [([0, 0, 9, 4], PERSON), (CUP_BOX, CUP)],
                        [(0, -1, RUN, 0.9), (0, 1, RUN, 0.95), (0, -1, HOLD, 0.8)])]
    metrics = evaluate(gt, preds)
    assert [(c["object_category_id"], c["verb_id"]) for c in metrics.per_category] == [(0, RUN), (CUP, HOLD)]
    assert category(metrics, 0, RUN)["ap"] == PERFECT
    assert category(metrics, CUP, HOLD)["ap"] == 0.0  # (0, hold) is not a GT category: masked


@pytest.mark.parametrize("mutate, message", [
    (lambda g, p: p[0]["hoi_prediction"][0].update(subject_id=5),
     r"preds\.json: image 0 \(a\.jpg\), hoi_prediction\[0\]: field 'subject_id' = 5 is out of range"),
    (lambda g, p: g[0]["annotations"][1].update(bbox=[29, 20, 20, 29]),
     r"gt\.json: image 0 \(a\.jpg\), annotations\[1\]: field 'bbox' .* x2 >= x1"),
    (lambda g, p: p[0].pop("hoi_prediction"), r"preds\.json: image 0 \(a\.jpg\): missing field 'hoi_prediction'"),
    (lambda g, p: p[0]["hoi_prediction"][0].pop("score"), r"hoi_prediction\[0\]: missing field 'score'"),
    (lambda g, p: p[0].update(file_name="zzz.jpg"), r"preds\.json: image 0 \(zzz\.jpg\): file_name is not in"),
    (lambda g, p: g[0]["hoi_annotation"][0].update(object_id=-2), r"field 'object_id' = -2 is out of range"),
])
def test_bad_input_names_file_record_and_field(tmp_path, mutate, message):
    gt = json.loads(json.dumps(ONE_CUP_GT))
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    mutate(gt, preds)
    paths = {name: tmp_path / name for name in ("gt.json", "train.json", "preds.json")}
    for (name, path), content in zip(paths.items(), (gt, training({(CUP, HOLD): 1}), preds)):
        path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        score_hico(paths["gt.json"], paths["train.json"], paths["preds.json"], tmp_path / "metrics.json")


def test_score_hico_writes_metrics_json_and_plots(tmp_path, capsys):
    paths = [tmp_path / n for n in ("gt.json", "train.json", "preds.json")]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    for path, content in zip(paths, (ONE_CUP_GT, training({(CUP, HOLD): 12}), preds)):
        path.write_text(json.dumps(content))
    metrics = score_hico(*paths, tmp_path / "out" / "metrics.json", plots_dir=tmp_path / "plots")
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["mAP_full"] == metrics["mAP_full"] == PERFECT * 100.0
    assert written["per_category"] == metrics["per_category"]
    assert math.isnan(metrics["mAP_rare"]) and written["mAP_rare"] is None  # no rare category: NaN -> null
    assert {"mAP_full", "mAP_rare", "mAP_non_rare", "mAP_full_known_object", "mAP_rare_known_object",
            "mAP_non_rare_known_object", "mean_max_recall", "per_category"} <= set(written)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["hico_ap.png", "hico_pr_best.png",
                                                                      "hico_pr_worst.png"]
    assert "Known Object" in capsys.readouterr().out


def test_predictions_covering_part_of_the_test_images_warn_with_the_count(caplog):
    """Two test images, predictions for one: a warning with the count, the count in the metrics, and the
    image without an entry scored as one where nothing was detected (AP 1/2 of the recall it could reach)."""
    gt = [gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)]),
          gt_image("b.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)])]
    preds = [pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD, 0.9)])]
    with caplog.at_level("WARNING", logger="calipso_tf"):
        metrics = evaluate(gt, preds, sources=("test.json", "train.json", "preds.json"))
    assert metrics.images_without_predictions == 1
    assert category(metrics, CUP, HOLD)["max_recall"] == 0.5
    assert [r.getMessage() for r in caplog.records] == [
        "preds.json: no entry for 1 of the 2 images of test.json; they count as images where nothing was detected"]
    with caplog.at_level("WARNING", logger="calipso_tf"):
        caplog.clear()
        assert evaluate(gt, preds + [pred_image("b.jpg", [], [])]).images_without_predictions == 0
    assert not caplog.records


KNIFE_BOX = [40, 0, 49, 9]
OFF_PERSON = [0, 0, 9, 3]  # IoU 0.4 with P: a wrong subject box
PER_IMAGE_GT = [
    gt_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), (KNIFE_BOX, KNIFE)], [(0, 1, HOLD), (0, 2, CUT)]),
    gt_image("b.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)]),
    gt_image("c.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)]),
    gt_image("d.jpg", [(P, PERSON)], []),
    gt_image("e.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, HOLD)]),
]
PER_IMAGE_PREDICTIONS = [
    # TP, duplicate (FP), TP: precision 1/1 and 2/3 at the hits -> (1 + 2/3) / 2
    pred_image("a.jpg", [(P, PERSON), (CUP_BOX, CUP), (KNIFE_BOX, KNIFE)],
               [(0, 1, HOLD, 0.9), (0, 1, HOLD, 0.8), (0, 2, CUT, 0.7)]),
    # wrong subject box (FP), then TP: 1/2
    pred_image("b.jpg", [(OFF_PERSON, PERSON), (P, PERSON), (CUP_BOX, CUP)], [(0, 2, HOLD, 0.6), (1, 2, HOLD, 0.5)]),
    # c.jpg: no entry -> 0; d.jpg: no ground-truth triplet -> no score
    # "cut cup" is no evaluated category: left out before ranking, so the TP is first -> 1
    pred_image("e.jpg", [(P, PERSON), (CUP_BOX, CUP)], [(0, 1, CUT, 0.95), (0, 1, HOLD, 0.3)]),
]


def test_image_average_precision_by_hand():
    scores = image_average_precisions(PER_IMAGE_GT, PER_IMAGE_PREDICTIONS)
    assert scores == pytest.approx({"a.jpg": (1 + 2 / 3) / 2, "b.jpg": 0.5, "c.jpg": 0.0, "e.jpg": 1.0}, abs=1e-12)
    # max_per_image 1 keeps a.jpg's first TP only: 1 of its 2 triplets found at precision 1.
    assert image_average_precisions(PER_IMAGE_GT, PER_IMAGE_PREDICTIONS, max_per_image=1)["a.jpg"] == 0.5


def test_contact_sheet_picks_best_and_worst_images_by_image_ap():
    scores = image_average_precisions(PER_IMAGE_GT, PER_IMAGE_PREDICTIONS)
    assert select_extremes(scores, 2) == (["e.jpg", "a.jpg"], ["c.jpg", "b.jpg"])
    assert select_extremes(scores, 3) == (["e.jpg", "a.jpg", "b.jpg"], ["c.jpg"])  # fewer than 2 x 3 images
    # Ties go to the name that sorts first, in both lists.
    assert select_extremes({"z": 1.0, "y": 1.0, "x": 0.0, "w": 0.0}, 1) == (["y"], ["w"])
