"""The anchor-slot overflow of a training run (assigned anchors that do not fit into
loss.max_assigned_anchors slots) is counted exactly, warned about once and written to TensorBoard,
by both loops."""

import dataclasses
import glob
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import LossConfig
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.modeling.calipso_model import OVERFLOW_KEY
from calipso_tf.training import engine, input_stream
from harness import tiny_training_config
from train_util import make_dataset

STEPS = 4  # two logging windows of TRAINING_SCHEDULE's log_every = 2
SLOTS = 2


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


def config_with_slots(data_dir, max_assigned_anchors):
    config = tiny_training_config(data_dir, total_steps=STEPS)
    return dataclasses.replace(config, loss=LossConfig(max_assigned_anchors=max_assigned_anchors))


def dropped_in_stream(config) -> list[int]:
    """Per step, the assigned anchors beyond max_assigned_anchors of each image of the training batches,
    summed over the batch: counted from the targets the run reads."""
    pipeline = InputPipeline(config)
    stream = input_stream.distributed_stream(tf.distribute.get_strategy(), pipeline, config.train.batch_size, 0,
                                             STEPS)
    counts = []
    for _, (_, targets) in zip(range(STEPS), stream):
        assigned = np.sum(targets["anchor_box"].numpy() >= 0, axis=1)
        counts.append(int(np.maximum(assigned - config.loss.max_assigned_anchors, 0).sum()))
    return counts


def overflow_scalars(model_dir) -> list[float]:
    values = []
    for path in sorted(glob.glob(os.path.join(model_dir, "tensorboard", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            values += [float(tf.make_ndarray(v.tensor)) for v in event.summary.value if v.tag == "anchors/overflow"]
    return values


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_overflow_is_counted_warned_and_written(data_dir, tmp_path, loop, caplog):
    config = config_with_slots(data_dir, SLOTS)
    per_step = dropped_in_stream(config)
    assert sum(per_step) > 0
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        summary = engine.train(config, str(tmp_path), loop=loop, verbose=0)
    assert summary["final"][OVERFLOW_KEY] == sum(per_step)
    warnings = [r.getMessage() for r in caplog.records if "loss.max_assigned_anchors=2" in r.getMessage()]
    first = next(step for step, count in enumerate(per_step, 1) if count)
    assert warnings == [f"step {first}: {per_step[first - 1]} assigned anchors of the batch did not fit into "
                        "loss.max_assigned_anchors=2 slots and take no part in the loss; raise "
                        "loss.max_assigned_anchors (the count is logged as anchor_overflow and in TensorBoard "
                        "as anchors/overflow)"]
    assert overflow_scalars(str(tmp_path)) == [per_step[0] + per_step[1], per_step[2] + per_step[3]]


def test_no_overflow_is_zero_and_silent(data_dir, tmp_path, caplog):
    config = config_with_slots(data_dir, 1024)
    assert sum(dropped_in_stream(config)) == 0
    with caplog.at_level(logging.WARNING, logger="calipso_tf"):
        summary = engine.train(config, str(tmp_path), loop="custom", verbose=0)
    assert summary["final"][OVERFLOW_KEY] == 0
    assert not [r for r in caplog.records if "max_assigned_anchors" in r.getMessage()]
    assert overflow_scalars(str(tmp_path)) == [0.0, 0.0]
