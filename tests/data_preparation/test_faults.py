"""Faults around the conversion: nothing of the user's is overwritten, nothing partial is left,
and every failure names the file, the record or the split."""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil

import pytest
import tensorflow as tf
from data_prep_util import convert, read_split, write_jpeg
from harness import tiny_config, tiny_training_config
from train_util import make_dataset

from calipso_tf.config import Config, DataConfig, ModelConfig, TrainConfig
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.training import engine
from data_prep.synthetic import generator, prepare

ENTRY = {"annotations": [{"bbox": [1, 1, 20, 30], "category_id": 1}, {"bbox": [22, 5, 35, 20], "category_id": 47}],
         "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 37}]}


def _name(split: str, number: int) -> str:
    return f"HICO_{split}2015_{number:08d}.jpg"


def _write_hico(root, train: list[dict], test: list[dict] | None = None) -> None:
    """A JSON-layout HICO-DET under root: ann/{trainval,test}_hico.json and a 40x32 image per file name."""
    test = [{"file_name": _name("test", 1), **ENTRY}] if test is None else test
    os.makedirs(root / "ann", exist_ok=True)
    for split, file, entries in (("train", "trainval_hico.json", train), ("test", "test_hico.json", test)):
        (root / "ann" / file).write_text(json.dumps(entries))
        for entry in entries:
            write_jpeg(root / "images" / f"{split}2015" / entry["file_name"], 40, 32)


def _args(root, *extra):
    return ["--dataset", "hico_det", "--annotations", root / "ann", "--images", root / "images",
            "--output", root / "out", *extra]


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


# ----------------------------------------------------------------------------- synthetic preparation

def _synthetic_config(root) -> Config:
    return Config(model=ModelConfig(image_size=(96, 96)), train=TrainConfig(seed=2),
                  data=DataConfig(data_dir=str(root / "shards"), synthetic_num_train=3, synthetic_num_test=2))


def _snapshot(folder) -> dict[str, bytes]:
    return {path: open(path, "rb").read() for path in glob.glob(f"{folder}/**", recursive=True)
            if os.path.isfile(path)}


def test_prepare_does_not_generate_over_shards_it_did_not_make(tmp_path):
    """The shards of a failed conversion (no manifest) are the user's: left as they are, with nothing written."""
    shards = tmp_path / "shards"
    os.makedirs(shards / ".state")
    for name in ("train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord", ".state/x.json", "notes.txt"):
        (shards / name).write_text(name)
    before = _snapshot(tmp_path)
    with pytest.raises(FileExistsError) as error:
        prepare.ensure_synthetic_dataset(_synthetic_config(tmp_path), num_shards=1)
    assert str(error.value) == (
        f"{shards} holds 4 files (.state/x.json, notes.txt, train-00000-of-00002.tfrecord, ...) but no manifest.json "
        f"and no synthetic-dataset mark (.synthetic_dataset): not generating the synthetic dataset of "
        f"data.data_dir={shards} over it; remove it or set data.data_dir")
    assert _snapshot(tmp_path) == before and not os.path.exists(tmp_path / "raw")


def test_prepare_does_not_overwrite_annotations_it_did_not_make(tmp_path):
    """raw/ beside the shard folder holds the user's annotations: an error, and the shard folder is not created."""
    (tmp_path / "raw" / "annotations").mkdir(parents=True)
    (tmp_path / "raw" / "annotations" / "trainval_hico.json").write_text("[]")
    before = _snapshot(tmp_path)
    expected = f"{tmp_path / 'raw'} holds 1 files (annotations/trainval_hico.json) but no synthetic-dataset mark"
    with pytest.raises(FileExistsError, match="^" + re.escape(expected)):
        prepare.ensure_synthetic_dataset(_synthetic_config(tmp_path), num_shards=1)
    assert _snapshot(tmp_path) == before and not os.path.exists(tmp_path / "shards")


def test_prepare_resumes_its_own_interrupted_preparation(tmp_path, monkeypatch, caplog):
    """Interrupted while generating, then after converting (manifest lost): both rerun, with a WARNING."""
    config = _synthetic_config(tmp_path)
    write_example = generator._write_example

    def interrupted(job):
        if job[2] == 1:  # the second image
            raise KeyboardInterrupt
        return write_example(job)

    monkeypatch.setattr(generator, "_write_example", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare.ensure_synthetic_dataset(config, num_shards=1)
    monkeypatch.undo()
    assert not os.path.exists(tmp_path / "raw" / generator.MARKER)
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="calipso_tf"):
            assert prepare.ensure_synthetic_dataset(config, num_shards=1) == config.data.data_dir
        assert manifest_lib.load(config.data.data_dir).statistics["splits"]["train"]["records_written"] == 3
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "preparing the synthetic dataset again" in warnings[0], warnings
        os.remove(tmp_path / "shards" / manifest_lib.MANIFEST_NAME)


def test_prepare_of_a_fresh_folder_logs_no_warning(tmp_path, caplog):
    os.makedirs(tmp_path / "shards" / ".state")  # folders without files count as fresh
    with caplog.at_level(logging.INFO, logger="calipso_tf"):
        prepare.ensure_synthetic_dataset(_synthetic_config(tmp_path), num_shards=1)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert os.path.exists(tmp_path / "shards" / prepare.MARK) and os.path.exists(tmp_path / "raw" / prepare.MARK)


# ----------------------------------------------------------------------------- conversion

def test_duplicate_file_names_are_a_bad_record(tmp_path, caplog):
    first, second = ({"file_name": _name("train", 1), **ENTRY}, {"file_name": _name("train", 1), **ENTRY,
                                                                  "hoi_annotation": []})
    _write_hico(tmp_path, [first, {"file_name": _name("train", 2), **ENTRY}, second])
    assert convert(*_args(tmp_path)) == 0
    stats = manifest_lib.load(str(tmp_path / "out")).statistics["splits"]["train"]
    assert stats["skipped"] == {"duplicate_filename": 1} and stats["records_written"] == 2
    assert [len(e["triplets"]) for e in read_split(tmp_path / "out", "train")] == [1, 1]  # the first one is kept
    source = tmp_path / "ann" / "trainval_hico.json"
    message = (f"{source}: record '{_name('train', 1)}' (entry 2): image/filename '{_name('train', 1)}' of entry 2 is "
               "already the file of entry 0")
    assert f"skipped (duplicate_filename): {message}" in caplog.text
    caplog.clear()
    assert convert(*_args(tmp_path, "--strict")) == 1
    assert _errors(caplog) == [message]


@pytest.mark.parametrize("strict", [False, True])
def test_a_split_without_records_fails(tmp_path, caplog, strict):
    _write_hico(tmp_path, [{"file_name": _name("train", 1), **ENTRY}], test=[])
    extra = ["--strict"] if strict else []
    assert convert(*_args(tmp_path, *extra)) == 1
    assert _errors(caplog) == [f"{tmp_path / 'ann' / 'test_hico.json'}: split 'test' has no record to write "
                               "(0 read, skipped: none); no manifest written"]
    assert not os.path.exists(tmp_path / "out" / manifest_lib.MANIFEST_NAME)


def test_a_split_whose_records_are_all_skipped_fails(tmp_path, caplog):
    _write_hico(tmp_path, [{"file_name": _name("train", 1), **ENTRY}])
    os.remove(tmp_path / "images" / "test2015" / _name("test", 1))
    assert convert(*_args(tmp_path)) == 1
    assert _errors(caplog) == [f"{tmp_path / 'ann' / 'test_hico.json'}: split 'test' has no record to write "
                               "(1 read, skipped: {'missing_image': 1}); no manifest written"]
    assert not os.path.exists(tmp_path / "out" / manifest_lib.MANIFEST_NAME)


def test_strict_failure_leaves_no_shard_of_its_run(tmp_path):
    """Shards finished before the failure (by other workers too) and the old manifest are removed."""
    train = [{"file_name": _name("train", n), **ENTRY} for n in range(1, 5)]
    _write_hico(tmp_path, train)
    out = tmp_path / "out"
    assert convert(*_args(tmp_path, "--num-shards", 4)) == 0
    os.remove(tmp_path / "images" / "train2015" / _name("train", 4))  # in the last shard
    assert convert(*_args(tmp_path, "--num-shards", 4, "--strict", "--workers", 2)) == 1
    assert not os.path.exists(out / manifest_lib.MANIFEST_NAME)
    assert sorted(os.listdir(out)) == [".state"] and os.listdir(out / ".state") == []


# ----------------------------------------------------------------------------- reading

def _damage(path) -> None:
    """Flips a byte of the shard's first record (after its 12-byte header): its checksum fails."""
    with open(path, "r+b") as f:
        f.seek(40)
        byte = f.read(1)
        f.seek(40)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_shard_is_named_when_read(tmp_path):
    _write_hico(tmp_path, [{"file_name": _name("train", n), **ENTRY} for n in range(1, 5)])
    assert convert(*_args(tmp_path, "--num-shards", 2)) == 0
    out = tmp_path / "out"
    damaged = out / "train-00001-of-00002.tfrecord"
    _damage(damaged)
    config = tiny_config(num_verbs=117)
    config = Config(model=config.model, data=DataConfig(data_dir=str(out), max_boxes=8, max_triplets=8,
                                                        eval_split="train"))
    pipeline = InputPipeline(config)
    with pytest.raises(tf.errors.DataLossError) as error:
        list(pipeline.eval_batches(2))
    assert error.value.message == (f"{damaged}: damaged shard (corrupted record at 12, a byte offset in that file); "
                                   "convert the dataset again with `python -m data_prep ... --force`")
    with pytest.raises(tf.errors.DataLossError, match="^" + re.escape(f"{damaged}: damaged shard")):
        with pipeline.naming_damaged_shards("train"):
            for _ in pipeline.train_dataset(2, repeat=False):
                pass


def test_training_on_a_damaged_shard_names_it(tmp_path):
    """The fit loop here; the custom loop runs in the same naming_damaged_shards block of engine.train."""
    shards = make_dataset(tmp_path)
    damaged = os.path.join(shards, "train-00000-of-00002.tfrecord")
    _damage(damaged)
    with pytest.raises(tf.errors.DataLossError, match="^" + re.escape(f"{damaged}: damaged shard")):
        engine.train(tiny_training_config(shards, total_steps=2), str(tmp_path / "model"), verbose=0)


# ----------------------------------------------------------------------------- paths

def test_manifest_paths_are_relative_and_the_dataset_moves(tmp_path):
    _write_hico(tmp_path / "a", [{"file_name": _name("train", 1), **ENTRY}])
    assert convert(*_args(tmp_path / "a")) == 0
    stored = json.loads((tmp_path / "a" / "out" / manifest_lib.MANIFEST_NAME).read_text())
    assert stored["splits"]["test"]["annotations"] == os.path.join("..", "ann", "test_hico.json")
    shutil.move(tmp_path / "a", tmp_path / "b")
    manifest = manifest_lib.load(str(tmp_path / "b" / "out"))
    assert manifest.splits["test"].annotations == str(tmp_path / "b" / "ann" / "test_hico.json")
    assert os.path.isfile(manifest.splits["train"].annotations)


def test_an_absolute_path_of_an_older_manifest_is_read_as_it_is(tmp_path):
    _write_hico(tmp_path, [{"file_name": _name("train", 1), **ENTRY}])
    assert convert(*_args(tmp_path)) == 0
    path = tmp_path / "out" / manifest_lib.MANIFEST_NAME
    stored = json.loads(path.read_text())
    stored["splits"]["test"]["annotations"] = "/elsewhere/test_hico.json"
    path.write_text(json.dumps(stored))
    assert manifest_lib.load(str(tmp_path / "out")).splits["test"].annotations == "/elsewhere/test_hico.json"


def test_a_missing_manifest_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        InputPipeline(Config(data=DataConfig(data_dir="work_dirs/synthetic/shards")))
    assert str(error.value) == (
        f"{tmp_path}/work_dirs/synthetic/shards/manifest.json: no dataset manifest ('work_dirs/synthetic/shards' is "
        f"relative to the working directory {tmp_path}); convert a dataset there with `python -m data_prep "
        "--output work_dirs/synthetic/shards ...`, or point data.data_dir (--set data.data_dir=PATH) at the folder "
        "holding manifest.json")
