"""Distribution strategies, the chief/worker roles and the per-replica input stream.

The input stream makes the data position a pure function of the training step (given
the config): data epoch ``e`` (``steps_per_epoch`` global steps) is the input pipeline
seeded with ``train.seed + e``, so a run resumed at step s reads exactly the batches an
uninterrupted run reads from step s on, for any strategy and number of workers, without
checkpointing iterator state (which non-chief workers could not restore).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from calipso_tf.data.pipeline import InputPipeline

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


MAX_EPOCHS = 100


def steps_per_epoch(num_examples: int, global_batch: int, total_steps: int) -> int:
    """Global steps per data epoch: every training example once (remainder dropped), made
    longer (the data repeats inside it) so that a run spans at most MAX_EPOCHS epochs."""
    return max(1, num_examples // global_batch, -(-total_steps // MAX_EPOCHS))


def epoch_stream(pipeline: InputPipeline, replica_batch: int, replicas_per_pipeline: int, start_step: int,
                 total_steps: int, epoch_steps: int,
                 input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Per-replica batches (images (b, H, W, 3), targets) for global steps start_step..total_steps.

    Epoch e holds ``epoch_steps * replicas_per_pipeline`` batches of the pipeline seeded
    with train.seed + e; consecutive batches go to this pipeline's consecutive replicas.
    Resuming mid-epoch skips (decodes) the epoch's earlier batches: at most one epoch.
    Every iterator of the returned dataset yields the same batches.
    """
    first_epoch, offset = divmod(start_step, epoch_steps)
    last_epoch = (max(total_steps, start_step + 1) - 1) // epoch_steps
    per_epoch = epoch_steps * replicas_per_pipeline
    base_seed = pipeline.config.train.seed

    def build(_):
        epochs = [pipeline.train_dataset(replica_batch, input_context, repeat=True, seed=base_seed + e).take(per_epoch)
                  for e in range(first_epoch, last_epoch + 1)]
        return functools.reduce(tf.data.Dataset.concatenate, epochs).skip(offset * replicas_per_pipeline)

    # Built inside flat_map so that every iterator gets fresh shuffle seed generators: the
    # seeded shuffles reshuffle on each new iterator of the same Dataset object, and Keras 3
    # model.fit under a strategy iterates it twice (_maybe_symbolic_build peeks one batch,
    # then reset() starts a new iterator), which otherwise trains on a different order.
    stream = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(build)
    return stream.prefetch(tf.data.AUTOTUNE)


def distributed_stream(strategy: tf.distribute.Strategy, pipeline: InputPipeline, global_batch: int,
                       start_step: int, total_steps: int) -> tf.distribute.DistributedDataset:
    """The stream of :func:`epoch_stream` distributed over the strategy's replicas: each
    worker reads its own shard files (distribute_datasets_from_function), each replica
    gets ``global_batch / replicas`` images per step."""
    split = pipeline.config.data.train_split
    num_files = len(pipeline.manifest.shard_paths(split, pipeline.data_dir))
    workers = num_workers(strategy)
    if num_files < workers:
        raise ValueError(f"{pipeline.data_dir}: split {split!r} has {num_files} shard files for {workers} workers; "
                         "convert it with --num-shards >= the number of workers")
    epoch_steps = steps_per_epoch(pipeline.manifest.splits[split].num_examples, global_batch, total_steps)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        replicas_per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        return epoch_stream(pipeline, context.get_per_replica_batch_size(global_batch), replicas_per_pipeline,
                            start_step, total_steps, epoch_steps, context)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)


def synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every BatchNormalization layer use the statistics of the global batch (all
    replicas) instead of its replica's share; returns the number of layers changed."""
    layers = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
    return len(layers)
