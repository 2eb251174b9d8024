"""Checkpoints of a run: saving during training (with the non-finite policy) and finding
and restoring a trained model. A model dir holds config.yaml + checkpoints/ckpt-N."""

from __future__ import annotations

import hashlib
import logging
import math
import os

import keras
import numpy as np
import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.config import Config

log = logging.getLogger("calipso_tf")

CONFIG_NAME = "config.yaml"
CHECKPOINTS = "checkpoints"  # the folder of a model dir holding ckpt-N


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


def resolve(checkpoint: str) -> tuple[str, str]:
    """A model dir, its checkpoints/ folder or a checkpoint prefix -> (model_dir, prefix)."""
    if os.path.isdir(checkpoint):
        folder = os.path.join(checkpoint, CHECKPOINTS) if os.path.isdir(os.path.join(checkpoint, CHECKPOINTS)) \
            else checkpoint
        prefix = tf.train.latest_checkpoint(folder)
        if prefix is None:
            raise FileNotFoundError(f"{checkpoint}: no checkpoint found (expected {folder}/ckpt-N.index)")
    else:
        if not tf.io.gfile.exists(checkpoint + ".index"):
            raise FileNotFoundError(f"{checkpoint}: no such checkpoint ({checkpoint}.index missing)")
        prefix = checkpoint
    folder = os.path.dirname(prefix)
    model_dir = os.path.dirname(folder) if os.path.basename(folder) == CHECKPOINTS else folder
    return model_dir, prefix


def load_model(checkpoint: str, config_path: str | None = None, overrides: list[str] | None = None):
    """Builds the model from the run's frozen config and restores its weights.

    Returns (model, config). ``config_path`` defaults to <model_dir>/config.yaml.
    """
    from calipso_tf.modeling.calipso_model import build_model

    model_dir, prefix = resolve(checkpoint)
    config_path = config_path or os.path.join(model_dir, CONFIG_NAME)
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{config_path}: the run's config is missing; pass --config")
    config: Config = config_lib.load_config(config_path, overrides)
    config.model.backbone_weights = ""
    model = build_model(config)
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    return model, config
