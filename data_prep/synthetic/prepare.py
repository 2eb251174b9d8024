"""Makes the built-in synthetic dataset available: generate images, then convert to shards in-process.

It writes into two folders: the shards (data.data_dir) and the images and annotations
(``raw/`` beside it). Each must be absent, hold no file, or be one it made before: it
leaves ``MARK`` in both before writing anything else (``raw/`` of an earlier version
carries the generator's completion marker instead). Anything else is a user's data, and
preparing stops before writing with FileExistsError naming what is there.
"""

from __future__ import annotations

import logging
import os

from calipso_tf import fileio
from calipso_tf.config import Config
from calipso_tf.data.manifest import MANIFEST_NAME

log = logging.getLogger("calipso_tf")

MARK = ".synthetic_dataset"
MARK_TEXT = "made by data_prep.synthetic.prepare, which regenerates this folder while it has no manifest.json\n"


def raw_dir(config: Config) -> str:
    """Where the generated images and HICO-layout annotations live (next to the shards)."""
    return os.path.join(os.path.dirname(os.path.abspath(config.data.data_dir)), "raw")


def _files(folder: str) -> list[str]:
    """Every file under folder, as sorted paths relative to it; [] when folder does not exist."""
    found = []
    for parent, _, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(parent, name), folder) for name in names]
    return sorted(found)


def _made_before(folder: str, marks: tuple[str, ...], lacks: str, data_dir: str) -> bool:
    """True if folder holds files of an earlier preparation (one of marks), False if it holds none;
    FileExistsError saying what is there otherwise. lacks: what the message says it misses."""
    files = _files(folder)
    if not files or any(mark in files for mark in marks):
        return bool(files)
    listed = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    raise FileExistsError(f"{folder} holds {len(files)} files ({listed}) but {lacks}: not generating the synthetic "
                          f"dataset of data.data_dir={data_dir} over it; remove it or set data.data_dir")


def ensure_synthetic_dataset(config: Config, num_shards: int = 4) -> str:
    """Generates (seeded) and converts the synthetic dataset unless its manifest exists.

    Both steps are idempotent, so an interrupted preparation simply reruns. Returns the
    shard directory. Raises FileExistsError, before writing anything, when a folder it
    would write holds files it did not make (module docstring). The conversion logs
    through the host program's logging setup.
    """
    # Lazy: the conversion imports TensorFlow and the converters, needed only when the manifest is missing.
    from data_prep.convert import Conversion, convert_dataset
    from data_prep.synthetic import generator

    shards = config.data.data_dir
    if os.path.exists(os.path.join(shards, MANIFEST_NAME)):
        return shards
    raw = raw_dir(config)
    mark = f"no synthetic-dataset mark ({MARK})"
    made_shards = _made_before(shards, (MARK,), f"no {MANIFEST_NAME} and {mark}", shards)
    made_raw = _made_before(raw, (MARK, generator.MARKER), mark, shards)
    earlier = [folder for folder, made in ((shards, made_shards), (raw, made_raw)) if made]
    if earlier:
        log.warning("%s has no %s: preparing the synthetic dataset again over the files an earlier preparation left "
                    "in %s", shards, MANIFEST_NAME, " and ".join(earlier))
    for folder in (shards, raw):
        fileio.atomic_write(os.path.join(folder, MARK), lambda f: f.write(MARK_TEXT))
    log.info("generating the synthetic dataset in %s", raw)
    generator.generate(raw, config.data.synthetic_num_train, config.data.synthetic_num_test,
                       image_size=tuple(config.model.image_size), seed=config.train.seed, progress=True)
    log.info("converting it to TFRecord shards in %s", shards)
    convert_dataset(Conversion("synthetic", shards, annotations=raw, images=os.path.join(raw, "images"),
                               num_shards=num_shards))
    return shards
