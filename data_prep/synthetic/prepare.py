"""Makes the built-in synthetic dataset available: generate images, then convert to shards in-process."""

from __future__ import annotations

import logging
import os

from calipso_tf.config import Config
from calipso_tf.data.manifest import MANIFEST_NAME

log = logging.getLogger("calipso_tf")


def raw_dir(config: Config) -> str:
    """Where the generated images and HICO-layout annotations live (next to the shards)."""
    return os.path.join(os.path.dirname(os.path.abspath(config.data.data_dir)), "raw")


def ensure_synthetic_dataset(config: Config, num_shards: int = 4) -> str:
    """Generates (seeded) and converts the synthetic dataset unless its manifest exists.

    Both steps are idempotent, so an interrupted preparation simply reruns. Returns the
    shard directory. The conversion logs through the host program's logging setup.
    """
    # Lazy: the conversion imports TensorFlow and the converters, needed only when the manifest is missing.
    from data_prep.convert import Conversion, convert_dataset
    from data_prep.synthetic import generator

    shards = config.data.data_dir
    if os.path.exists(os.path.join(shards, MANIFEST_NAME)):
        return shards
    raw = raw_dir(config)
    log.info("generating the synthetic dataset in %s", raw)
    generator.generate(raw, config.data.synthetic_num_train, config.data.synthetic_num_test,
                       image_size=tuple(config.model.image_size), seed=config.train.seed, progress=True)
    log.info("converting it to TFRecord shards in %s", shards)
    convert_dataset(Conversion("synthetic", shards, annotations=raw, images=os.path.join(raw, "images"),
                               num_shards=num_shards))
    return shards
