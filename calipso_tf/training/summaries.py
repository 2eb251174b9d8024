"""TensorBoard scalars of a training run."""

from __future__ import annotations

import tensorflow as tf


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

