"""V-COCO evaluator rules on tiny hand-computed cases (calipso_tf.evaluation.vcoco)."""

import json
import math
import pickle
import warnings

import numpy as np
import pytest

from calipso_tf.evaluation.scoring import score_vcoco
from calipso_tf.evaluation.vcoco import evaluate_vcoco_files, image_average_precisions, load_vcoco_ground_truth

ACTIONS = [("hold", ["agent", "obj"]), ("cut", ["agent", "instr", "obj"]), ("run", ["agent"]),
           ("point", ["agent", "instr"])]
PERSON, CUP = 1, 2
A = [0, 0, 9, 9]  # a 10x10 person; COCO [x, y, w, h] of it is [0, 0, 10, 10]
CUP_XYXY = [20, 20, 29, 29]


def coco_ann(ann_id, category, xyxy, image_id=1, **extra):
    """A COCO annotation whose bbox converts back to ``xyxy`` (w = x2 - x1 + 1)."""
    x1, y1, x2, y2 = xyxy
    w, h = x2 - x1 + 1, y2 - y1 + 1
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": [x1, y1, w, h], "area": w * h,
            "iscrowd": 0, **extra}


def det(box, image_id=1, **scores):
    """One detected person: every agent score and role NaN unless given, e.g. hold_obj=[x1, y1, x2, y2, s]."""
    out = {"image_id": image_id, "person_box": list(box)}
    for name, roles in ACTIONS:
        out[f"{name}_agent"] = float("nan")
        for role in roles[1:]:
            out[f"{name}_{role}"] = [float("nan")] * 5
    out.update(scores)
    return out


def write_files(tmp_path, annotations, annotated, positives, detections, images=None):
    """positives: {action: {person ann id: [role object ann id or 0, ...]}}."""
    images = images or [{"id": 1, "width": 100, "height": 100}]
    vcoco = []
    for name, roles in ACTIONS:
        pos = positives.get(name, {})
        no_role = [0] * (len(roles) - 1)
        role_ids = [[pos.get(a, no_role)[r - 1] if r else a for a in annotated] for r in range(len(roles))]
        vcoco.append({"action_name": name, "role_name": roles, "ann_id": annotated,
                      "image_id": [next(x["image_id"] for x in annotations if x["id"] == a) for a in annotated],
                      "label": [int(a in pos) for a in annotated], "role_object_id": sum(role_ids, [])})
    (tmp_path / "vcoco.json").write_text(json.dumps(vcoco))
    categories = [{"id": PERSON, "name": "person"}, {"id": CUP, "name": "cup"}]
    (tmp_path / "coco.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                     "categories": categories}))
    (tmp_path / "split.ids").write_text("".join(f"{i['id']}\n" for i in images))
    (tmp_path / "dets.pkl").write_bytes(pickle.dumps(detections))
    return [tmp_path / n for n in ("vcoco.json", "coco.json", "split.ids", "dets.pkl")]


def evaluate(tmp_path, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # entries without positives are NaN by design here
        return evaluate_vcoco_files(*write_files(tmp_path, *args, **kwargs))


def entry(metrics, action, role):
    (out,) = [e for e in metrics.per_action_role if (e["action"], e["role"]) == (action, role)]
    return out


def agent(metrics, action):
    (out,) = [e for e in metrics.per_action_agent if e["action"] == action]
    return out


def test_gt_boxes_use_w_minus_one_and_are_clipped(tmp_path):
    # Image 50 x 40. [45, 30, w=10, h=20]: x2 = 45 + 9 = 54 -> clipped to W - 1 = 49,
    # y2 = 30 + 19 = 49 -> 39. [10, 10, w=20.5, h=0.5]: y2 = 10 + max(0, -0.5) = 10 = y1 -> dropped.
    # A box with area 0 is dropped too.
    anns = [{"id": 1, "image_id": 1, "category_id": PERSON, "bbox": [45, 30, 10, 20], "area": 200},
            {"id": 2, "image_id": 1, "category_id": PERSON, "bbox": [10, 10, 20.5, 0.5], "area": 10},
            {"id": 3, "image_id": 1, "category_id": PERSON, "bbox": [0, 0, 5, 5], "area": 0}]
    paths = write_files(tmp_path, anns, [1, 2, 3], {}, [], images=[{"id": 1, "width": 50, "height": 40}])
    gt = load_vcoco_ground_truth(*paths[:3])
    np.testing.assert_array_equal(gt.person_boxes[0], np.float32([[45, 30, 49, 39]]))
    assert gt.person_boxes[0].dtype == np.float32


@pytest.mark.parametrize("box, expected_ap", [
    ([45, 30, 49, 39], 1.0),  # the clipped GT box itself: overlap 1
    # the unclipped box [45,30,54,49] (200 px): overlap 50 / (200 + 50 - 50) = 0.25 -> FP.
    # mrec [0, 0, 1], mpre [0, 0, 0]: AP 0.
    ([45, 30, 54, 49], 0.0),
])
def test_detection_against_clipped_gt(tmp_path, box, expected_ap):
    anns = [{"id": 1, "image_id": 1, "category_id": PERSON, "bbox": [45, 30, 10, 20], "area": 200}]
    metrics = evaluate(tmp_path, anns, [1], {"hold": {1: [0]}}, [det(box, hold_agent=0.9)],
                       images=[{"id": 1, "width": 50, "height": 40}])
    assert agent(metrics, "hold")["ap"] == expected_ap


def test_unannotated_best_person_is_skipped(tmp_path):
    # Person 1 (annotated, holds) = [0,0,9,9]; person 2 = [0,0,9,8] is not in the V-COCO file.
    # Detection on person 2 (score 0.9): its best overlap is person 2 (1.0 > 90/100), so it is
    # skipped, not an FP. Detection on person 1 (0.5): TP. AP 1 (it would be 0.5 had the first
    # counted as an FP: mrec [0, 0, 1, 1], envelope 1/2 over the 0 -> 1 step).
    anns = [coco_ann(1, PERSON, A), coco_ann(2, PERSON, [0, 0, 9, 8])]
    dets = [det([0, 0, 9, 8], hold_agent=0.9), det(A, hold_agent=0.5)]
    metrics = evaluate(tmp_path, anns, [1], {"hold": {1: [0]}}, dets)
    assert agent(metrics, "hold") == {"action": "hold", "ap": 1.0, "n_pos": 1}


@pytest.mark.parametrize("role_box, scenario1, scenario2", [
    ([5, 5, 20, 20], 0.0, 1.0),  # a role box predicted although the GT has none: wrong in S1
    ([0, 0, 0, 0], 1.0, 1.0),  # all zeros means "no role" in S1
    ([float("nan")] * 4, 1.0, 1.0),  # all NaN too
])
def test_missing_gt_role_scenarios(tmp_path, role_box, scenario1, scenario2):
    # Person 1 holds nothing visible (role object id 0). One detection on it with score 0.9.
    # A wrong role gives rec [0], prec [0]: AP 0; a right one rec [1], prec [1]: AP 1.
    metrics = evaluate(tmp_path, [coco_ann(1, PERSON, A)], [1], {"hold": {1: [0]}},
                       [det(A, hold_obj=role_box + [0.9])])
    assert entry(metrics, "hold", "obj")["ap_scenario1"] == scenario1
    assert entry(metrics, "hold", "obj")["ap_scenario2"] == scenario2


@pytest.mark.parametrize("role_box, expected_ap", [
    (CUP_XYXY, 1.0),
    ([float("nan")] * 4, 0.0),  # NaN box vs a real GT role: overlap NaN, never a match
    ([20, 20, 29, 24], 1.0),  # 10x5 = 50 px of the 100 px cup: overlap 0.5 matches
    ([20, 20, 29, 23], 0.0),  # 40 px: 0.4
])
def test_role_box_overlap(tmp_path, role_box, expected_ap):
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY)]
    metrics = evaluate(tmp_path, anns, [1], {"hold": {1: [2]}}, [det(A, hold_obj=role_box + [0.9])])
    assert entry(metrics, "hold", "obj")["ap_scenario1"] == expected_ap
    assert entry(metrics, "hold", "obj")["ap_scenario2"] == expected_ap


def test_nan_score_means_not_predicted(tmp_path):
    # The first detection's role score is NaN: ignored. The second (0.2) is a TP -> AP 1.
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY)]
    dets = [det(A, hold_obj=[5, 5, 8, 8, float("nan")]), det(A, hold_obj=CUP_XYXY + [0.2])]
    assert entry(evaluate(tmp_path, anns, [1], {"hold": {1: [2]}}, dets), "hold", "obj")["ap_scenario1"] == 1.0


def test_duplicate_detection_is_false_positive(tmp_path):
    # Two persons doing "hold"; two detections on person 1 (0.9 TP, 0.8 FP), none on person 2.
    # rec [1/2, 1/2], prec [1, 1/2]; mrec [0, .5, .5, 1], envelope [1, 1, .5, 0]:
    # AP = 0.5 * 1 + 0.5 * 0 = 0.5.
    anns = [coco_ann(1, PERSON, A), coco_ann(2, PERSON, [50, 50, 59, 59])]
    dets = [det(A, hold_agent=0.9), det(A, hold_agent=0.8)]
    assert agent(evaluate(tmp_path, anns, [1, 2], {"hold": {1: [0], 2: [0]}}, dets), "hold")["ap"] == 0.5


def test_means_no_positive_warning_and_24_category_set(tmp_path):
    # hold-obj: one TP -> 1. point-instr: one FP -> 0. cut has no positive at all: both cut
    # entries are NaN with a warning, and nothing crashes.
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY), coco_ann(3, PERSON, [50, 50, 59, 59])]
    dets = [det(A, hold_agent=0.9, hold_obj=CUP_XYXY + [0.9], cut_agent=0.4, cut_instr=CUP_XYXY + [0.4]),
            det([50, 50, 59, 59], point_agent=0.7, point_instr=CUP_XYXY + [0.7])]
    paths = write_files(tmp_path, anns, [1, 3], {"hold": {1: [2]}, "point": {1: [2]}}, dets)
    with pytest.warns(UserWarning, match="no positives") as record:
        metrics = evaluate_vcoco_files(*paths)
    messages = " ".join(str(w.message) for w in record)
    assert "'cut-instr'" in messages and "'cut-obj'" in messages and "agent AP of 'cut'" in messages
    assert math.isnan(entry(metrics, "cut", "instr")["ap_scenario1"])
    # point-instr: ranked FP only (the point detection sits on person 3, who does not point): AP 0.
    assert entry(metrics, "point", "instr")["ap_scenario1"] == 0.0
    # AP_role = nanmean(hold-obj 1, point-instr 0) = 50%; the 24-category set drops point: 100%.
    assert metrics.AP_role_scenario1 == 50.0 and metrics.AP_role_scenario1_24 == 100.0
    # Agent AP: hold 1, point: detection on person 3 is an FP, no detection on person 1 -> 0;
    # cut NaN, run: positives 0 -> NaN. nansum / 4 actions = 1 / 4 = 25%.
    assert metrics.AP_agent == 25.0


def test_action_with_positives_but_no_detections_is_nan(tmp_path):
    # "run" has a positive but nothing is detected; the other actions have no positive.
    with pytest.warns(UserWarning) as record:
        metrics = evaluate_vcoco_files(*write_files(tmp_path, [coco_ann(1, PERSON, A)], [1], {"run": {1: []}}, []))
    assert "agent AP of 'run': no detections" in " ".join(str(w.message) for w in record)
    assert math.isnan(agent(metrics, "run")["ap"]) and metrics.AP_agent == 0.0
    assert math.isnan(metrics.AP_role_scenario1)


def test_detection_on_image_without_person_is_false_positive(tmp_path):
    # Image 2 has only a cup; a "hold" detection there (0.9) is an FP, then the TP on image 1:
    # rec [0, 1], prec [0, 1/2]; mrec [0, 0, 1, 1], envelope [1/2, 1/2, 1/2, 0]: AP 1/2.
    images = [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}]
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY, image_id=2)]
    dets = [det(A, image_id=2, hold_agent=0.9), det(A, hold_agent=0.5)]
    metrics = evaluate(tmp_path, anns, [1, 2], {"hold": {1: [0]}}, dets, images=images)
    assert agent(metrics, "hold")["ap"] == 0.5


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[1].pop("hold_agent"), r"dets\.pkl: detections\[1\]: missing field 'hold_agent'"),
    (lambda d: d[1].update(hold_obj=[1, 2, 3]),
     r"dets\.pkl: detections\[1\]: field 'hold_obj' must be a list of 5 numbers"),
    (lambda d: d[0].update(image_id=1.5), r"dets\.pkl: detections\[0\]: field 'image_id' must be an integer"),
])
def test_bad_detections_name_file_record_and_field(tmp_path, mutate, message):
    dets = [det(A, hold_agent=0.9), det(A, hold_agent=0.8)]
    mutate(dets)
    paths = write_files(tmp_path, [coco_ann(1, PERSON, A)], [1], {"hold": {1: [0]}}, dets)
    with pytest.raises(ValueError, match=message):
        evaluate_vcoco_files(*paths)


def test_role_object_that_is_not_a_valid_box_is_an_error(tmp_path):
    # The cup has area 0, so it is dropped, but the hold annotation points at it.
    anns = [coco_ann(1, PERSON, A), {**coco_ann(2, CUP, CUP_XYXY), "area": 0}]
    paths = write_files(tmp_path, anns, [1], {"hold": {1: [2]}}, [])
    with pytest.raises(ValueError, match=r"vcoco\.json: action 0 \(hold\): role 'obj' of ann_id 1 is ann_id 2"):
        load_vcoco_ground_truth(*paths[:3])


def test_score_vcoco_writes_metrics_json_and_plots(tmp_path, capsys):
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY)]
    paths = write_files(tmp_path, anns, [1], {"hold": {1: [2]}}, [det(A, hold_agent=0.9, hold_obj=CUP_XYXY + [0.9])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = score_vcoco(*paths, tmp_path / "metrics.json", plots_dir=tmp_path / "plots")
    written = json.loads((tmp_path / "metrics.json").read_text())
    keys = {"AP_role_scenario1", "AP_role_scenario2", "AP_role_scenario1_24", "AP_role_scenario2_24", "AP_agent",
            "per_action_role"}
    assert keys <= set(written)
    assert written["AP_role_scenario1"] == metrics["AP_role_scenario1"] == 100.0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["vcoco_ap.png", "vcoco_pr_best.png",
                                                                      "vcoco_pr_worst.png"]
    assert "AP_role (24, paper)" in capsys.readouterr().out


def test_image_average_precisions_follow_scenario1_matching(tmp_path):
    nan4 = [float("nan")] * 4
    far = [50, 50, 59, 59]  # overlaps no person
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY), coco_ann(3, PERSON, A, image_id=2),
            coco_ann(4, PERSON, A, image_id=3), coco_ann(5, PERSON, A, image_id=4),
            coco_ann(6, CUP, CUP_XYXY, image_id=4)]
    positives = {"hold": {1: [2], 5: [6]}, "run": {1: []}, "cut": {3: [0, 0]}}
    dets = [
        # Image 1, positives hold-obj (the cup) and run (agent only): 2. Ranked: 0.8 hold-obj TP,
        # 0.7 hold-obj of a person nowhere near FP, 0.6 run TP (the hold agent score is no triplet).
        # AP = (1/1 + 2/3) / 2 = 5/6.
        det(A, hold_agent=0.9, hold_obj=[*CUP_XYXY, 0.8], run_agent=0.6),
        det(far, hold_obj=[*CUP_XYXY, 0.7]),
        # Image 2, positives cut-instr and cut-obj, both without an object: 2. Ranked: 0.9 cut-obj
        # FP (a box where none is), 0.5 cut-instr TP (NaN box), 0.4 cut-instr of the same person
        # again FP (a person matches once per entry). AP = (1/2) / 2 = 1/4.
        det(A, image_id=2, cut_instr=[*nan4, 0.5], cut_obj=[0, 0, 5, 5, 0.9]),
        det(A, image_id=2, cut_instr=[*nan4, 0.4]),
        # Image 3: its person does nothing, so the image has no score whatever is detected.
        det(A, image_id=3, hold_obj=[*CUP_XYXY, 0.9]),
        # Image 4: one positive, no detection: 0.
    ]
    images = [{"id": i, "width": 100, "height": 100} for i in (1, 2, 3, 4)]
    paths = write_files(tmp_path, anns, [1, 3, 4, 5], positives, dets, images=images)
    scores = image_average_precisions(load_vcoco_ground_truth(*paths[:3]), dets)
    assert scores.keys() == {1, 2, 4}
    assert scores == pytest.approx({1: 5 / 6, 2: 0.25, 4: 0.0})


def test_image_average_precision_one_when_every_positive_ranks_first(tmp_path):
    # The image-1 case above without the far person's false positive: both found, nothing above: 1.
    anns = [coco_ann(1, PERSON, A), coco_ann(2, CUP, CUP_XYXY)]
    dets = [det(A, hold_obj=[*CUP_XYXY, 0.8], run_agent=0.6, cut_obj=[*CUP_XYXY, 0.1])]
    paths = write_files(tmp_path, anns, [1], {"hold": {1: [2]}, "run": {1: []}}, dets)
    # 0.1 cut-obj is an FP ranked below both TPs: the AP stays 1.
    assert image_average_precisions(load_vcoco_ground_truth(*paths[:3]), dets) == {1: 1.0}
