"""Helpers for the training tests: the tiny converted dataset, subprocess runs of train.py and
checkpoint comparison."""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf

from data_prep.__main__ import main as data_prep_main
from data_prep.synthetic import generator

from harness import REPO_ROOT, TRAINING_IMAGE_SIZE, config_overrides, tiny_training_config


def make_dataset(root) -> str:
    """32 train / 8 test synthetic 96x96 images converted to 2 shards per split; returns the shard dir."""
    raw, shards = os.path.join(root, "raw"), os.path.join(root, "shards")
    generator.generate(raw, 32, 8, image_size=TRAINING_IMAGE_SIZE, seed=0)
    assert data_prep_main(["--dataset", "synthetic", "--annotations", raw, "--output", shards, "--num-shards", "2",
                           "--workers", "1", "--no-progress"]) in (0, None)
    return shards


def train_command(data_dir: str, model_dir: str, steps: int, *flags: str) -> list[str]:
    """train.py on tiny_training_config(data_dir, total_steps=steps): no YAML, the dataclass defaults
    with that config's differences as --set overrides."""
    overrides = config_overrides(tiny_training_config(data_dir, total_steps=steps))
    return [sys.executable, os.path.join(REPO_ROOT, "train.py"), "--config=", f"--model_dir={model_dir}",
            "--noprepare_data", *(f"--set={override}" for override in overrides), *flags]


def subprocess_env(**extra: str) -> dict:
    """The environment of a child Python process: quiet, CPU only, and the tests' helpers importable."""
    path = os.pathsep.join([REPO_ROOT, os.path.join(REPO_ROOT, "tests")])
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path, **extra}


def checkpoint_values(prefix: str) -> dict[str, np.ndarray]:
    """Every saved tensor (weights, BN statistics, optimizer slots and iterations, data step)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def assert_same_checkpoints(a: str, b: str, atol: float = 1e-6) -> None:
    """The two checkpoint prefixes hold the same tensors, equal within atol (and rtol 1e-5)."""
    va, vb = checkpoint_values(a), checkpoint_values(b)
    assert sorted(va) == sorted(vb)
    for name in va:
        np.testing.assert_allclose(va[name], vb[name], atol=atol, rtol=1e-5, err_msg=name)
