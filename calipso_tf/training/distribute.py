"""Distribution strategies, the chief/worker roles and synchronized BatchNorm."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """default: one device; mirrored: all local GPUs (or the CPU); multi_worker: TF_CONFIG cluster."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi_worker needs the TF_CONFIG environment variable (docs/TRAINING.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; use one of {STRATEGIES}")


def task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task id) of this process; (None, 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief writes checkpoints and summaries: task 'chief', or worker 0 without one."""
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def num_workers(strategy: tf.distribute.Strategy) -> int:
    return getattr(strategy.extended, "_num_workers", 1)


class WorkerDir:
    """Where this process writes: ``directory`` on the chief; a private temp folder on the
    other workers (they must take part in saving, collectives may run, but their files are
    thrown away by :meth:`cleanup`), the standard TF multi-worker pattern."""

    def __init__(self, directory: str, chief: bool):
        self.chief = chief
        self.path = directory if chief else tempfile.mkdtemp(prefix="calipso-worker-")

    def cleanup(self) -> None:
        if not self.chief:
            shutil.rmtree(self.path, ignore_errors=True)


def synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every BatchNormalization layer use the statistics of the global batch (all
    replicas) instead of its replica's share; returns the number of layers changed."""
    layers = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
    return len(layers)
