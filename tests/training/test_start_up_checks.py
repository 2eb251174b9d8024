"""engine.train checks the model dir before building anything: a resumed run's config must match
the frozen one (apart from the resumable fields) and every folder it writes must be writable."""

import dataclasses
import errno
import logging
import os
import shutil

import pytest

from calipso_tf.config import InferenceConfig, load_config
from calipso_tf.training import engine, run_dir
from harness import tiny_training_config
from train_util import make_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A model dir trained for 2 steps (one checkpoint)."""
    model_dir = tmp_path_factory.mktemp("trained") / "run"
    assert engine.train(tiny_training_config(data_dir, total_steps=2), str(model_dir), verbose=0)["steps"] == 2
    return model_dir


@pytest.fixture()
def previous_run(trained, tmp_path):
    """A fresh copy of the 2-step run, for a test to resume into."""
    return shutil.copytree(trained, tmp_path / "run")


def snapshot(folder) -> dict:
    """Relative path -> (bytes, mtime) of every file under folder."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mtime_ns)
    return files


def test_resume_with_another_model_fails_naming_the_fields_and_touches_nothing(data_dir, previous_run):
    before = snapshot(previous_run)
    config = tiny_training_config(data_dir, total_steps=4)
    config.model = dataclasses.replace(config.model, head_blocks=2, embedding_dim=8)
    with pytest.raises(ValueError, match=r"run/config\.yaml: this run was trained with model\.head_blocks=1, "
                                         r"model\.embedding_dim=4; the new config has model\.head_blocks=2, "
                                         r"model\.embedding_dim=8\. Only train\.total_steps, .* may change"):
        engine.train(config, str(previous_run), verbose=0)
    assert snapshot(previous_run) == before  # config.yaml byte-identical, no new checkpoint or event file


def test_resume_with_resumable_changes_warns_and_freezes_the_new_config(data_dir, previous_run, caplog):
    config = tiny_training_config(data_dir, total_steps=4, log_every=1)
    config.inference = InferenceConfig(score_threshold=0.25)
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        summary = engine.train(config, str(previous_run), verbose=0)
    assert (summary["resumed_from_step"], summary["steps"]) == (2, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for change in ("train.total_steps=4 (was 2)", "train.log_every=1 (was 2)",
                   "inference.score_threshold=0.25 (was 0.0)"):
        assert any(change in message for message in warnings), change
    assert load_config(str(previous_run / "config.yaml")) == config


def test_resume_loads_no_pretrained_weights(data_dir, previous_run, tmp_path, caplog):
    """A resumed run takes its weights from the checkpoint: a pretrained source that is not there
    (a preset folder left on another machine) is not read, and the set-up line says so."""
    config = tiny_training_config(data_dir, total_steps=3)
    config.model = dataclasses.replace(config.model, backbone_weights=str(tmp_path / "preset_left_elsewhere"))
    with caplog.at_level(logging.INFO, logger="calipso_tf"):
        assert engine.train(config, str(previous_run), verbose=0)["resumed_from_step"] == 2
    assert any("from the checkpoint; resuming at step 2" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("field", ["train.batch_size", "train.seed", "data.shuffle_buffer", "loss.sigma",
                                   "model.resnet_convention"])
def test_fields_that_change_what_was_trained_are_not_resumable(field):
    assert not run_dir.resumable(field)


def unwritable_under_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    return tmp_path / "file.txt" / "run", tmp_path / "file.txt" / "run", "Not a directory"


def checkpoints_is_a_file(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("not a folder")
    return tmp_path / "run", tmp_path / "run" / "checkpoints", "a file, not a folder"


@pytest.mark.parametrize("layout", [unwritable_under_a_file, checkpoints_is_a_file])
def test_unwritable_model_dir_fails_at_start_up_naming_the_folder(tmp_path, layout):
    model_dir, folder, reason = layout(tmp_path)
    before = snapshot(tmp_path)
    # No dataset at all: the check comes before the input pipeline and the model are built.
    with pytest.raises(OSError, match=f"^{folder}: cannot write there \\({reason}\\)$"):
        engine.train(tiny_training_config(str(tmp_path / "no_data")), str(model_dir), verbose=0)
    assert snapshot(tmp_path) == before  # in particular no config.yaml


def test_full_disk_fails_at_start_up_naming_the_folder(tmp_path, monkeypatch):
    def no_space(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(run_dir, "open", no_space, raising=False)  # the probe's open only
    with pytest.raises(OSError, match=r"run: cannot write there \(No space left on device\)$"):
        engine.train(tiny_training_config(str(tmp_path / "no_data")), str(tmp_path / "run"), verbose=0)
    assert os.listdir(tmp_path / "run") == []  # no probe file, no config.yaml
