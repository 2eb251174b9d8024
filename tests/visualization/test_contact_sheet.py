"""The evaluation's contact sheet: PPDM entries -> drawable triplets, the sheet's layout, and the
sheet model evaluation writes next to its metrics (calipso_tf.visualization.contact_sheet)."""

import os

import numpy as np
from PIL import Image

from calipso_tf.data import manifest as manifest_lib
from calipso_tf.inference import model_evaluation
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.visualization import contact_sheet as cs

from harness import tiny_training_config
from train_util import make_dataset

VERBS = {1: "hold", 2: "look", 4: "run"}  # dataset verb id -> name; network index = position
BOXES = [[10, 20, 50, 90], [60, 30, 80, 50], [5, 5, 30, 40]]
GROUND_TRUTH = {"file_name": "x.jpg", "annotations": [{"bbox": b, "category_id": c} for b, c in zip(BOXES, (1, 47, 1))],
                "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 1},
                                   {"subject_id": 2, "object_id": -1, "category_id": 4}]}
PREDICTION = {"file_name": "x.jpg", "predictions": GROUND_TRUTH["annotations"],
              "hoi_prediction": [{"subject_id": 2, "object_id": -1, "category_id": 4, "score": 0.2},
                                 {"subject_id": 0, "object_id": 1, "category_id": 2, "score": 0.7},
                                 {"subject_id": 0, "object_id": 1, "category_id": 1, "score": 0.9}]}
INDEX = {verb_id: i for i, verb_id in enumerate(VERBS)}


def test_prediction_entry_becomes_triplets_highest_score_first():
    triplets, categories = cs.entry_triplets(PREDICTION, INDEX, limit=2)
    assert categories == [1, 47, 1]
    assert int(triplets["num_triplets"]) == 2
    np.testing.assert_array_equal(triplets["verb"], [0, 1])  # hold 0.9, look 0.7; run 0.2 cut by the limit
    np.testing.assert_allclose(triplets["score"], [0.9, 0.7])
    np.testing.assert_array_equal(triplets["subject_box"], [BOXES[0], BOXES[0]])
    np.testing.assert_array_equal(triplets["object_box"], [BOXES[1], BOXES[1]])


def test_ground_truth_entry_keeps_file_order_and_no_target():
    triplets, _ = cs.entry_triplets(GROUND_TRUTH, INDEX)
    np.testing.assert_array_equal(triplets["verb"], [0, 2])
    np.testing.assert_array_equal(triplets["object_index"], [1, -1])
    np.testing.assert_array_equal(triplets["subject_box"], [BOXES[0], BOXES[2]])
    np.testing.assert_array_equal(triplets["object_box"][1], [0, 0, 0, 0])


def test_sheet_layout_places_each_image_twice_per_row():
    tile = 128
    images = [np.full((100, 200, 3), value, np.uint8) for value in (40, 90, 140)]
    rows = [{"image": image, "ground_truth": GROUND_TRUTH, "prediction": PREDICTION, "score": s}
            for image, s in zip(images, (1.0, 0.5, 0.0))]
    sheet = cs.compose_sheet(rows[:2], rows[2:], "image AP", VERBS, tile=tile)
    half = 2 * tile + cs.GAP
    row_height = tile + 2 * cs.LINE + cs.GAP
    header = 2 * cs.LINE + cs.GAP
    assert sheet.shape == (cs.GAP + header + 2 * row_height, 2 * half + cs.COLUMN_GAP + 2 * cs.GAP, 3)
    # The 200x100 image shrunk to 128x64 at the top of each tile: its bottom-right corner (no box or
    # label there) keeps the image's grey, below it the tile background.
    for column, row, value in ((0, 0, 40), (0, 1, 90), (1, 0, 140)):
        left = cs.GAP + column * (half + cs.COLUMN_GAP)
        top = cs.GAP + header + row * row_height
        for offset in (0, tile + cs.GAP):
            assert (sheet[top + 60, left + offset + 125] == value).all()
            assert (sheet[top + 70, left + offset + 125] == cs.TILE_BACKGROUND).all()
    # The worst half has one row: nothing drawn below it.
    right = cs.GAP + half + cs.COLUMN_GAP
    assert (sheet[cs.GAP + header + row_height:, right:] == cs.BACKGROUND).all()


def test_model_evaluation_writes_the_contact_sheet(tmp_path):
    data_dir = make_dataset(tmp_path)
    config = tiny_training_config(data_dir)
    manifest = manifest_lib.load(data_dir)
    model = build_model(config)
    output = tmp_path / "eval" / "metrics.json"
    model_evaluation.evaluate_hico_model(model, config, manifest, "test", str(output), batch_size=8, plots=False,
                                         shuffled_baseline=False)
    sheet = np.asarray(Image.open(tmp_path / "eval" / model_evaluation.CONTACT_SHEET))
    # 8 test images with ground-truth triplets: 4 best and 4 worst rows.
    row_height = cs.TILE + 2 * cs.LINE + cs.GAP
    half = 2 * cs.TILE + cs.GAP
    assert sheet.shape == (cs.GAP + 2 * cs.LINE + cs.GAP + 4 * row_height, 2 * half + cs.COLUMN_GAP + 2 * cs.GAP, 3)
    # Each tile shows a test image (96x96, enlarged 8/3 times): most of the ground-truth tile of
    # the first best row is that picture, nearest-neighbour enlarged; the others match far less.
    top, left = cs.GAP + 2 * cs.LINE + cs.GAP, cs.GAP + cs.TILE + cs.GAP
    tile = sheet[top:top + cs.TILE, left:left + cs.TILE].astype(int)
    raw = os.path.join(tmp_path, "raw", "images", "test2015")
    agreement = []
    for name in sorted(os.listdir(raw)):
        picture = np.asarray(Image.open(os.path.join(raw, name)).convert("RGB").resize((cs.TILE, cs.TILE),
                                                                                        Image.NEAREST)).astype(int)
        agreement.append(np.mean(np.abs(tile - picture).max(axis=-1) <= 24))
    assert sorted(agreement)[-1] > 0.7 > sorted(agreement)[-2]
    # --nocontact_sheet: none written.
    (tmp_path / "eval" / model_evaluation.CONTACT_SHEET).unlink()
    model_evaluation.evaluate_hico_model(model, config, manifest, "test", str(output), plots=False,
                                         shuffled_baseline=False, contact_sheet=False)
    assert not (tmp_path / "eval" / model_evaluation.CONTACT_SHEET).exists()
