"""A tiny untrained run folder for the prediction tests (pictures and video)."""

import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.modeling.calipso_model import build_model

from harness import tiny_config


def make_run(tmp_path) -> str:
    """A tiny untrained run (config.yaml + checkpoints/) with its 3-verb manifest; returns the run dir."""
    config = tiny_config()
    config.data.data_dir = str(tmp_path / "data")
    config_lib.save_config(config, str(tmp_path / "run" / "config.yaml"))
    tf.train.Checkpoint(model=build_model(config)).save(str(tmp_path / "run" / "checkpoints" / "ckpt"))
    verbs = [manifest_lib.Category(i + 1, name) for i, name in enumerate(["hold", "look", "run"])]
    manifest_lib.save(manifest_lib.Manifest("synthetic", verbs, [manifest_lib.Category(1, "person")], {}, [[]] * 3),
                      config.data.data_dir)
    return str(tmp_path / "run")
