"""Tests for data_prep.synthetic: layout, determinism, geometry and verb coverage."""

import itertools
import json
import math

import numpy as np
import pytest
from PIL import Image

from calipso_tf.config import Config, DataConfig, ModelConfig, TrainConfig
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.ops.anchors import generate_anchors
from data_prep.__main__ import main as data_prep_main, parse_args
from data_prep.synthetic import generator, layout, vocabulary
from data_prep.synthetic.prepare import ensure_synthetic_dataset

SIZE = (128, 128)
NUM_TRAIN, NUM_TEST = 48, 16


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """(root, train entries, test entries) for one 64-image dataset."""
    root = tmp_path_factory.mktemp("synth")
    generator.generate(root, NUM_TRAIN, NUM_TEST, SIZE, seed=3)
    load = lambda name: json.loads((root / "annotations" / name).read_text())
    return root, load("trainval_hico.json"), load("test_hico.json")


def _entries(dataset):
    return dataset[1] + dataset[2]


def _reference_anchors(height, width):
    """Independent RetinaNet anchor set: strides 8..128, side 4*stride*scale, h/w ratio, centres at (i+0.5)*stride."""
    rows = []
    for level in range(3, 8):
        stride = 2 ** level
        for i, j in itertools.product(range(math.ceil(height / stride)), range(math.ceil(width / stride))):
            cy, cx = (i + 0.5) * stride, (j + 0.5) * stride
            for scale, ratio in itertools.product((1, 2 ** (1 / 3), 2 ** (2 / 3)), (0.5, 1, 2)):
                side = 4 * stride * scale
                w, h = side / math.sqrt(ratio), side * math.sqrt(ratio)
                rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return np.array(rows)


def _iou(box, anchors):
    ix = np.clip(np.minimum(box[2], anchors[:, 2]) - np.maximum(box[0], anchors[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], anchors[:, 3]) - np.maximum(box[1], anchors[:, 1]), 0, None)
    inter = ix * iy
    area_anchors = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + area_anchors - inter
    return inter / union


def test_layout_and_fields(dataset):
    root, train, test = dataset
    assert len(train) == NUM_TRAIN and len(test) == NUM_TEST
    for split_dir, entries, prefix in (("train2015", train, "synth_train_"), ("test2015", test, "synth_test_")):
        for k, e in enumerate(entries):
            assert set(e) == {"file_name", "img_id", "height", "width", "annotations", "hoi_annotation"}
            assert e["file_name"] == f"{prefix}{k:06d}.jpg" and e["img_id"] == k
            assert (root / "images" / split_dir / e["file_name"]).is_file()
            assert all(set(a) == {"bbox", "category_id"} for a in e["annotations"])
            assert all(set(h) == {"subject_id", "object_id", "category_id"} for h in e["hoi_annotation"])
    categories = json.loads((root / "annotations" / "categories.json").read_text())
    assert categories["verbs"] == [{"id": 1, "name": "hold"}, {"id": 2, "name": "look"},
                                   {"id": 3, "name": "hug"}, {"id": 4, "name": "run"}]
    assert {o["id"]: o["name"] for o in categories["objects"]} == {
        1: "person", 37: "sports ball", 47: "cup", 62: "chair", 84: "book"}


def test_images_decode_with_recorded_size(dataset):
    root, train, test = dataset
    for split_dir, entries in (("train2015", train), ("test2015", test)):
        for e in entries:
            with Image.open(root / "images" / split_dir / e["file_name"]) as im:
                assert im.format == "JPEG" and im.mode == "RGB"
                assert im.size == (e["width"], e["height"]) == (SIZE[1], SIZE[0])


def test_boxes_inside_image_and_anchor_covered(dataset):
    anchors = _reference_anchors(*SIZE)
    for e in _entries(dataset):
        for a in e["annotations"]:
            x1, y1, x2, y2 = a["bbox"]
            assert all(isinstance(v, int) for v in a["bbox"])
            assert 0 <= x1 < x2 <= e["width"] - 1 and 0 <= y1 < y2 <= e["height"] - 1
            assert _iou(a["bbox"], anchors).max() > 0.5
            assert _iou([x1, y1, x2 + 1, y2 + 1], anchors).max() > 0.5


def test_model_anchors_match_reference():
    """The generator checks coverage with the model's anchors; they must be the set the scenes are sized for."""
    ours = generate_anchors(SIZE)
    ref = _reference_anchors(*SIZE)
    assert ours.shape == ref.shape == (9 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1), 4)
    np.testing.assert_allclose(np.sort(ours, axis=0), np.sort(ref, axis=0), atol=1e-4)


def test_hoi_rows_are_consistent(dataset):
    for e in _entries(dataset):
        cats = [a["category_id"] for a in e["annotations"]]
        boxes = [a["bbox"] for a in e["annotations"]]
        for h in e["hoi_annotation"]:
            s, o, v = h["subject_id"], h["object_id"], h["category_id"]
            assert cats[s] == vocabulary.PERSON
            if v == vocabulary.RUN:
                assert o == -1
                continue
            assert 0 <= o < len(cats) and o != s
            if v == vocabulary.HUG:
                assert cats[o] == vocabulary.PERSON
                assert {"subject_id": o, "object_id": s, "category_id": v} in e["hoi_annotation"]
            else:
                assert cats[o] != vocabulary.PERSON
            touching = not layout.apart(boxes[s], boxes[o], 0)
            assert touching == (v in (vocabulary.HOLD, vocabulary.HUG))


def test_coverage_of_verbs_and_scene_kinds(dataset):
    rows = [(e, h) for e in _entries(dataset) for h in e["hoi_annotation"]]
    assert {h["category_id"] for _, h in rows} == {1, 2, 3, 4}
    assert any(h["object_id"] == -1 for _, h in rows)
    assert any(h["object_id"] >= 0 and e["annotations"][h["object_id"]]["category_id"] == 1 for e, h in rows)
    distractors = idle = 0
    for e in _entries(dataset):
        used = {h["subject_id"] for h in e["hoi_annotation"]} | {h["object_id"] for h in e["hoi_annotation"]}
        free = [a["category_id"] for i, a in enumerate(e["annotations"]) if i not in used]
        distractors += sum(c != vocabulary.PERSON for c in free)
        idle += sum(c == vocabulary.PERSON for c in free)
        assert 1 <= sum(a["category_id"] == vocabulary.PERSON for a in e["annotations"]) <= 3
        assert sum(a["category_id"] != vocabulary.PERSON for a in e["annotations"]) <= 4
    assert distractors > 0 and idle > 0
    subjects = [(id(e), h["subject_id"]) for e, h in rows if h["category_id"] != vocabulary.HUG]
    assert len(set(subjects)) < len(subjects)  # some person does two verbs


def test_non_interacting_things_keep_apart(dataset):
    """Only hold and hug partners touch; everything else keeps the layout margin."""
    for e in _entries(dataset):
        boxes = [a["bbox"] for a in e["annotations"]]
        linked = {frozenset((h["subject_id"], h["object_id"])) for h in e["hoi_annotation"]
                  if h["category_id"] in (vocabulary.HOLD, vocabulary.HUG)}
        for i, j in itertools.combinations(range(len(boxes)), 2):
            if frozenset((i, j)) not in linked:
                assert layout.apart(boxes[i], boxes[j], layout.MARGIN)


def test_deterministic_and_independent_of_workers(tmp_path, dataset):
    root = dataset[0]
    again = generator.generate(tmp_path / "again", NUM_TRAIN, NUM_TEST, SIZE, seed=3, workers=2)
    for rel in ("annotations/trainval_hico.json", "annotations/test_hico.json", "annotations/categories.json",
                "images/train2015/synth_train_000000.jpg", f"images/test2015/synth_test_{NUM_TEST - 1:06d}.jpg"):
        assert (root / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = generator.generate(tmp_path / "other", 4, 0, SIZE, seed=4)
    assert (other / "images/train2015/synth_train_000000.jpg").read_bytes() != (
        root / "images/train2015/synth_train_000000.jpg").read_bytes()


def test_rerun_is_idempotent_and_changed_params_regenerate(tmp_path):
    out = generator.generate(tmp_path, 6, 2, SIZE, seed=1)
    annotation = out / "annotations" / "trainval_hico.json"
    stamp = annotation.stat().st_mtime_ns
    generator.generate(tmp_path, 6, 2, SIZE, seed=1)
    assert annotation.stat().st_mtime_ns == stamp
    generator.generate(tmp_path, 3, 2, SIZE, seed=1)
    assert len(json.loads(annotation.read_text())) == 3
    assert sorted(p.name for p in (out / "images" / "train2015").iterdir()) == [
        f"synth_train_{i:06d}.jpg" for i in range(3)]
    assert json.loads((out / generator.MARKER).read_text())["num_train"] == 3


def test_non_square_images(tmp_path):
    out = generator.generate(tmp_path, 4, 0, (96, 160), seed=2)
    for e in json.loads((out / "annotations" / "trainval_hico.json").read_text()):
        assert (e["height"], e["width"]) == (96, 160)
        with Image.open(out / "images" / "train2015" / e["file_name"]) as im:
            assert im.size == (160, 96)
        assert all(a["bbox"][2] <= 159 and a["bbox"][3] <= 95 for a in e["annotations"])


def test_cli(tmp_path):
    """``python -m data_prep --dataset synthetic`` is the command line: it generates at 128x128 by default."""
    assert data_prep_main(["--dataset", "synthetic", "--output", str(tmp_path), "--synthetic-train", "2",
                           "--synthetic-test", "1", "--num-shards", "1", "--workers", "1", "--no-progress"]) == 0
    source = tmp_path / "source"
    assert len(json.loads((source / "annotations" / "test_hico.json").read_text())) == 1
    assert json.loads((source / generator.MARKER).read_text())["image_size"] == [128, 128]


def test_cli_defaults_come_from_the_config():
    args = parse_args(["--dataset", "synthetic", "--output", "out"])
    config = DataConfig()
    assert (args.synthetic_train, args.synthetic_test) == (config.synthetic_num_train, config.synthetic_num_test)


def test_prepare_generates_then_converts_in_process(tmp_path):
    config = Config(model=ModelConfig(image_size=(96, 96)), train=TrainConfig(seed=2),
                    data=DataConfig(data_dir=str(tmp_path / "shards"), synthetic_num_train=3, synthetic_num_test=2))
    assert ensure_synthetic_dataset(config, num_shards=1) == config.data.data_dir
    manifest = manifest_lib.load(config.data.data_dir)
    assert [v.name for v in manifest.verbs] == ["hold", "look", "hug", "run"]
    assert manifest.statistics["splits"]["train"]["records_written"] == 3
    assert json.loads((tmp_path / "raw" / generator.MARKER).read_text())["seed"] == 2
