"""model.head_batch_norm: one BatchNorm blended over P3..P7 (the paper) or one per level with
shared convolutions; the moving statistics each training step leaves, by hand."""

import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import load_config
from calipso_tf.modeling.calipso_model import build_model

from harness import tiny_config

MOMENTUM = 0.99  # keras.layers.BatchNormalization's default


def level_conv_means(model, images):
    """Per level, the channel means (C,) of the first tower conv's output over (B, h, w),
    on the backbone features the training step sees."""
    features = model.backbone(images, training=True)
    conv = model.heads[0].block0_conv
    return [tf.reduce_mean(conv(f), axis=[0, 1, 2]).numpy() for f in features]


def training_forward(model):
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)), tf.float32)
    means = level_conv_means(model, x)
    model(x, training=True)
    return means


def test_per_level_statistics_follow_their_own_level():
    model = build_model(tiny_config(head_batch_norm="per_level"))
    head = model.heads[0]
    assert all(h is head for h in model.heads)  # the convolutions stay shared
    means = training_forward(model)
    moving = [getattr(head, f"block0_bn_p{level}").moving_mean.numpy() for level in model.levels]
    for level_mean, level_moving in zip(means, moving):
        np.testing.assert_allclose(level_moving, (1 - MOMENTUM) * level_mean, rtol=1e-4, atol=1e-7)
    assert not np.allclose(moving[0], moving[4], rtol=0.1)
    assert not hasattr(head, "block0_bn")


def test_shared_statistics_blend_the_levels_in_order():
    model = build_model(tiny_config(head_batch_norm="shared"))
    head = model.heads[0]
    means = training_forward(model)
    expected = np.zeros_like(means[0])
    for level_mean in means:  # P3 first, as the model applies the head
        expected = MOMENTUM * expected + (1 - MOMENTUM) * level_mean
    np.testing.assert_allclose(head.block0_bn.moving_mean.numpy(), expected, rtol=1e-4, atol=1e-7)
    # The paper's head keeps its variable names: older checkpoints still load.
    assert [w.path for w in head.weights if "bn" in w.path] == [
        f"calipso/interaction_head/block0_bn/{name}" for name in ("gamma", "beta", "moving_mean", "moving_variance")]


def test_per_level_adds_four_batch_norms_per_block():
    shared = build_model(tiny_config(head_batch_norm="shared"))
    per_level = build_model(tiny_config(head_batch_norm="per_level"))
    assert per_level.count_params() - shared.count_params() == 4 * 4 * 32  # 4 extra levels x (gamma, beta, mean, var)


def test_unknown_value_is_a_clear_error():
    with pytest.raises(ValueError, match="head_batch_norm"):
        load_config(None, ["model.head_batch_norm=per_image"])
