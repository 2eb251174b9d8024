"""Optimiser and learning-rate schedule (the paper's recipe, with the linear scaling rule)."""

from __future__ import annotations

import keras
import tensorflow as tf

from calipso_tf.config import TrainConfig


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


def current_learning_rate(optimizer) -> float:
    """The schedule's value at the optimizer's current iteration."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


