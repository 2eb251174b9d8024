"""The model dir of a run, checked before training starts: its frozen config must match the
new one (apart from RESUMABLE_FIELDS) and its folders must be writable.

A model dir holds config.yaml, checkpoints/ and tensorboard/ (docs/TRAINING.md).
"""

from __future__ import annotations

import logging
import os

from calipso_tf import config as config_lib
from calipso_tf.config import Config
from calipso_tf.training.checkpoints import CHECKPOINTS, CONFIG_NAME

log = logging.getLogger("calipso_tf")

TENSORBOARD = "tensorboard"

# Fields a resumed run may change (docs/TRAINING.md, "Resume semantics"): how far it trains and
# how often it saves and logs; the learning rate and gradient clipping of the steps still to
# run (the remedies for a non-finite loss); where the same data now lives; where the pretrained
# backbone came from (a resumed run takes every weight from its checkpoint); evaluation and
# decoding. Every other field changes the weights' shapes, the meaning of the checkpointed
# step (the data position) or the data order. A name ending in "." stands for its section.
RESUMABLE_FIELDS = ("train.total_steps", "train.checkpoint_every", "train.log_every", "train.keep_checkpoints",
                    "train.learning_rate", "train.clip_global_norm", "model.backbone_weights", "data.data_dir",
                    "data.eval_split", "inference.")


def resumable(field: str) -> bool:
    return any(field.startswith(name) if name.endswith(".") else field == name for name in RESUMABLE_FIELDS)


def prepare(config: Config, model_dir: str, chief: bool) -> None:
    """Checks model_dir before anything is built or written, then (on the chief) freezes the config.

    A previous run's config.yaml is compared with ``config``: a difference outside
    RESUMABLE_FIELDS is a ValueError naming every differing field, and nothing is written;
    resumable differences are logged at WARNING and the new config replaces the old one.
    The chief then checks that model_dir, checkpoints/ and tensorboard/ can be created and
    written (OSError naming the folder otherwise) and writes config.yaml atomically.
    """
    path = os.path.join(model_dir, CONFIG_NAME)
    changed = _changes_since_last_run(config, path)
    if not chief:
        return
    for folder in (model_dir, os.path.join(model_dir, CHECKPOINTS), os.path.join(model_dir, TENSORBOARD)):
        check_writable(folder)
    if changed is None or changed:
        config_lib.save_config(config, path)


def _changes_since_last_run(config: Config, path: str) -> dict[str, tuple] | None:
    """{field: (frozen value, new value)} of the resumable differences; None without a previous run."""
    if not os.path.exists(path):
        return None
    frozen = config_lib.flatten(config_lib.load_config(path))
    new = config_lib.flatten(config)
    changed = {name: (frozen[name], new[name]) for name in new if frozen[name] != new[name]}
    refused = [name for name in changed if not resumable(name)]
    if refused:
        was = ", ".join(f"{name}={changed[name][0]}" for name in refused)
        now = ", ".join(f"{name}={changed[name][1]}" for name in refused)
        raise ValueError(f"{path}: this run was trained with {was}; the new config has {now}. Only "
                         f"{', '.join(n + '*' if n.endswith('.') else n for n in RESUMABLE_FIELDS)} may change on "
                         "resume: use another model dir, or the run's config")
    for name, (was, now) in changed.items():
        log.warning("%s: resuming with %s=%s (was %s)", path, name, now, was)
    return changed


def check_writable(folder: str) -> None:
    """Creates ``folder`` if needed and writes and removes a probe file in it; OSError
    "<folder>: cannot write there (<reason>)" when that fails (read-only, full, not a folder)."""
    probe = os.path.join(folder, f".write-probe-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        try:
            with open(probe, "wb") as f:
                f.write(b"probe")
                f.flush()
                os.fsync(f.fileno())
        finally:
            if os.path.lexists(probe):
                os.remove(probe)
    except OSError as e:
        reason = "a file, not a folder" if isinstance(e, FileExistsError) else e.strerror or str(e)
        raise OSError(f"{folder}: cannot write there ({reason})") from e
