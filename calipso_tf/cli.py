"""Shared command-line helpers for the absl scripts: the flags several scripts define, dashed names,
and `run`, which runs a script's main with one-line errors and without TensorFlow's start-up log lines."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any, Callable, NoReturn

from absl import app, flags

from calipso_tf.quiet_start import quiet_tensorflow_import

# The flags defined below belong to the script that calls the define_* function (its --help lists them).
flags.disclaim_key_flags()


def define_config_flags(default_config: str | None = None) -> None:
    """--config, --set and --data_dir: the config file and its overrides (see `config_overrides`).

    default_config: the YAML a training run starts from; None for the scripts that load a
    trained run, whose frozen config.yaml is then the default.
    """
    config_help = "YAML config (see configs/)." if default_config else \
        "Config YAML; default: the run's frozen config.yaml."
    flags.DEFINE_string("config", default_config, config_help)
    flags.DEFINE_multi_string("set", [], "Config override section.field=value, e.g. inference.score_threshold=0.3; "
                                         "repeatable.")
    flags.DEFINE_string("data_dir", None, "Converted dataset (manifest.json + shards); default: the config's "
                                          "data.data_dir.")


def define_model_flags() -> None:
    """--checkpoint (a trained run) and `define_config_flags` for the scripts that load one."""
    flags.DEFINE_string("checkpoint", None, "A model dir (config.yaml + checkpoints/) or checkpoint prefix.")
    define_config_flags()


def define_detections_flag() -> None:
    """--detections: the spec `calipso_tf.inference.detectors.make_source` reads."""
    flags.DEFINE_string("detections", "gt", "Boxes the maps are read at: gt (the boxes of --annotations); "
                        "retinanet:WEIGHTS (the built-in KerasCV RetinaNet with those weights); FILE.json, a list of "
                        "{file_name, boxes [[x1, y1, x2, y2]] pixels, category_ids (COCO), scores} or a dict keyed "
                        "by file name; an iCAN/TIN FILE.pkl (human >= 0.8, object >= 0.3); a FOLDER/ of UPT "
                        "per-image JSONs (HICO-80 labels). See docs/inference.md.")


def config_overrides(flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
    """The parsed --set overrides, then --data_dir as a data.data_dir override when given."""
    data_dir = [f"data.data_dir={flag_values.data_dir}"] if flag_values.data_dir else []
    return list(flag_values.set) + data_dir


def normalize_flag_names(argv: list[str]) -> list[str]:
    """Lets users type ``--train-annotations`` for the absl flag ``train_annotations``."""
    out = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        if arg.startswith("-") and "-" in arg.lstrip("-").split("=", 1)[0]:
            name, eq, value = arg.partition("=")
            dashes = len(name) - len(name.lstrip("-"))
            arg = name[:dashes] + name[dashes:].replace("-", "_") + eq + value
        out.append(arg)
    return out


def parse_flags(argv: list[str]) -> list[str]:
    """absl ``flags_parser`` accepting dashed flag names; --help exits 0, a bad flag prints one line and exits 2."""
    try:
        return flags.FLAGS(normalize_flag_names(argv))
    except SystemExit as e:
        # absl's --help, --helpfull and --helpxml print their text, then exit with status 1.
        raise SystemExit(0 if e.code == 1 else e.code) from None
    except flags.Error as e:
        fail(f"{_one_line(str(e))}; try --help", 2)


# Errors that come from the user's input (files, flags, config values) rather than from a bug:
# `run` prints their message on one line.
EXPECTED_ERRORS = (ValueError, OSError, KeyError, FloatingPointError)


def run(main: Callable[[list[str]], Any]) -> None:
    """Runs a script's ``main(argv)`` as absl's ``app.run`` does, with:

    - dashed flag names (`parse_flags`); --help exits 0;
    - a flag error or an ``app.UsageError``: ``<script>: error: <reason>; try --help``, exit status 2;
    - an `EXPECTED_ERRORS` error: ``<script>: error: <message>``, exit status 1, the traceback only with
      --verbose; any other exception keeps its traceback (a bug);
    - TF_CPP_MIN_LOG_LEVEL defaulting to 2, TensorFlow's start-up log lines filtered
      (`calipso_tf.quiet_start.quiet_tensorflow_import`)
      and its Python INFO logs (the "tensorflow" and "absl" loggers) hidden unless --verbosity is given.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    flags.DEFINE_bool("verbose", False, "On an error, print the full traceback.")
    quiet_tensorflow_import()

    def guarded_main(argv: list[str]) -> Any:
        if not flags.FLAGS["verbosity"].present:
            # TensorFlow's INFO lines (checkpoint and SavedModel writing). A filter, not a level:
            # TensorFlow resets the absl logger's level while it saves.
            for logger in ("tensorflow", "absl"):
                logging.getLogger(logger).addFilter(lambda record: record.levelno >= logging.WARNING)
        try:
            return main(argv)
        except app.UsageError as e:
            fail(f"{_one_line(str(e))}; try --help", 2)
        except EXPECTED_ERRORS as e:
            if flags.FLAGS.verbose:
                traceback.print_exc()
            fail(_one_line(e.args[0] if isinstance(e, KeyError) and e.args else str(e)), 1)

    app.run(guarded_main, flags_parser=parse_flags)


def fail(message: str, status: int) -> NoReturn:
    """Prints ``<script>: error: <message>`` on stderr and exits with status."""
    sys.stderr.write(f"{os.path.basename(sys.argv[0])}: error: {message}\n")
    sys.exit(status)


def _one_line(message: str) -> str:
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
