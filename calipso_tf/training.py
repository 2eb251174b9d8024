"""Optimiser, learning-rate schedule and the callbacks that make training resumable."""

from __future__ import annotations

import logging
import math
import os

import keras
import tensorflow as tf

from calipso_tf.config import TrainConfig

log = logging.getLogger("calipso_tf")


@keras.saving.register_keras_serializable("calipso_tf")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over ``warmup_steps``, then ``peak`` multiplied by ``factor``
    at each boundary (the paper: 0.016, /10 at 25k iterations)."""

    def __init__(self, peak: float, warmup_steps: int, boundaries: tuple[int, ...], factor: float):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.boundaries = tuple(int(b) for b in boundaries)
        self.factor = float(factor)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        decays = tf.add_n([tf.cast(step >= b, tf.float32) for b in self.boundaries]) if self.boundaries else 0.0
        lr = self.peak * tf.pow(self.factor, decays)
        if self.warmup_steps > 0:
            lr *= tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return lr

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "boundaries": list(self.boundaries),
                "factor": self.factor}


def scaled_learning_rate(config: TrainConfig, global_batch_size: int) -> float:
    """Linear scaling rule: lr grows with the global batch relative to the reference batch."""
    return config.learning_rate * global_batch_size / config.reference_batch_size


def build_optimizer(config: TrainConfig, global_batch_size: int, mixed_precision: bool = False):
    """SGD with momentum and weight decay on the warm-up + step schedule."""
    schedule = WarmupStepDecay(scaled_learning_rate(config, global_batch_size), config.warmup_steps,
                               config.lr_decay_steps, config.lr_decay_factor)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum,
                                     weight_decay=config.weight_decay or None,
                                     global_clipnorm=config.clip_global_norm or None)
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class CheckpointCallback(keras.callbacks.Callback):
    """Saves model + optimizer every ``every`` steps with tf.train.CheckpointManager and
    stops on a non-finite loss, keeping the last good checkpoint untouched."""

    def __init__(self, manager: tf.train.CheckpointManager, every: int, is_chief: bool = True):
        super().__init__()
        self.manager = manager
        self.every = every
        self.is_chief = is_chief
        self.nonfinite_step = None

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nonfinite_step = self._step()
            self.model.stop_training = True
            log.error("non-finite loss (%s) at step %d: stopping; the last good checkpoint is %s",
                      loss, self.nonfinite_step, self.manager.latest_checkpoint)
            return
        step = self._step()
        if self.is_chief and step % self.every == 0:
            path = self.manager.save(checkpoint_number=step)
            log.info("step %d: saved %s", step, path)

    def on_train_end(self, logs=None):
        step = self._step()
        if self.is_chief and self.nonfinite_step is None and self.manager.latest_checkpoint != \
                os.path.join(self.manager.directory, f"ckpt-{step}"):
            self.manager.save(checkpoint_number=step)


def make_checkpoint(model: keras.Model, directory: str, keep: int) -> tf.train.CheckpointManager:
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep)
