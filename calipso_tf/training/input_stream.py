"""The per-replica training input stream, whose position is a function of the step.

Data epoch ``e`` (``steps_per_epoch`` global steps) is the input pipeline seeded with
``train.seed + e``, so a run resumed at step s reads exactly the batches an
uninterrupted run reads from step s on, for any strategy and number of workers,
without checkpointing iterator state (which non-chief workers could not restore).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.training.distribute import num_workers


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

