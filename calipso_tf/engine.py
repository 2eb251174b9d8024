"""Training driver shared by train.py and the tests: strategy, data, model, fit, resume."""

from __future__ import annotations

import logging
import os
import time

import keras
import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.checkpoints import CONFIG_NAME
from calipso_tf import training
from calipso_tf.config import Config
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.model import build_model

log = logging.getLogger("calipso_tf")


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; use default, mirrored or multi_worker")


def train(config: Config, model_dir: str, strategy: str | tf.distribute.Strategy = "default",
          mixed_precision: bool = False, jit_compile: bool = False, verbose: int = 1) -> dict:
    """Trains to config.train.total_steps, resuming from model_dir's latest checkpoint.

    Returns a summary dict: steps done, final losses, wall time, checkpoint path.
    """
    strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
    os.makedirs(model_dir, exist_ok=True)
    config_lib.save_config(config, os.path.join(model_dir, CONFIG_NAME))
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    tf.random.set_seed(config.train.seed)
    keras.utils.set_random_seed(config.train.seed)

    global_batch = config.train.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise ValueError(f"train.batch_size={global_batch} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    pipeline = InputPipeline(config)
    dataset = pipeline.train_dataset(global_batch)

    with strategy.scope():
        model = build_model(config)
        model.compile(optimizer=training.build_optimizer(config.train, global_batch, mixed_precision),
                      jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
        manager = training.make_checkpoint(model, os.path.join(model_dir, "checkpoints"), config.train.keep_checkpoints)
        if manager.latest_checkpoint:
            manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            log.info("resumed from %s", manager.latest_checkpoint)

    start_step = int(model.optimizer.iterations.numpy())
    total = config.train.total_steps
    if start_step >= total:
        log.info("already trained to step %d >= train.total_steps=%d", start_step, total)
        return {"steps": start_step, "checkpoint": manager.latest_checkpoint, "resumed": True}

    interval = config.train.log_every
    checkpointer = training.CheckpointCallback(manager, config.train.checkpoint_every)
    callbacks = [
        checkpointer,
        keras.callbacks.TensorBoard(os.path.join(model_dir, "tensorboard"), update_freq=interval),
    ]
    t0 = time.time()
    history = model.fit(dataset, initial_epoch=start_step // interval, epochs=-(-total // interval),
                        steps_per_epoch=interval, callbacks=callbacks, verbose=verbose)
    wall = time.time() - t0
    steps = int(model.optimizer.iterations.numpy())
    if checkpointer.nonfinite_step is not None:
        raise FloatingPointError(f"training stopped at step {checkpointer.nonfinite_step}: non-finite loss; "
                                 f"last good checkpoint: {manager.latest_checkpoint}")
    summary = {
        "steps": steps,
        "trained_steps": steps - start_step,
        "wall_seconds": round(wall, 2),
        "steps_per_second": round((steps - start_step) / wall, 3),
        "final": {k: float(v[-1]) for k, v in history.history.items()},
        "checkpoint": manager.latest_checkpoint,
        "resumed_from_step": start_step,
    }
    log.info("trained %d steps in %.1fs; %s", steps - start_step, wall, summary["final"])
    return summary
