"""Weight decay: coupled (PyTorch SGD's L2 on the gradient) and decoupled (Keras'), with BatchNorm
gamma/beta and biases excluded unless train.decay_batch_norm_and_bias."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from calipso_tf.config import TrainConfig
from calipso_tf.training import optimization

LR, MOMENTUM, WD = 0.1, 0.9, 0.05  # a large decay so that its effect is far above float32 round-off
CONFIG = TrainConfig(learning_rate=LR, reference_batch_size=1, momentum=MOMENTUM, weight_decay=WD, warmup_steps=0,
                     lr_decay_steps=(), clip_global_norm=0.0)


def _model() -> keras.Model:
    """Dense(3, bias) -> BatchNorm on 4 inputs, with non-trivial weights (seeded)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(3, name="dense")(inputs)))
    for seed, v in enumerate(model.trainable_variables):
        v.assign(np.random.default_rng(seed).normal(size=v.shape).astype("float32"))
    return model


def _steps(config: TrainConfig, num_steps: int):
    """(weights before, gradients of each step, weights after) of ``num_steps`` steps on a fixed batch."""
    model = _model()
    optimizer = optimization.build_optimizer(config, global_batch_size=1)
    x = tf.constant(np.random.default_rng(1).normal(size=(5, 4)), tf.float32)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    grads = []
    for _ in range(num_steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True) - 1.0))
        g = tape.gradient(loss, model.trainable_variables)
        grads.append({v.path: gi.numpy() for v, gi in zip(model.trainable_variables, g)})
        optimizer.apply_gradients(zip(g, model.trainable_variables))
    return before, grads, {v.path: v.numpy() for v in model.trainable_variables}


def _decayed(path: str, decay_all: bool) -> bool:
    return decay_all or path.endswith("kernel")


@pytest.mark.parametrize("decay_all", [False, True])
def test_coupled_decay_is_pytorch_sgd(decay_all):
    """Two steps at constant lr equal PyTorch's v = m*v + g + wd*w; w -= lr*v, computed in numpy."""
    config = dataclasses.replace(CONFIG, weight_decay_mode="coupled", decay_batch_norm_and_bias=decay_all)
    before, grads, after = _steps(config, 2)
    for path, w in before.items():
        w, v = w.astype(np.float64), 0.0
        for g in grads:
            v = MOMENTUM * v + g[path] + (WD * w if _decayed(path, decay_all) else 0.0)
            w = w - LR * v
        np.testing.assert_allclose(after[path], w, rtol=1e-5, atol=1e-6, err_msg=path)
    assert {p for p in before if not _decayed(p, decay_all)} == (
        set() if decay_all else {p for p in before if p.rsplit("/", 1)[-1] in ("gamma", "beta", "bias")})


@pytest.mark.parametrize("decay_all", [False, True])
def test_decoupled_decay_is_keras_weight_decay(decay_all):
    """Decoupled: w -= lr*wd*w before the momentum step (one step: u = -lr*g), skipping BatchNorm and
    biases unless decay_all; with decay_all it is exactly keras.optimizers.SGD(weight_decay=)."""
    config = dataclasses.replace(CONFIG, weight_decay_mode="decoupled", decay_batch_norm_and_bias=decay_all)
    before, (g,), after = _steps(config, 1)
    for path, w in before.items():
        expected = w * (1 - LR * WD if _decayed(path, decay_all) else 1.0) - LR * g[path]
        np.testing.assert_allclose(after[path], expected, rtol=1e-5, atol=1e-6, err_msg=path)
    if decay_all:
        model = _model()
        optimizer = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM, weight_decay=WD)
        x = tf.constant(np.random.default_rng(1).normal(size=(5, 4)), tf.float32)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True) - 1.0))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        for v in model.trainable_variables:
            np.testing.assert_array_equal(after[v.path], v.numpy(), err_msg=v.path)


def test_coupled_and_decoupled_differ():
    """Under momentum the coupled L2 term accumulates in the velocity; the decoupled one does not."""
    results = [_steps(dataclasses.replace(CONFIG, weight_decay_mode=mode), 3)[2] for mode in ("coupled", "decoupled")]
    kernel = next(p for p in results[0] if p.endswith("kernel"))
    assert not np.allclose(results[0][kernel], results[1][kernel], rtol=1e-3)


def test_weight_decay_mode_is_checked():
    with pytest.raises(ValueError, match="weight_decay_mode"):
        TrainConfig(weight_decay_mode="adamw")
