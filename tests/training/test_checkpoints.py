"""A saved run restores to exactly the trained model (every variable, head included)."""

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.training import checkpoints
from calipso_tf.config import save_config
from calipso_tf.modeling.calipso_model import build_model

from harness import tiny_config


@pytest.mark.parametrize("shared", [True, False])
def test_checkpoint_round_trip_restores_every_variable(tmp_path, shared):
    config = tiny_config(share_head_weights=shared)
    model = build_model(config)
    for v in model.trainable_variables:  # move away from the initialiser's values
        v.assign(v + tf.random.normal(v.shape, stddev=0.05, seed=1))
    save_config(config, str(tmp_path / "config.yaml"))
    checkpoint = tf.train.Checkpoint(model=model)
    checkpoint.save(str(tmp_path / "checkpoints" / "ckpt"))

    restored, restored_config = checkpoints.load_model(str(tmp_path))
    assert restored_config.model == config.model
    assert len(restored.weights) == len(model.weights)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    images = tf.random.uniform((1, *config.model.image_size, 3), 0, 255, seed=2)
    for key, value in model(images).items():
        np.testing.assert_allclose(restored(images)[key].numpy(), value.numpy(), atol=1e-6, err_msg=key)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        checkpoints.resolve(str(tmp_path))
