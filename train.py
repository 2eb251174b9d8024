"""Trains CALIPSO.

  python train.py                                   # synthetic default, CPU friendly
  python train.py --config configs/hico_det.yaml --data_dir data/hico_shards --strategy mirrored
  python train.py --set train.total_steps=2000 --set model.embedding_dim=4
  TF_CONFIG='{...}' python train.py --strategy multi_worker ...   # one per machine, docs/TRAINING.md

Checkpoints (tf.train.CheckpointManager) go to --model_dir every train.checkpoint_every
steps; rerunning the same command resumes from the latest one, at the same data
position. A non-finite loss stops the run, keeping the last good checkpoint. TensorBoard scalars
(each loss term, learning rate) are written to --model_dir/tensorboard.
"""

from __future__ import annotations

import json
import logging
import os

from absl import flags

from calipso_tf import config as config_lib
from calipso_tf.cli import config_overrides, define_config_flags, run

FLAGS = flags.FLAGS
define_config_flags(default_config="configs/synthetic.yaml")
flags.DEFINE_string("model_dir", None, "Checkpoints, logs and the frozen config. Default: work_dirs/<config name>.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: all local GPUs; multi_worker: TF_CONFIG cluster.")
flags.DEFINE_integer("steps", None, "Total training steps. Overrides train.total_steps.")
flags.DEFINE_integer("batch_size", None, "Global batch size. Overrides train.batch_size.")
flags.DEFINE_enum("loop", "auto", ["auto", "fit", "custom"],
                  "fit: model.fit; custom: strategy.run loop (required by multi_worker); auto: custom with "
                  "several replicas, fit with one.")
flags.DEFINE_bool("mixed_precision", False, "Compute in float16 (GPU) with loss scaling; losses stay float32.")
flags.DEFINE_bool("jit_compile", False, "Compile the per-replica train step with XLA.")
flags.DEFINE_bool("sync_batch_norm", True, "With several replicas, BatchNorm uses global-batch statistics.")
flags.DEFINE_bool("prepare_data", True, "Generate and convert the synthetic dataset when it is missing.")

log = logging.getLogger("calipso_tf")


def resolve_config():
    overrides = config_overrides()
    if FLAGS.steps is not None:
        overrides.append(f"train.total_steps={FLAGS.steps}")
    if FLAGS.batch_size is not None:
        overrides.append(f"train.batch_size={FLAGS.batch_size}")
    return config_lib.load_config(FLAGS.config, overrides)


def default_model_dir(config_path: str) -> str:
    return os.path.join("work_dirs", os.path.splitext(os.path.basename(config_path))[0])


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from calipso_tf.training import engine

    config = resolve_config()
    model_dir = FLAGS.model_dir or default_model_dir(FLAGS.config)
    if FLAGS.prepare_data and config.data.dataset == "synthetic":
        from data_prep.synthetic.prepare import ensure_synthetic_dataset

        ensure_synthetic_dataset(config)
    result = engine.train(config, model_dir, strategy=FLAGS.strategy, mixed_precision=FLAGS.mixed_precision,
                          jit_compile=FLAGS.jit_compile, loop=FLAGS.loop, sync_batch_norm=FLAGS.sync_batch_norm)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    run(main)
