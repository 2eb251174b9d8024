"""The model.fit loop: Keras epochs of ``train.log_every`` steps, with the checkpoint,
non-finite, scalar and anchor-overflow policies of :mod:`calipso_tf.training.checkpoints` and
:mod:`calipso_tf.training.summaries` applied by a callback."""

from __future__ import annotations

import keras

from calipso_tf.modeling.calipso_model import LOSS_TERMS, OVERFLOW_KEY, loss_log_key
from calipso_tf.training.checkpoints import Checkpointer
from calipso_tf.training.optimization import current_learning_rate
from calipso_tf.training.summaries import OverflowCount, ScalarLog


class FitCallback(keras.callbacks.Callback):
    """model.fit side of the shared policy: counts global steps from ``start_step``,
    checkpoints and stops via :class:`Checkpointer`, stops at ``total_steps``, counts each step's
    anchor-slot overflow in ``overflow`` and writes the window-mean losses and the window's overflow
    (Keras epoch = ``train.log_every`` steps) to ``scalars``."""

    def __init__(self, checkpointer: Checkpointer, scalars: ScalarLog, overflow: OverflowCount, start_step: int,
                 total_steps: int):
        super().__init__()
        self.checkpointer = checkpointer
        self.scalars = scalars
        self.overflow = overflow
        self.step = start_step
        self.total_steps = total_steps
        self.window_overflow = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.window_overflow = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        # The overflow tracker sums over the epoch so far: this step's count is the increase.
        window_overflow = round(float(logs[OVERFLOW_KEY]))
        self.overflow.add(self.step, window_overflow - self.window_overflow)
        self.window_overflow = window_overflow
        finite = self.checkpointer.after_step(self.step, float(logs[loss_log_key("total")]))
        if not finite or self.step >= self.total_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.checkpointer.nonfinite_step is None:
            losses = {name: float(logs[loss_log_key(name)]) for name in LOSS_TERMS}
            self.scalars.write(self.step, losses, round(float(logs[OVERFLOW_KEY])),
                               current_learning_rate(self.model.optimizer))

    def on_train_end(self, logs=None):
        self.checkpointer.save()


def run(model: keras.Model, dataset, checkpointer: Checkpointer, scalars: ScalarLog, start_step: int, total: int,
        log_every: int, verbose: int) -> dict[str, float]:
    """model.fit in Keras epochs of ``log_every`` steps; returns the last epoch's mean losses and, under
    ``OVERFLOW_KEY``, the anchors dropped from the loss over all the steps of this run."""
    overflow = OverflowCount(model.loss_config.max_assigned_anchors)
    callback = FitCallback(checkpointer, scalars, overflow, start_step, total)
    epochs = -(-(total - start_step) // log_every)
    history = model.fit(dataset, epochs=epochs, steps_per_epoch=log_every, callbacks=[callback], verbose=verbose)
    losses = {name: float(history.history[loss_log_key(name)][-1]) for name in LOSS_TERMS
              if history.history.get(loss_log_key(name))}
    return {**losses, OVERFLOW_KEY: overflow.total}

