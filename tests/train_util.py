"""Helpers for the training tests: a tiny converted dataset, a tiny config, subprocess runs
of train.py and checkpoint comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from data_prep.synthetic import generator
from calipso_tf.config import Config, DataConfig, ModelConfig, TrainConfig
from data_prep.__main__ import main as data_prep_main

from harness import REPO_ROOT as ROOT
IMAGE_SIZE = (96, 96)  # the smallest the synthetic scenes allow
TINY_OVERRIDES = {
    "model.num_verbs": 4, "model.image_size": list(IMAGE_SIZE), "model.backbone_depth": 18,
    "model.backbone_width": 0.25, "model.head_blocks": 1, "model.head_channels": 32, "model.embedding_dim": 4,
    "data.max_boxes": 16, "data.max_triplets": 32, "data.shuffle_buffer": 16,
    "train.batch_size": 4, "train.reference_batch_size": 4, "train.learning_rate": 0.01, "train.warmup_steps": 2,
    "train.lr_decay_steps": [6], "train.log_every": 2, "train.checkpoint_every": 2,
}


def make_dataset(root) -> str:
    """32 train / 8 test synthetic 96x96 images converted to 2 shards per split; returns the shard dir."""
    raw, shards = os.path.join(root, "raw"), os.path.join(root, "shards")
    generator.generate(raw, 32, 8, image_size=IMAGE_SIZE, seed=0)
    assert data_prep_main(["--dataset", "synthetic", "--annotations", raw, "--output", shards, "--num-shards", "2",
                           "--workers", "1", "--no-progress"]) in (0, None)
    return shards


def tiny_config(data_dir: str, **train) -> Config:
    """The tiny model on the tiny dataset; ``train`` overrides TrainConfig fields."""
    config = Config(model=ModelConfig(num_verbs=4, image_size=IMAGE_SIZE, backbone_depth=18, backbone_width=0.25,
                                      head_blocks=1, head_channels=32, embedding_dim=4),
                    data=DataConfig(data_dir=data_dir, max_boxes=16, max_triplets=32, shuffle_buffer=16))
    values = {k.split(".", 1)[1]: v for k, v in TINY_OVERRIDES.items() if k.startswith("train.")}
    config.train = TrainConfig(**{**values, "lr_decay_steps": tuple(values["lr_decay_steps"]), **train})
    return config


def train_command(data_dir: str, model_dir: str, steps: int, *flags: str) -> list[str]:
    """train.py with the tiny config (no YAML: the dataclass defaults + TINY_OVERRIDES, as tiny_config)."""
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY_OVERRIDES.items()]
    return [sys.executable, os.path.join(ROOT, "train.py"), "--config=", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            f"--steps={steps}", "--noprepare_data", *sets, *flags]


def subprocess_env(**extra: str) -> dict:
    """The environment of a child Python process: quiet, CPU only, and the tests' helpers importable."""
    path = os.pathsep.join([ROOT, os.path.join(ROOT, "tests")])
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path, **extra}


def run_json(command: list[str], env: dict, timeout: float = 240) -> dict:
    """Runs a command that prints a JSON summary last; returns it (fails with the output)."""
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout[done.stdout.index("{"):])


def checkpoint_values(prefix: str) -> dict[str, np.ndarray]:
    """Every saved tensor (weights, BN statistics, optimizer slots and iterations, data step)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def assert_same_checkpoints(a: str, b: str, atol: float = 1e-6) -> None:
    va, vb = checkpoint_values(a), checkpoint_values(b)
    assert sorted(va) == sorted(vb)
    for name in va:
        np.testing.assert_allclose(va[name], vb[name], atol=atol, rtol=1e-5, err_msg=name)
