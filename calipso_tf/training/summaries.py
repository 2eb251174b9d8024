"""What a training run reports besides its checkpoints: TensorBoard scalars and the anchor-slot overflow."""

from __future__ import annotations

import logging

import tensorflow as tf

log = logging.getLogger("calipso_tf")


class ScalarLog:
    """TensorBoard scalars ("loss/<term>", "anchors/overflow", "learning_rate") in ``logdir``; no-op
    when None (non-chief workers)."""

    def __init__(self, logdir: str | None):
        self.writer = tf.summary.create_file_writer(logdir) if logdir else tf.summary.create_noop_writer()

    def write(self, step: int, losses: dict[str, float], overflow: int, learning_rate: float) -> None:
        """``losses``: window means; ``overflow``: anchors dropped in the window (see :class:`OverflowCount`)."""
        with self.writer.as_default(step=step):
            for name, value in losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("anchors/overflow", overflow)
            tf.summary.scalar("learning_rate", learning_rate)
        self.writer.flush()


class OverflowCount:
    """Counts the anchor-slot overflow of a run, step by step: assigned anchors that did not fit into
    ``loss.max_assigned_anchors`` slots and so take no part in the loss. Warns the first time it happens."""

    def __init__(self, max_assigned_anchors: int):
        self.max_assigned_anchors = max_assigned_anchors
        self.total = 0

    def add(self, step: int, dropped: int) -> None:
        """``dropped``: anchors dropped at ``step``, summed over the images of the global batch."""
        if dropped and not self.total:
            log.warning("step %d: %d assigned anchors of the batch did not fit into loss.max_assigned_anchors=%d "
                        "slots and take no part in the loss; raise loss.max_assigned_anchors (the count is logged "
                        "as anchor_overflow and in TensorBoard as anchors/overflow)", step, dropped,
                        self.max_assigned_anchors)
        self.total += dropped
