"""Real-size records: padding sizes from the manifest, and V-COCO's trainval split."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from data_prep_util import convert, write_jpeg
from harness import REPO_ROOT, TINY_NETWORK
from train_util import subprocess_env

from calipso_tf.config import load_config
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data.pipeline import InputPipeline

BIG_TRAIN, BIG_TEST = "HICO_train2015_00000007.jpg", "HICO_test2015_00001234.jpg"
SMALL_TRAIN, SMALL_TEST = "HICO_train2015_00000001.jpg", "HICO_test2015_00000001.jpg"
BIG_BOXES, BIG_PAIRS = 120, 170
PERSON, AIRPLANE = 1, 5
TINY = [f"model.{k}={json.dumps(v)}" for k, v in TINY_NETWORK.items()]


def _big_entry(filename: str) -> dict:
    """120 disjoint 10x10 px boxes on a 12 x 10 grid (60 persons, then 60 airplanes; none merged) and 170 pairs:
    each person boards its airplane and rides the next one, the first 50 also hold the one after."""
    boxes = [[20 * (i % 12), 20 * (i // 12), 20 * (i % 12) + 10, 20 * (i // 12) + 10] for i in range(BIG_BOXES)]
    half = BIG_BOXES // 2
    pairs = [(p, half + (p + shift) % half, verb) for shift, verb, persons in ((0, 1, half), (1, 2, half), (2, 3, 50))
             for p in range(persons)]
    return {"file_name": filename,
            "annotations": [{"bbox": b, "category_id": PERSON if i < half else AIRPLANE} for i, b in enumerate(boxes)],
            "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v} for s, o, v in pairs]}


def _small_entry(filename: str) -> dict:
    return {"file_name": filename,
            "annotations": [{"bbox": [1, 1, 20, 30], "category_id": PERSON}, {"bbox": [25, 5, 60, 30],
                                                                              "category_id": AIRPLANE}],
            "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 1}]}


@pytest.fixture()
def real_size_hico(tmp_path):
    """A converted HICO-DET JSON layout whose train and test splits each hold one image with 120 boxes and
    170 pairs (listed second) and one small image; returns the shard folder."""
    for split, folder, names in (("trainval_hico.json", "train2015", (SMALL_TRAIN, BIG_TRAIN)),
                                 ("test_hico.json", "test2015", (SMALL_TEST, BIG_TEST))):
        entries = [_small_entry(names[0]), _big_entry(names[1])]
        os.makedirs(tmp_path / "json", exist_ok=True)
        (tmp_path / "json" / split).write_text(json.dumps(entries))
        for name in names:
            write_jpeg(str(tmp_path / "images" / folder / name), 240, 200)
    out = tmp_path / "shards"
    assert convert("--dataset", "hico_det", "--annotations", tmp_path / "json", "--images", tmp_path / "images",
                   "--output", out, "--num-shards", 2) == 0
    return str(out)


def _hico_config(data_dir: str, *overrides: str):
    return load_config(os.path.join(REPO_ROOT, "configs", "hico_det.yaml"),
                       [f"data.data_dir={data_dir}", "model.image_size=[64, 64]", *TINY, *overrides])


def test_manifest_records_each_splits_largest_record(real_size_hico):
    splits = manifest_lib.load(real_size_hico).splits
    for split, big in (("train", BIG_TRAIN), ("test", BIG_TEST)):
        assert (splits[split].max_boxes, splits[split].max_boxes_record) == (BIG_BOXES, big)
        assert (splits[split].max_triplets, splits[split].max_triplets_record) == (BIG_PAIRS, big)


def test_shipped_config_pads_every_record_to_the_datas_size(real_size_hico):
    config = _hico_config(real_size_hico)
    assert (config.data.max_boxes, config.data.max_triplets) == (0, 0)  # configs/hico_det.yaml: from the data
    pipeline = InputPipeline(config)
    images, _ = next(iter(pipeline.train_dataset(batch_size=2, repeat=False)))
    assert images.shape == (2, 64, 64, 3)
    batches = list(pipeline.eval_batches(batch_size=2))
    assert [b["filename"].numpy().tolist() for b in batches] == [[SMALL_TEST.encode(), BIG_TEST.encode()]]
    assert batches[0]["boxes"].shape == (2, BIG_BOXES, 4) and batches[0]["triplets"].shape == (2, BIG_PAIRS, 3)
    assert batches[0]["num_boxes"].numpy().tolist() == [2, BIG_BOXES]
    assert batches[0]["num_triplets"].numpy().tolist() == [1, BIG_PAIRS]


def test_config_smaller_than_the_data_fails_before_the_first_batch_naming_the_record(real_size_hico):
    pipeline = InputPipeline(_hico_config(real_size_hico, "data.max_boxes=64", "data.max_triplets=128"))
    manifest = os.path.join(real_size_hico, "manifest.json")
    with pytest.raises(ValueError) as error:
        pipeline.train_dataset(batch_size=2)
    assert str(error.value) == (f"data.max_boxes=64 but split 'train' holds 120 boxes in {BIG_TRAIN} ({manifest}): "
                                "raise data.max_boxes to at least 120 or set it to 0 to take the data's size")
    with pytest.raises(ValueError, match=f"data.max_boxes=64 but split 'test' holds 120 boxes in {BIG_TEST}"):
        pipeline.eval_dataset(batch_size=2)
    pipeline = InputPipeline(_hico_config(real_size_hico, "data.max_triplets=128"))
    with pytest.raises(ValueError, match=f"data.max_triplets=128 but split 'test' holds 170 triplets in {BIG_TEST}"):
        list(pipeline.eval_batches(batch_size=2))


def test_config_larger_than_the_data_keeps_its_padding(real_size_hico):
    pipeline = InputPipeline(_hico_config(real_size_hico, "data.max_boxes=128", "data.max_triplets=200"))
    batch = next(iter(pipeline.eval_dataset(batch_size=2)))
    assert batch["boxes"].shape == (2, 128, 4) and batch["triplets"].shape == (2, 200, 3)


def test_manifest_of_an_earlier_version_falls_back_to_the_config(real_size_hico):
    path = os.path.join(real_size_hico, "manifest.json")
    with open(path) as f:
        data = json.load(f)
    for split in data["splits"].values():
        for field in ("max_boxes", "max_boxes_record", "max_triplets", "max_triplets_record"):
            del split[field]
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match="data.max_boxes=0 takes the split's size from the manifest, but .* records "
                                         "none for split 'test'"):
        InputPipeline(_hico_config(real_size_hico)).eval_dataset(batch_size=2)
    pipeline = InputPipeline(_hico_config(real_size_hico, "data.max_boxes=120", "data.max_triplets=170"))
    assert next(iter(pipeline.eval_dataset(batch_size=2)))["boxes"].shape == (2, 120, 4)


def test_vcoco_writes_trainval_and_counts_statistics_on_it(vcoco):
    val = vcoco / "v-coco" / "data" / "vcoco" / "vcoco_val.json"
    actions = json.loads(val.read_text())
    assert actions[2]["action_name"] == "hold"
    actions[2]["label"] = [1]  # person 301 of the val image holds something unannotated: a "-1,4" triplet
    val.write_text(json.dumps(actions))
    out = vcoco / "out"
    assert convert("--dataset", "vcoco", "--annotations", vcoco / "v-coco", "--images", vcoco / "coco",
                   "--output", out, "--num-shards", 4) == 0
    manifest = manifest_lib.load(str(out))
    splits = manifest.splits
    assert sorted(splits) == ["test", "train", "trainval", "val"]
    assert splits["trainval"].num_examples == splits["train"].num_examples + splits["val"].num_examples == 2
    assert splits["trainval"].shards == ["trainval-00000-of-00002.tfrecord", "trainval-00001-of-00002.tfrecord"]
    assert (splits["trainval"].annotations, splits["trainval"].image_ids) == ("", "")  # no official trainval files
    assert manifest.statistics_split == "trainval"
    assert manifest.hoi_train_counts["-1,4"] == 2  # one in train, one in val
    config = load_config(os.path.join(REPO_ROOT, "configs", "vcoco.yaml"),
                         [f"data.data_dir={out}", "model.num_verbs=6", "model.image_size=[64, 64]", *TINY])
    assert config.data.train_split == "trainval"
    images, _ = next(iter(InputPipeline(config).train_dataset(batch_size=2)))
    assert images.shape == (2, 64, 64, 3)


def _run(script: str, *args: str, cwd) -> None:
    """python <script> args, as a user runs it; fails the test with the end of its stderr."""
    done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, script), *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script}: {done.stderr[-4000:]}"


def _train_and_evaluate(config: str, dataset: str, data_dir, run, *overrides: str) -> dict:
    """train.py with a shipped config (tiny network, 2 steps, no pretrained download), then
    evaluate.py --detections gt on its evaluation split; returns metrics.json."""
    sets = [f"--set={o}" for o in (f"data.data_dir={data_dir}", "model.image_size=[64, 64]",
                                   "model.backbone_weights=", *TINY, "train.batch_size=2",
                                   "train.reference_batch_size=2", "train.total_steps=2", "train.warmup_steps=1",
                                   "data.shuffle_buffer=4", *overrides)]
    _run("train.py", f"--config={os.path.join(REPO_ROOT, 'configs', config)}", f"--model_dir={run}", *sets,
         cwd=run.parent)
    _run("evaluate.py", f"--dataset={dataset}", f"--checkpoint={run}", "--detections=gt", "--noplots",
         "--nocontact_sheet", cwd=run.parent)
    return json.loads((run / "eval" / "metrics.json").read_text())


@pytest.mark.slow
def test_hico_det_config_trains_and_evaluates_the_largest_records(real_size_hico, tmp_path):
    run = tmp_path / "run"
    metrics = _train_and_evaluate("hico_det.yaml", "hico_det", real_size_hico, run)
    assert metrics["detections_dropped"] == {"cap": BIG_BOXES, "boxes": 0, "images": 0}
    predictions = {p["file_name"]: p for p in json.loads((run / "eval" / "predictions.json").read_text())}
    assert sorted(predictions) == [SMALL_TEST, BIG_TEST]
    assert len(predictions[BIG_TEST]["predictions"]) == BIG_BOXES  # every box of the 120 was read
    assert metrics["images_without_predictions"] == 0


@pytest.mark.slow
def test_vcoco_config_trains_on_trainval_and_evaluates(vcoco, tmp_path):
    out = vcoco / "out"
    assert convert("--dataset", "vcoco", "--annotations", vcoco / "v-coco", "--images", vcoco / "coco",
                   "--output", out, "--num-shards", 2) == 0
    run = tmp_path / "run"
    metrics = _train_and_evaluate("vcoco.yaml", "vcoco", out, run, "model.num_verbs=6")
    assert (run / "eval" / "detections.pkl").exists()
    assert metrics["detections_dropped"]["boxes"] == 0 and metrics["images_without_predictions"] == 0
    assert "AP_role_scenario1" in metrics
