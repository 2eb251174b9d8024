"""Makes the built-in synthetic dataset available: generate images, then convert to shards."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from calipso_tf.config import Config
from calipso_tf.data.manifest import MANIFEST_NAME

log = logging.getLogger("calipso_tf")


def raw_dir(config: Config) -> str:
    """Where the generated images and HICO-layout annotations live (next to the shards)."""
    return os.path.join(os.path.dirname(os.path.abspath(config.data.data_dir)), "raw")


def ensure_synthetic_dataset(config: Config, num_shards: int = 4) -> str:
    """Generates (seeded) and converts the synthetic dataset unless its manifest exists.

    Both steps are idempotent, so an interrupted preparation simply reruns. Returns the
    shard directory.
    """
    from data_prep.synthetic import generator

    shards = config.data.data_dir
    if os.path.exists(os.path.join(shards, MANIFEST_NAME)):
        return shards
    raw = raw_dir(config)
    log.info("generating the synthetic dataset in %s", raw)
    generator.generate(raw, config.data.synthetic_num_train, config.data.synthetic_num_test,
                       image_size=tuple(config.model.image_size), seed=config.train.seed, progress=True)
    log.info("converting it to TFRecord shards in %s", shards)
    subprocess.run([sys.executable, "-m", "data_prep", "--dataset", "synthetic",
                    "--annotations", raw, "--images", os.path.join(raw, "images"),
                    "--output", shards, "--num-shards", str(num_shards)], check=True)
    return shards
