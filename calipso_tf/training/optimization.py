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


# Variable names (Keras 3 ``variable.name``) of BatchNorm scale/offset and layer biases.
NORM_AND_BIAS_NAMES = ("gamma", "beta", "bias")


@keras.saving.register_keras_serializable("calipso_tf")
class CoupledDecaySGD(keras.optimizers.SGD):
    """SGD whose weight decay is an L2 term on the gradient, as PyTorch ``SGD(weight_decay=)``:
    ``g += l2 * w`` after clipping and before momentum, for the variables not excluded by
    ``exclude_from_weight_decay``. Keras keeps the velocity scaled by the learning rate
    (``u = m*u - lr*g; w += u``); PyTorch keeps it unscaled (``v = m*v + g; w -= lr*v``). The two
    are the same update (``u = -lr*v``) while lr is constant; they differ only in how far the
    momentum remembers gradients from before an lr change (warm-up and decay steps)."""

    def __init__(self, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2 and self._use_weight_decay(variable):
            gradient = keras.ops.cast(gradient, variable.dtype) + keras.ops.cast(self.l2, variable.dtype) * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


def build_optimizer(config: TrainConfig, global_batch_size: int, mixed_precision: bool = False):
    """SGD with momentum on the warm-up + step schedule, with weight decay either coupled (L2 on
    the gradient, PyTorch's) or decoupled (Keras': ``w -= lr * wd * w``); BatchNorm gamma/beta
    and biases are left undecayed unless ``config.decay_batch_norm_and_bias``."""
    schedule = WarmupStepDecay(scaled_learning_rate(config, global_batch_size), config.warmup_steps,
                               config.lr_decay_steps, config.lr_decay_factor)
    common = dict(learning_rate=schedule, momentum=config.momentum, global_clipnorm=config.clip_global_norm or None)
    if config.weight_decay_mode == "coupled":
        optimizer = CoupledDecaySGD(l2=config.weight_decay, **common)
    else:
        optimizer = keras.optimizers.SGD(weight_decay=config.weight_decay or None, **common)
    if not config.decay_batch_norm_and_bias:
        optimizer.exclude_from_weight_decay(var_names=list(NORM_AND_BIAS_NAMES))
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def current_learning_rate(optimizer) -> float:
    """The schedule's value at the optimizer's current iteration."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


