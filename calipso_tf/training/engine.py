"""Training driver shared by train.py and the tests: strategy, data, model, loop, resume.

Two loops run the same step (``CalipsoModel.replica_step``): model.fit (default for one
replica) and the custom loop over ``strategy.run`` (default for every multi-replica
strategy; required for multi_worker). Both read the same distributed stream, whose
position is a function of the step, so a resumed run continues exactly where the
checkpoint left it.
"""

from __future__ import annotations

import logging
import os
import time

import keras
import tensorflow as tf

from calipso_tf.config import Config, ModelConfig
from calipso_tf.data.pipeline import InputPipeline
from calipso_tf.modeling.calipso_model import build_model
from calipso_tf.training import custom_loop, distribute, fit_loop, input_stream, optimization, run_dir
from calipso_tf.training.checkpoints import CHECKPOINTS, Checkpointer, weights_checksum
from calipso_tf.training.summaries import ScalarLog

log = logging.getLogger("calipso_tf")

LOOPS = ("auto", "fit", "custom")


def choose_loop(loop: str, strategy: tf.distribute.Strategy) -> str:
    """auto -> custom with several replicas, fit with one.

    The custom loop is the one tested to equal the single-device step under
    MirroredStrategy (tests/test_distributed.py); Keras 3 model.fit fails under
    MultiWorkerMirroredStrategy (keras-team/keras#20585). Under MirroredStrategy
    ``--loop fit`` also matches the single-device run (measured 1.5e-8 with frozen BN
    since the stream yields the same batches to every iterator) but has no test, so it
    is allowed, not the default.
    """
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    if loop == "auto":
        return "custom" if strategy.num_replicas_in_sync > 1 else "fit"
    if loop == "fit" and multi_worker:
        raise ValueError("--loop fit does not work under MultiWorkerMirroredStrategy "
                         "(keras-team/keras#20585); use --loop custom")
    if loop not in LOOPS:
        raise ValueError(f"unknown loop {loop!r}; use one of {LOOPS}")
    if loop == "fit" and strategy.num_replicas_in_sync > 1:
        log.warning("--loop fit with %d replicas: measured equal to the single-device step but not covered "
                    "by the tests (the custom loop is); see docs/TRAINING.md", strategy.num_replicas_in_sync)
    return loop


def train(config: Config, model_dir: str, strategy: str | tf.distribute.Strategy = "default",
          mixed_precision: bool = False, jit_compile: bool = False, loop: str = "auto",
          sync_batch_norm: bool = True, verbose: int = 1) -> dict:
    """Trains to config.train.total_steps, resuming from model_dir's latest checkpoint.

    ``config.train.batch_size`` is the global batch, split evenly over the replicas.
    ``sync_batch_norm``: with several replicas, BatchNorm normalises with the statistics
    of the global batch, which makes the update independent of the number of replicas.
    Returns a summary dict: steps, trained_steps, wall_seconds, steps_per_second, final
    (window-mean losses), checkpoint, resumed_from_step, weights_sha256. Raises FloatingPointError on a
    non-finite loss (the last good checkpoint is kept). Before building anything, ``run_dir.prepare``
    refuses (ValueError) a config that differs from the run's config.yaml in a field a resumed run
    may not change, and (OSError) a model dir that cannot be written.
    """
    strategy = distribute.make_strategy(strategy) if isinstance(strategy, str) else strategy
    loop = choose_loop(loop, strategy)
    chief = distribute.is_chief(strategy)
    train_cfg = config.train
    global_batch = train_cfg.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise ValueError(f"train.batch_size={global_batch} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    run_dir.prepare(config, model_dir, chief)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(train_cfg.seed)

    pipeline = InputPipeline(config)
    sync_batch_norm = sync_batch_norm and strategy.num_replicas_in_sync > 1
    model, checkpointer = _build_model_and_checkpointer(config, strategy, model_dir, chief, mixed_precision,
                                                        jit_compile and loop == "fit", sync_batch_norm)
    start_step = int(checkpointer.step.numpy())
    total = train_cfg.total_steps
    _log_setup(config, strategy, chief, loop, mixed_precision, jit_compile, sync_batch_norm, start_step)
    if start_step >= total:
        log.info("already trained to step %d >= train.total_steps=%d", start_step, total)
        return {"steps": start_step, "trained_steps": 0, "checkpoint": checkpointer.latest,
                "resumed_from_step": start_step}

    dataset = input_stream.distributed_stream(strategy, pipeline, global_batch, start_step, total)
    scalars = ScalarLog(os.path.join(model_dir, run_dir.TENSORBOARD) if chief else None)
    t0 = time.time()
    with pipeline.naming_damaged_shards(config.data.train_split):
        if loop == "fit":
            final = fit_loop.run(model, dataset, checkpointer, scalars, start_step, total, train_cfg.log_every,
                                 verbose)
        else:
            final = custom_loop.run(model, strategy, dataset, checkpointer, scalars, start_step, total,
                                    train_cfg.log_every, global_batch, jit_compile, progress=verbose > 0 and chief)
    wall = time.time() - t0
    checkpointer.raise_if_nonfinite()
    steps = int(checkpointer.step.numpy())
    summary = {
        "steps": steps,
        "trained_steps": steps - start_step,
        "wall_seconds": round(wall, 2),
        "steps_per_second": round((steps - start_step) / wall, 3),
        "final": final,
        "checkpoint": checkpointer.latest,
        "resumed_from_step": start_step,
        "weights_sha256": weights_checksum(model.weights),
    }
    log.info("trained %d steps in %.1fs; %s", steps - start_step, wall, final)
    return summary


def _build_model_and_checkpointer(config: Config, strategy: tf.distribute.Strategy, model_dir: str, chief: bool,
                                  mixed_precision: bool, jit_compile: bool,
                                  sync_batch_norm: bool) -> tuple[keras.Model, Checkpointer]:
    """Builds and compiles the model and its optimizer under the strategy, and restores the
    latest checkpoint of model_dir if there is one (``checkpointer.step`` is then its step)."""
    folder = os.path.join(model_dir, CHECKPOINTS)
    # A resumed run takes every weight from its checkpoint: no pretrained file or download needed.
    resuming = tf.train.latest_checkpoint(folder) is not None
    with strategy.scope():
        model = build_model(config, load_pretrained=not resuming)
        if sync_batch_norm:
            distribute.synchronize_batch_norm(model)
        optimizer = optimization.build_optimizer(config.train, config.train.batch_size, mixed_precision)
        model.compile(optimizer=optimizer, jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
        checkpointer = Checkpointer(model, folder, config.train.keep_checkpoints, config.train.checkpoint_every,
                                    distribute.WorkerDir(folder, chief))
        checkpointer.restore()
    return model, checkpointer


def _backbone_name(model: ModelConfig) -> str:
    if model.backbone == "keras_hub_retinanet":
        return "KerasHub RetinaNet"
    return f"ResNet-{model.backbone_depth} ({model.resnet_convention} convention)"


def _backbone_source(model: ModelConfig) -> str:
    return model.backbone_preset or model.backbone_weights or "random initialisation"


def _log_setup(config: Config, strategy: tf.distribute.Strategy, chief: bool, loop: str, mixed_precision: bool,
               jit_compile: bool, sync_batch_norm: bool, start_step: int) -> None:
    """One log line that says how this run trains."""
    train_cfg, replicas, global_batch = config.train, strategy.num_replicas_in_sync, config.train.batch_size
    log.info("strategy %s: %d replica(s) on %d worker(s)%s; loop %s; global batch %d = %d per replica; "
             "lr %.5g (train.learning_rate %.5g x %d / reference batch %d), %d warm-up steps, x%g at %s; "
             "mixed precision %s, XLA %s, synchronized BatchNorm %s, frozen BatchNorm %s%s; "
             "backbone %s from %s; %s at step %d of %d",
             type(strategy).__name__, replicas, distribute.num_workers(strategy), "" if chief else " (not chief)",
             loop, global_batch, global_batch // replicas, optimization.scaled_learning_rate(train_cfg, global_batch),
             train_cfg.learning_rate, global_batch, train_cfg.reference_batch_size, train_cfg.warmup_steps,
             train_cfg.lr_decay_factor, list(train_cfg.lr_decay_steps), mixed_precision, jit_compile,
             sync_batch_norm, config.model.freeze_batch_norm,
             " (backbone frozen)" if config.model.freeze_backbone_batch_norm and not config.model.freeze_batch_norm
             else "",
             _backbone_name(config.model), "the checkpoint" if start_step else _backbone_source(config.model),
             "resuming" if start_step else "starting", start_step, train_cfg.total_steps)
