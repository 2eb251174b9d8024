"""The custom training loop: ``strategy.run(model.replica_step)`` over a distributed stream.

Needed for MultiWorkerMirroredStrategy (Keras 3 model.fit fails under it,
keras-team/keras#20585) and available for every strategy (``--loop custom``). The step
itself is the model's ``replica_step``, the one model.fit runs, so both loops compute the
same update; checkpointing, the non-finite policy, the scalars and the anchor-overflow count are the shared
:mod:`calipso_tf.training` pieces.
"""

from __future__ import annotations

import tensorflow as tf
from tqdm import tqdm

from calipso_tf.modeling.calipso_model import LOSS_TERMS, OVERFLOW_KEY, CalipsoModel
from calipso_tf.training.checkpoints import Checkpointer
from calipso_tf.training.optimization import current_learning_rate
from calipso_tf.training.summaries import OverflowCount, ScalarLog


def make_step_function(model: CalipsoModel, strategy: tf.distribute.Strategy, global_batch: int, jit_compile: bool):
    """-> tf.function(iterator) running one global step; returns each loss term's mean
    over the global batch, {"total", "verb", "target", "embedding"}, and under ``OVERFLOW_KEY``
    the anchors dropped from the loss, summed over the global batch: scalar float32."""

    def replica_fn(data):
        terms = model.replica_step(data)
        sums = {name: tf.reduce_sum(terms[name]) for name in LOSS_TERMS}
        return sums, tf.reduce_sum(terms["dropped_anchors"])

    # Like model.fit: XLA compiles the per-replica step, collectives stay outside it.
    replica_fn = tf.function(replica_fn, jit_compile=True) if jit_compile else replica_fn

    @tf.function
    def step(iterator):
        sums, dropped = strategy.run(replica_fn, args=(next(iterator),))
        means = {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) / global_batch
                 for name, value in sums.items()}
        return {**means, OVERFLOW_KEY: strategy.reduce(tf.distribute.ReduceOp.SUM, dropped, axis=None)}

    return step


def run(model: CalipsoModel, strategy: tf.distribute.Strategy, dataset: tf.distribute.DistributedDataset,
        checkpointer: Checkpointer, scalars: ScalarLog, start_step: int, total_steps: int, log_every: int,
        global_batch: int, jit_compile: bool = False, progress: bool = True) -> dict[str, float]:
    """Trains from ``start_step`` to ``total_steps``; returns the last window's mean losses and, under
    ``OVERFLOW_KEY``, the anchors dropped from the loss over all the steps of this run.

    Stops early (returning) on a non-finite loss; the caller raises.
    """
    step_fn = make_step_function(model, strategy, global_batch, jit_compile)
    iterator = iter(dataset)
    window = {name: 0.0 for name in LOSS_TERMS}
    window_steps = window_overflow = 0
    overflow = OverflowCount(model.loss_config.max_assigned_anchors)
    means = {}
    bar = tqdm(total=total_steps, initial=start_step, unit="step", disable=not progress, dynamic_ncols=True)
    for step in range(start_step + 1, total_steps + 1):
        losses = {name: float(value) for name, value in step_fn(iterator).items()}
        dropped = round(losses.pop(OVERFLOW_KEY))
        if not checkpointer.after_step(step, losses["total"]):
            break
        overflow.add(step, dropped)
        window_overflow += dropped
        for name, value in losses.items():
            window[name] += value
        window_steps += 1
        bar.update(1)
        if step % log_every == 0 or step == total_steps:
            means = {name: value / window_steps for name, value in window.items()}
            scalars.write(step, means, window_overflow, current_learning_rate(model.optimizer))
            bar.set_postfix({**{name: f"{value:.4f}" for name, value in means.items()}, OVERFLOW_KEY: window_overflow})
            window = dict.fromkeys(window, 0.0)
            window_steps = window_overflow = 0
    bar.close()
    checkpointer.save()
    return {**means, OVERFLOW_KEY: overflow.total}
