"""What every test folder shares: the repository root and the tiny CPU-sized configurations.

The tiny network is defined once (TINY_NETWORK); tests use it in one of two variants:
``tiny_config`` for tests that only build or run a model, ``tiny_training_config`` for tests
that train on the tiny synthetic dataset (train_util.make_dataset).
"""

from __future__ import annotations

import dataclasses
import json
import os

from calipso_tf.config import Config, DataConfig, ModelConfig, TrainConfig, flatten

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ResNet-18 at width 0.25, one 32-channel head block, T = 4: builds in about a second on CPU.
TINY_NETWORK = {"backbone_depth": 18, "backbone_width": 0.25, "head_blocks": 1, "head_channels": 32,
                "embedding_dim": 4}
TRAINING_IMAGE_SIZE = (96, 96)  # the smallest the synthetic scenes allow
TRAINING_VERBS = 4  # the synthetic dataset's hold, look, hug, run
# A schedule that warms up, decays and checkpoints within the few steps a test runs.
TRAINING_SCHEDULE = {"batch_size": 4, "reference_batch_size": 4, "learning_rate": 0.01, "warmup_steps": 2,
                     "lr_decay_steps": (6,), "log_every": 2, "checkpoint_every": 2}


def tiny_config(**model_overrides) -> Config:
    """The tiny network on 64x64 inputs with 3 verbs, at most 8 boxes and 8 triplets per image;
    ``model_overrides`` replace ModelConfig fields."""
    model = ModelConfig(num_verbs=3, image_size=(64, 64), **TINY_NETWORK)
    return Config(model=dataclasses.replace(model, **model_overrides), data=DataConfig(max_boxes=8, max_triplets=8))


def tiny_training_config(data_dir: str, **train) -> Config:
    """The tiny network on the tiny synthetic dataset in ``data_dir`` (96x96, 4 verbs, at most 16
    boxes and 32 triplets) with TRAINING_SCHEDULE; ``train`` replaces TrainConfig fields."""
    return Config(model=ModelConfig(num_verbs=TRAINING_VERBS, image_size=TRAINING_IMAGE_SIZE, **TINY_NETWORK),
                  data=DataConfig(data_dir=data_dir, max_boxes=16, max_triplets=32, shuffle_buffer=16),
                  train=TrainConfig(**{**TRAINING_SCHEDULE, **train}))


def config_overrides(config: Config) -> list[str]:
    """The ``section.field=value`` strings (JSON values) that turn the default Config into ``config``."""
    defaults = flatten(Config())
    return [f"{key}={json.dumps(value)}" for key, value in flatten(config).items() if value != defaults[key]]
