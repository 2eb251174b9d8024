"""Shared command-line helpers for the absl scripts: the flags several scripts define, and dashed names."""

from __future__ import annotations

from absl import flags

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
    flags.DEFINE_string("detections", "gt", "Boxes the maps are read at: gt, a detections JSON, or retinanet:WEIGHTS.")


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
    """absl ``flags_parser`` accepting dashed flag names."""
    return flags.FLAGS(normalize_flag_names(argv))
