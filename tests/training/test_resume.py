"""Fault tolerance: a killed run resumes exactly; both loops compute the same steps; a
non-finite loss stops the run and leaves the last good checkpoint intact."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.training import engine
from harness import REPO_ROOT as ROOT, tiny_training_config
from train_util import assert_same_checkpoints, checkpoint_values, make_dataset, subprocess_env, train_command

TOTAL = 8


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
    """Checkpoint prefix of an uninterrupted fit run of TOTAL steps."""
    model_dir = tmp_path_factory.mktemp("uninterrupted")
    summary = engine.train(tiny_training_config(data_dir, total_steps=TOTAL), str(model_dir), verbose=0)
    assert summary["steps"] == TOTAL
    return summary["checkpoint"]


def test_killed_run_resumes_exactly(data_dir, uninterrupted, tmp_path):
    model_dir = tmp_path / "killed"
    checkpoints = str(model_dir / "checkpoints")
    worker = subprocess.Popen(train_command(data_dir, str(model_dir), TOTAL), cwd=ROOT, env=subprocess_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while tf.train.latest_checkpoint(checkpoints) is None and worker.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = tf.train.latest_checkpoint(checkpoints)
    assert killed_at and not killed_at.endswith(f"ckpt-{TOTAL}")

    summary = engine.train(tiny_training_config(data_dir, total_steps=TOTAL), str(model_dir), verbose=0)
    assert 2 <= summary["resumed_from_step"] < TOTAL and summary["steps"] == TOTAL
    assert_same_checkpoints(uninterrupted, summary["checkpoint"])


def test_fit_then_custom_loop_equals_fit(data_dir, uninterrupted, tmp_path):
    """Steps 1-4 with model.fit, 5-8 with the custom loop: the same weights, optimizer
    state and step as 8 fit steps (both loops run CalipsoModel.replica_step)."""
    model_dir = str(tmp_path / "mixed")
    engine.train(tiny_training_config(data_dir, total_steps=4), model_dir, loop="fit", verbose=0)
    summary = engine.train(tiny_training_config(data_dir, total_steps=TOTAL), model_dir, loop="custom", verbose=0)
    assert summary["resumed_from_step"] == 4
    assert_same_checkpoints(uninterrupted, summary["checkpoint"])


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path, loop):
    model_dir = str(tmp_path / "nan")
    good = engine.train(tiny_training_config(data_dir, total_steps=2), model_dir, loop=loop, verbose=0)["checkpoint"]
    with pytest.raises(FloatingPointError, match="non-finite loss.*last good checkpoint is .*ckpt-"):
        engine.train(tiny_training_config(data_dir, total_steps=20, learning_rate=1e12, checkpoint_every=1), model_dir,
                     loop=loop, verbose=0)
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    values = checkpoint_values(latest)
    assert all(np.all(np.isfinite(v)) for v in values.values() if v.dtype.kind == "f")
    assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) < 20
    assert latest == good or int(latest.rsplit("-", 1)[1]) > 2
