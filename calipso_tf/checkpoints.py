"""Finding and restoring trained models: a model dir holds config.yaml + checkpoints/."""

from __future__ import annotations

import os

import tensorflow as tf

from calipso_tf import config as config_lib
from calipso_tf.config import Config

CONFIG_NAME = "config.yaml"


def resolve(checkpoint: str) -> tuple[str, str]:
    """A model dir, its checkpoints/ folder or a checkpoint prefix -> (model_dir, prefix)."""
    if os.path.isdir(checkpoint):
        folder = os.path.join(checkpoint, "checkpoints") if os.path.isdir(os.path.join(checkpoint, "checkpoints")) \
            else checkpoint
        prefix = tf.train.latest_checkpoint(folder)
        if prefix is None:
            raise FileNotFoundError(f"{checkpoint}: no checkpoint found (expected {folder}/ckpt-N.index)")
    else:
        if not tf.io.gfile.exists(checkpoint + ".index"):
            raise FileNotFoundError(f"{checkpoint}: no such checkpoint ({checkpoint}.index missing)")
        prefix = checkpoint
    folder = os.path.dirname(prefix)
    model_dir = os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else folder
    return model_dir, prefix


def load_model(checkpoint: str, config_path: str | None = None, overrides: list[str] | None = None):
    """Builds the model from the run's frozen config and restores its weights.

    Returns (model, config). ``config_path`` defaults to <model_dir>/config.yaml.
    """
    from calipso_tf.model import build_model

    model_dir, prefix = resolve(checkpoint)
    config_path = config_path or os.path.join(model_dir, CONFIG_NAME)
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{config_path}: the run's config is missing; pass --config")
    config: Config = config_lib.load_config(config_path, overrides)
    config.model.backbone_weights = ""
    model = build_model(config)
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    return model, config
