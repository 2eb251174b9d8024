"""Optimiser, learning-rate schedule, checkpointing with the non-finite-loss policy and
the scalar log: the pieces both training loops (model.fit and the custom loop) share."""

from __future__ import annotations

import hashlib
import logging
import math

import keras
import numpy as np
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


class Checkpointer:
    """Checkpoints model, optimizer and the data step with tf.train.CheckpointManager.

    ``step`` counts the global batches consumed (it equals optimizer.iterations unless the
    loss scaler skipped updates) and fixes the data position on resume. Every worker
    saves (collectives may run); only the chief's folder is kept (``WorkerDir``).
    Policy: a non-finite loss stops training without saving, and a save is refused when
    a weight is not finite, so the latest checkpoint is always a good one.
    """

    def __init__(self, model: keras.Model, directory: str, keep: int, every: int, worker_dir=None):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_step")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, step=self.step)
        self.directory = directory
        self.worker_dir = worker_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, worker_dir.path if worker_dir else directory,
                                                  max_to_keep=keep)
        self.every = every
        self.model = model
        self.nonfinite_step: int | None = None
        self.saved_step: int | None = None

    @property
    def latest(self) -> str | None:
        return tf.train.latest_checkpoint(self.directory)

    def restore(self) -> int:
        """Restores the chief's latest checkpoint if any; returns the step to start from."""
        latest = self.latest
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self.saved_step = int(self.step.numpy())
            log.info("resumed from %s (step %d)", latest, self.saved_step)
        return int(self.step.numpy())

    def after_step(self, step: int, loss: float) -> bool:
        """Records global step ``step`` whose mean loss was ``loss``; saves every ``every``
        steps. Returns False (and saves nothing) when the loss is not finite."""
        if not math.isfinite(loss):
            self.nonfinite_step = step
            log.error("non-finite loss (%s) at step %d: stopping; the last good checkpoint is %s",
                      loss, step, self.latest)
            return False
        self.step.assign(step)
        if step % self.every == 0:
            self.save()
        return True

    def save(self) -> str | None:
        """Saves at the current step unless that checkpoint exists or a weight is not finite."""
        step = int(self.step.numpy())
        if self.nonfinite_step is not None or step == self.saved_step:
            return None
        if not all_finite(self.model.trainable_variables):
            self.nonfinite_step = step
            log.error("step %d: non-finite weights; not saving. The last good checkpoint is %s", step, self.latest)
            return None
        path = self.manager.save(checkpoint_number=step)
        self.saved_step = step
        if self.worker_dir is not None:
            self.worker_dir.cleanup()
        log.info("step %d: saved %s", step, path)
        return path

    def raise_if_nonfinite(self) -> None:
        if self.nonfinite_step is not None:
            raise FloatingPointError(f"training stopped at step {self.nonfinite_step}: non-finite loss or weights; "
                                     f"the last good checkpoint is {self.latest}")


def all_finite(variables) -> bool:
    return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables]).numpy())


def weights_checksum(variables) -> str:
    """SHA-256 of the variables' bytes: equal on every worker of a synchronous run."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


def current_learning_rate(optimizer) -> float:
    """The schedule's value at the optimizer's current iteration."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class ScalarLog:
    """TensorBoard scalars ("loss/<term>", "learning_rate") in ``logdir``; no-op when None
    (non-chief workers)."""

    def __init__(self, logdir: str | None):
        self.writer = tf.summary.create_file_writer(logdir) if logdir else tf.summary.create_noop_writer()

    def write(self, step: int, losses: dict[str, float], learning_rate: float) -> None:
        with self.writer.as_default(step=step):
            for name, value in losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("learning_rate", learning_rate)
        self.writer.flush()


class FitCallback(keras.callbacks.Callback):
    """model.fit side of the shared policy: counts global steps from ``start_step``,
    checkpoints and stops via :class:`Checkpointer`, stops at ``total_steps`` and writes
    the window-mean losses (Keras epoch = ``train.log_every`` steps) to ``scalars``."""

    def __init__(self, checkpointer: Checkpointer, scalars: ScalarLog, start_step: int, total_steps: int):
        super().__init__()
        self.checkpointer = checkpointer
        self.scalars = scalars
        self.step = start_step
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if not self.checkpointer.after_step(self.step, float(logs["loss"])) or self.step >= self.total_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.checkpointer.nonfinite_step is None:
            losses = {name: float(logs[key]) for name, key in LOG_KEYS.items()}
            self.scalars.write(self.step, losses, current_learning_rate(self.model.optimizer))

    def on_train_end(self, logs=None):
        self.checkpointer.save()


LOG_KEYS = {"total": "loss", "verb": "verb_loss", "target": "target_loss", "embedding": "embedding_loss"}
